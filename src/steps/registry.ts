import type { StepType } from './types.js';
import type { CheckPredicate } from './predicate-types.js';
import type { StepCatalog } from './catalog.js';
import { vmSteps, vmPredicates } from './vm/index.js';
import { linuxSteps, linuxPredicates } from './linux/index.js';
import { makeCheckStep, makeVerifyStep } from './check.js';
import { windowsSteps, windowsPredicates } from './windows/index.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyStep = StepType<any, any, any>;

/**
 * The step types a playbook may use, keyed by their playbook key, with their implementations: what
 * the engine runs. Importing this module imports every step implementation (and, through them,
 * the connectors' and hypervisor's helpers); loading and validating need only the catalog
 * (src/steps/catalog.ts), whose infos these steps spread.
 */
export interface StepRegistry extends StepCatalog {
  steps: Map<string, AnyStep>;
  predicates: Map<string, CheckPredicate>;
}

export function makeRegistry(steps: AnyStep[], predicates: CheckPredicate[] = []): StepRegistry {
  const map = new Map<string, AnyStep>();
  for (const s of steps) {
    if (map.has(s.type)) throw new Error(`step type '${s.type}' registered twice`);
    map.set(s.type, s);
  }
  const preds = new Map<string, CheckPredicate>();
  for (const p of predicates) {
    if (preds.has(p.key)) throw new Error(`predicate '${p.key}' registered twice`);
    preds.set(p.key, p);
  }
  return { steps: map, predicates: preds };
}

let builtin: StepRegistry | undefined;

/** Every step type pvrun ships. */
export function builtinRegistry(): StepRegistry {
  const predicates = [...vmPredicates, ...linuxPredicates, ...windowsPredicates];
  builtin ??= { ...makeRegistry([...vmSteps, ...linuxSteps, ...windowsSteps, makeCheckStep(predicates), makeVerifyStep(predicates)], predicates), builtin: true };
  return builtin;
}
