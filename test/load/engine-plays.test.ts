import { describe, expect, it } from 'vitest';
import { effectiveOnFailure, toEnginePlays } from '../../src/load/engine-plays.js';
import { loadProject } from '../../src/load/project.js';
import { renderAll } from '../../src/load/template.js';
import { rigRegistry } from './rig-registry.js';

const registry = rigRegistry();

describe('toEnginePlays', () => {
  const r = loadProject({ playbook: 'test/fixtures/valid/site.yml', inventories: ['test/fixtures/valid/inventory.yml'], registry, run: { id: 'R1' }, tags: ['install'] });
  if (!r.ok) throw new Error('fixture');
  const plays = toEnginePlays(r.value, registry);
  it('carries hosts, batching, selection and per-host args', () => {
    const [linux, win] = plays;
    expect(linux!.hosts.map((h) => h.name)).toEqual(['web-1', 'web-2', 'db-1']);
    expect(linux!).toMatchObject({ forks: 4, maxFailPercentage: 25, onFailure: 'rollback', serial: [{ count: 1 }, { percent: 50 }] });
    expect(linux!.steps.map((s) => s.selected)).toEqual([false, false, true, false, false]);
    expect(linux!.cleanup.map((s) => s.selected)).toEqual([true]);
    const web2 = linux!.hosts[1]!;
    expect(linux!.scope(web2)).toMatchObject({ run: { id: 'R1' }, host: { name: 'web-2' }, vars: { role: 'frontend' } });
    expect(linux!.hostArgs!(web2, 'main', 2)).toEqual({ script: '/mnt/Linux/install.sh', args: ['-n'] });
    expect(linux!.hostArgs!(web2, 'main', 1)).toEqual({ iso: '{{ vars.iso_name }}' }); // not selected: not rendered
    expect(linux!.hostArgs!(web2, 'cleanup', 0)).toEqual({ script: 'umount /mnt' });
    expect(win!.onFailure).toBe('rollback');
  });
  it('on_failure defaults to continue without a restore point, to rollback with one (docs/playbook.md)', () => {
    const spec = r.value.plays[0]!.spec;
    const snapshot = spec.steps.find((s) => s.type === 'snapshot');
    if (!snapshot) throw new Error('the fixture play has a snapshot step');
    const others = spec.steps.filter((s) => s.type !== 'snapshot');
    expect(others.length).toBeGreaterThan(0);
    expect(effectiveOnFailure({ ...spec, onFailure: undefined, steps: others }, registry)).toBe('continue');
    expect(effectiveOnFailure({ ...spec, onFailure: undefined, steps: [...others, snapshot] }, registry)).toBe('rollback');
    expect(effectiveOnFailure({ ...spec, onFailure: 'stop', steps: [snapshot] }, registry)).toBe('stop');
  });
  it('renderAll renders deferred templates at run time and names an unresolved reference', () => {
    expect(renderAll({ a: '{{ facts.os.family }}' }, { facts: { os: { family: 'redhat' } } })).toEqual({ ok: true, value: { a: 'redhat' } });
    expect(renderAll('{{ registered.x.rc }}', { registered: {} })).toEqual({ ok: false, error: { ref: 'registered.x.rc', message: "undefined variable 'registered.x.rc'" } });
  });
});
