import { randomUUID } from 'node:crypto';
import type { GuestReport, PowerOp, SimHooks } from '../sim-hooks.js';
import { XapiFault } from './fault.js';
import {
  guestMetricsRecord, hostRecord, poolRecord, srRecord, vbdRecord, vdiRecord, vmMetricsRecord, vmRecord,
} from './records.js';
import type { SimDefinition, SimVmDef } from './seed.js';
import { toolsReport } from './seed.js';
import type { Rec } from './store.js';
import { NULL_REF, Store, xapiDate } from './store.js';

export interface ModelOptions {
  hooks?: SimHooks;
  /** the simulator writes each VM's tools state into its guest metrics after every boot (default: true without hooks) */
  autoGuestReports?: boolean;
  /** how long start/reboot take before the domain runs (slow boots) */
  bootDelayMs?: number;
  /** after boot, how long until drivers/agent report */
  guestReportDelayMs?: number;
}

export interface SimDump {
  store: ReturnType<Store['dump']>;
  refs: { pool: string; master: string; member: string; localSr: string; toolsSr: string; isoSr: string };
  reports: Record<string, GuestReport>;
  snapReports: Record<string, GuestReport>;
}

/** Simulator-only state of a VM: what its guest would report, and boot bookkeeping. */
interface VmSim {
  report: GuestReport;
  bootSeq: number;
  bootDelayMs?: number;
  guestReportDelayMs?: number;
  /** the guest ignores clean shutdown/reboot requests (hung guest): the task only ends with a hard op */
  cleanHangs?: boolean;
  releaseClean?: () => void;
  timer?: NodeJS.Timeout;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const lower = (s: unknown) => String(s).toLowerCase();

export class SimModel {
  readonly store = new Store();
  readonly vmSim = new Map<string, VmSim>();
  /** tools state saved with each snapshot, restored by revert (the disk holds the tools) */
  readonly snapReports = new Map<string, GuestReport>();
  poolRef = NULL_REF;
  masterRef = NULL_REF;
  memberRef = NULL_REF;
  localSr = NULL_REF;
  toolsSr = NULL_REF;
  isoSr = NULL_REF;
  private nextDomid = 1;

  constructor(readonly opts: ModelOptions = {}) {}

  get autoReports(): boolean {
    return this.opts.autoGuestReports ?? !this.opts.hooks;
  }

  // ---------- seeding ----------

  seed(def: SimDefinition): void {
    const s = this.store;
    this.masterRef = s.add('host', hostRecord({ name_label: 'xcp-ng-1', hostname: 'xcp-ng-1', address: '127.0.0.1' }));
    this.memberRef = s.add('host', hostRecord({ name_label: 'xcp-ng-2', hostname: 'xcp-ng-2', address: '127.0.0.1' }));
    for (const h of [this.masterRef, this.memberRef]) {
      const dom0 = s.add('VM', vmRecord({
        name_label: `Control domain on host: ${String(s.get('host', h)!.name_label)}`,
        is_control_domain: true, power_state: 'Running', resident_on: h, domain_type: 'pv', domid: 0,
      }));
      s.mod('host', h, { control_domain: dom0, resident_VMs: [dom0] });
    }
    this.localSr = s.add('SR', srRecord({ name_label: 'Local storage', type: 'ext' }));
    this.toolsSr = s.add('SR', srRecord({
      name_label: 'XCP-ng Tools', type: 'iso', content_type: 'iso', is_tools_sr: true, shared: true,
    }));
    this.isoSr = s.add('SR', srRecord({ name_label: 'ISO library', type: 'iso', content_type: 'iso', shared: true }));
    this.addVdi(this.toolsSr, vdiRecord({ name_label: 'guest-tools.iso', is_tools_iso: true, read_only: true, sharable: true, virtual_size: 52428800 }));
    for (const iso of def.isos ?? []) this.addVdi(this.isoSr, vdiRecord({ name_label: iso, read_only: true, sharable: true }));
    this.poolRef = s.add('pool', poolRecord({ name_label: def.pool ?? 'sim-pool', master: this.masterRef, default_SR: this.localSr }));
    s.add('VM', vmRecord({ name_label: 'Debian Bookworm 12', is_a_template: true, is_default_template: true }));
    for (const vm of def.vms) this.createVm(vm);
  }

