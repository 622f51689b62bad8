import type { Result } from '../util/result.js';
import { err, ok } from '../util/result.js';
import type { VbdRecord, VmRecord } from './records.js';
import { NULL_REF } from './records.js';
import type { HypervisorFailure, VmHandle, XapiCaller } from './types.js';
import type { VmFacts } from './vm-facts.js';
import { readVmFacts } from './vm-facts.js';
import type { FreshPolicy } from './vm-power.js';
import { startVm } from './vm-power.js';
import { readRecords } from './read-records.js';
import { xapiError } from './xapi/errors.js';
import { callAsync } from './xapi/task.js';

/** other_config keys pvrun puts on what it creates, so it can be found without local state */
export const MARK = {
  run: 'pvrun.run',
  playbook: 'pvrun.playbook',
  host: 'pvrun.host',
  created: 'pvrun.created',
  /** 'true' (keep forever), 'false' (delete at the end of the run) or an ISO expiry time */
  keepUntil: 'pvrun.keep_until',
  /** the VM's power state when the snapshot was taken (the snapshot record itself is always Halted) */
  powerState: 'pvrun.power_state',
  /** the VM had PV drivers or an agent: after a revert, wait for fresh guest metrics */
  hadTools: 'pvrun.had_tools',
} as const;

export interface SnapshotInfo {
  ref: string;
  uuid: string;
  nameLabel: string;
  snapshotTime: string;
  otherConfig: Record<string, string>;
}

/**
 * VM.snapshot (crash-consistent), then the pvrun markers in one set_other_config (the snapshot
 * inherits the VM's other_config, so we merge rather than add key by key).
 */
export async function takeSnapshot(
  h: VmHandle,
  name: string,
  markers: Record<string, string>,
  opts: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<Result<SnapshotInfo, HypervisorFailure>> {
  let snap = await callAsync(h.xapi, 'VM.snapshot', [h.ref, name, []], opts);
  if (!snap.ok && snap.error.kind === 'xapi' && snap.error.code === 'MESSAGE_PARAMETER_COUNT_MISMATCH') {
    // a pool older than ignore_vdis
    snap = await callAsync(h.xapi, 'VM.snapshot', [h.ref, name], opts);
  }
  if (!snap.ok) return snap;
  const rec = await h.xapi.call<VmRecord>('VM.get_record', [snap.value]);
  if (!rec.ok) return rec;
  const oc = { ...rec.value.other_config, ...markers };
  const set = await h.xapi.call('VM.set_other_config', [snap.value, oc]);
  if (!set.ok) return set;
  return ok({ ref: snap.value, uuid: rec.value.uuid, nameLabel: rec.value.name_label, snapshotTime: rec.value.snapshot_time, otherConfig: oc });
}

/** The VM's snapshots that carry pvrun's run marker. */
export async function listPvrunSnapshots(x: XapiCaller, vmRef: string): Promise<Result<SnapshotInfo[], HypervisorFailure>> {
  const refs = await x.call<string[]>('VM.get_snapshots', [vmRef]);
  if (!refs.ok) return refs;
  const recs = await readRecords<VmRecord>(x, 'VM', refs.value);
  if (!recs.ok) return recs;
  const out: SnapshotInfo[] = [];
  for (const ref of refs.value) {
    const r = recs.value.get(ref);
    if (r?.other_config?.[MARK.run] === undefined) continue;
    out.push({ ref, uuid: r.uuid, nameLabel: r.name_label, snapshotTime: r.snapshot_time, otherConfig: r.other_config });
  }
  return ok(out);
}

export interface RevertResult {
  /** the VM's facts after the revert (and restart), VBD refs re-read */
  facts: VmFacts;
  cdVbds: string[];
  restarted: boolean;
}

/**
 * VM.revert leaves the VM Halted, rebuilds CD VBDs with new refs and leaves stale guest metrics:
 * restore the power state it had and re-read what changed.
 */
export async function revertToSnapshot(
  h: VmHandle,
  snapRef: string,
  opts: { powerState: string; timeoutMs: number; freshMetrics?: FreshPolicy; signal?: AbortSignal },
): Promise<Result<RevertResult, HypervisorFailure>> {
  const deadline = Date.now() + opts.timeoutMs;
  const r = await callAsync(h.xapi, 'VM.revert', [snapRef], { timeoutMs: opts.timeoutMs, signal: opts.signal });
  if (!r.ok) return r;
  let restarted = false;
  let facts: VmFacts | undefined;
  if (opts.powerState === 'Running') {
    const s = await startVm(h, Math.max(1000, deadline - Date.now()), { freshMetrics: opts.freshMetrics ?? false, signal: opts.signal });
    if (!s.ok) return s;
    restarted = true;
    facts = s.value;
  }
  if (!facts) {
    const f = await readVmFacts(h.xapi, h.ref);
    if (!f.ok) return f;
    facts = f.value;
  }
  const vbds = await h.xapi.call<string[]>('VM.get_VBDs', [h.ref]);
  if (!vbds.ok) return vbds;
  const recs = await readRecords<VbdRecord>(h.xapi, 'VBD', vbds.value);
  if (!recs.ok) return recs;
  const cd = vbds.value.filter((v) => recs.value.get(v)?.type === 'CD');
  return ok({ facts, cdVbds: cd, restarted });
}

/**
 * Delete a snapshot the way users expect: VM.destroy leaves the disks, so destroy the VDIs of its
 * Disk VBDs too — never the VDI of a CD VBD (that is an ISO shared with others). Refuses snapshots
 * pvrun did not create unless `force`.
 */
export async function destroySnapshot(
  x: XapiCaller,
  snapRef: string,
  opts: { force?: boolean } = {},
): Promise<Result<{ vdis: string[] }, HypervisorFailure>> {
  const rec = await x.call<VmRecord>('VM.get_record', [snapRef]);
  if (!rec.ok) return rec;
  if (!rec.value.is_a_snapshot) {
    return err({ kind: 'vm-not-found', message: `${snapRef} is not a snapshot; refusing to destroy it` });
  }
  if (!opts.force && rec.value.other_config?.[MARK.run] === undefined) {
    return err({ kind: 'vm-not-found', message: `snapshot ${rec.value.name_label} (${rec.value.uuid}) was not made by pvrun; refusing to delete it` });
  }
  const vbds = await readRecords<VbdRecord>(x, 'VBD', rec.value.VBDs);
  if (!vbds.ok) return vbds;
  const disks: string[] = [];
  for (const vbd of rec.value.VBDs) {
    const b = vbds.value.get(vbd);
    if (!b) return err(xapiError('HANDLE_INVALID', ['VBD', vbd]));
    if (b.type === 'Disk' && b.VDI !== NULL_REF) disks.push(b.VDI);
  }
  const d = await callAsync(x, 'VM.destroy', [snapRef]);
  if (!d.ok) return d;
  const gone: string[] = [];
  for (const vdi of disks) {
    const v = await callAsync(x, 'VDI.destroy', [vdi]);
    if (!v.ok && !(v.error.kind === 'xapi' && v.error.code === 'HANDLE_INVALID')) return v;
    gone.push(vdi);
  }
  return ok({ vdis: gone });
}
