import type { SimModel } from './model.js';
import { XapiFault } from './fault.js';
import { vdiRecord, vmMetricsRecord, vmRecord } from './records.js';
import { NULL_REF, xapiDate } from './store.js';

/**
 * Storage-side XAPI operations of the simulator: CD insert/eject, snapshot, revert, destroy.
 * Their semantics follow real XAPI (see docs/xapi.md): snapshots are Halted templates with copied
 * disks and the VM's record in snapshot_metadata; revert leaves the VM Halted with cloned disks,
 * rebuilt CD VBDs (new refs), every field back from snapshot_metadata, new VM_metrics and a stale
 * copy of the snapshot's guest metrics; VM.destroy keeps disks.
 */

/**
 * Fields revert does not take from snapshot_metadata (XA ocaml/xapi/xapi_vm_snapshot.ml
 * `do_not_copy`, in :492-620), plus what the simulator rebuilds itself (metrics, snapshot fields).
 */
const REVERT_DO_NOT_COPY = new Set([
  'uuid', 'power_state', 'parent', 'current_operations', 'allowed_operations', 'guest_metrics', 'resident_on',
  'domid', 'snapshots', 'tags', 'VBDs', 'VIFs', 'metrics', 'children',
  'is_a_snapshot', 'is_a_template', 'snapshot_of', 'snapshot_time', 'snapshot_metadata',
]);

/** the VM's record as the snapshot keeps it (XAPI: `snapshot_metadata`, the VM serialised at snapshot time) */
function metadataOf(vm: Record<string, unknown>): string {
  return JSON.stringify(vm);
}

const lower = (s: unknown) => String(s).toLowerCase();

// ---------- CD ----------

export async function insertCd(m: SimModel, vbd: string, vdi: string): Promise<void> {
  const b = m.need('VBD', vbd);
  const d = m.need('VDI', vdi);
  if (b.type !== 'CD') throw new XapiFault('VBD_NOT_REMOVABLE_MEDIA', [vbd]);
  if (!b.empty) throw new XapiFault('VBD_NOT_EMPTY', [vbd]);
  if (d.missing) throw new XapiFault('VDI_MISSING', [String(d.SR), vdi]);
  const vm = m.need('VM', b.VM);
  await m.opts.hooks?.onCdChange?.(String(vm.uuid), { vdiUuid: String(d.uuid), nameLabel: String(d.name_label) });
  m.store.mod('VBD', vbd, { VDI: vdi, empty: false });
  m.store.mod('VDI', vdi, { VBDs: [...m.refs(d.VBDs), vbd] });
}

export async function ejectCd(m: SimModel, vbd: string): Promise<void> {
  const b = m.need('VBD', vbd);
  if (b.type !== 'CD') throw new XapiFault('VBD_NOT_REMOVABLE_MEDIA', [vbd]);
  if (b.empty) throw new XapiFault('VBD_IS_EMPTY', [vbd]);
  const vm = m.need('VM', b.VM);
  await m.opts.hooks?.onCdChange?.(String(vm.uuid), null);
  const vdi = String(b.VDI);
  const d = m.store.get('VDI', vdi);
  if (d) m.store.mod('VDI', vdi, { VBDs: m.refs(d.VBDs).filter((x) => x !== vbd) });
  m.store.mod('VBD', vbd, { VDI: NULL_REF, empty: true });
}

// ---------- snapshots ----------

