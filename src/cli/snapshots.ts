import { EXIT } from '../engine/exit-codes.js';
import { destroySnapshot } from '../hypervisor/vm-snapshot.js';
import { parseDurationMs } from '../steps/vm/common.js';
import { redactor } from '../util/redact.js';
import type { Io } from './io.js';
import { loadInventoryArgs } from './inventory.js';
import { limitHosts, listPoolSnapshots, poolSessions, type PoolSnapshot } from '../recovery/pool-snapshots.js';
import type { SnapshotFlags } from './program.js';

/** Whether prune may delete this snapshot, and why (pure, for tests). */
export function pruneDecision(s: PoolSnapshot, now: number, olderThanMs: number | undefined, includeKept: boolean): { prune: boolean; why: string } {
  const created = Date.parse(s.created);
  if (olderThanMs !== undefined) {
    if (s.keepUntil === 'never' && !includeKept) return { prune: false, why: 'keep: true (use --include-kept)' };
    if (Number.isNaN(created)) return { prune: false, why: `unreadable creation time '${s.created}'` };
    return now - created > olderThanMs ? { prune: true, why: `created ${s.created}` } : { prune: false, why: 'younger than --older-than' };
  }
  if (s.keepUntil === 'never') return { prune: false, why: 'keep: true' };
  if (s.keepUntil === 'run-end') return { prune: true, why: 'keep: false (run ended)' };
  const until = Date.parse(s.keepUntil);
  if (Number.isNaN(until)) return { prune: false, why: `unreadable keep-until '${s.keepUntil}'` };
  return until <= now ? { prune: true, why: `expired ${s.keepUntil}` } : { prune: false, why: `kept until ${s.keepUntil}` };
}

/** `pvrun snapshots list|prune -i INV`: only snapshots with pvrun's markers; disks with them, never ISOs. */
export async function snapshotsCommand(sub: 'list' | 'prune', flags: SnapshotFlags, io: Io): Promise<number> {
  const inv = loadInventoryArgs(flags.inventory, io);
  if (!inv.ok) return inv.code;
  const limit = limitHosts(inv.inventory, flags.limit);
  if (!limit.ok) { io.err.write(`pvrun snapshots: ${limit.error}\n`); return EXIT.invalid; }
  let olderThan: number | undefined;
  if (flags.olderThan !== undefined) {
    olderThan = parseDurationMs(flags.olderThan);
    if (olderThan === undefined) { io.err.write(`pvrun snapshots prune: --older-than wants a duration (7d, 12h, 30m, 0s), not '${flags.olderThan}'\n`); return EXIT.invalid; }
  }
  // listing, or a rehearsal of a prune: the sessions refuse every change
  const mode = sub === 'list' || flags.check ? 'check' : 'apply';
  const pools = poolSessions(inv.inventory, mode, (m) => io.err.write(`pvrun: WARNING: ${m}\n`));
  const say = (s: string): void => { io.out.write(redactor.redact(s) + '\n'); };
  try {
    const all = await listPoolSnapshots(pools, inv.inventory);
    if (!all.ok) { io.err.write(`pvrun snapshots: ${all.error}\n`); return EXIT.unreachable; }
    const snaps = all.value.filter((s) => (limit.value.has(s.host) || (!flags.limit && s.host === '?')) && (!flags.run || s.run.startsWith(flags.run)));
    if (sub === 'list') {
      if (snaps.length === 0) { say('no pvrun snapshots'); return EXIT.ok; }
      for (const s of snaps) {
        say(`${s.host.padEnd(12)} ${s.uuid}  '${s.name}'  run ${s.run}  created ${s.created}  keep ${s.keepUntil}  was ${s.powerState}`);
        for (const d of s.disks) say(`${' '.repeat(14)}disk ${d.uuid} '${d.name}'`);
      }
      return EXIT.ok;
    }
    const now = Date.now();
    let failed = 0;
    let pruned = 0;
    for (const s of snaps) {
      const d = pruneDecision(s, now, olderThan, flags.includeKept);
      if (!d.prune) { say(`keep    ${s.host} ${s.uuid} '${s.name}': ${d.why}`); continue; }
      if (flags.check) { say(`would delete ${s.host} ${s.uuid} '${s.name}' and ${s.disks.length} disk(s): ${d.why}`); pruned++; continue; }
      const c = await pools.client(s.pool);
      if (!c.ok) { failed++; io.err.write(`pvrun snapshots prune: pool ${s.pool}: ${c.error.message}\n`); continue; }
      const r = await destroySnapshot(c.value.view('apply'), s.ref);
      if (!r.ok) { failed++; io.err.write(redactor.redact(`pvrun snapshots prune: ${s.host} ${s.uuid}: ${r.error.message}`) + '\n'); continue; }
      pruned++;
      say(`deleted ${s.host} ${s.uuid} '${s.name}' and ${r.value.vdis.length} disk(s): ${d.why}`);
    }
    say(`${flags.check ? 'would delete' : 'deleted'} ${pruned} snapshot(s)${failed ? `, ${failed} failed` : ''}`);
    return failed ? EXIT.attention : EXIT.ok;
  } finally {
    await pools.closeAll();
  }
}
