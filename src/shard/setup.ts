import type { EngineOptions, EnginePlay } from '../engine/types.js';
import { PoolSessions, type SecretResolver } from '../hypervisor/pool.js';
import type { XapiCaller } from '../hypervisor/types.js';
import type { Inventory } from '../model/inventory.js';
import { err, ok, type Result } from '../util/result.js';
import { RolloutCoordinator, type PlayTotals } from './coordinator.js';
import { assignShards, parseShard, parseShardBy, type ShardBy, type ShardSpec } from './partition.js';

/** the flags of `pvrun <playbook>` this module reads */
export interface ShardFlags {
  shard?: string;
  shardBy?: string;
  rollout?: string;
  check: boolean;
}

export interface ShardChoice {
  spec?: ShardSpec;
  by: ShardBy;
  rollout?: string;
}

const ROLLOUT_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** --shard / $PVRUN_SHARD, --shard-by, --rollout, checked (a message: exit 5). */
export function shardChoice(flags: ShardFlags, env: NodeJS.ProcessEnv): Result<ShardChoice, string> {
  const text = flags.shard ?? env['PVRUN_SHARD'];
  const from = flags.shard !== undefined ? '--shard' : 'PVRUN_SHARD';
  let spec: ShardSpec | undefined;
  if (text !== undefined && text !== '') {
    const s = parseShard(text, from);
    if (!s.ok) return s;
    spec = s.value;
  }
  const by = parseShardBy(flags.shardBy ?? 'host');
  if (!by.ok) return by;
  if (flags.shardBy !== undefined && !spec) return err('--shard-by needs --shard i/n (or PVRUN_SHARD)');
  if (flags.rollout !== undefined && !ROLLOUT_ID.test(flags.rollout))
    return err(`--rollout '${flags.rollout}': letters, digits, '.', '_' and '-' (at most 64, starting with a letter or digit): it names keys on the pools`);
  return ok({ ...(spec ? { spec } : {}), by: by.value, ...(flags.rollout !== undefined ? { rollout: flags.rollout } : {}) });
}

/** The journal's record of the choice, so `pvrun resume` takes the same slice and rejoins the rollout. */
export function planOf(c: ShardChoice): { shard?: string; shardBy?: string; rollout?: string } {
  return {
    ...(c.spec ? { shard: `${c.spec.index}/${c.spec.count}`, shardBy: c.by } : {}),
    ...(c.rollout ? { rollout: c.rollout } : {}),
  };
}

export interface Sharded {
  /** this shard's plays (every play keeps its order; a play with no host of ours is dropped) */
  plays: EnginePlay[];
  /** every host of the rollout per play (all shards), for the failure budget */
  totals: Map<string, PlayTotals>;
  hostCount: number;
}

/** Narrow the plays (hosts after --limit) to shard `spec`. Without one: every host. */
export function shardPlays(plays: EnginePlay[], inv: Inventory, c: ShardChoice): Sharded {
  const all = [...new Set(plays.flatMap((p) => p.hosts.map((h) => h.name)))];
  const totals = new Map<string, PlayTotals>(plays.map((p) => [p.name, {
    hosts: new Set(p.hosts.map((h) => h.name)), onFailure: p.onFailure,
    ...(p.maxFailPercentage !== undefined ? { maxFailPercentage: p.maxFailPercentage } : {}),
  }]));
  if (!c.spec) return { plays, totals, hostCount: all.length };
  const a = assignShards(all, c.spec.count, c.by, (h) => inv.hosts[h]?.vm?.pool);
  const mine = (h: string): boolean => a.get(h) === c.spec!.index;
  const narrowed = plays.map((p) => ({ ...p, hosts: p.hosts.filter((h) => mine(h.name)) })).filter((p) => p.hosts.length > 0);
  return { plays: narrowed, totals, hostCount: all.filter(mine).length };
}

export interface RolloutHooks {
  coordinator: RolloutCoordinator;
  hooks: Pick<EngineOptions, 'batchGate' | 'batchDone'>;
  close(state: 'done' | 'stopped'): Promise<string>;
}

const envMs = (env: NodeJS.ProcessEnv, name: string, dflt: number): number => {
  const v = Number(env[name]);
  return Number.isFinite(v) && v > 0 ? v : dflt;
};

/**
 * The coordinator of `--rollout`, on its own XAPI session per pool (read-only in check mode).
 * Tuning (seconds unless said): PVRUN_ROLLOUT_HEARTBEAT (30; another shard is reported stale
 * after 4 of them), PVRUN_ROLLOUT_POLL_MS (5000, the canary wait's poll), PVRUN_ROLLOUT_CANARY_WAIT
 * (3600).
 */
