import type { VmSelector } from '../model/inventory.js';
import type { Result } from '../util/result.js';
import { err, ok } from '../util/result.js';
import type { VmRecord } from './records.js';
import { describeBadVmRecord, vmRecordProblems } from './records.js';
import type { HypervisorFailure, MetricsHint, XapiCaller } from './types.js';

export interface ResolvedVm {
  ref: string;
  uuid: string;
  nameLabel: string;
  /** VM_metrics / VM_guest_metrics refs from the record read while resolving */
  metrics: MetricsHint;
}

const hintOf = (r: Pick<VmRecord, 'metrics' | 'guest_metrics'>): MetricsHint => ({ metrics: r.metrics, guestMetrics: r.guest_metrics });

/** a real VM: `VM.get_by_name_label` also returns snapshots, templates and dom0 */
export function isRealVm(r: Pick<VmRecord, 'is_a_snapshot' | 'is_a_template' | 'is_control_domain'>): boolean {
  return !r.is_a_snapshot && !r.is_a_template && !r.is_control_domain;
}

/** Find the host's VM on its pool by uuid or name_label; an ambiguous name lists the candidates. */
export async function resolveVm(x: XapiCaller, sel: VmSelector): Promise<Result<ResolvedVm, HypervisorFailure>> {
  if (sel.uuid) {
    const ref = await x.call<string>('VM.get_by_uuid', [sel.uuid]);
    if (!ref.ok) {
      if (ref.error.kind === 'xapi' && ref.error.code === 'UUID_INVALID') {
        return err({ kind: 'vm-not-found', message: `no VM with uuid ${sel.uuid} on pool ${sel.pool}` });
      }
      return ref;
    }
    const rec = await x.call<VmRecord>('VM.get_record', [ref.value]);
    if (!rec.ok) return rec;
    // a partial record cannot say whether it is a VM: a located failure, not a guess
    const problems = vmRecordProblems(rec.value);
    if (problems.length) return err({ kind: 'bad-record', message: describeBadVmRecord(sel.pool, ref.value, rec.value, problems) });
    if (!isRealVm(rec.value)) {
      return err({ kind: 'vm-not-found', message: `uuid ${sel.uuid} on pool ${sel.pool} is a snapshot, template or control domain, not a VM` });
    }
    return ok({ ref: ref.value, uuid: rec.value.uuid, nameLabel: rec.value.name_label, metrics: hintOf(rec.value) });
  }
  const name = sel.name_label;
  if (!name) return err({ kind: 'vm-not-found', message: `VM selector on pool ${sel.pool} has neither uuid nor name_label` });
  const refs = await x.call<string[]>('VM.get_by_name_label', [name]);
  if (!refs.ok) return refs;
  const recs = await Promise.all(refs.value.map(async (ref) => ({ ref, r: await x.call<VmRecord>('VM.get_record', [ref]) })));
  const vms: ResolvedVm[] = [];
  for (const { ref, r } of recs) {
    if (!r.ok) {
      // deleted between the two calls: not a candidate
      if (r.error.kind === 'xapi' && r.error.code === 'HANDLE_INVALID') continue;
      return r;
    }
    // a partial record among the candidates: it may be the VM meant, so it is not silently skipped
    const problems = vmRecordProblems(r.value);
    if (problems.length) return err({ kind: 'bad-record', message: describeBadVmRecord(sel.pool, ref, r.value, problems) });
    if (isRealVm(r.value)) vms.push({ ref, uuid: r.value.uuid, nameLabel: r.value.name_label, metrics: hintOf(r.value) });
  }
  if (vms.length === 0) return err({ kind: 'vm-not-found', message: `no VM named '${name}' on pool ${sel.pool}` });
  if (vms.length > 1) {
    const candidates = vms.map((v) => ({ uuid: v.uuid, name_label: v.nameLabel }));
    return err({
      kind: 'vm-ambiguous',
      message: `${vms.length} VMs are named '${name}' on pool ${sel.pool}; select one by uuid: ${candidates.map((c) => c.uuid).join(', ')}`,
      candidates,
    });
  }
  return ok(vms[0]!);
}
