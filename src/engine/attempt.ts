/**
 * The mechanics of one try of a step: its own abort signal (the run's SIGINT or the step's
 * timeout, whichever comes first), a race of the step's promise against that signal, and the
 * pause between retries. No step logic: HostRun decides what a try means.
 */
import type { RunControl } from './control.js';

/** Default per-step limit when a playbook sets none: long enough for installers, not forever. */
export const DEFAULT_STEP_TIMEOUT_MS = 30 * 60_000;

export const ABORTED = Symbol('aborted');

/**
 * One try of a step: its abort signal, aborted by the run (second SIGINT) or by the timeout,
 * and `race()`, which settles as soon as that happens. `done()` must be called when the try
 * ends, so no timer or watcher outlives it.
 *
 * Why not listeners on AbortSignals: a try used to add (and remove) an 'abort' listener on the
 * run's signal and one on its own per plan() and apply(); Node's EventTarget made that ~5% of
 * the controller's CPU per exec in a profile of 1,500 execs (issue 17, BENCHMARKS.md). The run
 * now calls its tries through a plain Set (RunControl.watch), and a try its races the same way;
 * the step still gets a real AbortSignal, aborted first, as before.
 */
export class Attempt {
  /**
   * Made when a step first reads `signal`: most steps never do (a run-script step is bounded by
   * this try's race and the connector's own timeout), and Node builds an EventTarget for every
   * AbortSignal (~1 % of the controller's CPU per exec, issue 17). An abort before that is kept
   * and given to the signal when it is made, so a late reader sees it aborted, with its reason.
   */
  private ac: AbortController | undefined;
  private aborted = false;
  private reason: unknown;
  private readonly waiters = new Set<() => void>();
  private readonly timer: NodeJS.Timeout;
  private readonly unwatch: () => void;

  constructor(control: RunControl, timeoutMs: number) {
    // like an 'abort' listener added now: a run aborted before this try started does not abort it
    this.unwatch = control.watch((reason) => this.abort(reason));
    this.timer = setTimeout(() => this.abort(new Error('timeout')), timeoutMs);
  }

  get signal(): AbortSignal {
    if (!this.ac) {
      this.ac = new AbortController();
      if (this.aborted) this.ac.abort(this.reason);
    }
    return this.ac.signal;
  }

  private abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    // the step's own listeners on its signal first (e.g. a cancelled XAPI call), then the races
    this.ac?.abort(reason);
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  /** Run fn, but settle as soon as this try is aborted; a thrown error is returned as a value. */
  race<T>(fn: () => Promise<T>): Promise<T | typeof ABORTED | Error> {
    if (this.aborted) return Promise.resolve(ABORTED);
    return new Promise((resolve) => {
      const onAbort = (): void => resolve(ABORTED);
      this.waiters.add(onAbort);
      fn().then(
        (v) => { this.waiters.delete(onAbort); resolve(v); },
        (e: unknown) => { this.waiters.delete(onAbort); resolve(e instanceof Error ? e : new Error(String(e))); },
      );
    });
  }

  done(): void {
    clearTimeout(this.timer);
    this.unwatch();
  }
}

/** The pause before a retry; false when the run was aborted meanwhile. */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const t = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(true); }, ms);
    const onAbort = (): void => { clearTimeout(t); resolve(false); };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
