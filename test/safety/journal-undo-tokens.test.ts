/**
 * Undo tokens come back from a journal on disk (pvrun rollback / resume). A hand-edited or
 * corrupted one must not reach a command line or an XAPI call as if the step had written it:
 * every step type with an undo checks its tokens (StepType.undoToken), and the engine drops one
 * that does not pass, so the undo works as for an apply cut short.
 */
import { describe, expect, it } from 'vitest';
import { builtinRegistry } from '../../src/steps/registry.js';
import { defineStep } from '../../src/steps/types.js';
import type { RunEvent } from '../../src/engine/events.js';
import { Scheduler } from '../../src/engine/scheduler.js';
import type { EnginePlay, HostServices } from '../../src/engine/types.js';
import { shape } from '../../src/util/shape.js';
import { err, ok } from '../../src/util/result.js';
import { host, step } from '../engine/rig.js';

/** a token each step type writes, and tokens an attacker or a broken disk might leave instead */
const samples: Record<string, { good: unknown[]; bad: unknown[] }> = {
  snapshot: {
    good: [{ vmUuid: 'v', snapshotUuid: 's', snapshotRef: 'OpaqueRef:1', powerState: 'Running', hadTools: true }],
    bad: [{ snapshotUuid: 's' }, { vmUuid: 'v', snapshotUuid: 42, snapshotRef: 'r', powerState: 'Running', hadTools: true }, 'OpaqueRef:1', null, []],
  },
  'attach-iso': {
    good: [{ isoUuid: 'i' }, { isoUuid: 'i', previousUuid: 'p' }],
    bad: [{}, { isoUuid: ['i'] }, { isoUuid: 'i', previousUuid: 7 }],
  },
  'detach-iso': { good: [{ isoUuid: 'i' }], bad: [{ isoUuid: null }, 'i'] },
  'vm-setting': { good: [{ previous: false }], bad: [{ previous: 'false' }, {}] },
  package: {
    good: [{ remove: ['xe-guest-utilities'], manager: 'apt', become: true }],
    bad: [
      { remove: 'xe-guest-utilities; reboot', manager: 'apt' },
      { remove: ['x'], manager: 'rm -rf /' },
      { remove: [['x']], manager: 'dnf' },
    ],
  },
  service: {
    good: [{ name: 'xe-linux-distribution', init: 'systemd', actions: ['stop', 'disable'], become: true }],
    bad: [
      { name: '../../../bin/sh', init: 'sysv', actions: ['start'] },
      { name: 'x', init: 'systemd', actions: ['reboot'] },
      { name: 'x', init: 'upstart', actions: [] },
      { name: 'x; reboot', init: 'systemd', actions: ['stop'] },
    ],
  },
  mount: { good: [{ path: '/mnt/cd', become: false }], bad: [{ path: ['/'] }, { become: true }] },
  'windows-tools-source': { good: [{}, { iso: { isoUuid: 'i' } }], bad: [{ iso: { isoUuid: 3 } }, { iso: 'i' }] },
};

describe('every step type with an undo checks the tokens read back from a journal', () => {
  const withUndo = [...builtinRegistry().steps.values()].filter((t) => t.undo || t.dropRestorePoint);

  it('the table covers every step type with an undo, and each has a check', () => {
    expect(withUndo.map((t) => t.type).sort()).toEqual(Object.keys(samples).sort());
    expect(withUndo.filter((t) => !t.undoToken).map((t) => t.type)).toEqual([]);
  });

  for (const [type, { good, bad }] of Object.entries(samples)) {
    it(`${type}: its own tokens pass, forged ones do not`, () => {
      const check = builtinRegistry().steps.get(type)!.undoToken!;
      expect(good.map((t) => check(t))).toEqual(good.map(() => true));
      expect(bad.map((t) => check(t))).toEqual(bad.map(() => false));
    });
  }
});

describe('the engine drops a journal token its step type does not recognise', () => {
  const services: HostServices = {
    guest: async () => err({ kind: 'step', message: 'none' }),
    vm: async () => err({ kind: 'step', message: 'none' }),
    facts: async () => ok({}),
  };

  async function rollbackWith(token: unknown) {
    const received: unknown[] = [];
    const recorder = defineStep<Record<string, unknown>, unknown, { path: string }>({
      type: 'rec', description: 'records the token its undo gets', schema: { type: 'object' }, needs: 'none',
      undoToken: shape<{ path: string }>({ path: 'string' }),
      async plan() { return { kind: 'change', summary: 'would' }; },
      async apply() { return { kind: 'changed', summary: 'did', undo: { path: '/tmp/x' } }; },
      async undo(_ctx, _a, t) { received.push(t); return { ok: true, summary: 'undone' }; },
    });
    const s = step('rec');
    const play: EnginePlay = {
      name: 'p', hosts: [host('h1')], serial: [], forks: 1, onFailure: 'rollback',
      steps: [{ spec: s, type: recorder, selected: true }], cleanup: [],
      scope: (h) => ({ run: { id: 'r1' }, host: { name: h.name }, vars: {} }),
    };
    const events: RunEvent[] = [];
    const sched = new Scheduler({
      runId: 'r1', playbook: 'pb.yml', inventories: ['inv.yml'], check: false, diff: false, verbose: false,
      services, emit: (e) => events.push(e), render: (v) => ok(v),
      resume: () => ({ startIndex: 1, applied: [{ index: 0, token }], rollback: 'pvrun rollback', appliesKnown: true }),
    });
    await sched.run([play]);
    const logs = events.filter((e) => e.type === 'step-output').map((e) => (e as { text: string }).text);
    return { received, logs };
  }

  it('a token of the step\'s own shape reaches its undo as it is', async () => {
    const r = await rollbackWith({ path: '/mnt/cd' });
    expect(r.received).toEqual([{ path: '/mnt/cd' }]);
    expect(r.logs.filter((l) => l.includes('undo record'))).toEqual([]);
  });

  it.each([[{ path: '/mnt/cd; reboot', extra: 1, become: 'yes' }, true], [{ path: 42 }, false], ['rm -rf /', false], [[1, 2], false]])(
    'a forged token %j: its undo gets undefined (valid shape: %s) and the log says so', async (token, validShape) => {
      const r = await rollbackWith(token);
      // a token of the right shape is the step's own business (its values are quoted where used)
      expect(r.received).toEqual([validShape ? token : undefined]);
      expect(r.logs.some((l) => /the journal's undo record for this step is not one a 'rec' step writes/.test(l))).toBe(!validShape);
    });
});
