import type { HostRecap } from '../engine/events.js';
import { countsAsFailed } from '../engine/exit-codes.js';
import { exceeds } from '../engine/scheduler.js';
import type { BatchInfo } from '../engine/types.js';
import type { HypervisorFailure, XapiCaller } from '../hypervisor/types.js';
import { isXapiCode } from '../hypervisor/xapi/errors.js';
import type { OnFailure } from '../model/playbook.js';
import { err, ok, type Result } from '../util/result.js';
import type { ShardSpec } from './partition.js';

/**
 * One rollout over several processes (CI jobs), with the pools themselves as the shared state:
 * keys in the `other_config` map of the XAPI pool object, no other service.
 *
 *   pvrun.rollout.<id>.canary          shard=<i>/<n>;run=<run>   claimed by the first shard to ask
 *   pvrun.rollout.<id>.canary.result   ok | failed               written by that shard after its first batch
 *   pvrun.rollout.<id>.fail.<host>     shard=<i>;run=<run>;outcome=<o>   one per failed host, on the host's pool
 *   pvrun.rollout.<id>.shard.<i>       state=<running|done|stopped>;t=<ISO time>;run=<run>;hosts=<k>
 *
 * The atomic primitive is `pool.add_to_other_config`, which refuses a key already there
 * (MAP_DUPLICATE_KEY; xen-api's legacy map add on the master — the idempotent add refuses only a
 * different value, so a claim's value is unique to its shard and read back: either way one shard
 * wins). Canary, result and heartbeats live on the rollout's home pool (the first of its pools by
 * name, which every shard computes alike); failures on the failed host's own pool, and each shard
 * reads every pool of the rollout before each batch for the total.
 *
 * Calls (measured by `calls`): per batch 1 `get_other_config` per pool of the rollout and 2 for
 * the heartbeat (remove + add: XAPI has no single-key set), 1 per failed host, 1 per heartbeat
 * tick, the claim (2), and while waiting for the canary 1 read per poll.
 */

export interface PlayTotals {
  /** every host of the play across all the rollout's shards */
  hosts: ReadonlySet<string>;
  maxFailPercentage?: number;
  onFailure: OnFailure;
}

export interface CoordinatorOptions {
  rollout: string;
  shard: ShardSpec;
  runId: string;
  /** check mode: read the markers and report them, never write, never wait */
  check: boolean;
  /** every pool of the rollout (all shards' hosts), sorted: the first is the home pool */
  pools: string[];
  poolOfHost(host: string): string | undefined;
  plays: ReadonlyMap<string, PlayTotals>;
  /** this shard's hosts (for the shard marker) */
  hostCount: number;
  xapi(pool: string): Promise<Result<XapiCaller, HypervisorFailure>>;
  warn(message: string): void;
  heartbeatMs: number;
  /** another shard's heartbeat older than this: reported as stale */
  staleMs: number;
  pollMs: number;
  /** how long a shard waits for another shard's canary before it stops */
  canaryWaitMs: number;
  now?: () => number;
}

export type GateAnswer = { go: true } | { go: false; reason: string };

type Map_ = Record<string, string>;

export const rolloutPrefix = (id: string): string => `pvrun.rollout.${id}.`;

