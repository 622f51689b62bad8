import type { StepType } from '../types.js';
import type { CheckPredicate } from '../predicate-types.js';
import { attachIsoStep } from './attach-iso.js';
import { detachIsoStep } from './detach-iso.js';
import { vmPredicates as predicates } from './predicates.js';
import { snapshotPruneStep } from './snapshot-prune.js';
import { snapshotStep } from './snapshot.js';
import { vmSettingStep } from './vm-setting.js';

/** Step types that act on the VM from the hypervisor side (snapshot, attach-iso, …). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const vmSteps: StepType<any>[] = [snapshotStep, attachIsoStep, detachIsoStep, vmSettingStep, snapshotPruneStep];
export const vmPredicates: CheckPredicate[] = predicates;
