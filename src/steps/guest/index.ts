import type { StepType } from '../types.js';
import type { CheckPredicate } from '../predicate-types.js';

/** Step types that act inside the guest OS through its connector (run-script, mount, …). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const guestSteps: StepType<any>[] = [];
export const guestPredicates: CheckPredicate[] = [];
