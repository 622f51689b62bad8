import type { HypervisorFailure, XapiCaller } from '../types.js';
import type { Result } from '../../util/result.js';
import { err, ok } from '../../util/result.js';

export interface EventRecord {
  id?: number | string;
  class: string;
  operation: 'add' | 'mod' | 'del';
  ref: string;
  snapshot?: Record<string, unknown>;
}

export interface EventBatch {
  events: EventRecord[];
  token: string;
  valid_ref_counts?: Record<string, number>;
}

export interface WaitOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** what we wait for, for the timeout message */
  what: string;
  /** seconds one event.from may block (kept short so timeouts and aborts are timely) */
  maxBlockSeconds?: number;
}

export type Probe<T> = () => Promise<Result<{ value?: T; watch: string[] }, HypervisorFailure>>;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });

/**
 * Wait until `probe` yields a value. Between probes we block in `event.from` on the objects the
 * probe says it depends on (`vm/OpaqueRef:…`, its metrics…), so nothing is polled in a tight
 * loop; the token is taken before probing, so a change between probe and wait is not missed.
 * If event.from itself fails, we fall back to probing at most once a second.
 */
export async function waitUntil<T>(x: XapiCaller, probe: Probe<T>, opts: WaitOptions): Promise<Result<T, HypervisorFailure>> {
  const deadline = Date.now() + opts.timeoutMs;
  let token = '';
  let watch: string[] = [];
  let useEvents = true;
  for (;;) {
    const p = await probe();
    if (!p.ok) return p;
    if (p.value.value !== undefined) return ok(p.value.value);
    const remaining = deadline - Date.now();
    if (remaining <= 0) return err({ kind: 'timeout', message: `timed out after ${opts.timeoutMs} ms waiting for ${opts.what}` });
    if (opts.signal?.aborted) return err({ kind: 'transport', message: `aborted while waiting for ${opts.what}` });
    const newWatch = p.value.watch;
    if (useEvents && (token === '' || newWatch.join() !== watch.join())) {
      // A fresh subscription: the first event.from returns the objects' current state and a token.
      watch = newWatch;
      const first = await x.call<EventBatch>('event.from', [watch, '', 0]);
      if (!first.ok) {
        if (first.error.kind === 'read-only' || first.error.kind === 'transport' || first.error.kind === 'timeout') return first;
        useEvents = false;
      } else {
        token = first.value.token;
        continue; // re-probe: something may have changed before the token was taken
      }
    }
    if (useEvents) {
      const block = Math.max(0.1, Math.min(remaining / 1000, opts.maxBlockSeconds ?? 30));
      const r = await x.call<EventBatch>('event.from', [watch, token, block]);
      if (r.ok) {
        token = r.value.token;
        continue;
      }
      if (r.error.kind === 'xapi' && r.error.code === 'EVENTS_LOST') {
        token = '';
        continue;
      }
      if (r.error.kind !== 'xapi') return r;
      useEvents = false;
    }
    await sleep(Math.min(1000, remaining), opts.signal);
  }
}

export function vmWatch(vmRef: string, ...more: (string | undefined)[]): string[] {
  const out = [`vm/${vmRef}`];
  for (const m of more) if (m) out.push(m);
  return out;
}
