// The rollout coordinator against the XAPI simulator over HTTP with the production client.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { XapiSimulator } from '../../src/lab/xapi-sim/index.js';
import type { XapiClient } from '../../src/hypervisor/xapi/index.js';
import { RolloutCoordinator, rolloutState, readPools, type CoordinatorOptions } from '../../src/shard/coordinator.js';
import type { BatchInfo } from '../../src/engine/types.js';
import type { HostRecap } from '../../src/engine/events.js';
import { ok } from '../../src/util/result.js';
import { client, must, startSim } from '../hypervisor/helpers.js';

let sim: XapiSimulator;
let rw: XapiClient;
let ro: XapiClient;
let poolRef: string;

beforeAll(async () => {
  sim = await startSim();
  rw = client(sim.url);
  ro = client(sim.url, { mode: 'check' });
  poolRef = must(await rw.call<string[]>('pool.get_all', []))[0]!;
});
afterAll(async () => {
  await rw.close();
  await ro.close();
  await sim.stop();
});

const hosts = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'h7', 'h8'];
function coord(id: string, index: number, extra: Partial<CoordinatorOptions> = {}, warnings: string[] = []): RolloutCoordinator {
  return new RolloutCoordinator({
    rollout: id, shard: { index, count: 4 }, runId: `run-${index}`, check: false, pools: ['p'], poolOfHost: () => 'p',
    plays: new Map([['play', { hosts: new Set(hosts), maxFailPercentage: 25, onFailure: 'rollback' as const }]]),
    hostCount: 2, xapi: async () => ok(extra.check ? ro.view('check') : rw.view('apply')), warn: (m) => warnings.push(m),
    heartbeatMs: 60_000, staleMs: 240_000, pollMs: 20, canaryWaitMs: 10_000, ...extra,
  });
}
const batch = (index: number, hs: string[], stopping = () => false): BatchInfo => ({ play: 'play', playIndex: 0, index, hosts: hs, stopping });
const recap = (host: string, outcome: HostRecap['outcome']): HostRecap => ({ host, outcome, ok: 0, changed: 0, failed: outcome === 'failed' ? 1 : 0, skipped: 0, unreachable: 0, rolled_back: false } as HostRecap);
const poolMap = async (): Promise<Record<string, string>> => must(await rw.call<Record<string, string>>('pool.get_other_config', [poolRef]));

