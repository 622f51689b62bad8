/**
 * Text written at most once per turn of the event loop: what callers add during a turn goes out
 * in one write when the turn ends (setImmediate), when the owner drains it (before an fsync, at
 * close), or at process exit (an uncaught error, process.exit). Used by the run journal and the
 * `--json` reporter: a write per record was a measurable share of the controller's CPU per exec
 * (issue 17, BENCHMARKS.md "Sixth pass").
 */
export class TurnBuffer {
  private pending = '';
  private scheduled = false;

  /** `write` must be synchronous for the exit path to keep what it is given (writeSync, stdout on Linux) */
  constructor(private readonly write: (text: string) => void) {}

  add(text: string): void {
    this.pending += text;
    if (this.scheduled) return;
    this.scheduled = true;
    unwritten.add(this);
    setImmediate(() => this.drain());
  }

  drain(): void {
    this.scheduled = false;
    unwritten.delete(this);
    if (this.pending === '') return;
    const text = this.pending;
    this.pending = '';
    this.write(text);
  }
}

/** buffers with text of the current turn; one exit listener for all of them */
const unwritten = new Set<TurnBuffer>();
process.on('exit', () => {
  for (const b of unwritten) b.drain();
});
