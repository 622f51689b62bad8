import type { Project } from '../load/project.js';
import { render } from '../load/template.js';
import type { EnginePlay, RenderFn } from '../engine/types.js';
import type { StepRegistry } from '../steps/registry.js';
import type { OnFailure } from '../model/playbook.js';
import { err, ok } from '../util/result.js';

/**
 * The loaded project as the engine runs it. Step arguments are the per-host ones the loader
 * rendered (facts.* and registered.* still templates, for run time).
 */
export function enginePlays(project: Project, registry: StepRegistry, opts: { forks?: number }): EnginePlay[] {
  const out: EnginePlay[] = [];
  for (const p of project.plays) {
    if (p.skipped) continue;
    const spec = p.spec;
    const typeOf = (t: string) => {
      const st = registry.steps.get(t);
      // The loader rejects unknown step types, so this is a bug if it happens.
      if (!st) throw new Error(`step type '${t}' passed validation but is not registered`);
      return st;
    };
    const steps = spec.steps.map((s, i) => ({ spec: s, type: typeOf(s.type), selected: p.selected[i] ?? true }));
    const cleanup = spec.cleanup.map((s) => ({ spec: s, type: typeOf(s.type), selected: true }));
    const hasRestorePoint = steps.some((s) => s.type.makesRestorePoint === true);
    // Without a snapshot there is nothing to roll back to: a failed host is left as it is and
    // the others go on (Ansible's behaviour), unless the play says otherwise.
    const onFailure: OnFailure = spec.onFailure ?? (hasRestorePoint ? 'rollback' : 'continue');
    const hosts = p.hosts.map((h) => project.inventory.hosts[h]!);
    out.push({
      name: spec.name,
      hosts,
      serial: spec.serial,
      ...(spec.maxFailPercentage !== undefined ? { maxFailPercentage: spec.maxFailPercentage } : {}),
      forks: opts.forks ?? spec.forks,
      onFailure,
      steps,
      cleanup,
      scope: (h) => {
        const plan = p.plans.get(h.name);
        return plan ? { ...plan.scope } : {};
      },
      hostArgs: (h, phase, index) => {
        const plan = p.plans.get(h.name);
        const list = phase === 'main' ? plan?.steps : plan?.cleanup;
        return list?.[index] ?? (phase === 'main' ? spec.steps[index]?.args : spec.cleanup[index]?.args);
      },
    });
  }
  return out;
}

/** Run-time rendering of the deferred templates (facts.*, registered.*). */
export const renderDeferred: RenderFn = (value, scope) => {
  const r = render(value, scope);
  const first = r.errors[0];
  if (first) return err({ ref: first.text, message: first.message });
  return ok(r.value);
};
