import type { StepFailure } from '../steps/types.js';
import { unreachable } from '../util/result.js';

/** One line for a user: what failed, in their terms. */
export function describeFailure(f: StepFailure): string {
  switch (f.kind) {
    case 'guest':
      return `${f.failure.kind}: ${f.failure.message}`;
    case 'hypervisor':
      return f.failure.message;
    case 'step':
    case 'config':
      return f.message;
    default:
      return unreachable(f);
  }
}
