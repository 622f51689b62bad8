// Read-only views of a host's transports, for a step that is only predicted inside a real run
// (`check_mode: true` on the step). The run's connectors and XAPI session are writable, so the
// step's context gets these views instead: the same refusals as a `--check` run's connectors
// (src/connectors/check-gate.ts: an exec not declared `mutates: false` → check-mode-refused) and XAPI client
// (src/hypervisor/xapi/client.ts callAs: a mutating method → read-only), so a step that forgets
// to look at `ctx.check` still cannot change the VM.
import type { Connector } from '../connectors/types.js';
import { checkGate } from '../connectors/check-gate.js';
import type { VmHandle, XapiCaller } from '../hypervisor/types.js';
import { isReadOnlyMethod } from '../hypervisor/xapi/methods.js';
import { err } from '../util/result.js';

export function readOnlyConnector(c: Connector): Connector {
  // the same gate a `--check` run's connectors are made behind; the connection is the run's,
  // shared with the host's later steps: a predicted step may not end it
  return checkGate(c, { why: 'check mode (step check_mode: true)', keepOpen: true });
}

export function readOnlyCaller(x: XapiCaller): XapiCaller {
  return {
    mode: 'check',
    call: async (method, params) => {
      // methods outside the table still reach the real caller, which throws (a pvrun bug, loudly)
      if (!isReadOnlyMethod(method)) return err({ kind: 'read-only', method, message: `check mode (step check_mode: true): refusing to call ${method}, which changes the pool` });
      return x.call(method, params);
    },
  };
}

export function readOnlyVm(v: VmHandle): VmHandle {
  return { ...v, xapi: readOnlyCaller(v.xapi) };
}