  addVdi(sr: string, rec: Rec): string {
    const ref = this.store.add('VDI', { ...rec, SR: sr });
    this.store.mod('SR', sr, { VDIs: [...this.refs(this.store.get('SR', sr)!.VDIs), ref] });
    return ref;
  }

  createVm(def: SimVmDef): string {
    const s = this.store;
    const report = toolsReport(def);
    const now = Date.now();
    const running = (def.power ?? 'Running') === 'Running';
    const metrics = s.add('VM_metrics', vmMetricsRecord({
      start_time: running ? xapiDate(now - 3_600_000) : xapiDate(now - 7_200_000),
      install_time: xapiDate(now - 86_400_000),
      current_domain_type: running ? (def.domainType ?? 'hvm') : 'unspecified',
    }));
    const vm = s.add('VM', vmRecord({
      ...(def.uuid ? { uuid: def.uuid } : {}),
      name_label: def.name,
      power_state: running ? 'Running' : 'Halted',
      domain_type: def.domainType ?? 'hvm',
      // new VMs get the vendor device ("Manage Citrix PV drivers via Windows Update") from
      // xapi 24.14.0 on (xen-api ocaml/idl/datamodel_vm.ml:3290-3299)
      has_vendor_device: def.hasVendorDevice ?? true,
      tags: def.tags ?? [],
      metrics,
      domid: running ? this.nextDomid++ : -1,
      resident_on: running ? this.masterRef : NULL_REF,
    }));
    const uuid = String(s.get('VM', vm)!.uuid);
    this.vmSim.set(uuid, { report, bootSeq: 0 });
    for (let i = 0; i < (def.disks ?? 1); i++) {
      const vdi = this.addVdi(this.localSr, vdiRecord({ name_label: `${def.name} disk ${i}` }));
      this.addVbd(vm, vdi, { type: 'Disk', userdevice: String(i), bootable: i === 0, mode: 'RW' });
    }
    if (def.cdDrive ?? true) {
      const iso = def.iso ? this.findIso(def.iso) : NULL_REF;
      this.addVbd(vm, iso, { type: 'CD', userdevice: '3', mode: 'RO', empty: iso === NULL_REF });
    }
    if (report.pvDriversDetected || report.agentVersion) {
      // metrics from the current boot if running, from an earlier boot if halted
      this.writeGuestMetrics(vm, report, running ? now : now - 7_000_000);
    } else if (running) {
      // every running VM has a guest metrics object, tools or not (XA ocaml/xapi/xapi_xenops.ml:2013-2034, 2168)
      this.newGuestMetrics(vm, now - 3_600_000);
    }
    this.refreshAllowed(vm);
    return vm;
  }

  private findIso(name: string): string {
    for (const [ref, r] of this.store.table('VDI')) if (r.name_label === name) return ref;
    return this.addVdi(this.isoSr, vdiRecord({ name_label: name, read_only: true, sharable: true }));
  }

  addVbd(vm: string, vdi: string, p: Rec): string {
    const s = this.store;
    const vmRec = s.get('VM', vm)!;
    const ref = s.add('VBD', vbdRecord({
      VM: vm, VDI: vdi, empty: vdi === NULL_REF, currently_attached: vmRec.power_state === 'Running', ...p,
      device: p.type === 'CD' ? 'xvdd' : `xvd${String.fromCharCode(97 + Number(p.userdevice ?? 0))}`,
    }));
    s.mod('VM', vm, { VBDs: [...this.refs(vmRec.VBDs), ref] });
    if (vdi !== NULL_REF) s.mod('VDI', vdi, { VBDs: [...this.refs(s.get('VDI', vdi)!.VBDs), ref] });
    return ref;
  }

