/**
 * The XAPI record fields pvrun reads, as they arrive over JSON-RPC. Records from real pools differ
 * from the datamodel: older pools lack later fields (`domain_type` is from XenServer 7.5), records
 * relayed from XML-RPC carry ints as strings, and a record can be partial (xen-api's own
 * component-test vector `spec/xapi-24/vm_get_all_records.json` has a VM record with 13 fields).
 * Code that reads a field a pool may omit must treat it as optional; `vmRecordProblems` says
 * whether a VM record has what pvrun cannot guess.
 */
export const NULL_REF = 'OpaqueRef:NULL';

export interface VmRecord {
  uuid: string;
  name_label: string;
  power_state: 'Halted' | 'Paused' | 'Running' | 'Suspended';
  allowed_operations: string[];
  is_a_template: boolean;
  is_a_snapshot: boolean;
  is_control_domain: boolean;
  snapshot_of: string;
  snapshots: string[];
  snapshot_time: string;
  VBDs: string[];
  metrics: string;
  guest_metrics: string;
  other_config: Record<string, string>;
  tags: string[];
  /** absent before XenServer 7.5: see `effectiveDomainType` */
  domain_type?: string;
  /** '' for PV guests; XAPI derives `domain_type` from it on upgrade */
  HVM_boot_policy?: string;
  has_vendor_device: boolean;
}

const POWER_STATES = ['Halted', 'Paused', 'Running', 'Suspended'];

/**
 * What a VM record lacks that pvrun cannot default: its identity, its power state, and the three
 * flags that tell a VM from a template, snapshot or control domain. Empty: the record is usable.
 * Everything else (tags, other_config, metrics refs, domain_type …) has a safe default.
 */
export function vmRecordProblems(vm: unknown): string[] {
  if (typeof vm !== 'object' || vm === null || Array.isArray(vm)) return ['not a record'];
  const r = vm as Record<string, unknown>;
  const out: string[] = [];
  for (const f of ['uuid', 'name_label']) if (typeof r[f] !== 'string') out.push(f);
  if (!POWER_STATES.includes(r.power_state as string)) out.push('power_state');
  for (const f of ['is_a_template', 'is_a_snapshot', 'is_control_domain']) if (typeof r[f] !== 'boolean') out.push(f);
  return out;
}

/** "VM OpaqueRef:… ('name', uuid …) on pool P: record lacks power_state, is_a_snapshot" */
export function describeBadVmRecord(pool: string, ref: string, vm: unknown, problems: string[]): string {
  const r = (typeof vm === 'object' && vm !== null ? vm : {}) as Record<string, unknown>;
  const who = [typeof r.name_label === 'string' ? `'${r.name_label}'` : '', typeof r.uuid === 'string' ? `uuid ${r.uuid}` : '']
    .filter(Boolean).join(', ');
  return `VM ${ref}${who ? ` (${who})` : ''} on pool ${pool}: the record ${problems[0] === 'not a record' ? 'is not a record' : `lacks ${problems.join(', ')}`}`
    + ' (a partial record: an old or proxied XAPI?)';
}

export interface VmMetricsRecord {
  start_time: string;
}

export interface GuestMetricsRecord {
  PV_drivers_detected: boolean;
  PV_drivers_version: Record<string, string>;
  os_version: Record<string, string>;
  networks: Record<string, string>;
  other: Record<string, string>;
  last_updated: string;
}

export interface VbdRecord {
  uuid: string;
  VM: string;
  VDI: string;
  type: 'CD' | 'Disk' | 'Floppy';
  empty: boolean;
  userdevice: string;
}

export interface VdiRecord {
  uuid: string;
  name_label: string;
  SR: string;
  is_tools_iso: boolean;
  missing: boolean;
  is_a_snapshot: boolean;
}

export interface SrRecord {
  uuid: string;
  name_label: string;
  VDIs: string[];
  is_tools_sr: boolean;
  content_type: string;
}
