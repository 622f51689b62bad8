import { snapshotPruneInfo } from '../catalog.js';
import type { SnapshotInfo } from '../../hypervisor/vm-snapshot.js';
import { destroySnapshot, listPvrunSnapshots } from '../../hypervisor/vm-snapshot.js';
import { ok } from '../../util/result.js';
import { defineStep } from '../types.js';
import { failureText, runInfo, seenNow, stillSeen, vmOf, type Seen } from './common.js';
import { decidePrune } from './retention.js';

export interface SnapshotPruneArgs {
  /** also delete this run's `keep: false` snapshots (use in cleanup once the host is known good) */
  include_current_run?: boolean;
}

export const snapshotPruneStep = defineStep<SnapshotPruneArgs, Seen<SnapshotInfo[]>>({
  ...snapshotPruneInfo, // type, description, schema, shorthand, flags: src/steps/catalog.ts

  async plan(ctx, args) {
    const h = await vmOf(ctx);
    if (!h.ok) return { kind: 'fail', reason: h.error };
    const snaps = await listPvrunSnapshots(h.value.xapi, h.value.ref);
    if (!snaps.ok) return { kind: 'fail', reason: failureText(snaps.error) };
    const go = decidePrune(snaps.value, Date.now(), runInfo(ctx).runId, args.include_current_run ?? false).filter((d) => d.prune);
    if (go.length === 0) return { kind: 'ok', summary: `nothing to prune (${snaps.value.length} pvrun snapshot(s) kept)` };
    return { kind: 'change', summary: `delete ${go.map((d) => `'${d.snapshot.nameLabel}' (${d.why})`).join(', ')}`, planned: seenNow(h.value, snaps.value) };
  },

  async apply(ctx, args, plan) {
    const h = await vmOf(ctx);
    if (!h.ok) return { kind: 'failed', reason: h.error };
    // the list plan() read a moment ago; destroySnapshot re-checks each snapshot before deleting it
    const seen = stillSeen(plan.planned, h.value);
    const snaps = seen ? ok(seen) : await listPvrunSnapshots(h.value.xapi, h.value.ref);
    if (!snaps.ok) return { kind: 'failed', reason: failureText(snaps.error) };
    const go = decidePrune(snaps.value, Date.now(), runInfo(ctx).runId, args.include_current_run ?? false).filter((d) => d.prune);
    if (go.length === 0) return { kind: 'ok', summary: 'nothing to prune' };
    const deleted: string[] = [];
    for (const d of go) {
      await ctx.intent({ action: 'vm.snapshot-delete', detail: { vm: h.value.uuid, snapshot: d.snapshot.uuid } });
      const r = await destroySnapshot(h.value.xapi, d.snapshot.ref);
      if (!r.ok) {
        return { kind: 'failed', reason: `deleting '${d.snapshot.nameLabel}' failed: ${failureText(r.error)}`, data: { deleted } };
      }
      deleted.push(d.snapshot.uuid);
    }
    return { kind: 'changed', summary: `deleted ${deleted.length} snapshot(s) and their disks`, data: { deleted } };
  },
});
