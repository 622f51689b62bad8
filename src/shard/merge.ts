import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { HostRecap } from '../engine/events.js';
import { exitCodeFor } from '../engine/exit-codes.js';
import { mergeHostRecap } from '../engine/scheduler.js';
import { runHistory, type RunHistory } from '../journal/history.js';
import { listRunIds, readJournal } from '../journal/read.js';

/**
 * One rollout's record from its shards' journals (CI artifacts): every state directory given, and
 * every `runs/` folder under it (a downloaded artifacts folder holds one per job), searched a few
 * levels deep.
 */

export interface ShardRun {
  dir: string;
  history: RunHistory;
  shard: string;
}

/** state directories under `root` (a dir with a runs/ folder of *.jsonl), depth ≤ 4 */
export function stateDirsUnder(root: string, depth = 4): string[] {
  const out: string[] = [];
  const walk = (d: string, left: number): void => {
    let names: string[];
    try { names = readdirSync(d); } catch { return; }
    if (names.includes('runs') && listRunIds(d).length > 0) out.push(d);
    if (left === 0) return;
    for (const n of names) {
      if (n === 'runs' || n === 'node_modules') continue;
      const p = join(d, n);
      try { if (statSync(p).isDirectory()) walk(p, left - 1); } catch { /* gone */ }
    }
  };
  if (existsSync(root)) walk(root, depth);
  return out;
}

/** Every run of rollout `id` in the directories (each run once, by id: the same artifact downloaded twice counts once). */
export function rolloutRuns(id: string, roots: string[]): ShardRun[] {
  const seen = new Map<string, ShardRun>();
  for (const root of roots) {
    for (const dir of stateDirsUnder(root)) {
      for (const run of listRunIds(dir)) {
        const r = readJournal(dir, run);
        if (!r.ok) continue;
        const h = runHistory(run, r.value.records, r.value.truncated);
        if (h.plan?.rollout !== id) continue;
        if (!seen.has(run)) seen.set(run, { dir, history: h, shard: h.plan.shard ?? '1/1' });
      }
    }
  }
  const shardNo = (s: ShardRun): number => Number(s.shard.split('/')[0]);
  return [...seen.values()].sort((a, b) => shardNo(a) - shardNo(b) || (a.history.runId < b.history.runId ? -1 : 1));
}

export interface MergedRollout {
  runs: ShardRun[];
  /** one line per host, by host name, as one process's recap (the latest session's outcome) */
  recap: (HostRecap & { shard: string; run: string })[];
  /** hosts a shard started and never finished (its process died): resume that shard */
  unfinished: { host: string; shard: string; run: string; dir: string }[];
  /** the exit code one process would have given for these hosts */
  exitCode: number;
  /** shards whose last session has no end */
  openShards: ShardRun[];
  /** a host in the journals of two shards (the shard count or the inventory differed between jobs) */
  overlaps: string[];
}

export function mergeRollout(runs: ShardRun[]): MergedRollout {
  const byHost = new Map<string, HostRecap & { shard: string; run: string }>();
  const owner = new Map<string, string>();
  const overlaps = new Set<string>();
  const unfinished: MergedRollout['unfinished'] = [];
  for (const s of runs) {
    const perHost = new Map<string, HostRecap>();
    for (const x of s.history.hosts) {
      const o = owner.get(x.host);
      if (o !== undefined && o !== s.history.runId) overlaps.add(x.host);
      owner.set(x.host, s.history.runId);
      if (x.recap) perHost.set(x.host, mergeHostRecap(perHost.get(x.host), x.recap));
      else if (x.started) unfinished.push({ host: x.host, shard: s.shard, run: s.history.runId, dir: s.dir });
    }
    for (const [h, r] of perHost) byHost.set(h, { ...r, shard: s.shard, run: s.history.runId });
  }
  const recap = [...byHost.values()].sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
  const openShards = runs.filter((s) => s.history.sessions.at(-1)?.ended === undefined);
  return {
    runs, recap, unfinished: unfinished.filter((u) => !byHost.has(u.host)), openShards, overlaps: [...overlaps].sort(),
    exitCode: exitCodeFor(recap, false),
  };
}