  /** @internal simulator operations (storage-ops.ts) use it */
  delVbd(vbd: string): void {
    const s = this.store;
    const r = s.get('VBD', vbd);
    if (!r) return;
    const vm = s.get('VM', String(r.VM));
    if (vm) s.mod('VM', String(r.VM), { VBDs: this.refs(vm.VBDs).filter((x) => x !== vbd) });
    const vdi = s.get('VDI', String(r.VDI));
    if (vdi) s.mod('VDI', String(r.VDI), { VBDs: this.refs(vdi.VBDs).filter((x) => x !== vbd) });
    s.del('VBD', vbd);
  }

  /** @internal simulator operations (storage-ops.ts) use it */
  delVdi(vdi: string): void {
    const s = this.store;
    const r = s.get('VDI', vdi);
    if (!r) return;
    for (const vbd of this.refs(r.VBDs)) this.delVbd(vbd);
    const sr = s.get('SR', String(r.SR));
    if (sr) s.mod('SR', String(r.SR), { VDIs: this.refs(sr.VDIs).filter((x) => x !== vdi) });
    s.del('VDI', vdi);
  }

  refs(v: unknown): string[] {
    return Array.isArray(v) ? v.map(String) : [];
  }

  // ---------- lookups that raise XAPI errors ----------

  need(cls: 'VM' | 'VBD' | 'VDI' | 'SR' | 'task' | 'host' | 'pool' | 'VM_metrics' | 'VM_guest_metrics', ref: unknown): Rec {
    const r = typeof ref === 'string' ? this.store.get(cls, ref) : undefined;
    if (!r) throw new XapiFault('HANDLE_INVALID', [cls, String(ref)]);
    return r;
  }

  sim(vmRef: string): VmSim {
    const uuid = String(this.need('VM', vmRef).uuid);
    let v = this.vmSim.get(uuid);
    if (!v) {
      v = { report: { pvDriversDetected: false, agentVersion: null }, bootSeq: 0 };
      this.vmSim.set(uuid, v);
    }
    return v;
  }

  refreshAllowed(vm: string): void {
    const r = this.store.get('VM', vm)!;
    let ops: string[];
    if (r.is_control_domain) ops = [];
    else if (r.is_a_snapshot) ops = ['revert', 'destroy', 'clone', 'copy', 'export'];
    else if (r.is_a_template) ops = ['clone', 'copy', 'export', 'destroy'];
    else if (r.power_state === 'Halted') ops = ['start', 'start_on', 'snapshot', 'clone', 'copy', 'export', 'destroy', 'make_into_template'];
    else if (r.power_state === 'Running') {
      ops = ['hard_shutdown', 'hard_reboot', 'pause', 'snapshot', 'suspend', 'pool_migrate'];
      // clean operations need the guest to cooperate (cleanOpAllowed: XAPI's rule)
      if (this.cleanOpAllowed(vm, 'clean_shutdown')) ops.push('clean_shutdown', 'shutdown');
      if (this.cleanOpAllowed(vm, 'clean_reboot')) ops.push('clean_reboot');
    } else ops = ['hard_shutdown', 'hard_reboot'];
    this.store.mod('VM', vm, { allowed_operations: ops });
  }

