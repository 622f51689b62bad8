import type { HypervisorFailure, XapiCaller } from '../types.js';
import type { Result } from '../../util/result.js';
import { err, ok } from '../../util/result.js';
import { xapiError } from './errors.js';
import type { EventBatch } from './events.js';
import { waitUntil } from './events.js';
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

/**
 * Run `Async.<method>` and wait for its task: event.from on the task object (no tight polling),
 * then read the result (XML-RPC-encoded, decoded to a ref string) or its error_info, and destroy
 * the task so the pool's task list does not fill up.
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
  const done = await waitUntil<TaskSnapshot>(
    x,
    async () => {
      const r = await x.call<TaskSnapshot>('task.get_record', [task]);
      if (!r.ok) return r;
      return ok({ value: r.value.status === 'pending' ? undefined : r.value, watch: [`task/${task}`] });
    },
    { timeoutMs: opts.timeoutMs ?? 600_000, signal: opts.signal, what: `${method} (task ${task})` },
  );
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

/** Poll-free read of one event batch (exported for tests and discovery). */
export function eventFrom(x: XapiCaller, classes: string[], token: string, timeoutS: number) {
  return x.call<EventBatch>('event.from', [classes, token, timeoutS]);
}
