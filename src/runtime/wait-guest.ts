/**
 * The one way pvrun waits for a guest that is (re)starting: after a revert, a reboot, a power on,
 * in a long run (a cached connection that died with the old boot) as in a fresh process
 * (`pvrun rollback`, `pvrun resume`: no connection yet, and the first connect meets a guest whose
 * sshd is still starting).
 *
 * Capped exponential backoff until a deadline. What is retried: everything that means "not up
 * yet" — connection refused or reset, no TCP connection, a handshake that times out or is cut,
 * a transport that is not started yet. What is final at once: an authentication failure, a host
 * key mismatch (a different machine answers, or a man in the middle: waiting cannot fix either),
 * a configuration problem (unreadable key, no transport), check mode refusing a command.
 */
import type { Connector, ConnectorFailure } from '../connectors/types.js';
import type { HypervisorFailure } from '../hypervisor/types.js';
import type { StepFailure } from '../steps/types.js';
import { err, ok, type Result } from '../util/result.js';

export interface BackoffOptions {
  /** absolute time (ms since the epoch) after which no new attempt starts */
  deadline: number;
  signal?: AbortSignal;
  /** first wait between attempts (doubled after each failure); default 500 ms */
  firstDelayMs?: number;
  /** cap of the doubling; default 5 s */
  maxDelayMs?: number;
  /** wait before the first attempt too (a reboot just triggered is not back yet); default false */
  delayFirst?: boolean;
}

/** one attempt's verdict: done with a value, try again (why), or stop now (why it cannot work) */
export type Attempt<T, F> = { done: T } | { retry: string } | { final: F };

export type RetryFailure<F> =
  | { kind: 'final'; failure: F; attempts: number }
  /** the deadline passed (or the signal aborted) while the attempts said "not yet" */
  | { kind: 'deadline' | 'aborted'; last: string; attempts: number };

/** Sleep `ms`, or less when the signal aborts. Resolves false when aborted. */
export function backoffSleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(true); }, ms);
    const onAbort = (): void => { clearTimeout(t); resolve(false); };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Run `attempt` with capped exponential backoff until it is done, final, or the deadline passes. */
export async function retryUntil<T, F>(
  attempt: (n: number) => Promise<Attempt<T, F>>, o: BackoffOptions,
): Promise<Result<{ value: T; attempts: number }, RetryFailure<F>>> {
  let delay = o.firstDelayMs ?? 500;
  const cap = o.maxDelayMs ?? 5000;
  let last = 'no attempt yet';
  let n = 0;
  for (;;) {
    if (o.signal?.aborted) return err({ kind: 'aborted', last, attempts: n });
    if (n > 0 || o.delayFirst) {
      const left = o.deadline - Date.now();
      if (left <= 0) break;
      if (!(await backoffSleep(Math.min(delay, left), o.signal))) return err({ kind: 'aborted', last, attempts: n });
      delay = Math.min(delay * 2, cap);
    }
    n++;
    const a = await attempt(n);
    if ('done' in a) return ok({ value: a.done, attempts: n });
    if ('final' in a) return err({ kind: 'final', failure: a.final, attempts: n });
    last = a.retry;
  }
  return err({ kind: 'deadline', last, attempts: n });
}

/** A transport failure that waiting cannot fix. */
export function isFinalConnectorFailure(f: ConnectorFailure): boolean {
  return f.kind === 'auth-failed' || f.kind === 'host-key-mismatch' || f.kind === 'check-mode-refused';
}

/** A hypervisor failure worth retrying: the pool did not answer (an XAPI restart, a network blip). */
export function isTransientHypervisorFailure(f: HypervisorFailure): boolean {
  return f.kind === 'transport' || f.kind === 'timeout';
}

/** How a failure to get or use the guest connection counts while waiting. */
export function classifyGuestFailure(f: StepFailure): Attempt<never, StepFailure> {
  switch (f.kind) {
    case 'guest': return isFinalConnectorFailure(f.failure) ? { final: f } : { retry: `${f.failure.kind}: ${f.failure.message}` };
    case 'hypervisor': return isTransientHypervisorFailure(f.failure) ? { retry: `${f.failure.kind}: ${f.failure.message}` } : { final: f };
    case 'config': return { final: f };
    case 'step': return { retry: f.message };
  }
}