export async function snapshotVm(m: SimModel, vm: string, name: string, ignoreVdis: string[]): Promise<string> {
  const r = m.need('VM', vm);
  if (r.is_a_snapshot || r.is_control_domain) throw new XapiFault('OPERATION_NOT_ALLOWED', ['cannot snapshot a snapshot or a control domain']);
  if (r.is_a_template) throw new XapiFault('VM_IS_TEMPLATE', [vm]);
  return m.exclusive(vm, 'snapshot', async () => {
    const s = m.store;
    const metrics = s.add('VM_metrics', vmMetricsRecord({ ...structuredClone(s.get('VM_metrics', String(r.metrics)) ?? {}), uuid: undefined }));
    const gmSrc = s.get('VM_guest_metrics', String(r.guest_metrics));
    const gm = gmSrc ? s.add('VM_guest_metrics', { ...structuredClone(gmSrc), uuid: undefined }) : NULL_REF;
    // the snapshot record is a Halted template, whatever the VM's power state, and keeps the VM's
    // record in snapshot_metadata (XA ocaml/xapi/xapi_vm_clone.ml:201-208,341,432-441)
    const snap = s.add('VM', vmRecord({
      name_label: name, name_description: String(r.name_description), power_state: 'Halted',
      is_a_snapshot: true, is_a_template: true, snapshot_of: vm, snapshot_time: xapiDate(), domain_type: r.domain_type,
      HVM_boot_policy: r.HVM_boot_policy, platform: structuredClone(r.platform),
      has_vendor_device: r.has_vendor_device, other_config: structuredClone(r.other_config), tags: [...m.refs(r.tags)],
      metrics, guest_metrics: gm, parent: r.parent, snapshot_metadata: metadataOf(r),
    }));
    for (const vbd of m.refs(r.VBDs)) {
      const b = s.get('VBD', vbd)!;
      let vdi = String(b.VDI);
      if (b.type === 'Disk' && vdi !== NULL_REF && !ignoreVdis.includes(vdi)) {
        const src = s.get('VDI', vdi)!;
        vdi = m.addVdi(String(src.SR), vdiRecord({
          ...structuredClone(src), uuid: undefined, VBDs: [], is_a_snapshot: true, snapshot_of: vdi,
          snapshot_time: xapiDate(), snapshots: [],
        }));
        s.mod('VDI', String(b.VDI), { snapshots: [...m.refs(src.snapshots), vdi] });
      } else if (b.type === 'Disk') continue;
      m.addVbd(snap, vdi, { type: b.type, userdevice: b.userdevice, mode: b.mode, bootable: b.bootable, currently_attached: false });
    }
    // the VM's parent becomes the snapshot (XA xapi_vm_clone.ml:408-414)
    s.mod('VM', vm, { snapshots: [...m.refs(r.snapshots), snap], parent: snap });
    m.refreshAllowed(snap);
    const snapUuid = String(s.get('VM', snap)!.uuid);
    m.snapReports.set(snapUuid, structuredClone(m.sim(vm).report));
    await m.opts.hooks?.onSnapshot?.(String(r.uuid), snapUuid);
    return snap;
  });
}

/**
 * The snapshot's VM is gone: XAPI makes it again from the snapshot, with the uuid in its
 * snapshot_metadata (XA message_forwarding.ml:2462-2472 → xapi_vm_snapshot.ml
 * create_vm_from_snapshot); the revert then proceeds on it.
 */
function recreateVm(m: SimModel, snap: string, sn: Record<string, unknown>): string {
  const s = m.store;
  let meta: Record<string, unknown> = {};
  try {
    meta = JSON.parse(String(sn.snapshot_metadata || '{}')) as Record<string, unknown>;
  } catch {
    throw new XapiFault('VM_REVERT_FAILED', [snap, String(sn.snapshot_of)]);
  }
  const metrics = s.add('VM_metrics', vmMetricsRecord({ install_time: xapiDate() }));
  const vm = s.add('VM', vmRecord({
    ...(typeof meta.uuid === 'string' ? { uuid: meta.uuid } : {}),
    name_label: String(meta.name_label ?? sn.name_label), metrics, power_state: 'Halted',
  }));
  for (const other of s.table('VM').values()) {
    if (other.is_a_snapshot && other.snapshot_of === sn.snapshot_of) other.snapshot_of = vm;
  }
  s.mod('VM', vm, { snapshots: [...s.table('VM')].filter(([, r]) => r.is_a_snapshot && r.snapshot_of === vm).map(([ref]) => ref) });
  // disks: an empty VBD per snapshot disk, filled with clones below like any revert
  for (const b of m.refs(sn.VBDs).map((x) => s.get('VBD', x)).filter((x) => x?.type === 'Disk')) {
    m.addVbd(vm, NULL_REF, { type: 'Disk', userdevice: b!.userdevice, mode: b!.mode, bootable: b!.bootable, empty: true });
  }
  return vm;
}