export function rolloutHooks(o: {
  choice: ShardChoice; sharded: Sharded; inv: Inventory; runId: string; check: boolean; env: NodeJS.ProcessEnv;
  secrets: SecretResolver; warn(m: string): void;
}): Result<RolloutHooks | undefined, string> {
  const id = o.choice.rollout;
  if (!id) return ok(undefined);
  const hosts = new Set([...o.sharded.totals.values()].flatMap((t) => [...t.hosts]));
  const pools = [...new Set([...hosts].map((h) => o.inv.hosts[h]?.vm?.pool).filter((p): p is string => !!p))].sort();
  if (pools.length === 0) return err(`--rollout ${id}: none of the selected hosts is on a pool (vm: pool:), and the pools hold the rollout's state`);
  const sessions = new PoolSessions(o.inv.hypervisors, o.secrets, { mode: o.check ? 'check' : 'apply', warn: (pool, m) => o.warn(`pool ${pool}: ${m}`) });
  const views = new Map<string, XapiCaller>();
  const heartbeatMs = envMs(o.env, 'PVRUN_ROLLOUT_HEARTBEAT', 30) * 1000;
  const coordinator = new RolloutCoordinator({
    rollout: id, shard: o.choice.spec ?? { index: 1, count: 1 }, runId: o.runId, check: o.check, pools,
    poolOfHost: (h) => o.inv.hosts[h]?.vm?.pool, plays: o.sharded.totals, hostCount: o.sharded.hostCount,
    xapi: async (pool) => {
      const v = views.get(pool);
      if (v) return ok(v);
      const c = await sessions.client(pool);
      if (!c.ok) return c;
      const view = c.value.view(o.check ? 'check' : 'apply');
      views.set(pool, view);
      return ok(view);
    },
    warn: o.warn, heartbeatMs, staleMs: 4 * heartbeatMs, pollMs: envMs(o.env, 'PVRUN_ROLLOUT_POLL_MS', 5000),
    canaryWaitMs: envMs(o.env, 'PVRUN_ROLLOUT_CANARY_WAIT', 3600) * 1000,
  });
  return ok({
    coordinator,
    hooks: { batchGate: (b) => coordinator.gate(b), batchDone: (b, r) => coordinator.done(b, r) },
    close: async (state) => {
      try {
        await coordinator.finish(state);
      } finally {
        await sessions.closeAll();
      }
      const n = o.sharded.hostCount;
      return `rollout ${id} shard ${o.choice.spec ? `${o.choice.spec.index}/${o.choice.spec.count}` : '1/1'}: ${coordinator.calls} XAPI calls for coordination (${n ? (coordinator.calls / n).toFixed(2) : '-'} per host, ${n} hosts, ${pools.length} pool(s))`;
    },
  });
}

export interface ShardSetup {
  plays: EnginePlay[];
  /** for the journal's plan record */
  plan: { shard?: string; shardBy?: string; rollout?: string };
  hooks: Pick<EngineOptions, 'batchGate' | 'batchDone'>;
  /** the end of the run: the shard's marker, the call count line (undefined: no rollout) */
  close(stopped: boolean): Promise<string | undefined>;
}

/**
 * Everything `pvrun <playbook>` (and `pvrun resume`) does for --shard/--rollout, in one call from
 * src/cli/run.ts. A rollback session is neither sharded nor gated: it acts on what the journal
 * names.
 */
export function shardSetup(o: {
  plays: EnginePlay[]; inv: Inventory; flags: ShardFlags; env: NodeJS.ProcessEnv; runId: string;
  mode: 'resume' | 'rollback' | undefined; secrets: SecretResolver; warn(m: string): void;
}): Result<ShardSetup, string> {
  const none: ShardSetup = { plays: o.plays, plan: {}, hooks: {}, close: async () => undefined };
  if (o.mode === 'rollback') return ok(none);
  const c = shardChoice(o.flags, o.env);
  if (!c.ok) return c;
  if (!c.value.spec && !c.value.rollout) return ok(none);
  const sharded = shardPlays(o.plays, o.inv, c.value);
  const r = rolloutHooks({ choice: c.value, sharded, inv: o.inv, runId: o.runId, check: o.flags.check, env: o.env, secrets: o.secrets, warn: o.warn });
  if (!r.ok) return r;
  const h = r.value;
  return ok({
    plays: sharded.plays,
    plan: planOf(c.value),
    hooks: h?.hooks ?? {},
    close: async (stopped) => (h ? h.close(stopped ? 'stopped' : 'done') : undefined),
  });
}
