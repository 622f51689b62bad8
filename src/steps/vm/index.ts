import type { StepType } from '../types.js';
import type { CheckPredicate } from '../predicate-types.js';

/** Step types that act on the VM from the hypervisor side (snapshot, attach-iso, …). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const vmSteps: StepType<any>[] = [];
export const vmPredicates: CheckPredicate[] = [];
