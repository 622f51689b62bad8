import type { SerialItem } from '../model/playbook.js';

/**
 * Split hosts into rolling batches as Ansible's `serial` does: each item gives the size of the
 * next batch (a count, or a percentage of all the play's hosts, rounded down, at least 1);
 * the last item repeats until every host has a batch. No serial: one batch of everything.
 */
export function batchSizes(total: number, serial: SerialItem[]): number[] {
  if (total === 0) return [];
  if (serial.length === 0) return [total];
  const sizes: number[] = [];
  let left = total;
  let i = 0;
  while (left > 0) {
    const item = serial[Math.min(i, serial.length - 1)]!;
    const want = 'count' in item ? item.count : Math.floor((total * item.percent) / 100);
    const size = Math.min(left, Math.max(1, want));
    sizes.push(size);
    left -= size;
    i++;
  }
  return sizes;
}

export function splitBatches<T>(hosts: T[], serial: SerialItem[]): T[][] {
  const out: T[][] = [];
  let at = 0;
  for (const size of batchSizes(hosts.length, serial)) {
    out.push(hosts.slice(at, at + size));
    at += size;
  }
  return out;
}

/**
 * The hosts a run starts at once: the first `forks` hosts of the first play's first batch (the
 * scheduler starts a batch's hosts in order, at most `forks` at a time). The preflight keeps their
 * guest connections open for the run; the others it closes, so a rolling rollout of many hosts
 * does not hold hundreds of idle connections through its batches.
 */
export function startingHosts(plays: ReadonlyArray<{ hosts: ReadonlyArray<{ name: string }>; serial: SerialItem[]; forks: number }>): Set<string> {
  const first = plays.find((p) => p.hosts.length > 0);
  if (!first) return new Set();
  const batch = splitBatches([...first.hosts], first.serial)[0] ?? [];
  return new Set(batch.slice(0, Math.max(1, first.forks)).map((h) => h.name));
}
