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
 * A signal for one try: aborted by the run (second SIGINT) or by the timeout. `done()` must be
 * called when the try ends, so no timer or listener outlives it.
 */
export function attemptSignal(control: RunControl, timeoutMs: number): { signal: AbortSignal; done(): void } {
  const ac = new AbortController();
  const onAbort = (): void => ac.abort(control.abortSignal.reason);
  control.abortSignal.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => ac.abort(new Error('timeout')), timeoutMs);
  return {
    signal: ac.signal,
    done: () => {
      clearTimeout(timer);
      control.abortSignal.removeEventListener('abort', onAbort);
    },
  };
}

/** Run fn, but settle as soon as the signal aborts; a thrown error is returned as a value. */
export async function race<T>(fn: () => Promise<T>, signal: AbortSignal): Promise<T | typeof ABORTED | Error> {
  if (signal.aborted) return ABORTED;
  return new Promise((resolve) => {
    const onAbort = (): void => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
    fn().then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e: unknown) => { signal.removeEventListener('abort', onAbort); resolve(e instanceof Error ? e : new Error(String(e))); },
    );
  });
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
