import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { discoverVms, discoveredHosts } from '../hypervisor/discovery.js';
import { PoolSessions, type SecretResolver } from '../hypervisor/pool.js';
import type { Inventory } from '../model/inventory.js';
import { err, ok, type Result } from '../util/result.js';

/**
 * Dynamic groups (`source: xapi`) get their hosts from the pool at run time: after the files
 * validated, the pool is asked (read-only) for the VMs matching the group's filters, and they
 * are written as an inventory fragment (hosts with `groups: [<group>]`, selected by uuid,
 * addressed by the address chosen by rule) that is loaded after the user's inventories. Hosts
 * already declared by name are left as declared.
 *
 * A VM whose record is too partial to judge (no power state, no template/snapshot/dom0 flags: an
 * old or proxied XAPI) cannot be matched against the filters: it is left out, and `warn` is told
 * which VM and which fields are missing (and the fragment lists it in a comment) — never
 * silently dropped. The pool's own warnings (insecure TLS, a master redirect) go to `warn` too.
 */
export async function materializeDynamicGroups(
  inv: Inventory, dir: string, runId: string, secrets: SecretResolver, warn: (message: string) => void = () => {},
): Promise<Result<string | undefined, string>> {
  const dynamic = Object.values(inv.groups).filter((g) => g.source?.kind === 'xapi');
  if (dynamic.length === 0) return ok(undefined);
  const pools = new PoolSessions(inv.hypervisors, secrets, { mode: 'check', warn: (pool, m) => warn(`pool ${pool}: ${m}`) });
  const leftOut: string[] = [];
  const hosts: Record<string, { vm: { pool: string; uuid: string }; groups: string[]; connection?: { address: string } }> = {};
  try {
    for (const g of dynamic) {
      const src = g.source!;
      const c = await pools.client(src.pool);
      if (!c.ok) return err(`dynamic group '${g.name}': ${c.error.message}`);
      const rows = await discoverVms(c.value.view('check'), {
        ...(src.missing_tools !== undefined ? { missingTools: src.missing_tools } : {}),
        ...(src.tag ? { tag: src.tag } : {}),
        ...(src.name ? { name: src.name } : {}),
        pool: src.pool,
        onBadRecord: (m) => {
          const line = `dynamic group '${g.name}': ${m}; left out of the group`;
          leftOut.push(line);
          warn(line);
        },
      });
      if (!rows.ok) return err(`dynamic group '${g.name}': ${rows.error.message}`);
      for (const h of discoveredHosts(rows.value, src.pool)) {
        if (inv.hosts[h.name]) continue;
        const prev = hosts[h.name];
        if (prev) { prev.groups.push(g.name); continue; }
        hosts[h.name] = { vm: h.vm, groups: [g.name], ...(h.address ? { connection: { address: h.address } } : {}) };
      }
    }
  } finally {
    await pools.closeAll();
  }
  mkdirSync(join(dir, 'dynamic'), { recursive: true });
  const path = join(dir, 'dynamic', `${runId}.yml`);
  const notes = leftOut.map((l) => `# left out: ${l.replace(/\n/g, ' ')}\n`).join('');
  writeFileSync(path, `# hosts of dynamic groups, discovered by run ${runId}\n${notes}${stringify({ hosts })}`);
  return ok(path);
}
