import { isIP } from 'node:net';
import type { Result } from '../util/result.js';
import { err, ok } from '../util/result.js';
import type { GuestMetricsRecord, VmMetricsRecord, VmRecord } from './records.js';
import { NULL_REF, describeBadVmRecord, vmRecordProblems } from './records.js';
import type { HypervisorFailure, XapiCaller } from './types.js';
import { parseXapiDate } from './xapi-date.js';

export type VirtualizationMode = 'HVM' | 'PVHVM' | 'PV' | 'PVH' | 'unknown';

/** What pvrun knows about a VM from the hypervisor side (the `vm` fact namespace). */
export interface VmFacts {
  ref: string;
  uuid: string;
  name_label: string;
  power_state: string;
  /** as the record says, or derived from HVM_boot_policy on pools before 7.5 (see effectiveDomainType) */
  domain_type: string;
  virtualization_mode: VirtualizationMode;
  pv_drivers_detected: boolean;
  management_agent_detected: boolean;
  /** "major.minor.micro.build" as the agent reports it, cut before a missing or negative part ("9.1", not "9.1.-1"), or null */
  pv_drivers_version: string | null;
  has_vendor_device: boolean;
  /** the OS name; for Windows the caption only (the agent appends `|C:\Windows|\Device\…`) */
  os_name: string | null;
  /** the guest's addresses in the order of `chooseAddress`, link-local ones last */
  ips: string[];
  /** the address to reach the guest at (chooseAddress), or null: none usable reported */
  address: string | null;
  /** the guest reported into guest metrics during the current boot (only then are they about this boot) */
  metrics_fresh: boolean;
  /**
   * the guest has reported something (drivers, agent version, OS, addresses). Every running VM
   * has a guest metrics object, made empty at each boot (XA xapi_xenops.ml:2013-2034,
   * 2379-2388): an empty one is "nothing reported yet", like none at all.
   */
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

/**
 * The domain type. Pools before XenServer 7.5 have no `domain_type`; XAPI itself derives it, on
 * upgrade, from `HVM_boot_policy`: empty means PV, anything else HVM (xen-api
 * ocaml/xapi/xapi_vm_snapshot.ml:565-590, Xapi_vm_helpers.derive_domain_type). A record without
 * either (a partial record) stays 'unspecified', the datamodel's own "don't know".
 */
export function effectiveDomainType(vm: Pick<VmRecord, 'domain_type' | 'HVM_boot_policy'>): string {
  const d = vm.domain_type;
  if (typeof d === 'string' && d !== '' && d !== 'unspecified') return d;
  if (typeof vm.HVM_boot_policy === 'string') return vm.HVM_boot_policy === '' ? 'pv' : 'hvm';
  return 'unspecified';
}

/**
 * "major.minor[.micro[.build]]". The agent sends `micro = "-1"` when it has none (xen-api
 * ocaml/xapi/xapi_guest_agent.ml:370-376); parts arrive as strings (XML-RPC, the map type) or
 * numbers: the version stops before the first missing, negative or non-numeric part.
 */
export function driversVersion(v: Record<string, unknown> | undefined): string | null {
  const parts: string[] = [];
  for (const k of ['major', 'minor', 'micro', 'build']) {
    const p = v?.[k];
    const t = typeof p === 'number' ? String(p) : typeof p === 'string' ? p.trim() : '';
    if (!/^\d+$/.test(t)) break;
    parts.push(String(Number(t)));
  }
  return parts.length >= 2 ? parts.join('.') : null;
}

/** Windows reports `Caption|C:\Windows|\Device\Harddisk0\Partition2`: the caption is before the first `|`. */
export function osCaption(name: unknown): string | null {
  if (typeof name !== 'string') return null;
  const c = name.split('|')[0]!.trim();
  return c === '' ? null : c;
}

/** fe80::/10 and 169.254.0.0/16: only meaningful on one link (and Xen's host-internal network). */
export function isLinkLocal(ip: string): boolean {
  const fam = isIP(ip);
  if (fam === 4) return ip.startsWith('169.254.');
  if (fam === 6) {
    const first = ip.split(':')[0]!;
    const n = first === '' ? 0 : parseInt(first, 16);
    return (n & 0xffc0) === 0xfe80;
  }
  return false;
}

export interface GuestAddress {
  /** the VIF device the address is on (the N of `N/ipv4/K`) */
  device: number;
  family: 4 | 6;
  address: string;
  linkLocal: boolean;
}

/**
 * The addresses in VM_guest_metrics.networks, ordered by rule. Keys are `N/ip`, `N/ipv4/K`,
 * `N/ipv6/K` with N the VIF device (xen-api ocaml/xapi/xapi_guest_agent.ml:78-110,147-187); the
 * map's own order means nothing (IPv6 link-local and other NICs can come first). Order: lowest
 * device, IPv4 before IPv6, then K; `N/ip` (the legacy key) counts as the first IPv4. The family
 * is the value's, not the key's. Duplicates and values that are not addresses are dropped.
 */
export function guestAddresses(networks: Record<string, unknown> | undefined): GuestAddress[] {
  const found: (GuestAddress & { index: number })[] = [];
  for (const [k, v] of Object.entries(networks ?? {})) {
    const m = /^(\d+)\/(?:ip|ipv([46])\/(\d+))$/.exec(k);
    if (!m || typeof v !== 'string') continue;
    const address = v.trim();
    const family = isIP(address);
    if (family !== 4 && family !== 6) continue;
    found.push({ device: Number(m[1]), family, address, linkLocal: isLinkLocal(address), index: m[3] === undefined ? -1 : Number(m[3]) });
  }
  found.sort((a, b) => a.device - b.device || a.family - b.family || a.index - b.index);
  const seen = new Set<string>();
  const out: GuestAddress[] = [];
  for (const { index: _i, ...a } of found) {
    const key = a.family === 6 ? a.address.toLowerCase() : a.address;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(a);
  }
  return out;
}

/**
 * The address to reach a guest at: the first of `guestAddresses` that is not link-local, or null.
 * An inventory that declares the host (or its connection.address) overrides it.
 */
export function chooseAddress(networks: Record<string, unknown> | undefined): string | null {
  return guestAddresses(networks).find((a) => !a.linkLocal)?.address ?? null;
}

const nonEmpty = (m: unknown) => typeof m === 'object' && m !== null && Object.keys(m).length > 0;

/** The guest has written something into this guest metrics object (not the empty one made at boot). */
export function guestReported(gm: Partial<GuestMetricsRecord>): boolean {
  return gm.PV_drivers_detected === true || nonEmpty(gm.PV_drivers_version) || nonEmpty(gm.os_version) || nonEmpty(gm.networks);
}

/** Pure: facts from the three records (also used by discovery over get_all_records). */
export function factsFromRecords(ref: string, vm: VmRecord, m: VmMetricsRecord | undefined, gm: GuestMetricsRecord | undefined): VmFacts {
  const start = parseXapiDate(m?.start_time);
  const updated = parseXapiDate(gm?.last_updated);
  const reported = gm !== undefined && guestReported(gm);
  // Metrics survive a halt and a revert; only a write later than this boot's start is about this
  // boot, and the empty object XAPI makes at boot is no report yet, whatever its last_updated.
  const fresh = vm.power_state === 'Running' && reported && start !== undefined && updated !== undefined && updated > start;
  const pv = gm?.PV_drivers_detected === true;
  const addrs = guestAddresses(gm?.networks);
  const domainType = effectiveDomainType(vm);
  return {
    ref,
    uuid: vm.uuid,
    name_label: vm.name_label,
    power_state: vm.power_state,
    domain_type: domainType,
    virtualization_mode: virtualizationMode(domainType, pv),
    pv_drivers_detected: pv,
    management_agent_detected: agentDetected(gm),
    pv_drivers_version: driversVersion(gm?.PV_drivers_version),
    has_vendor_device: vm.has_vendor_device === true,
    os_name: osCaption(gm?.os_version?.name),
    ips: [...addrs.filter((a) => !a.linkLocal), ...addrs.filter((a) => a.linkLocal)].map((a) => a.address),
    address: addrs.find((a) => !a.linkLocal)?.address ?? null,
    metrics_fresh: fresh,
    has_guest_metrics: reported,
    allowed_operations: vm.allowed_operations ?? [],
    start_time: m?.start_time ?? null,
    guest_metrics_updated: gm?.last_updated ?? null,
    tags: vm.tags ?? [],
    other_config: vm.other_config ?? {},
    metrics_ref: vm.metrics ?? NULL_REF,
    guest_metrics_ref: vm.guest_metrics ?? NULL_REF,
  };
}

const isRef = (r: unknown): r is string => typeof r === 'string' && r.startsWith('OpaqueRef:') && r !== NULL_REF;

/**
 * Facts in three calls: the VM record, then its metrics and guest metrics in parallel. A partial
 * VM record is a `bad-record` failure naming the VM and what it lacks (`pool` only labels it).
 */
export async function readVmFacts(x: XapiCaller, vmRef: string, pool = 'the pool'): Promise<Result<VmFacts, HypervisorFailure>> {
  const vm = await x.call<VmRecord>('VM.get_record', [vmRef]);
  if (!vm.ok) return vm;
  const problems = vmRecordProblems(vm.value);
  if (problems.length) return err({ kind: 'bad-record', message: describeBadVmRecord(pool, vmRef, vm.value, problems) });
  const [m, gm] = await Promise.all([
    isRef(vm.value.metrics) ? x.call<VmMetricsRecord>('VM_metrics.get_record', [vm.value.metrics]) : undefined,
    isRef(vm.value.guest_metrics) ? x.call<GuestMetricsRecord>('VM_guest_metrics.get_record', [vm.value.guest_metrics]) : undefined,
  ]);
  if (m && !m.ok) return m;
  // guest metrics can be replaced under us (revert); treat a vanished one as none
  if (gm && !gm.ok && !(gm.error.kind === 'xapi' && gm.error.code === 'HANDLE_INVALID')) return gm;
  return ok(factsFromRecords(vmRef, vm.value, m?.value, gm?.ok ? gm.value : undefined));
}

/** event.from subscriptions for everything the facts depend on */
export function factsWatch(f: Pick<VmFacts, 'ref' | 'metrics_ref' | 'guest_metrics_ref'>): string[] {
  const w = [`vm/${f.ref}`];
  if (isRef(f.metrics_ref)) w.push(`vm_metrics/${f.metrics_ref}`);
  if (isRef(f.guest_metrics_ref)) w.push(`vm_guest_metrics/${f.guest_metrics_ref}`);
  return w;
}