/** `k=v;k=v` */
export function parseMarker(v: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (v ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

const marker = (o: Record<string, string | number>): string => Object.entries(o).map(([k, v]) => `${k}=${v}`).join(';');

export interface RolloutState {
  canary?: { shard: number; run: string };
  canaryResult?: string;
  failures: { host: string; pool: string; shard: number; run: string; outcome: string }[];
  shards: { shard: number; state: string; t: string; run: string; hosts: number }[];
}

/** What the pools say about a rollout (read-only: `pvrun show --rollout`, check mode, rollback). */
export function rolloutState(id: string, maps: ReadonlyMap<string, Map_>, home: string): RolloutState {
  const p = rolloutPrefix(id);
  const h = maps.get(home) ?? {};
  const st: RolloutState = { failures: [], shards: [] };
  const c = parseMarker(h[`${p}canary`]);
  if (h[`${p}canary`] !== undefined) st.canary = { shard: Number((c['shard'] ?? '').split('/')[0]), run: c['run'] ?? '' };
  if (h[`${p}canary.result`] !== undefined) st.canaryResult = h[`${p}canary.result`];
  for (const [pool, m] of maps) {
    for (const [k, v] of Object.entries(m)) {
      if (!k.startsWith(`${p}fail.`)) continue;
      const f = parseMarker(v);
      st.failures.push({ host: k.slice(`${p}fail.`.length), pool, shard: Number(f['shard']), run: f['run'] ?? '', outcome: f['outcome'] ?? '' });
    }
  }
  for (const [k, v] of Object.entries(h)) {
    const m = new RegExp(`^${p.replace(/\./g, '\\.')}shard\\.(\\d+)$`).exec(k);
    if (!m) continue;
    const s = parseMarker(v);
    st.shards.push({ shard: Number(m[1]), state: s['state'] ?? '?', t: s['t'] ?? '', run: s['run'] ?? '', hosts: Number(s['hosts'] ?? 0) });
  }
  st.shards.sort((a, b) => a.shard - b.shard);
  st.failures.sort((a, b) => (a.host < b.host ? -1 : 1));
  return st;
}

/** Read every pool's other_config (one call each). */
export async function readPools(pools: string[], xapi: (pool: string) => Promise<Result<XapiCaller, HypervisorFailure>>, count: () => void = () => {}, refs = new Map<string, string>()): Promise<Result<Map<string, Map_>, string>> {
  const out = new Map<string, Map_>();
  for (const pool of pools) {
    const x = await xapi(pool);
    if (!x.ok) return err(`pool ${pool}: ${x.error.message}`);
    let ref = refs.get(pool);
    if (!ref) {
      count();
      const all = await x.value.call<string[]>('pool.get_all', []);
      if (!all.ok) return err(`pool ${pool}: pool.get_all: ${all.error.message}`);
      ref = all.value[0];
      if (!ref) return err(`pool ${pool}: no pool object`);
      refs.set(pool, ref);
    }
    count();
    const m = await x.value.call<Map_>('pool.get_other_config', [ref]);
    if (!m.ok) return err(`pool ${pool}: pool.get_other_config: ${m.error.message}`);
    out.set(pool, m.value);
  }
  return ok(out);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class RolloutCoordinator {
  /** XAPI calls made for coordination */
  calls = 0;
  /** why the gate stopped this shard (undefined: it did not) */
  stopped: string | undefined;
  private readonly p: string;
  private readonly home: string;
  private readonly refs = new Map<string, string>();
  private canary: 'ok' | undefined;
  /** the batch this shard runs as the rollout's canary */
  private canaryBatch: string | undefined;
  private readonly staleReported = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> = Promise.resolve();
  private reported = false;

  constructor(private readonly o: CoordinatorOptions) {
    this.p = rolloutPrefix(o.rollout);
    this.home = o.pools[0]!;
  }

  private now(): number {
    return this.o.now?.() ?? Date.now();
  }

  private key(b: BatchInfo): string {
    return `${b.playIndex}/${b.index}`;
  }

  private async caller(pool: string): Promise<Result<{ x: XapiCaller; ref: string }, string>> {
    const x = await this.o.xapi(pool);
    if (!x.ok) return err(`pool ${pool}: ${x.error.message}`);
    let ref = this.refs.get(pool);
    if (!ref) {
      this.calls++;
      const all = await x.value.call<string[]>('pool.get_all', []);
      if (!all.ok) return err(`pool ${pool}: pool.get_all: ${all.error.message}`);
      ref = all.value[0];
      if (!ref) return err(`pool ${pool}: no pool object`);
      this.refs.set(pool, ref);
    }
    return ok({ x: x.value, ref });
  }

  /** add a key; false when it was already there (MAP_DUPLICATE_KEY) */
  private async add(pool: string, k: string, v: string): Promise<Result<boolean, string>> {
    const c = await this.caller(pool);
    if (!c.ok) return c;
    this.calls++;
    const r = await c.value.x.call('pool.add_to_other_config', [c.value.ref, k, v]);
    if (r.ok) return ok(true);
    if (isXapiCode(r.error, 'MAP_DUPLICATE_KEY')) return ok(false);
    return err(`pool ${pool}: pool.add_to_other_config ${k}: ${r.error.message}`);
  }

  private async read(pools: string[]): Promise<Result<Map<string, Map_>, string>> {
    return readPools(pools, this.o.xapi, () => { this.calls++; }, this.refs);
  }

  private async readHome(): Promise<Result<Map_, string>> {
    const r = await this.read([this.home]);
    return r.ok ? ok(r.value.get(this.home) ?? {}) : r;
  }

  /** this shard's marker: remove + add (only this shard writes it), serialised with the timer's */
  heartbeat(state: 'running' | 'done' | 'stopped'): Promise<void> {
    if (this.o.check) return Promise.resolve();
    this.beating = this.beating.then(async () => {
      const k = `${this.p}shard.${this.o.shard.index}`;
      const c = await this.caller(this.home);
      if (!c.ok) { this.o.warn(`rollout ${this.o.rollout}: heartbeat: ${c.error}`); return; }
      this.calls++;
      await c.value.x.call('pool.remove_from_other_config', [c.value.ref, k]);
      const a = await this.add(this.home, k, marker({ state, t: new Date(this.now()).toISOString(), run: this.o.runId, hosts: this.o.hostCount }));
      if (!a.ok) this.o.warn(`rollout ${this.o.rollout}: heartbeat: ${a.error}`);
    });
    return this.beating;
  }

  /** heartbeats between batches too: a long batch must not look like a dead shard */
  start(): void {
    if (this.o.check || this.timer) return;
    this.timer = setInterval(() => { void this.heartbeat('running'); }, this.o.heartbeatMs);
    this.timer.unref();
  }

  private stop(reason: string): GateAnswer {
    this.stopped = reason;
    return { go: false, reason };
  }

  private reportStale(st: RolloutState): void {
    const now = this.now();
    for (const s of st.shards) {
      if (s.shard === this.o.shard.index || s.state !== 'running' || this.staleReported.has(s.shard)) continue;
      const age = now - Date.parse(s.t);
      if (!(age > this.o.staleMs)) continue;
      this.staleReported.add(s.shard);
      this.o.warn(`rollout ${this.o.rollout}: shard ${s.shard}/${this.o.shard.count} (run ${s.run}) has not reported for ${Math.round(age / 1000)}s (last heartbeat ${s.t}): its job may have died; \`pvrun resume ${s.run}\` in that shard's job (with its state directory) finishes its slice`);
    }
  }

  /** The engine's batch gate: canary first, then the whole rollout's failure budget. */
  async gate(b: BatchInfo): Promise<GateAnswer> {
    if (this.o.check) return this.checkGate();
    this.start();
    await this.heartbeat('running');
    if (this.canary !== 'ok') {
      const c = await this.canaryGate(b);
      if (c) return c;
    }
    const all = await this.read(this.o.pools);
    if (!all.ok) return this.stop(`rollout ${this.o.rollout}: cannot read the rollout's state: ${all.error}; stopping (nothing of the next batch started)`);
    const st = rolloutState(this.o.rollout, all.value, this.home);
    this.reportStale(st);
    if (st.canaryResult === 'failed') return this.stop(`rollout ${this.o.rollout}: the canary batch failed (shard ${st.canary?.shard ?? '?'}): no shard goes on`);
    const play = this.o.plays.get(b.play);
    if (!play) return { go: true };
    const failed = st.failures.filter((f) => play.hosts.has(f.host));
    const total = play.hosts.size;
    if (failed.length > 0 && play.onFailure === 'stop')
      return this.stop(`rollout ${this.o.rollout}: ${failed.length} host(s) failed across the shards (${failed.map((f) => f.host).slice(0, 5).join(', ')}) and the play's on_failure is stop: no further batch starts`);
    if (exceeds(failed.length, total, play.maxFailPercentage)) {
      const pct = ((failed.length / total) * 100).toFixed(1);
      const rule = play.maxFailPercentage === undefined ? 'every host failed' : `${pct}% > max_fail_percentage ${play.maxFailPercentage}`;
      return this.stop(`rollout ${this.o.rollout}: ${failed.length} of ${total} hosts failed across the shards (${rule}): no further batch starts in any shard`);
    }
    return { go: true };
  }

  /** undefined: go on to the budget; an answer: wait over, stop */
  private async canaryGate(b: BatchInfo): Promise<GateAnswer | undefined> {
    let home = await this.readHome();
    if (!home.ok) return this.stop(`rollout ${this.o.rollout}: cannot read the canary marker: ${home.error}`);
    const ck = `${this.p}canary`;
    if (home.value[`${ck}.result`] === undefined && home.value[ck] === undefined) {
      // the claim: one add; whoever's value is there afterwards is the canary shard
      const mine = marker({ shard: `${this.o.shard.index}/${this.o.shard.count}`, run: this.o.runId });
      const a = await this.add(this.home, ck, mine);
      if (!a.ok) return this.stop(`rollout ${this.o.rollout}: cannot claim the canary: ${a.error}`);
      home = await this.readHome();
      if (!home.ok) return this.stop(`rollout ${this.o.rollout}: cannot read the canary marker: ${home.error}`);
    }
    const result = home.value[`${ck}.result`];
    if (result === 'ok') { this.canary = 'ok'; return undefined; }
    if (result !== undefined) return undefined; // failed: the budget check says so
    const owner = Number((parseMarker(home.value[ck])['shard'] ?? '').split('/')[0]);
    if (owner === this.o.shard.index) {
      // ours (claimed now, or by this shard's earlier process: resume runs its canary again)
      this.canaryBatch ??= this.key(b);
      if (this.canaryBatch === this.key(b)) this.o.warn(`rollout ${this.o.rollout}: shard ${this.o.shard.index}/${this.o.shard.count} runs the canary batch (${b.hosts.join(', ')}); the other shards wait for it`);
      return undefined;
    }
    this.o.warn(`rollout ${this.o.rollout}: waiting for the canary batch of shard ${owner}/${this.o.shard.count}`);
    const deadline = this.now() + this.o.canaryWaitMs;
    for (;;) {
      if (b.stopping()) return this.stop(`rollout ${this.o.rollout}: interrupted while waiting for the canary`);
      await sleep(this.o.pollMs);
      const h = await this.readHome();
      if (!h.ok) { this.o.warn(`rollout ${this.o.rollout}: ${h.error} (retrying)`); continue; }
      const r = h.value[`${ck}.result`];
      if (r === 'ok') { this.canary = 'ok'; this.o.warn(`rollout ${this.o.rollout}: the canary batch succeeded: going on`); return undefined; }
      if (r !== undefined) return undefined;
      const st = rolloutState(this.o.rollout, new Map([[this.home, h.value]]), this.home);
      this.reportStale(st);
      const os = st.shards.find((s) => s.shard === owner);
      if (os && os.state !== 'running') return this.stop(`rollout ${this.o.rollout}: shard ${owner} (the canary) ${os.state} before its canary batch finished: stopping; \`pvrun resume ${os.run}\` runs it again`);
      if (this.now() > deadline) return this.stop(`rollout ${this.o.rollout}: no canary result from shard ${owner} after ${Math.round(this.o.canaryWaitMs / 1000)}s: stopping`);
    }
  }

  /** After a batch: its failures on the pools, and the canary's result. */
  async done(b: BatchInfo, recaps: HostRecap[]): Promise<void> {
    if (this.o.check) return;
    const failed = recaps.filter(countsAsFailed);
    for (const r of failed) {
      const pool = this.o.poolOfHost(r.host) ?? this.home;
      const a = await this.add(pool, `${this.p}fail.${r.host}`, marker({ shard: this.o.shard.index, run: this.o.runId, outcome: r.outcome }));
      if (!a.ok) this.o.warn(`rollout ${this.o.rollout}: could not record ${r.host}'s failure: ${a.error}`);
    }
    if (this.canaryBatch === this.key(b) && this.canary !== 'ok') {
      const result = failed.length ? 'failed' : 'ok';
      const a = await this.add(this.home, `${this.p}canary.result`, result);
      if (!a.ok) this.o.warn(`rollout ${this.o.rollout}: could not record the canary's result: ${a.error}`);
      if (result === 'ok') this.canary = 'ok';
      this.o.warn(`rollout ${this.o.rollout}: canary batch ${result === 'ok' ? 'succeeded' : `failed (${failed.map((r) => r.host).join(', ')})`}`);
    }
  }

  /** The end of this process's part: the shard's marker says done (or stopped). */
  async finish(state: 'done' | 'stopped'): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.heartbeat(state);
  }

  /** check mode: the rollout's state as the pools have it, once; never a write, never a wait */
  private async checkGate(): Promise<GateAnswer> {
    if (this.reported) return { go: true };
    this.reported = true;
    const all = await this.read(this.o.pools);
    if (!all.ok) { this.o.warn(`rollout ${this.o.rollout} (check mode): cannot read the rollout's state: ${all.error}`); return { go: true }; }
    this.o.warn(describeState(this.o.rollout, rolloutState(this.o.rollout, all.value, this.home), ' (check mode: read only, no claim, no wait)'));
    return { go: true };
  }
}

export function describeState(id: string, st: RolloutState, note = ''): string {
  const parts = [
    st.canary ? `canary: shard ${st.canary.shard}${st.canaryResult ? ` ${st.canaryResult}` : ' (running)'}` : 'canary: not claimed yet',
    `failures: ${st.failures.length}${st.failures.length ? ` (${st.failures.map((f) => f.host).slice(0, 10).join(', ')})` : ''}`,
    `shards: ${st.shards.length ? st.shards.map((s) => `${s.shard} ${s.state}`).join(', ') : 'none started'}`,
  ];
  return `rollout ${id}${note}: ${parts.join('; ')}`;
}