  /**
   * @internal simulator operations (storage-ops.ts) use it. The operation is listed in the VM's
   * current_operations while it runs (XA message_forwarding.ml with_vm_operation); another one is
   * refused unless XAPI lets it run alongside: a hard shutdown or hard reboot may interrupt any
   * operation but another hard one (XA ocaml/xapi/xapi_vm_lifecycle.ml is_allowed_concurrently,
   * `state_machine`: `hard_shutdown -> not (List.mem op current_state)`, `hard_reboot -> not
   * (List.exists (fun o -> List.mem o [hard_shutdown; hard_reboot]) current_state)`), which is
   * how a clean operation a hung guest never honours is cut short.
   */
  async exclusive<T>(vm: string, op: string, f: () => Promise<T>): Promise<T> {
    const listed = (): Record<string, string> => ({ ...((this.store.get('VM', vm)?.current_operations ?? {}) as Record<string, string>) });
    const running = Object.entries(listed());
    const ops = running.map(([, o]) => o);
    const alongside = (op === 'hard_shutdown' && !ops.includes('hard_shutdown'))
      || (op === 'hard_reboot' && !ops.some((o) => o === 'hard_shutdown' || o === 'hard_reboot'));
    if (running.length > 0 && !alongside) {
      // ["VM"; ref; the operation in progress; its task ref] (XA xapi_vm_lifecycle.ml
      // report_concurrent_operations_error; FIDELITY.md "XAPI semantics the simulator must share")
      const [opRef, current] = running[0]!;
      throw new XapiFault('OTHER_OPERATION_IN_PROGRESS', ['VM', vm, current, opRef]);
    }
    const ref = `OpaqueRef:${randomUUID()}`;
    this.store.mod('VM', vm, { current_operations: { ...listed(), [ref]: op } });
    try {
      return await f();
    } finally {
      if (this.store.get('VM', vm)) {
        const rest = listed();
        delete rest[ref];
        this.store.mod('VM', vm, { current_operations: rest });
      }
    }
  }

  /** @internal the power state constraint, checked first as XAPI does (xapi_vm_lifecycle.ml check_operation_error) */
  assertPower(vm: string, expected: string[], op: string): Rec {
    const r = this.need('VM', vm);
    // a snapshot is a template too: XA xapi_vm_lifecycle.ml check_snapshot → VM_IS_SNAPSHOT [ref; op]
    if (r.is_a_snapshot) throw new XapiFault('VM_IS_SNAPSHOT', [vm, op]);
    if (r.is_a_template) throw new XapiFault('VM_IS_TEMPLATE', [vm]);
    if (r.is_control_domain) throw new XapiFault('OPERATION_NOT_ALLOWED', ['Operations on domain 0 are not allowed']);
    if (!expected.includes(String(r.power_state))) {
      // every allowed state, ", "-joined (XA xapi_vm_lifecycle.ml:286-295 report_power_state_error)
      throw new XapiFault('VM_BAD_POWER_STATE', [vm, expected.map(lower).join(', '), lower(r.power_state)]);
    }
    return r;
  }

  // ---------- power ----------

  /**
   * XAPI's rule for clean shutdown/reboot (XA ocaml/xapi/xapi_vm_lifecycle.ml:196-231,794-799):
   * allowed when the guest agent reports a version (PV_drivers_version), or the guest advertises
   * the feature in its guest metrics' `other` (`feature-shutdown` / `feature-reboot`), or the VM
   * booted PV. Read from the records, as XAPI does: the guest metrics are new at each boot, so a
   * freshly booted guest has none of them until it reports.
   */
  cleanOpAllowed(vm: string, op: 'clean_shutdown' | 'clean_reboot'): boolean {
    const r = this.store.get('VM', vm);
    if (!r) return false;
    const m = this.store.get('VM_metrics', String(r.metrics));
    if (m?.current_domain_type === 'pv') return true;
    const gm = this.store.get('VM_guest_metrics', String(r.guest_metrics));
    if (!gm) return false;
    const version = (gm.PV_drivers_version ?? {}) as Record<string, string>;
    if (Object.keys(version).length > 0) return true;
    const other = (gm.other ?? {}) as Record<string, string>;
    return other[op === 'clean_shutdown' ? 'feature-shutdown' : 'feature-reboot'] === '1';
  }

  assertCleanAllowed(vm: string, op: PowerOp): void {
    // XAPI checks the power state before the PV drivers (xapi_vm_lifecycle.ml check_operation_error)
    this.assertPower(vm, op === 'start' ? ['Halted'] : ['Running', 'Paused'], op);
    if ((op === 'clean_reboot' || op === 'clean_shutdown') && !this.cleanOpAllowed(vm, op)) {
      throw new XapiFault('VM_LACKS_FEATURE', [vm]);
    }
  }

