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
 * How many preflight connections a run may hold open for its hosts, beyond `forks`. A kept
 * connection saves the host a second SSH handshake: in the 1,000-host bench, keeping all of them
 * instead of 256 means 1,000 logins instead of 1,744 (the endpoint's CPU 6.9 → 5.4 s at forks
 * 100; the client's saving is within that bench's noise, BENCHMARKS.md, "Fifth pass"); an idle
 * one costs the controller ~47 KiB (peak RSS 160 → 197 MiB for 744 more kept) and the guest one
 * idle sshd session. So a first batch of up to
 * 1,024 hosts is logged in to once per host; a larger one holds at most ~48 MiB of idle
 * connections and the rest log in again when they start. A kept connection idle for longer than
 * KEPT_IDLE_MS (src/runtime/guest-connections.ts) is closed too.
 */
export const KEPT_CONNECTIONS_MAX = 1024;

/**
 * The hosts whose preflight connection the run keeps: the first play's first batch in the order
 * the scheduler starts them (a batch's hosts in order, at most `forks` at a time), as many as
 * `max` — or `forks`, if more. Hosts of later batches are not held: a rolling rollout waits for
 * its earlier batches (minutes to hours), and their connections would sit idle all that time.
 */
export function startingHosts(
  plays: ReadonlyArray<{ hosts: ReadonlyArray<{ name: string }>; serial: SerialItem[]; forks: number }>,
  max = KEPT_CONNECTIONS_MAX,
): Set<string> {
  const first = plays.find((p) => p.hosts.length > 0);
  if (!first) return new Set();
  const batch = splitBatches([...first.hosts], first.serial)[0] ?? [];
  return new Set(batch.slice(0, Math.max(1, first.forks, max)).map((h) => h.name));
}
