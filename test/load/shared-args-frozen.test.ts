// Template-free step arguments are one object shared by every host's plan (issue 17, no copy
// per host). The attack: a step type that writes to its arguments, on the first host, to change
// what the next host runs. Loaded through the real loader and run by the real scheduler.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatDiagnostics } from '../../src/load/diagnostics.js';
import { loadProject } from '../../src/load/project.js';
import { toEnginePlays } from '../../src/load/engine-plays.js';
import { Scheduler } from '../../src/engine/scheduler.js';
import type { RunEvent } from '../../src/engine/events.js';
import { makeRegistry, type AnyStep } from '../../src/steps/registry.js';
import { deepFreeze } from '../../src/util/deep-freeze.js';
import { ok, err } from '../../src/util/result.js';
import { rigSteps } from './rig-registry.js';

interface ScribbleArgs { target: string; opts: { list: string[] } }

function hostileRegistry(seen: string[]) {
  const scribble: AnyStep = {
    type: 'scribble',
    description: 'a step that writes to its own arguments',
    needs: 'none',
    schema: { type: 'object', properties: { target: { type: 'string' }, opts: { type: 'object' } }, required: ['target'] },
    async plan(ctx, raw) {
      const a = raw as ScribbleArgs;
      seen.push(`${ctx.host.name}:${a.target}:${a.opts.list.join(',')}`);
      return { kind: 'change', summary: `would write ${a.target}` };
    },
    async apply(ctx, raw) {
      const a = raw as ScribbleArgs;
      // aimed at the hosts after this one: the nested list first, then the top-level field
      a.opts.list.push(`from-${ctx.host.name}`);
      a.target = `/etc/evil-${ctx.host.name}`;
      return { kind: 'changed', summary: 'wrote' };
    },
  };
  return makeRegistry([...rigSteps, scribble]);
}

describe('template-free step arguments shared by every host', () => {
  it('a step that writes to its arguments fails as a bug on each host, and no host sees another host\'s write', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvrun-frozen-'));
    const inv = join(dir, 'inv.yml');
    writeFileSync(inv, 'hosts:\n  h1: { connection: { type: none } }\n  h2: { connection: { type: none } }\n  h3: { connection: { type: none } }\n');
    const pb = join(dir, 'pb.yml');
    writeFileSync(pb, '- hosts: all\n  forks: 1\n  on_failure: continue\n  steps:\n    - scribble: { target: /etc/motd, opts: { list: [a] } }\n');
    const seen: string[] = [];
    const registry = hostileRegistry(seen);
    const r = loadProject({ playbook: pb, inventories: [inv], registry, run: { id: 'R1' } });
    if (!r.ok) throw new Error(formatDiagnostics(r.error));
    const events: RunEvent[] = [];
    const s = new Scheduler({
      runId: 'R1', playbook: pb, inventories: [inv], check: false, diff: false, verbose: false,
      services: { guest: async () => err({ kind: 'step', message: 'none' }), vm: async () => err({ kind: 'step', message: 'none' }), facts: async (ns, h) => ok({ ns, name: h.name }) },
      emit: (e) => events.push(e),
      render: (v) => ok(v),
    });
    await s.run(toEnginePlays(r.value, registry));
    expect(seen).toEqual(['h1:/etc/motd:a', 'h2:/etc/motd:a', 'h3:/etc/motd:a']);
    const results = events.filter((e) => e.type === 'step-result');
    expect(results.map((e) => e.type === 'step-result' && [e.host, e.status])).toEqual([['h1', 'failed'], ['h2', 'failed'], ['h3', 'failed']]);
    for (const e of results) if (e.type === 'step-result') expect(e.summary).toMatch(/^bug in step 'scribble' apply\(\): .*read only|not extensible/);
    expect(r.value.plays[0]!.spec.steps[0]!.args).toEqual({ target: '/etc/motd', opts: { list: ['a'] } });
  });

  it('deepFreeze freezes maps and lists all the way down, and leaves scalars alone', () => {
    const v = deepFreeze({ a: [{ b: { c: [1, 2] } }], d: 'x', e: null });
    expect(Object.isFrozen(v.a[0]!.b.c)).toBe(true);
    expect(() => { (v.a[0]!.b.c as number[]).push(3); }).toThrow(TypeError);
    expect(deepFreeze('s')).toBe('s');
    // a cycle (not in loaded YAML, but aliases share nodes) ends
    const cyc: Record<string, unknown> = {}; cyc.self = cyc;
    expect(Object.isFrozen(deepFreeze(cyc))).toBe(true);
  });
});
