import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDiagnostics } from '../../src/load/diagnostics.js';
import { formatSummary, loadProject, validateOnly } from '../../src/load/project.js';
import type { LoadProjectOptions, Project } from '../../src/load/project.js';
import { rigRegistry } from './rig-registry.js';

const registry = rigRegistry();
const base: LoadProjectOptions = { playbook: 'test/fixtures/valid/site.yml', inventories: ['test/fixtures/valid/inventory.yml'], registry, run: { id: 'R1' } };
const load = (o: Partial<LoadProjectOptions> = {}): Project => {
  const r = loadProject({ ...base, ...o });
  if (!r.ok) throw new Error(formatDiagnostics(r.error));
  return r.value;
};
const dir = mkdtempSync(join(tmpdir(), 'pvrun-p-'));
const write = (name: string, text: string) => { const p = join(dir, name); writeFileSync(p, text); return p; };

describe('loadProject', () => {
  it('matches hosts per play in inventory order', () => {
    const p = load();
    expect(p.plays.map((x) => x.hosts)).toEqual([['web-1', 'web-2', 'db-1'], ['win-1']]);
    expect(p.warnings).toEqual([]);
  });

  it('renders step args per host, leaving facts/registered for run time', () => {
    const p = load();
    const web2 = p.plays[0]!.plans.get('web-2')!;
    expect(web2.steps[0]).toEqual({ name: 'pvrun-R1', memory: false });
    expect(web2.steps[1]).toEqual({ iso: 'linux-tools.iso' });
    expect(web2.cleanup).toEqual([{ script: 'umount /mnt' }]);
    expect(web2.scope.host).toMatchObject({ name: 'web-2', address: '10.0.0.12', connection: 'ssh', pool: 'pool-a' });
    expect(p.plays[1]!.plans.get('win-1')!.steps[1]).toEqual({ mode: 'hard', wait: 300 }); // whole-string template keeps the number
  });

  it('arguments without a template are the loaded (validated) value for every host, not a copy rendered per host', () => {
    const pb = write('constant.yml', '- hosts: web-1:web-2\n  steps:\n    - snapshot: { name: fixed, memory: false }\n    - snapshot: { name: "s-{{ host.name }}" }\n');
    const p = load({ playbook: pb });
    const spec = p.plays[0]!.spec.steps;
    const [w1, w2] = [p.plays[0]!.plans.get('web-1')!, p.plays[0]!.plans.get('web-2')!];
    expect(w1.steps[0]).toBe(spec[0]!.args);
    expect(w2.steps[0]).toBe(spec[0]!.args);
    expect(w1.steps[0]).toEqual({ name: 'fixed', memory: false });
    // a template is rendered per host, as before
    expect(w1.steps[1]).toEqual({ name: 's-web-1' });
    expect(w2.steps[1]).toEqual({ name: 's-web-2' });
    expect(w1.steps[1]).not.toBe(spec[1]!.args);
  });

  it('variable precedence: -e > host > child group > parent group > all > play', () => {
    const pb = write('prec.yml', '- hosts: web-2:db-1\n  vars: { a: play, b: play, c: play, d: play, e: play, f: play }\n  steps:\n    - snapshot: { name: "{{ vars.a }}" }\n');
    const inv = write('prec-inv.yml', 'groups:\n  all: { vars: { b: all, c: all, d: all, e: all } }\n  parent: { children: [child], vars: { c: parent, d: parent, e: parent } }\n  child: { hosts: [web-2], vars: { d: child, e: child } }\nhosts:\n  web-2: { vars: { e: host } }\n  db-1:\n');
    const p = load({ playbook: pb, inventories: [inv], extraVars: ['f=extra'] });
    expect(p.plays[0]!.plans.get('web-2')!.scope.vars).toEqual({ a: 'play', b: 'all', c: 'parent', d: 'child', e: 'host', f: 'extra' });
    expect(p.plays[0]!.plans.get('db-1')!.scope.vars).toEqual({ a: 'play', b: 'all', c: 'all', d: 'all', e: 'all', f: 'extra' });
  });

  it('variables may refer to variables and to host/run', () => {
    const pb = write('refs.yml', '- hosts: web-1\n  vars: { snap: "{{ vars.prefix }}-{{ host.name }}", prefix: "pre-{{ run.id }}" }\n  steps:\n    - snapshot: { name: "{{ vars.snap }}" }\n');
    expect(load({ playbook: pb }).plays[0]!.plans.get('web-1')!.steps[0]).toEqual({ name: 'pre-R1-web-1' });
  });

  it('--limit narrows; a play left without hosts is a warning', () => {
    const p = load({ limit: 'db-*' });
    expect(p.plays.map((x) => x.hosts)).toEqual([['db-1'], []]);
    expect(p.warnings.map((d) => `${d.line}:${d.col}: ${d.message}`)).toEqual([
      "39:10: --limit 'db-*' leaves play 'Windows guest tools' without hosts; it will be skipped",
    ]);
    expect(load({ limit: ['web-1', 'win-1'] }).plays.map((x) => x.hosts)).toEqual([['web-1'], ['win-1']]);
  });

  it('tags select steps; cleanup is never filtered; always/never', () => {
    expect(load({ tags: ['install'] }).plays[0]!.selected).toEqual([false, false, true, false, false]);
    expect(load({ tags: ['safety,install'] }).plays[0]!.selected).toEqual([true, false, true, false, false]);
    expect(load({ skipTags: ['safety'] }).plays[0]!.selected).toEqual([false, true, true, true, true]);
    const p = load({ tags: ['install'] });
    expect(p.plays[0]!.plans.get('web-1')!.cleanup).toEqual([{ script: 'umount /mnt' }]);
    expect(p.plays[0]!.spec.cleanup).toHaveLength(1);
    const pb = write('tags.yml', '- hosts: web-1\n  steps:\n    - snapshot: {}\n      tags: [always]\n    - reboot: guest\n      tags: [never, debug]\n    - reboot: hard\n      tags: x\n');
    expect(load({ playbook: pb }).plays[0]!.selected).toEqual([true, false, true]);
    expect(load({ playbook: pb, tags: ['x'] }).plays[0]!.selected).toEqual([true, false, true]);
    expect(load({ playbook: pb, tags: ['debug'] }).plays[0]!.selected).toEqual([true, true, false]);
    expect(load({ playbook: pb, skipTags: ['always'] }).plays[0]!.selected).toEqual([false, false, true]);
    // an unknown tag is an error, located at its column in the --tags value (issue 20)
    const bad = loadProject({ ...base, playbook: pb, tags: ['x,nosuch'] });
    expect(bad.ok ? [] : bad.error.map((d) => [d.severity ?? 'error', d.file, d.col, d.message])).toEqual([['error', '<--tags>', 3, "no step has tag 'nosuch'"]]);
  });

  it('--start-at-step skips earlier steps and earlier plays', () => {
    const p = load({ startAtStep: 'install' });
    expect(p.plays[0]!.selected).toEqual([false, false, true, true, true]);
    expect(p.plays[1]!.skipped).toBe(false);
    const q = load({ startAtStep: 'take a snapshot' });
    expect(q.plays[0]!).toMatchObject({ skipped: false, selected: [true, true, true, true, true] });
    // the first step *named* 'snapshot' (a default name) is in play 2
    expect(load({ startAtStep: 'snapshot' }).plays.map((x) => x.skipped)).toEqual([true, false]);
    const pb = write('two.yml', '- hosts: web-1\n  steps:\n    - snapshot: {}\n- hosts: web-2\n  steps:\n    - name: go\n      reboot: guest\n');
    const r = load({ playbook: pb, startAtStep: 'go' });
    expect(r.plays.map((x) => [x.skipped, x.selected])).toEqual([[true, [false]], [false, [true]]]);
  });

  it('one undefined variable for many hosts is one diagnostic', () => {
    const pb = write('undef.yml', '- hosts: all\n  steps:\n    - snapshot: { name: "{{ vars.role }}" }\n');
    const r = loadProject({ ...base, playbook: pb });
    expect(r.ok ? [] : r.error.map((d) => `${d.line}:${d.col}: ${d.message}`)).toEqual([
      "3:26: undefined variable 'vars.role' for hosts db-1, db-2, win-1",
    ]);
  });

  it('errors from every input are collected together', () => {
    const r = loadProject({ ...base, playbook: write('bad.yml', '- hosts: all\n  forks: 0\n  steps: []\n'), inventories: ['test/fixtures/valid/inventory.yml', 'nope'], extraVars: ['x'] });
    expect(r.ok ? [] : r.error.map((d) => `${d.file}: ${d.message}`)).toEqual([
      "<-i>: inventory not found: tried 'inventories/nope.yml', 'inventories/nope.yaml' or a file 'nope'",
      "<-e>: expected key=value, got 'x'",
      `${join(dir, 'bad.yml')}: 'forks' must be ≥ 1, got 0`,
    ]);
  });

  it('summary for pvrun validate', () => {
    const p = load({ tags: ['install'] });
    expect(formatSummary(p.summary)).toBe([
      "play 1 'Linux guest tools': 3 hosts, 3 batches [1, 1, 1], 1 of 5 steps selected, 1 cleanup",
      "play 2 'Windows guest tools': 1 host, 1 batch [1], 0 of 2 steps selected",
      'valid: 2 plays, 4 hosts, 1 step',
    ].join('\n'));
  });

  it('validateOnly gives the summary text', () => {
    const v = validateOnly(base);
    expect(v.ok && v.value.text.split('\n').at(-1)).toBe('valid: 2 plays, 4 hosts, 7 steps');
  });
});
