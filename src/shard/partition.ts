import { createHash } from 'node:crypto';
import { err, ok, type Result } from '../util/result.js';

/**
 * Splitting one rollout's hosts over n CI jobs (`--shard i/n`). Pure: the same hosts, pools and
 * shard spec give the same slice in every job and on every re-run, with nothing shared but the
 * inventory — so each shard can also compute every other shard's slice (the rollout's total,
 * the whole-rollout failure budget's denominator).
 */

export interface ShardSpec {
  /** 1-based */
  index: number;
  count: number;
}

export type ShardBy = 'host' | 'pool';

/** `i/n` with 1 ≤ i ≤ n; the message says what is wrong (the CLI prints it, exit 5). */
export function parseShard(text: string, from: string): Result<ShardSpec, string> {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) return err(`${from} '${text}': want i/n (e.g. 2/4: the second of four shards)`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1) return err(`${from} '${text}': the shard count n must be at least 1`);
  if (count > 10_000) return err(`${from} '${text}': at most 10000 shards`);
  if (index < 1 || index > count) return err(`${from} '${text}': the shard number i counts from 1 to ${count}`);
  return ok({ index, count });
}

export function parseShardBy(text: string): Result<ShardBy, string> {
  return text === 'host' || text === 'pool' ? ok(text) : err(`--shard-by '${text}': want host or pool`);
}

/** sha256 of the name, its first 48 bits, mod n: stable across processes, machines and Node versions. */
export function hostShard(host: string, count: number): number {
  const d = createHash('sha256').update(host, 'utf8').digest();
  return (d.readUIntBE(0, 6) % count) + 1;
}

/**
 * Every host's shard (1-based). `host`: by the hash of its name. `pool`: whole pools to shards,
 * largest pool first to the least loaded shard (ties: the lower shard number; pools of equal size
 * by name), so the result does not depend on the order the hosts were listed in. Hosts without a
 * pool (a guest-only host) form one group of their own, '' by name.
 * Balance: with `pool`, max − min shard size ≤ the largest pool's host count (greedy LPT).
 */
export function assignShards(hosts: readonly string[], count: number, by: ShardBy, poolOf: (host: string) => string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  const unique = [...new Set(hosts)];
  if (by === 'host') {
    for (const h of unique) out.set(h, hostShard(h, count));
    return out;
  }
  const pools = new Map<string, string[]>();
  for (const h of unique) {
    const p = poolOf(h) ?? '';
    let l = pools.get(p);
    if (!l) pools.set(p, (l = []));
    l.push(h);
  }
  const order = [...pools.entries()].sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const load = new Array<number>(count).fill(0);
  for (const [, members] of order) {
    let best = 0;
    for (let i = 1; i < count; i++) if (load[i]! < load[best]!) best = i;
    load[best]! += members.length;
    for (const h of members) out.set(h, best + 1);
  }
  return out;
}

/** The hosts of shard `spec`, in the order given. */
export function shardSlice(hosts: readonly string[], spec: ShardSpec, by: ShardBy, poolOf: (host: string) => string | undefined): string[] {
  const a = assignShards(hosts, spec.count, by, poolOf);
  return hosts.filter((h) => a.get(h) === spec.index);
}
