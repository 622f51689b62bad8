/** The XAPI record fields pvrun reads, as they arrive over JSON-RPC. */
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
  domain_type: string;
  has_vendor_device: boolean;
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
