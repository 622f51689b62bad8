import { setMaxListeners } from 'node:events';

/**
 * Interrupt state shared by the scheduler and every host run.
 * First SIGINT: start no more hosts; running hosts finish their current step, then roll back
 * per policy and run cleanup. Second SIGINT: abort at once; hosts mid-step are reported.
 */
export class RunControl {
  private readonly abortCtl = (() => {
    const c = new AbortController();
    // every running step listens on it (hundreds of hosts at once): not a leak
    setMaxListeners(0, c.signal);
    return c;
  })();
  stopping = false;
  /** what the second interrupt aborts at once: the steps' tries (src/engine/attempt.ts) */
  private readonly watchers = new Set<(reason: unknown) => void>();

  get aborted(): boolean {
    return this.abortCtl.signal.aborted;
  }

  get abortSignal(): AbortSignal {
    return this.abortCtl.signal;
  }

  /** Call fn when the run is aborted from now on (a Set, not an EventTarget listener: one per step try). */
  watch(fn: (reason: unknown) => void): () => void {
    this.watchers.add(fn);
    return () => { this.watchers.delete(fn); };
  }

  /** returns 'stop' on the first call, 'abort' on the second */
  interrupt(): 'stop' | 'abort' {
    if (!this.stopping) {
      this.stopping = true;
      return 'stop';
    }
    const reason = new Error('aborted by second interrupt');
    this.abortCtl.abort(reason);
    for (const w of [...this.watchers]) w(reason);
    return 'abort';
  }
}