  /**
   * A power transition. The XAPI methods check assertCleanAllowed first; the lab calls this
   * directly for a reboot or poweroff started inside the guest, which needs no PV drivers.
   */
  async powerOp(vm: string, op: PowerOp): Promise<void> {
    const needRunning = op !== 'start';
    this.assertPower(vm, needRunning ? ['Running', 'Paused'] : ['Halted'], op);
    const v = this.sim(vm);
    if ((op === 'clean_reboot' || op === 'clean_shutdown') && v.cleanHangs) {
      // a guest that does not honour it: the operation stays in current_operations until a hard
      // one interrupts it (see `exclusive`)
      await this.exclusive(vm, op, async () => {
        await new Promise<void>((resolve) => { v.releaseClean = resolve; });
      });
      throw new XapiFault('VM_BAD_POWER_STATE', [vm, 'running', lower(this.store.get('VM', vm)?.power_state ?? 'halted')]);
    }
    if (op === 'hard_shutdown' || op === 'hard_reboot') {
      v.releaseClean?.();
      v.releaseClean = undefined;
    }
    await this.exclusive(vm, op, async () => {
      const uuid = String(this.store.get('VM', vm)!.uuid);
      // The domain starts when the operation does: a guest that boots and reports during the
      // hook (the lab's guests do) reports after start_time, as on real Xen.
      const began = Date.now();
      // a new domain gets new, empty guest metrics (new ref) when it is made (XA
      // xapi_xenops.ml:2379-2388), before the guest can report: a guest that reports during the
      // hook (the lab's) writes into the new object
      if (op !== 'clean_shutdown' && op !== 'hard_shutdown') this.newGuestMetrics(vm, began);
      await this.opts.hooks?.onPowerOp?.(uuid, op);
      if (op === 'clean_shutdown' || op === 'hard_shutdown') this.halt(vm);
      else await this.boot(vm, began);
    });
  }

  /** @internal simulator operations (storage-ops.ts) use it */
  halt(vm: string): void {
    const v = this.sim(vm);
    clearTimeout(v.timer);
    v.bootSeq++;
    const r = this.store.get('VM', vm)!;
    this.store.mod('VM', vm, { power_state: 'Halted', domid: -1, resident_on: NULL_REF });
    this.store.mod('VM_metrics', String(r.metrics), { current_domain_type: 'unspecified' });
    for (const vbd of this.refs(r.VBDs)) this.store.mod('VBD', vbd, { currently_attached: false });
    this.refreshAllowed(vm);
  }

  private async boot(vm: string, began = Date.now()): Promise<void> {
    const v = this.sim(vm);
    clearTimeout(v.timer);
    const seq = ++v.bootSeq;
    await sleep(v.bootDelayMs ?? this.opts.bootDelayMs ?? 0);
    const r = this.store.get('VM', vm)!;
    this.store.mod('VM', vm, { power_state: 'Running', domid: this.nextDomid++, resident_on: this.masterRef });
    const startTime = Math.min(began, Date.now());
    this.store.mod('VM_metrics', String(r.metrics), {
      start_time: xapiDate(startTime), current_domain_type: r.domain_type, last_updated: xapiDate(),
    });

    for (const vbd of this.refs(r.VBDs)) this.store.mod('VBD', vbd, { currently_attached: true });
    this.refreshAllowed(vm);
    if (this.autoReports) {
      const delay = v.guestReportDelayMs ?? this.opts.guestReportDelayMs ?? 10;
      v.timer = setTimeout(() => {
        const still = this.store.get('VM', vm);
        if (still && still.power_state === 'Running' && v.bootSeq === seq) this.report(vm, v.report);
      }, delay);
      v.timer.unref?.();
    }
  }

  /** what the guest reports for the current boot (hypervisor: PV frontends; agent: the rest) */
  report(vm: string, rep: GuestReport): void {
    this.writeGuestMetrics(vm, rep, Date.now());
    this.refreshAllowed(vm);
  }

  /** a new, empty guest metrics object for a domain that starts (XA xapi_xenops.ml:2013-2034) */
  newGuestMetrics(vm: string, at: number): string {
    const s = this.store;
    const old = String(s.get('VM', vm)!.guest_metrics);
    const gm = s.add('VM_guest_metrics', guestMetricsRecord({ last_updated: xapiDate(at) }));
    s.mod('VM', vm, { guest_metrics: gm });
    if (old !== NULL_REF) s.del('VM_guest_metrics', old);
    return gm;
  }

