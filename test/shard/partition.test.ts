import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { assignShards, hostShard, parseShard, parseShardBy, shardSlice, type ShardBy } from '../../src/shard/partition.js';

const names = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${String(i + 1).padStart(4, '0')}`);

/** pools of uneven sizes: p0 20 hosts, p1 3, p2 11, …; the pool is in the name */
function pooled(sizes: number[]): { hosts: string[]; poolOf: (h: string) => string } {
  const hosts = sizes.flatMap((s, p) => names(`p${p}`, s));
  return { hosts, poolOf: (h) => h.split('-')[0]! };
}

const cases: { name: string; hosts: string[]; n: number; by: ShardBy; poolOf: (h: string) => string | undefined; bound: (hosts: number, largestPool: number) => number }[] = [
  // hash: each shard within 15% of N/n for these 1000 names (a binomial's 3σ at N/n = 250 is ±41 = 16%)
  { name: 'host, 1000 hosts, 4 shards', hosts: names('vm', 1000), n: 4, by: 'host', poolOf: () => 'p', bound: (N) => Math.ceil(0.3 * N / 4) },
  { name: 'host, 8 hosts, 4 shards', hosts: names('deb', 8), n: 4, by: 'host', poolOf: () => 'p', bound: () => 8 },
  { name: 'host, 5 hosts, 1 shard', hosts: names('h', 5), n: 1, by: 'host', poolOf: () => 'p', bound: () => 0 },
  { name: 'host, 3 hosts, 7 shards (empty shards)', hosts: names('h', 3), n: 7, by: 'host', poolOf: () => 'p', bound: () => 3 },
  // pool: max − min ≤ the largest pool (greedy, largest first)
  { name: 'pool, 6 uneven pools, 3 shards', ...pooled([20, 3, 11, 7, 7, 2]), n: 3, by: 'pool', bound: (_, l) => l },
  { name: 'pool, 2 pools, 4 shards', ...pooled([5, 9]), n: 4, by: 'pool', bound: (_, l) => l },
  { name: 'pool, hosts without a pool', hosts: [...names('a', 4), ...names('b', 4)], n: 2, by: 'pool', poolOf: (h) => (h.startsWith('a') ? 'pa' : undefined), bound: (_, l) => l },
];

describe('shard partition', () => {
  for (const c of cases) {
    it(`${c.name}: disjoint, covering, stable, balanced`, () => {
      const slices = Array.from({ length: c.n }, (_, i) => shardSlice(c.hosts, { index: i + 1, count: c.n }, c.by, c.poolOf));
      const all = slices.flat();
      // disjoint: no host in two slices; covering: every host in one
      expect(new Set(all).size).toBe(all.length);
      expect([...all].sort()).toEqual([...c.hosts].sort());
      // stable: a re-run with the hosts listed in another order takes the same slice
      const reversed = [...c.hosts].reverse();
      for (let i = 0; i < c.n; i++) {
        expect(new Set(shardSlice(reversed, { index: i + 1, count: c.n }, c.by, c.poolOf))).toEqual(new Set(slices[i]));
      }
      // whole pools stay together with --shard-by pool
      if (c.by === 'pool') {
        const shardOfPool = new Map<string, number>();
        slices.forEach((s, i) => s.forEach((h) => {
          const p = c.poolOf(h) ?? '';
          expect(shardOfPool.get(p) ?? i).toBe(i);
          shardOfPool.set(p, i);
        }));
      }
      const sizes = slices.map((s) => s.length);
      const pools = new Map<string, number>();
      for (const h of c.hosts) pools.set(c.poolOf(h) ?? '', (pools.get(c.poolOf(h) ?? '') ?? 0) + 1);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(c.bound(c.hosts.length, Math.max(...pools.values())));
    });
  }

  it('the hash is sha256 of the name mod n, as another implementation (openssl) computes it', () => {
    for (const h of ['web-01', 'deb-02', 'ünïcode-host', 'win-2022-a']) {
      const hex = execFileSync('openssl', ['dgst', '-sha256', '-r'], { input: Buffer.from(h, 'utf8') }).toString().slice(0, 12);
      for (const n of [1, 2, 3, 4, 7, 16]) expect(hostShard(h, n)).toBe((parseInt(hex, 16) % n) + 1);
    }
  });

  it('pool assignment puts the largest pool on shard 1 and does not depend on the listing order', () => {
    const { hosts, poolOf } = pooled([4, 10, 6]);
    const a = assignShards(hosts, 2, 'pool', poolOf);
    expect(a.get('p1-0001')).toBe(1); // 10 hosts: first, to the (empty) shard 1
    expect(a.get('p2-0001')).toBe(2); // 6: shard 2 is the least loaded
    expect(a.get('p0-0001')).toBe(2); // 4: shard 2 has 6 < 10
    expect(assignShards([...hosts].reverse(), 2, 'pool', poolOf)).toEqual(a);
  });

  const specs: [string, { index: number; count: number } | RegExp][] = [
    ['1/4', { index: 1, count: 4 }], ['4/4', { index: 4, count: 4 }], [' 2 / 3 ', { index: 2, count: 3 }], ['1/1', { index: 1, count: 1 }],
    ['0/4', /counts from 1 to 4/], ['5/4', /counts from 1 to 4/], ['1/0', /at least 1/], ['2', /want i\/n/],
    ['a/b', /want i\/n/], ['-1/4', /want i\/n/], ['1.5/4', /want i\/n/], ['', /want i\/n/], ['1/20000', /at most 10000/],
  ];
  for (const [text, want] of specs) {
    it(`--shard '${text}'`, () => {
      const r = parseShard(text, '--shard');
      if (want instanceof RegExp) {
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.error).toMatch(want);
      } else {
        expect(r).toEqual({ ok: true, value: want });
      }
    });
  }

  it('--shard-by takes host or pool', () => {
    expect(parseShardBy('pool')).toEqual({ ok: true, value: 'pool' });
    expect(parseShardBy('site').ok).toBe(false);
  });
});
