import { stringify } from 'yaml';
import type { Result } from '../util/result.js';
import { ok } from '../util/result.js';
import type { GuestMetricsRecord, VmMetricsRecord, VmRecord } from './records.js';
import { describeBadVmRecord, vmRecordProblems } from './records.js';
import type { HypervisorFailure, XapiCaller } from './types.js';
import type { VirtualizationMode } from './vm-facts.js';
import { factsFromRecords } from './vm-facts.js';
import { isRealVm } from './vm-resolve.js';

export interface DiscoveryFilter {
  /** only VMs that need tools work: no PV drivers, or no management agent */
  missingTools?: boolean;
  tag?: string;
  /** glob on name_label: `*` and `?` */
  name?: string;
  /** names the pool in messages */
  pool?: string;
  /**
   * told of each VM record too partial to use (no power state, or no template/snapshot/dom0
   * flags): that VM is left out, with this located message, instead of crashing the listing
   */
  onBadRecord?: (message: string) => void;
}

export interface DiscoveredVm {
  name: string;
  uuid: string;
  power_state: string;
  os: string | null;
  virtualization_mode: VirtualizationMode;
  pv_drivers_detected: boolean;
  management_agent_detected: boolean;
  pv_drivers_version: string | null;
  /** every reported address, usable ones first (see VmFacts.ips) */
  ips: string[];
  /** the address chosen by rule (lowest VIF device, IPv4 first, never link-local), or null */
  address: string | null;
  tags: string[];
}

export function globToRegExp(glob: string): RegExp {
  const re = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i');
}

/** "No Xen tools detected" in XO terms: no PV drivers or no agent. */
export function needsTools(v: Pick<DiscoveredVm, 'pv_drivers_detected' | 'management_agent_detected'>): boolean {
  return !v.pv_drivers_detected || !v.management_agent_detected;
}

/** The pool's VMs in three calls (VMs, metrics, guest metrics: all records at once), filtered. */
export async function discoverVms(x: XapiCaller, filter: DiscoveryFilter = {}): Promise<Result<DiscoveredVm[], HypervisorFailure>> {
  const [vms, ms, gms] = await Promise.all([
    x.call<Record<string, VmRecord>>('VM.get_all_records', []),
    x.call<Record<string, VmMetricsRecord>>('VM_metrics.get_all_records', []),
    x.call<Record<string, GuestMetricsRecord>>('VM_guest_metrics.get_all_records', []),
  ]);
  if (!vms.ok) return vms;
  if (!ms.ok) return ms;
  if (!gms.ok) return gms;
  const nameRe = filter.name ? globToRegExp(filter.name) : undefined;
  const rows: DiscoveredVm[] = [];
  for (const [ref, vm] of Object.entries(vms.value)) {
    const problems = vmRecordProblems(vm);
    if (problems.length) {
      filter.onBadRecord?.(describeBadVmRecord(filter.pool ?? 'the pool', ref, vm, problems));
      continue;
    }
    if (!isRealVm(vm)) continue;
    if (nameRe && !nameRe.test(vm.name_label)) continue;
    if (filter.tag && !(vm.tags ?? []).includes(filter.tag)) continue;
    const f = factsFromRecords(ref, vm, ms.value[vm.metrics ?? ''], gms.value[vm.guest_metrics ?? '']);
    const row: DiscoveredVm = {
      name: f.name_label, uuid: f.uuid, power_state: f.power_state, os: f.os_name,
      virtualization_mode: f.virtualization_mode, pv_drivers_detected: f.pv_drivers_detected,
      management_agent_detected: f.management_agent_detected, pv_drivers_version: f.pv_drivers_version,
      ips: f.ips, address: f.address, tags: f.tags,
    };
    if (filter.missingTools && !needsTools(row)) continue;
    rows.push(row);
  }
  rows.sort((a, b) => a.name.localeCompare(b.name) || a.uuid.localeCompare(b.uuid));
  return ok(rows);
}

const yesNo = (b: boolean) => (b ? 'yes' : 'no');

/** A plain text table for terminals. */
export function formatDiscoveryTable(rows: DiscoveredVm[]): string {
  const head = ['NAME', 'UUID', 'POWER', 'OS', 'MODE', 'DRIVERS', 'AGENT', 'IPS'];
  const body = rows.map((r) => [
    r.name, r.uuid, r.power_state, r.os ?? '-', r.virtualization_mode,
    yesNo(r.pv_drivers_detected), r.management_agent_detected ? (r.pv_drivers_version ?? 'yes') : 'no', r.ips.join(',') || '-',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(head), ...body.map(line)].join('\n');
}

/**
 * An inventory fragment: one host per VM, selected by uuid (names can be ambiguous), the address
 * chosen by rule when there is one, in a group named after the pool.
 */
export function formatDiscoveryInventory(rows: DiscoveredVm[], pool: string, group = `${pool}_vms`): string {
  const hosts: Record<string, unknown> = {};
  for (const d of discoveredHosts(rows, pool)) {
    hosts[d.name] = { vm: d.vm, ...(d.address ? { connection: { address: d.address } } : {}) };
  }
  return stringify({ groups: { [group]: { hosts: Object.keys(hosts) } }, hosts });
}

/**
 * Hosts for a dynamic inventory group (`source: xapi`): selected by uuid, addressed by the chosen
 * address (`chooseAddress`: lowest VIF device, IPv4 before IPv6, never link-local). No usable
 * address: no `connection.address` (declare the host in the inventory to give one: declared
 * hosts win over discovered ones).
 */
export function discoveredHosts(rows: DiscoveredVm[], pool: string): { name: string; vm: { pool: string; uuid: string }; address?: string }[] {
  const used = new Set<string>();
  return rows.map((r) => {
    let name = r.name.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^-+|-+$/g, '') || r.uuid;
    if (used.has(name)) name = `${name}-${r.uuid.slice(0, 8)}`;
    used.add(name);
    return { name, vm: { pool, uuid: r.uuid }, ...(r.address ? { address: r.address } : {}) };
  });
}