  private writeGuestMetrics(vm: string, rep: GuestReport, at: number): void {
    const s = this.store;
    const r = s.get('VM', vm)!;
    let gm = String(r.guest_metrics);
    // a VM that never had drivers or an agent has no guest metrics object at all
    if (gm === NULL_REF && !rep.pvDriversDetected && !rep.agentVersion) return;
    const a = rep.agentVersion;
    const fields: Rec = {
      PV_drivers_detected: rep.pvDriversDetected,
      PV_drivers_version: a ? { major: String(a.major), minor: String(a.minor), micro: String(a.micro), build: String(a.build) } : {},
      PV_drivers_up_to_date: !!a,
      os_version: a && rep.os ? {
        name: rep.os.name, distro: rep.os.distro, major: rep.os.major,
        ...(rep.os.minor !== undefined ? { minor: rep.os.minor } : {}), ...(rep.os.uname ? { uname: rep.os.uname } : {}),
      } : {},
      networks: a ? { ...(rep.ips ?? {}) } : {},
      other: rep.pvDriversDetected
        ? { 'feature-shutdown': '1', 'feature-reboot': '1', 'feature-poweroff': '1', ...(a ? { 'feature-static-ip-setting': '1', 'has-vendor-device': r.has_vendor_device ? '1' : '0' } : {}) }
        : {},
      last_updated: xapiDate(at),
      live: !!a,
    };
    if (gm === NULL_REF) {
      gm = s.add('VM_guest_metrics', guestMetricsRecord(fields));
      s.mod('VM', vm, { guest_metrics: gm });
    } else {
      s.mod('VM_guest_metrics', gm, fields);
    }
  }

  /** the lab (or a test) says what the guest now reports; written at once when the VM runs */
  setGuestReport(vmUuid: string, rep: GuestReport): void {
    const vm = this.store.byUuid('VM', vmUuid);
    if (!vm) throw new Error(`no VM with uuid ${vmUuid}`);
    this.sim(vm).report = structuredClone(rep);
    if (this.store.get('VM', vm)!.power_state === 'Running') this.report(vm, rep);
  }

  // ---------- vendor device ----------

  setHasVendorDevice(vm: string, value: boolean): void {
    const r = this.need('VM', vm);
    if (r.power_state !== 'Halted') throw new XapiFault('VM_BAD_POWER_STATE', [vm, 'halted', lower(r.power_state)]);
    this.store.mod('VM', vm, { has_vendor_device: value });
  }

  /** everything needed to continue later (`pvrun lab xapi --state F --save`) */
  dump(): SimDump {
    const vms: Record<string, GuestReport> = {};
    for (const [uuid, v] of this.vmSim) vms[uuid] = v.report;
    return {
      store: this.store.dump(),
      refs: { pool: this.poolRef, master: this.masterRef, member: this.memberRef, localSr: this.localSr, toolsSr: this.toolsSr, isoSr: this.isoSr },
      reports: vms,
      snapReports: Object.fromEntries(this.snapReports),
    };
  }

  load(d: SimDump): void {
    this.store.load(d.store);
    this.poolRef = d.refs.pool;
    this.masterRef = d.refs.master;
    this.memberRef = d.refs.member;
    this.localSr = d.refs.localSr;
    this.toolsSr = d.refs.toolsSr;
    this.isoSr = d.refs.isoSr;
    this.vmSim.clear();
    for (const [uuid, report] of Object.entries(d.reports)) {
      this.vmSim.set(uuid, { report, bootSeq: 0 });
    }
    this.snapReports.clear();
    for (const [k, v] of Object.entries(d.snapReports)) this.snapReports.set(k, v);
  }

  /** stop timers (server shutdown) */
  dispose(): void {
    for (const v of this.vmSim.values()) {
      clearTimeout(v.timer);
      v.releaseClean?.();
    }
  }
}
