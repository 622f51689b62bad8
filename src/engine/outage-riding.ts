// A rollback must not give up within a second of a pool outage (issue 19.6): the undo steps after
// the restore point (eject the ISO, re-insert the one before, delete the snapshot) get a VM handle
// whose XAPI calls ride the outage out until a deadline. Reads are retried on transport errors and
// timeouts; a write only when the pool refused the connection (the request never reached XAPI), so
// a write whose answer was lost is never sent twice. The client's own short retry of reads
// (src/hypervisor/xapi/client.ts) stays as is for the run; this is the rollback's longer patience.
import type { StepFailure } from '../steps/types.js';
import type { HypervisorFailure, VmHandle, XapiCaller } from '../hypervisor/types.js';
import { isReadOnlyMethod } from '../hypervisor/xapi/methods.js';
import { isTransientHypervisorFailure, retryUntil } from '../runtime/wait-guest.js';
import { err, ok, type Result } from '../util/result.js';

/** the connection was refused or could not be opened: nothing was sent */
function neverSent(f: HypervisorFailure): boolean {
  return f.kind === 'transport' && /ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|connect timed out/.test(f.message);
}

export function ridingCaller(x: XapiCaller, deadline: number, onRetry: (why: string) => void): XapiCaller {
  return {
    mode: x.mode,
    call: async <T>(method: string, params: unknown[]): Promise<Result<T, HypervisorFailure>> => {
      const read = isReadOnlyMethod(method);
      let last: HypervisorFailure | undefined;
      const r = await retryUntil<T, HypervisorFailure>(async () => {
        const y = await x.call<T>(method, params);
        if (y.ok) return { done: y.value };
        last = y.error;
        const again = read ? isTransientHypervisorFailure(y.error) : neverSent(y.error);
        if (!again) return { final: y.error };
        onRetry(`${method}: ${y.error.kind}: ${y.error.message}`);
        return { retry: y.error.message };
      }, { deadline, firstDelayMs: 500, maxDelayMs: 5000 });
      if (r.ok) return ok(r.value.value);
      if (r.error.kind === 'final') return err(r.error.failure);
      return err(last ?? { kind: 'timeout', message: `${method}: no answer from the pool before the rollback's deadline` });
    },
  };
}

/** ctx.vm() for an undo: getting the handle rides the outage out too (a login is a read) */
export async function ridingVm(
  get: () => Promise<Result<VmHandle, StepFailure>>, deadline: number, onRetry: (why: string) => void,
): Promise<Result<VmHandle, StepFailure>> {
  let last: StepFailure | undefined;
  const r = await retryUntil<VmHandle, StepFailure>(async () => {
    const v = await get();
    if (v.ok) return { done: v.value };
    last = v.error;
    if (v.error.kind === 'hypervisor' && isTransientHypervisorFailure(v.error.failure)) {
      onRetry(`${v.error.failure.kind}: ${v.error.failure.message}`);
      return { retry: v.error.failure.message };
    }
    return { final: v.error };
  }, { deadline, firstDelayMs: 500, maxDelayMs: 5000 });
  if (r.ok) return ok({ ...r.value.value, xapi: ridingCaller(r.value.value.xapi, deadline, onRetry) });
  if (r.error.kind === 'final') return err(r.error.failure);
  return err(last ?? { kind: 'hypervisor', failure: { kind: 'timeout', message: 'no answer from the pool before the rollback\'s deadline' } });
}