export interface WaitGuestOptions extends BackoffOptions {
  /**
   * Checked on every connected attempt (a new boot id, a test command): { retry } keeps waiting,
   * { final } stops. Default: being connected is enough.
   */
  ready?: (c: Connector) => Promise<Attempt<true, StepFailure>>;
  /**
   * The connector `get` returns on the first attempt may be a cached one whose connection died
   * with the old boot: reconnect it (default). false: `get` opens a new connection every time.
   */
  reconnectFirst?: boolean;
}

export type WaitGuestFailure = RetryFailure<StepFailure>;

/**
 * Wait until the guest answers on a working connection: `get` is the run's connection getter
 * (`ctx.guest()`, which does not cache a failed connect). A connector obtained on the first
 * attempt may be a cached one from before the guest went away: it is reconnected. One obtained
 * after a failed attempt was just opened.
 */
export async function waitForGuest(
  get: () => Promise<Result<Connector, StepFailure>>, o: WaitGuestOptions,
): Promise<Result<{ connector: Connector; attempts: number }, WaitGuestFailure>> {
  let conn: Connector | undefined;
  const r = await retryUntil<Connector, StepFailure>(async (n) => {
    if (!conn) {
      const g = await get();
      if (!g.ok) return classifyGuestFailure(g.error);
      conn = g.value;
      if (n === 1 && o.reconnectFirst !== false) {
        const rc = await conn.reconnect();
        if (!rc.ok) return classifyGuestFailure({ kind: 'guest', failure: rc.error });
      }
    } else {
      const rc = await conn.reconnect();
      if (!rc.ok) return classifyGuestFailure({ kind: 'guest', failure: rc.error });
    }
    if (o.ready) {
      const ready = await o.ready(conn);
      if (!('done' in ready)) return ready;
    }
    return { done: conn };
  }, o);
  if (!r.ok) return r;
  return ok({ connector: r.value.value, attempts: r.value.attempts });
}

/** One line for a wait that did not end well. */
export function describeWaitFailure(f: WaitGuestFailure, what: string): string {
  switch (f.kind) {
    case 'final': {
      const e = f.failure;
      const text = e.kind === 'guest' ? `${e.failure.kind}: ${e.failure.message}` : e.kind === 'hypervisor' ? `${e.failure.kind}: ${e.failure.message}` : e.message;
      return `${what}: ${text} (not retried: waiting cannot fix this)`;
    }
    case 'aborted': return `${what}: interrupted after ${f.attempts} attempt(s); last: ${f.last}`;
    case 'deadline': return `${what}: no answer before the deadline after ${f.attempts} attempt(s); last: ${f.last}`;
  }
}

/**
 * An XAPI operation that must ride out a pool outage (an xapi restart, a network blip: the
 * rollback's revert, for one): retried on transport errors and timeouts, and while the VM is
 * busy with another operation (OTHER_OPERATION_IN_PROGRESS: XAPI's own advice is to try again),
 * with capped backoff until the deadline. Any other failure is returned at once.
 */
export async function retryTransient<T>(
  op: () => Promise<Result<T, HypervisorFailure>>, o: BackoffOptions & { onRetry?: (why: string) => void },
): Promise<Result<T, HypervisorFailure>> {
  let lastFailure: HypervisorFailure | undefined;
  const r = await retryUntil<T, HypervisorFailure>(async () => {
    const x = await op();
    if (x.ok) return { done: x.value };
    lastFailure = x.error;
    const busy = x.error.kind === 'xapi' && x.error.code === 'OTHER_OPERATION_IN_PROGRESS';
    if (!isTransientHypervisorFailure(x.error) && !busy) return { final: x.error };
    o.onRetry?.(`${x.error.kind}: ${x.error.message}`);
    return { retry: `${x.error.kind}: ${x.error.message}` };
  }, { firstDelayMs: 1000, maxDelayMs: 10_000, ...o });
  if (r.ok) return ok(r.value.value);
  if (r.error.kind === 'final') return err(r.error.failure);
  return err(lastFailure ?? { kind: 'timeout', message: `no answer from the pool: ${r.error.last}` });
}
