import type { StepType } from '../types.js';
import type { CheckPredicate } from '../predicate-types.js';
import { rebootStep } from '../reboot.js';
import { mountStep } from './mount.js';
import { packageStep } from './package.js';
import { linuxPredicates as predicates } from './predicates.js';
import { runScriptStep } from './run-script.js';
import { serviceStep } from './service.js';
import { unmountStep } from './unmount.js';

/** Step types that act inside the guest OS through its connector (run-script, mount, …). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const linuxSteps: StepType<any>[] = [runScriptStep, mountStep, unmountStep, packageStep, serviceStep, rebootStep];
export const linuxPredicates: CheckPredicate[] = predicates;

export { rebootStep, mountStep, unmountStep, packageStep, serviceStep, runScriptStep };
export { gatherGuestFacts } from '../../facts/linux.js';
