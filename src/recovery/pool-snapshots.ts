import { resolveSecret } from '../load/secrets.js';
import { matchPattern } from '../load/patterns.js';
import { PoolSessions } from '../hypervisor/pool.js';
import type { VbdRecord, VmRecord } from '../hypervisor/records.js';
import { NULL_REF } from '../hypervisor/records.js';
import { MARK } from '../hypervisor/vm-snapshot.js';
import { readVmFacts } from '../hypervisor/vm-facts.js';
import { parseXapiDate } from '../hypervisor/xapi-date.js';
import type { XapiCaller } from '../hypervisor/types.js';
import type { Inventory } from '../model/inventory.js';
import { err, ok, type Result } from '../util/result.js';
import type { SnapshotToken } from '../steps/vm/snapshot.js';
import type { TransportMode } from '../model/transport-mode.js';

/** A snapshot pvrun made, as found on a pool by its markers. */
export interface PoolSnapshot {
  pool: string;
  ref: string;
  uuid: string;
  name: string;
  /** the inventory host it belongs to (by VM uuid / name, else the host marker) */
  host: string;
  vmUuid: string;
  vmName: string;
  run: string;
  created: string;
  keepUntil: string;
  powerState: string;
  hadTools: boolean;
  playbook: string;
  /** VDIs of its Disk VBDs: deleted with it. CD VBDs (ISOs) are never listed here. */
  disks: { uuid: string; name: string }[];
}

export function poolSessions(inv: Inventory, mode: TransportMode, warn: (m: string) => void): PoolSessions {
  return new PoolSessions(inv.hypervisors, (ref) => {
    const r = resolveSecret(ref);
    return r.ok ? ok(r.value) : err(r.error.message);
  }, { mode, warn: (pool, m) => warn(`pool ${pool}: ${m}`) });
}

/** Host names selected by --limit (all hosts without one), or the pattern's problem. */
export function limitHosts(inv: Inventory, limit: string | undefined): Result<Set<string>, string> {
  if (!limit) return ok(new Set(Object.keys(inv.hosts)));
  const m = matchPattern(limit, inv);
  if (m.problems.length) return err(`--limit '${limit}': ${m.problems.map((p) => p.message).join('; ')}`);
  return ok(new Set(m.hosts));
}

/**
 * Every snapshot carrying pvrun's run marker on the inventory's pools, one VM.get_all_records
 * per pool (snapshots of VMs outside the inventory too: the host is then the marker's name).
 */
export async function listPoolSnapshots(pools: PoolSessions, inv: Inventory): Promise<Result<PoolSnapshot[], string>> {
  const out: PoolSnapshot[] = [];
  for (const pool of Object.keys(inv.hypervisors)) {
    const c = await pools.client(pool);
    if (!c.ok) return err(c.error.message);
    const x: XapiCaller = c.value.view('check');
    const all = await x.call<Record<string, VmRecord>>('VM.get_all_records', []);
    if (!all.ok) return err(`pool ${pool}: ${all.error.message}`);
    const vms = all.value;
    for (const [ref, r] of Object.entries(vms)) {
      const oc = r.other_config ?? {};
      if (!r.is_a_snapshot || oc[MARK.run] === undefined) continue;
      const vm = vms[r.snapshot_of];
      const vmUuid = vm?.uuid ?? '';
      const vmName = vm?.name_label ?? '';
      const host = Object.values(inv.hosts).find((h) => h.vm?.pool === pool && (h.vm.uuid ? h.vm.uuid === vmUuid : h.vm.name_label === vmName))?.name
        ?? oc[MARK.host] ?? '?';
      const disks: PoolSnapshot['disks'] = [];
      for (const vbd of r.VBDs) {
        const b = await x.call<VbdRecord>('VBD.get_record', [vbd]);
        if (!b.ok || b.value.type !== 'Disk' || b.value.VDI === NULL_REF) continue;
        const v = await x.call<{ uuid: string; name_label: string }>('VDI.get_record', [b.value.VDI]);
        if (v.ok) disks.push({ uuid: v.value.uuid, name: v.value.name_label });
      }
      out.push({
        pool, ref, uuid: r.uuid, name: r.name_label, host, vmUuid, vmName, run: oc[MARK.run]!,
        created: oc[MARK.created] ?? r.snapshot_time, keepUntil: oc[MARK.keepUntil] ?? 'never',
        powerState: oc[MARK.powerState] ?? 'Running', hadTools: oc[MARK.hadTools] === 'true', playbook: oc[MARK.playbook] ?? '', disks,
      });
    }
  }
  return ok(out.sort((a, b) => a.created.localeCompare(b.created)));
}

