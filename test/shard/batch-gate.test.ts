import { describe, expect, it } from 'vitest';
import { Scheduler } from '../../src/engine/scheduler.js';
import type { RunEvent } from '../../src/engine/events.js';
import type { BatchInfo, HostServices } from '../../src/engine/types.js';
import { err, ok } from '../../src/util/result.js';
import { makeRig, newLog, play, step } from '../engine/rig.js';

const services: HostServices = {
  guest: async () => err({ kind: 'step', message: 'rig has no guests' }),
  vm: async () => err({ kind: 'step', message: 'rig has no VMs' }),
  facts: async (ns, h) => ok({ ns, name: h.name }),
};

function run(gate: (b: BatchInfo) => Promise<{ go: true } | { go: false; reason: string }>, failOn: string[] = []) {
  const log = newLog();
  const rig = makeRig(log);
  const events: RunEvent[] = [];
  const order: string[] = [];
  const s = new Scheduler({
    runId: 'r1', playbook: 'pb.yml', inventories: ['inv.yml'], check: false, diff: false, verbose: false,
    services, render: (v) => ok(v),
    emit: (e) => { events.push(e); if (e.type === 'batch-start') order.push(`start:${e.index}`); },
    batchGate: async (b) => { order.push(`gate:${b.index}:${b.hosts.join(',')}`); return gate(b); },
    batchDone: async (b, recaps) => { order.push(`done:${b.index}:${recaps.map((r) => `${r.host}=${r.outcome}`).join(',')}`); },
  });
  const p = play({ hosts: ['a', 'b', 'c', 'd', 'e'], serial: [{ count: 1 }, { count: 2 }], steps: [step('change', { failOn })], rig });
  return { done: s.run([p]), order, events, log };
}

describe('engine batch gate hook', () => {
  it('is called before each batch starts, and told its hosts after it ends', async () => {
    const r = run(async () => ({ go: true }));
    const summary = await r.done;
    expect(r.order).toEqual([
      'gate:0:a', 'start:0', 'done:0:a=changed',
      'gate:1:b,c', 'start:1', 'done:1:b=changed,c=changed',
      'gate:2:d,e', 'start:2', 'done:2:d=changed,e=changed',
    ]);
    expect(summary.exitCode).toBe(0);
  });

  it('a batch waits for the gate: no host of it starts before the gate answers', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    const r = run(async (b) => { if (b.index === 1) await held; return { go: true }; });
    await new Promise((res) => setTimeout(res, 50));
    expect(r.log.calls.filter((c) => c.includes(':apply:'))).toEqual(['a:apply:change']);
    release();
    await r.done;
    expect(r.log.calls.filter((c) => c.includes(':apply:'))).toHaveLength(5);
  });

  it('go: false stops the run before that batch: a warning, no further host, exit 2 though every host that ran is fine', async () => {
    const r = run(async (b) => (b.index === 1 ? { go: false, reason: 'rollout X: over budget' } : { go: true }));
    const summary = await r.done;
    expect(r.order).toEqual(['gate:0:a', 'start:0', 'done:0:a=changed', 'gate:1:b,c']);
    expect(r.log.calls.filter((c) => c.includes(':apply:'))).toEqual(['a:apply:change']);
    expect(r.events.some((e) => e.type === 'warning' && e.message === 'rollout X: over budget')).toBe(true);
    expect(summary).toMatchObject({ exitCode: 2, gateStopped: 'rollout X: over budget' });
    const end = r.events.find((e) => e.type === 'run-end');
    expect(end).toMatchObject({ exitCode: 2 });
  });
});
