import type { HypervisorFailure, XapiCaller } from '../types.js';
import type { Result } from '../../util/result.js';
import { err, ok } from '../../util/result.js';
import { xapiError } from './errors.js';
import type { EventBatch } from './events.js';
import { taskResultRef } from './xmlrpc.js';

export interface TaskOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

interface TaskSnapshot {
  status?: string;
  result?: string;
  error_info?: string[];
}

/** `pending` and `cancelling` are still running; success, failure and cancelled are final */
const running = (t: TaskSnapshot) => t.status === 'pending' || t.status === 'cancelling';

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });

/**
 * Run `Async.<method>` and wait for its task. The wait is `event.from(['task/<ref>'], …)`: its
 * answer carries the task's record (status, result, error_info), so nothing is re-read — the
 * first call (empty token) returns the current state and a token, each later one blocks until the
 * task changes. A quick task costs Async + one event.from + task.destroy; a long one one more
 * event.from per wake-up. The result is XML-RPC-encoded (decoded to a ref string); error_info
 * becomes an XapiErrorValue; the task is destroyed so the pool's task list does not fill up. A
 * pool that refuses event.from gets `task.get_record` at most once a second.
 */
export async function callAsync(
  x: XapiCaller,
  method: string,
  params: unknown[],
  opts: TaskOptions = {},
): Promise<Result<string, HypervisorFailure>> {
  const started = await x.call<string>(`Async.${method}`, params);
  if (!started.ok) return started;
  const task = started.value;
  const timeoutMs = opts.timeoutMs ?? 600_000;
  const done = await waitForTask(x, task, timeoutMs, opts.signal, method);
  if (!done.ok) {
    // gave up waiting: ask XAPI to cancel (best effort; not every operation can be cancelled)
    if (done.error.kind === 'timeout') await x.call('task.cancel', [task]);
    return done;
  }
  // Best effort: a leftover task is harmless, and its failure must not hide the real outcome.
  await x.call('task.destroy', [task]);
  const t = done.value;
  if (t.status === 'success') return ok(taskResultRef(t.result ?? ''));
  if (t.status === 'cancelled') return err(xapiError('TASK_CANCELLED', [task]));
  const info = t.error_info ?? [];
  return err(xapiError(info[0] ?? 'INTERNAL_ERROR', info.slice(1)));
}

async function waitForTask(
  x: XapiCaller, task: string, timeoutMs: number, signal: AbortSignal | undefined, method: string,
): Promise<Result<TaskSnapshot, HypervisorFailure>> {
  const deadline = Date.now() + timeoutMs;
  const what = `${method} (task ${task})`;
  const timedOut = () => err({ kind: 'timeout' as const, message: `timed out after ${timeoutMs} ms waiting for ${what}` });
  const aborted = () => err({ kind: 'transport' as const, message: `aborted while waiting for ${what}` });
  let token = '';
  for (;;) {
    const left = deadline - Date.now();
    // the first read (empty token) returns at once; later ones block, briefly when a signal
    // must be honoured (event.from cannot be interrupted)
    const block = token === '' ? 0 : Math.max(0.1, Math.min(left / 1000, signal ? 5 : 30));
    const r = await x.call<EventBatch>('event.from', [[`task/${task}`], token, block]);
    if (!r.ok) {
      if (r.error.kind === 'xapi' && r.error.code === 'EVENTS_LOST') {
        token = '';
        continue;
      }
      if (r.error.kind !== 'xapi') return r;
      return pollTask(x, task, deadline, signal, timedOut, aborted); // event.from refused
    }
    token = r.value.token;
    const e = r.value.events.filter((ev) => ev.ref === task && ev.class.toLowerCase() === 'task').at(-1);
    if (e?.operation === 'del' || (e === undefined && block === 0)) {
      // gone (someone destroyed it), or not there at all: let task.get_record say what happened
      const rec = await x.call<TaskSnapshot>('task.get_record', [task]);
      if (!rec.ok) return rec;
      if (!running(rec.value)) return ok(rec.value);
    } else if (e?.snapshot && !running(e.snapshot as TaskSnapshot)) {
      return ok(e.snapshot as TaskSnapshot);
    }
    if (Date.now() >= deadline) return timedOut();
    if (signal?.aborted) return aborted();
  }
}

/** fallback for pools without event.from: read the task at most once a second */
async function pollTask(
  x: XapiCaller, task: string, deadline: number, signal: AbortSignal | undefined,
  timedOut: () => Result<never, HypervisorFailure>, aborted: () => Result<never, HypervisorFailure>,
): Promise<Result<TaskSnapshot, HypervisorFailure>> {
  for (;;) {
    const r = await x.call<TaskSnapshot>('task.get_record', [task]);
    if (!r.ok) return r;
    if (!running(r.value)) return ok(r.value);
    const left = deadline - Date.now();
    if (left <= 0) return timedOut();
    if (signal?.aborted) return aborted();
    await sleep(Math.min(1000, left), signal);
  }
}

/** Poll-free read of one event batch (exported for tests and discovery). */
export function eventFrom(x: XapiCaller, classes: string[], token: string, timeoutS: number) {
  return x.call<EventBatch>('event.from', [classes, token, timeoutS]);
}