describe('rollout coordinator (simulator, production client)', () => {
  it('pool.add_to_other_config refuses a duplicate key (MAP_DUPLICATE_KEY), as xen-api', async () => {
    must(await rw.call('pool.add_to_other_config', [poolRef, 'dup-test', 'a']));
    expect(await rw.call('pool.add_to_other_config', [poolRef, 'dup-test', 'b'])).toMatchObject({ ok: false, error: { code: 'MAP_DUPLICATE_KEY' } });
    expect(await rw.call('pool.add_to_other_config', [poolRef, 'dup-test', 'a'])).toMatchObject({ ok: false, error: { code: 'MAP_DUPLICATE_KEY' } });
    expect((await poolMap())['dup-test']).toBe('a');
  });

  it('4 shards at once: exactly one claims the canary, the others wait for its result and go on', async () => {
    const cs = [1, 2, 3, 4].map((i) => coord('r-canary', i));
    const order: string[] = [];
    const gates = cs.map(async (c, i) => { const g = await c.gate(batch(0, [hosts[i * 2]!])); order.push(`go:${i + 1}`); return g; });
    // the owner's gate returns at once; the others' only after its result
    let claimed = 0;
    for (let t = 0; t < 200 && !order.includes(`go:${claimed}`); t++) {
      await new Promise((r) => setTimeout(r, 50));
      claimed = Number((await poolMap())['pvrun.rollout.r-canary.canary']?.match(/shard=(\d)/)?.[1] ?? 0);
    }
    await new Promise((r) => setTimeout(r, 200)); // a few of the waiting shards' polls (every 20 ms)
    expect(order).toEqual([`go:${claimed}`]);
    await cs[claimed - 1]!.done(batch(0, [hosts[(claimed - 1) * 2]!]), [recap(hosts[(claimed - 1) * 2]!, 'changed')]);
    expect((await Promise.all(gates)).every((g) => g.go)).toBe(true);
    expect(order).toHaveLength(4);
    expect((await poolMap())['pvrun.rollout.r-canary.canary.result']).toBe('ok');
    for (const c of cs) await c.finish('done');
    const st = rolloutState('r-canary', new Map([['p', await poolMap()]]), 'p');
    expect(st.shards.map((s) => `${s.shard}:${s.state}`)).toEqual(['1:done', '2:done', '3:done', '4:done']);
  });

  it('a failed canary stops every shard', async () => {
    const a = coord('r-bad', 1);
    const b = coord('r-bad', 2);
    expect(await a.gate(batch(0, ['h1']))).toEqual({ go: true });
    const waiting = b.gate(batch(0, ['h3']));
    await a.done(batch(0, ['h1']), [recap('h1', 'rolled-back')]);
    expect(await waiting).toMatchObject({ go: false, reason: expect.stringMatching(/canary batch failed \(shard 1\)/) });
    expect(await a.gate(batch(1, ['h2']))).toMatchObject({ go: false });
  });

  it('the failure budget counts every shard\'s failures (8 hosts, 25%: the third failure stops the next batch anywhere)', async () => {
    const cs = [1, 2, 3, 4].map((i) => coord('r-budget', i));
    expect(await cs[0]!.gate(batch(0, ['h1']))).toEqual({ go: true });
    await cs[0]!.done(batch(0, ['h1']), [recap('h1', 'changed')]);
    for (const c of cs.slice(1)) expect(await c.gate(batch(0, ['x']))).toEqual({ go: true });
    await cs[1]!.done(batch(0, ['h3']), [recap('h3', 'failed')]);
    await cs[2]!.done(batch(0, ['h5']), [recap('h5', 'rolled-back')]);
    // 2 of 8 = 25%: not over
    expect(await cs[3]!.gate(batch(1, ['h8']))).toEqual({ go: true });
    await cs[3]!.done(batch(1, ['h8']), [recap('h8', 'unreachable')]);
    // 3 of 8 = 37.5% > 25: every shard stops at its next batch
    for (const c of cs) expect(await c.gate(batch(2, ['y']))).toMatchObject({ go: false, reason: expect.stringMatching(/3 of 8 hosts failed across the shards \(37\.5% > max_fail_percentage 25\)/) });
    const st = rolloutState('r-budget', new Map([['p', await poolMap()]]), 'p');
    expect(st.failures.map((f) => `${f.host}:${f.shard}:${f.outcome}`)).toEqual(['h3:2:failed', 'h5:3:rolled-back', 'h8:4:unreachable']);
  });

  it('a shard whose heartbeat is old is reported once, with the resume command', async () => {
    let now = Date.parse('2026-12-05T00:00:00Z');
    const w: string[] = [];
    const dead = coord('r-stale', 2, { now: () => now });
    const live = coord('r-stale', 1, { now: () => now }, w);
    expect(await live.gate(batch(0, ['h1']))).toEqual({ go: true });
    await live.done(batch(0, ['h1']), [recap('h1', 'ok')]);
    expect(await dead.gate(batch(0, ['h2']))).toEqual({ go: true }); // its heartbeat at t0, then it "dies"
    now += 300_000;
    expect(await live.gate(batch(1, ['h4']))).toEqual({ go: true });
    expect(await live.gate(batch(2, ['h6']))).toEqual({ go: true });
    const stale = w.filter((m) => m.includes('has not reported'));
    expect(stale).toHaveLength(1);
    expect(stale[0]).toMatch(/shard 2\/4 \(run run-2\) has not reported for 300s .*pvrun resume run-2/);
  });

  it('a canary shard that stops before its result stops the waiting shards; a new process of that shard (resume) runs the canary again', async () => {
    const owner = coord('r-dead', 1);
    expect(await owner.gate(batch(0, ['h1']))).toEqual({ go: true });
    const waiting = coord('r-dead', 2).gate(batch(0, ['h3']));
    await owner.finish('stopped');
    expect(await waiting).toMatchObject({ go: false, reason: expect.stringMatching(/shard 1 \(the canary\) stopped before its canary batch finished: stopping; `pvrun resume run-1` runs it again/) });
    // the resumed process of shard 1: the claim is its own, so its first batch is the canary again
    const again = coord('r-dead', 1);
    const other = coord('r-dead', 3);
    expect(await again.gate(batch(0, ['h1']))).toEqual({ go: true });
    const w3 = other.gate(batch(0, ['h5']));
    await again.done(batch(0, ['h1']), [recap('h1', 'changed')]);
    expect(await w3).toEqual({ go: true });
    expect((await poolMap())['pvrun.rollout.r-dead.canary.result']).toBe('ok');
  });

  it('check mode reads the markers, reports them, never writes and never waits', async () => {
    const before = sim.calls.length;
    const w: string[] = [];
    // r-budget has a claimed canary, failures, shards: a check-mode shard of it reports them and goes on
    const c = coord('r-budget', 3, { check: true }, w);
    expect(await c.gate(batch(0, ['h5']))).toEqual({ go: true });
    await c.done(batch(0, ['h5']), [recap('h5', 'failed')]);
    await c.finish('done');
    const calls = sim.calls.slice(before);
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.filter((x) => !x.readOnly).map((x) => x.method)).toEqual([]);
    expect(w.join('\n')).toMatch(/rollout r-budget \(check mode: read only, no claim, no wait\): canary: shard 1 ok; failures: 3 \(h3, h5, h8\)/);
  });

  it('readPools: one get_all per pool once, then one get_other_config per pool', async () => {
    let n = 0;
    const refs = new Map<string, string>();
    expect((await readPools(['p'], async () => ok(rw.view('apply')), () => n++, refs)).ok).toBe(true);
    expect((await readPools(['p'], async () => ok(rw.view('apply')), () => n++, refs)).ok).toBe(true);
    expect(n).toBe(3);
  });
});
