// Glue from a loaded Project to what the engine runs (src/engine/types.ts EnginePlay), so the
// CLI does not have to know how the loader stores per-host plans.
import type { EnginePlay, EngineStep } from '../engine/types.js';
import type { HostSpec } from '../model/inventory.js';
import type { OnFailure, StepSpec } from '../model/playbook.js';
import type { StepRegistry } from '../steps/registry.js';
import type { Project, ProjectPlay } from './project.js';

/**
 * `on_failure` when the play does not say: rollback if some step makes a restore point;
 * otherwise there is nothing to roll back to, so a failed host is left as it is (and said so)
 * while the other hosts go on, as in Ansible.
 */
export function effectiveOnFailure(play: ProjectPlay['spec'], registry: StepRegistry): OnFailure {
  if (play.onFailure) return play.onFailure;
  return play.steps.some((s) => registry.steps.get(s.type)?.makesRestorePoint) ? 'rollback' : 'continue';
}

/** Plays the engine should run (plays skipped by --start-at-step are left out). */
export function toEnginePlays(project: Project, registry: StepRegistry): EnginePlay[] {
  return project.plays.filter((p) => !p.skipped).map((p) => {
    const typed = (spec: StepSpec, selected: boolean): EngineStep => ({ spec, type: registry.steps.get(spec.type)!, selected });
    const plan = (host: HostSpec) => p.plans.get(host.name);
    return {
      name: p.spec.name,
      hosts: p.hosts.map((h) => project.inventory.hosts[h]!),
      serial: p.spec.serial,
      ...(p.spec.maxFailPercentage !== undefined ? { maxFailPercentage: p.spec.maxFailPercentage } : {}),
      forks: p.spec.forks,
      onFailure: effectiveOnFailure(p.spec, registry),
      steps: p.spec.steps.map((s, i) => typed(s, p.selected[i] === true)),
      cleanup: p.spec.cleanup.map((s) => typed(s, true)),
      scope: (host) => ({ ...(plan(host)?.scope ?? {}) }),
      hostArgs: (host, phase, index) => {
        const pl = plan(host);
        const list = phase === 'main' ? pl?.steps : pl?.cleanup;
        return list && index < list.length ? list[index] : (phase === 'main' ? p.spec.steps : p.spec.cleanup)[index]?.args;
      },
    };
  });
}
