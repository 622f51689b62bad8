import type { Inventory } from '../model/inventory.js';
import { PoolSessions } from '../hypervisor/pool.js';
import { discoverVms, formatDiscoveryInventory, formatDiscoveryTable } from '../hypervisor/discovery.js';
import { resolveSecret } from '../load/secrets.js';
import { formatDiagnostics } from '../load/diagnostics.js';
import { didYouMean } from '../load/suggest.js';
import { EXIT } from '../engine/exit-codes.js';
import { err, ok } from '../util/result.js';
import type { Io } from './io.js';
import type { InventoryFlags } from './inventory.js';

/**
 * `pvrun inventory -i X --from-pool POOL [--missing-tools] [--tag T] [--name GLOB] [--yaml]`:
 * the dashboard's "No Xen tools detected" as a command. Read-only: the session is read-only.
 */
export async function discoverCommand(inv: Inventory, flags: InventoryFlags & { fromPool: string }, io: Io): Promise<number> {
  const spec = inv.hypervisors[flags.fromPool];
  if (!spec) {
    io.err.write(`pvrun: no hypervisor '${flags.fromPool}' in the inventory${didYouMean(flags.fromPool, Object.keys(inv.hypervisors))}; known: ${Object.keys(inv.hypervisors).join(', ') || 'none'}\n`);
    return EXIT.invalid;
  }
  const secrets = [spec.password, ...(typeof spec.username === 'string' ? [] : [spec.username])];
  for (const s of secrets) {
    const r = resolveSecret(s, { pos: spec.pos, what: `hypervisor '${spec.name}'` });
    if (!r.ok) { io.err.write(formatDiagnostics([r.error]) + '\n'); return EXIT.invalid; }
  }
  const pools = new PoolSessions(inv.hypervisors, (ref) => {
    const r = resolveSecret(ref);
    return r.ok ? ok(r.value) : err(r.error.message);
  }, { mode: 'check', warn: (pool, m) => io.err.write(`WARNING: pool ${pool}: ${m}\n`) });
  try {
    const c = await pools.client(flags.fromPool);
    if (!c.ok) { io.err.write(`pvrun: ${c.error.message}\n`); return EXIT.unreachable; }
    // a VM record too partial to use is left out with a located warning, not a crash (exit 70)
    const rows = await discoverVms(c.value.view('check'), {
      pool: flags.fromPool,
      onBadRecord: (m) => io.err.write(`WARNING: ${m}; left out\n`),
      ...(flags.missingTools ? { missingTools: true } : {}),
      ...(flags.tag ? { tag: flags.tag } : {}),
      ...(flags.name ? { name: flags.name } : {}),
    });
    if (!rows.ok) { io.err.write(`pvrun: ${rows.error.message}\n`); return EXIT.unreachable; }
    io.out.write((flags.yaml ? formatDiscoveryInventory(rows.value, flags.fromPool) : formatDiscoveryTable(rows.value)) + '\n');
    return EXIT.ok;
  } finally {
    await pools.closeAll();
  }
}