/**
 * The snapshot a snapshot step cut short by a crash may have made. By its run marker first; the
 * markers are set only after VM.snapshot returns, so a kill in between leaves an unmarked
 * snapshot: then by the name the step's intent journaled, and it is marked now (so rollback
 * can use it and prune can find it) with the markers the intent journaled: the playbook's
 * retention (keep), playbook, creation time and tools state, so a later prune treats the adopted
 * restore point exactly as the step would have left it. A journal without them (an older pvrun)
 * gets keep 'never' — a restore point is never made prunable by guesswork — and the tools state
 * the VM reports now (nothing after the snapshot ran). 'none': the VM has no such snapshot
 * (nothing was made); undefined: the pool could not be asked.
 */
export async function findRunSnapshot(
  inv: Inventory, host: string, runId: string, intendedName: string | undefined, warn: (m: string) => void,
  intendedMarkers?: Record<string, string>,
): Promise<SnapshotToken | 'none' | undefined> {
  const sel = inv.hosts[host]?.vm;
  if (!sel) return undefined;
  const pools = poolSessions(inv, 'apply', warn);
  try {
    const vm = await pools.vm(sel);
    if (!vm.ok) return undefined;
    const x = vm.value.xapi;
    const refs = await x.call<string[]>('VM.get_snapshots', [vm.value.ref]);
    if (!refs.ok) return undefined;
    const recs: { ref: string; rec: VmRecord }[] = [];
    for (const ref of refs.value) {
      const r = await x.call<VmRecord>('VM.get_record', [ref]);
      if (r.ok) recs.push({ ref, rec: r.value });
    }
    const byTime = (a: { rec: VmRecord }, b: { rec: VmRecord }): number => a.rec.snapshot_time.localeCompare(b.rec.snapshot_time);
    const marked = recs.filter((r) => r.rec.other_config?.[MARK.run] === runId).sort(byTime)[0];
    const pick = marked ?? (intendedName ? recs.filter((r) => r.rec.name_label === intendedName && r.rec.other_config?.[MARK.run] === undefined).sort(byTime)[0] : undefined);
    if (!pick) return 'none';
    let oc = pick.rec.other_config ?? {};
    if (!marked) {
      // nothing after the snapshot ran, so the VM's power state now is the one it had then
      const power = await x.call<string>('VM.get_power_state', [vm.value.ref]);
      const facts = intendedMarkers?.[MARK.hadTools] === undefined ? await readVmFacts(x, vm.value.ref) : undefined;
      const created = parseXapiDate(pick.rec.snapshot_time);
      oc = {
        ...oc, [MARK.host]: host,
        [MARK.created]: created !== undefined ? new Date(created).toISOString() : new Date().toISOString(), [MARK.keepUntil]: 'never',
        [MARK.powerState]: power.ok ? power.value : 'Running',
        [MARK.hadTools]: String(facts?.ok === true && (facts.value.pv_drivers_detected || facts.value.management_agent_detected)),
        ...intendedMarkers,
        [MARK.run]: runId,
      };
      if (!intendedMarkers?.[MARK.keepUntil]) warn(`${host}: the journal does not say how long to keep snapshot ${pick.rec.uuid} (older pvrun): marked keep 'never'; delete it by hand when it is no longer needed`);
      const set = await x.call('VM.set_other_config', [pick.ref, oc]);
      if (!set.ok) warn(`${host}: could not mark snapshot ${pick.rec.uuid}: ${set.error.message}`);
      else warn(`${host}: snapshot ${pick.rec.uuid} was taken but not marked before the crash: marked now`);
    }
    return {
      vmUuid: vm.value.uuid, snapshotUuid: pick.rec.uuid, snapshotRef: pick.ref,
      powerState: oc[MARK.powerState] ?? 'Running', hadTools: oc[MARK.hadTools] === 'true',
    };
  } finally {
    await pools.closeAll();
  }
}