export async function revertVm(m: SimModel, snap: string): Promise<void> {
  const sn = m.need('VM', snap);
  // XA xapi_vm_lifecycle.ml check_operation_error: `revert` on a non-snapshot
  if (!sn.is_a_snapshot) throw new XapiFault('REVERT_ONLY_ALLOWED_ON_SNAPSHOT', []);
  let vm = String(sn.snapshot_of);
  if (!m.store.get('VM', vm)) vm = recreateVm(m, snap, sn);
  const r = m.store.get('VM', vm)!;
  await m.exclusive(vm, 'revert', async () => {
    const s = m.store;
    const uuid = String(r.uuid);
    // hard shutdown first (XA message_forwarding.ml:2462-2472)
    if (r.power_state !== 'Halted') {
      await m.opts.hooks?.onPowerOp?.(uuid, 'hard_shutdown');
      m.halt(vm);
    }
    // disks: fresh clones of the snapshot's disks replace the current ones
    const snapVbds = m.refs(sn.VBDs).map((b) => s.get('VBD', b)!).filter(Boolean);
    for (const vbd of m.refs(r.VBDs)) {
      const b = s.get('VBD', vbd)!;
      if (b.type === 'CD') {
        m.delVbd(vbd); // CD drives are rebuilt below, with new refs
        continue;
      }
      const from = snapVbds.find((x) => x.type === 'Disk' && x.userdevice === b.userdevice);
      if (!from) continue;
      const src = s.get('VDI', String(from.VDI));
      if (!src) throw new XapiFault('VM_REVERT_FAILED', [snap, vm]);
      const old = String(b.VDI);
      const fresh = m.addVdi(String(src.SR), vdiRecord({
        ...structuredClone(src), uuid: undefined, VBDs: [vbd], is_a_snapshot: false, snapshot_of: NULL_REF,
        snapshots: [], snapshot_time: s.get('VDI', old)?.snapshot_time ?? src.snapshot_time,
        name_label: s.get('VDI', old)?.name_label ?? src.name_label,
      }));
      s.mod('VBD', vbd, { VDI: fresh, empty: false });
      const oldRec = s.get('VDI', old);
      if (oldRec) {
        s.mod('VDI', old, { VBDs: [] });
        // the old disk's snapshots now hang off the new disk
        for (const snapVdi of m.refs(oldRec.snapshots)) if (s.get('VDI', snapVdi)) s.mod('VDI', snapVdi, { snapshot_of: fresh });
        s.mod('VDI', fresh, { snapshots: m.refs(oldRec.snapshots) });
        m.delVdi(old);
      }
    }
    // CD drives: the VM's VBDs are destroyed and the snapshot's CD VBDs copied onto it, with the
    // ISO they held (XA ocaml/xapi/xapi_vm_snapshot.ml update_vifs_vbds_and_vgpus, in :492-620:
    // `safe_destroy_vbd` over vm_VBDs, then `Xapi_vbd_helpers.copy` of snap_VBDs_CD). So after a
    // revert the drive holds what it held at snapshot time, whatever was inserted or ejected since.
    const cdVbds = snapVbds.filter((x) => x.type === 'CD');
    for (const from of cdVbds) {
      m.addVbd(vm, String(from.VDI), { type: 'CD', userdevice: from.userdevice, mode: from.mode, currently_attached: false });
    }
    // guest metrics: a stale copy of the snapshot's
    const oldGm = String(r.guest_metrics);
    const snapGm = s.get('VM_guest_metrics', String(sn.guest_metrics));
    const gm = snapGm ? s.add('VM_guest_metrics', { ...structuredClone(snapGm), uuid: undefined }) : NULL_REF;
    s.mod('VM', vm, { guest_metrics: gm, parent: snap });
    if (oldGm !== NULL_REF) s.del('VM_guest_metrics', oldGm);
    // every field from snapshot_metadata but XAPI's do_not_copy (other_config, platform,
    // has_vendor_device, name, VCPUs …: XA xapi_vm_snapshot.ml:492-620 revert_vm_fields); a
    // snapshot without metadata (pre-MNR) gives its own record's fields instead
    let meta: Record<string, unknown>;
    try {
      meta = sn.snapshot_metadata ? JSON.parse(String(sn.snapshot_metadata)) as Record<string, unknown> : structuredClone(sn);
    } catch {
      throw new XapiFault('VM_REVERT_FAILED', [snap, vm]);
    }
    if (!sn.snapshot_metadata) delete meta.name_label;
    const fields = Object.fromEntries(Object.entries(meta).filter(([k]) => !REVERT_DO_NOT_COPY.has(k) && k in r));
    s.mod('VM', vm, fields);
    // VM_metrics replaced by a new object (XA xapi_vm_snapshot.ml:658-665)
    const oldMetrics = String(r.metrics);
    const metrics = s.add('VM_metrics', vmMetricsRecord({
      install_time: String(s.get('VM_metrics', oldMetrics)?.install_time ?? xapiDate()), last_updated: xapiDate(),
    }));
    s.mod('VM', vm, { metrics });
    if (oldMetrics !== NULL_REF) s.del('VM_metrics', oldMetrics);
    const saved = m.snapReports.get(String(sn.uuid));
    if (saved) m.sim(vm).report = structuredClone(saved);
    m.refreshAllowed(vm);
    await m.opts.hooks?.onRevert?.(uuid, String(sn.uuid));
    // The guest next boots with the drive as XAPI now has it (the domain was shut down: nothing
    // tells a running guest, there is none). The lab's guest keeps its own idea of its medium,
    // so it is told here, as for VBD.insert/eject: the first CD drive (the lab models one).
    const drive = [...cdVbds].sort((a, b) => Number(a.userdevice) - Number(b.userdevice))[0];
    if (drive) {
      const vdi = drive.empty || String(drive.VDI) === NULL_REF ? undefined : s.get('VDI', String(drive.VDI));
      await m.opts.hooks?.onCdChange?.(uuid, vdi ? { vdiUuid: String(vdi.uuid), nameLabel: String(vdi.name_label) } : null);
    }
  });
}

