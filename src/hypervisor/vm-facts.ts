import type { Result } from '../util/result.js';
import { ok } from '../util/result.js';
import type { GuestMetricsRecord, VmMetricsRecord, VmRecord } from './records.js';
import { NULL_REF } from './records.js';
import type { HypervisorFailure, XapiCaller } from './types.js';
import { parseXapiDate } from './xapi-date.js';

export type VirtualizationMode = 'HVM' | 'PVHVM' | 'PV' | 'PVH' | 'unknown';

/** What pvrun knows about a VM from the hypervisor side (the `vm` fact namespace). */
export interface VmFacts {
  ref: string;
  uuid: string;
  name_label: string;
  power_state: string;
  domain_type: string;
  virtualization_mode: VirtualizationMode;
  pv_drivers_detected: boolean;
  management_agent_detected: boolean;
  /** "major.minor.micro.build" as the agent reports it, or null */
  pv_drivers_version: string | null;
  has_vendor_device: boolean;
  os_name: string | null;
  ips: string[];
  /** guest metrics were written during the current boot (only then are they about this boot) */
  metrics_fresh: boolean;
  has_guest_metrics: boolean;
  allowed_operations: string[];
  start_time: string | null;
  guest_metrics_updated: string | null;
  tags: string[];
  other_config: Record<string, string>;
  /** refs to watch with event.from while waiting on this VM */
  metrics_ref: string;
  guest_metrics_ref: string;
}

/** Xen Orchestra: an agent is detected when the version has major+minor, or static IP setting is a feature. */
export function agentDetected(gm: Pick<GuestMetricsRecord, 'PV_drivers_version' | 'other'> | undefined): boolean {
  if (!gm) return false;
  const v = gm.PV_drivers_version ?? {};
  return (v.major !== undefined && v.minor !== undefined) || gm.other?.['feature-static-ip-setting'] === '1';
}

export function virtualizationMode(domainType: string, pvDrivers: boolean): VirtualizationMode {
  switch (domainType) {
    case 'hvm': return pvDrivers ? 'PVHVM' : 'HVM';
    case 'pv': case 'pv_in_pvh': return 'PV';
    case 'pvh': return 'PVH';
    default: return 'unknown';
  }
}

/** Pure: facts from the three records (also used by discovery over get_all_records). */
export function factsFromRecords(ref: string, vm: VmRecord, m: VmMetricsRecord | undefined, gm: GuestMetricsRecord | undefined): VmFacts {
  const start = parseXapiDate(m?.start_time);
  const updated = parseXapiDate(gm?.last_updated);
  // Metrics survive a halt and a revert; only a write later than this boot's start is about this boot.
  const fresh = vm.power_state === 'Running' && start !== undefined && updated !== undefined && updated > start;
  const v = gm?.PV_drivers_version ?? {};
  const version = v.major !== undefined && v.minor !== undefined
    ? [v.major, v.minor, v.micro, v.build].filter((p) => p !== undefined).join('.')
    : null;
  const pv = gm?.PV_drivers_detected ?? false;
  const ips = Object.entries(gm?.networks ?? {})
    .filter(([k]) => /\/ip$|\/ipv[46]\/\d+$/.test(k))
    .map(([, val]) => val)
    .filter((val, i, a) => val !== '' && a.indexOf(val) === i);
  return {
    ref,
    uuid: vm.uuid,
    name_label: vm.name_label,
    power_state: vm.power_state,
    domain_type: vm.domain_type,
    virtualization_mode: virtualizationMode(vm.domain_type, pv),
    pv_drivers_detected: pv,
    management_agent_detected: agentDetected(gm),
    pv_drivers_version: version,
    has_vendor_device: vm.has_vendor_device,
    os_name: gm?.os_version?.name ?? null,
    ips,
    metrics_fresh: fresh,
    has_guest_metrics: gm !== undefined,
    allowed_operations: vm.allowed_operations,
    start_time: m?.start_time ?? null,
    guest_metrics_updated: gm?.last_updated ?? null,
    tags: vm.tags ?? [],
    other_config: vm.other_config ?? {},
    metrics_ref: vm.metrics,
    guest_metrics_ref: vm.guest_metrics,
  };
}

/** Facts in three calls: the VM record, then its metrics and guest metrics in parallel. */
export async function readVmFacts(x: XapiCaller, vmRef: string): Promise<Result<VmFacts, HypervisorFailure>> {
  const vm = await x.call<VmRecord>('VM.get_record', [vmRef]);
  if (!vm.ok) return vm;
  const [m, gm] = await Promise.all([
    vm.value.metrics !== NULL_REF ? x.call<VmMetricsRecord>('VM_metrics.get_record', [vm.value.metrics]) : undefined,
    vm.value.guest_metrics !== NULL_REF ? x.call<GuestMetricsRecord>('VM_guest_metrics.get_record', [vm.value.guest_metrics]) : undefined,
  ]);
  if (m && !m.ok) return m;
  // guest metrics can be replaced under us (revert); treat a vanished one as none
  if (gm && !gm.ok && !(gm.error.kind === 'xapi' && gm.error.code === 'HANDLE_INVALID')) return gm;
  return ok(factsFromRecords(vmRef, vm.value, m?.value, gm?.ok ? gm.value : undefined));
}

/** event.from subscriptions for everything the facts depend on */
export function factsWatch(f: Pick<VmFacts, 'ref' | 'metrics_ref' | 'guest_metrics_ref'>): string[] {
  const w = [`vm/${f.ref}`];
  if (f.metrics_ref !== NULL_REF) w.push(`vm_metrics/${f.metrics_ref}`);
  if (f.guest_metrics_ref !== NULL_REF) w.push(`vm_guest_metrics/${f.guest_metrics_ref}`);
  return w;
}
