/**
 * The one formatter of failures for people: a StepFailure (or a bare hypervisor failure, as the
 * VM steps get them from XAPI) as one line, in the user's terms. The engine (a step's `when` or
 * template facts), the Linux steps and the VM steps all say failures through this, so the same
 * failure reads the same wherever it shows up.
 */
import type { HypervisorFailure } from '../hypervisor/types.js';
import type { StepFailure } from '../steps/types.js';
import { unreachable } from '../util/result.js';

export function failureText(f: StepFailure | HypervisorFailure): string {
  if (!isStepFailure(f)) return f.message;
  switch (f.kind) {
    // the transport's kind says what went wrong with the guest: unreachable, auth-failed, timeout…
    case 'guest': return `${f.failure.kind}: ${f.failure.message}`;
    // XAPI's own message names the error code already
    case 'hypervisor': return f.failure.message;
    case 'step':
    case 'config':
      return f.message;
    default:
      return unreachable(f);
  }
}

function isStepFailure(f: StepFailure | HypervisorFailure): f is StepFailure {
  return f.kind === 'guest' || f.kind === 'hypervisor' || f.kind === 'step' || f.kind === 'config';
}