export async function destroyVm(m: SimModel, vm: string): Promise<void> {
  const r = m.need('VM', vm);
  if (r.is_control_domain) throw new XapiFault('OPERATION_NOT_ALLOWED', ['cannot destroy a control domain']);
  if (!r.is_a_snapshot && r.power_state !== 'Halted') throw new XapiFault('VM_BAD_POWER_STATE', [vm, 'halted', lower(r.power_state)]);
  const s = m.store;
  // VM.destroy keeps the disks: only the VBDs go
  for (const vbd of m.refs(r.VBDs)) m.delVbd(vbd);
  if (String(r.guest_metrics) !== NULL_REF) s.del('VM_guest_metrics', String(r.guest_metrics));
  if (String(r.metrics) !== NULL_REF) s.del('VM_metrics', String(r.metrics));
  const parent = r.is_a_snapshot ? s.get('VM', String(r.snapshot_of)) : undefined;
  if (parent) s.mod('VM', String(r.snapshot_of), { snapshots: m.refs(parent.snapshots).filter((x) => x !== vm) });
  s.del('VM', vm);
  if (r.is_a_snapshot) {
    m.snapReports.delete(String(r.uuid));
    await m.opts.hooks?.onSnapshotDestroy?.(String(parent?.uuid ?? ''), String(r.uuid));
  }
}

export function destroyVdi(m: SimModel, vdi: string): void {
  const d = m.need('VDI', vdi);
  const sr = m.store.get('SR', String(d.SR));
  if (d.is_tools_iso || sr?.is_tools_sr) throw new XapiFault('OPERATION_NOT_ALLOWED', ['the tools ISO cannot be destroyed']);
  if (sr?.content_type === 'iso') throw new XapiFault('SR_OPERATION_NOT_SUPPORTED', [String(d.SR)]);
  for (const vbd of m.refs(d.VBDs)) {
    const b = m.store.get('VBD', vbd);
    if (b?.currently_attached) throw new XapiFault('VDI_IN_USE', [vdi, 'destroy']);
  }
  const parent = m.store.get('VDI', String(d.snapshot_of));
  if (parent) m.store.mod('VDI', String(d.snapshot_of), { snapshots: m.refs(parent.snapshots).filter((x) => x !== vdi) });
  m.delVdi(vdi);
}
