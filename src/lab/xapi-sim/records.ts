import type { Rec } from './store.js';
import { EPOCH, NULL_REF } from './store.js';

/**
 * Default records of the modelled classes. Only the fields pvrun and the tests look at are
 * modelled; every name here is a real field of the class in xenapi.json (checked by a test through
 * the getter table generated from these keys).
 */
export function vmRecord(p: Partial<Rec> = {}): Rec {
  return {
    uuid: undefined, name_label: '', name_description: '', power_state: 'Halted',
    allowed_operations: [], current_operations: {},
    is_a_template: false, is_default_template: false, is_control_domain: false,
    is_a_snapshot: false, snapshot_of: NULL_REF, snapshots: [], snapshot_time: EPOCH, snapshot_metadata: '',
    parent: NULL_REF, children: [],
    resident_on: NULL_REF, VBDs: [], VIFs: [], metrics: NULL_REF, guest_metrics: NULL_REF,
    other_config: {}, tags: [], domain_type: 'hvm', has_vendor_device: false,
    HVM_boot_policy: 'BIOS order', platform: {}, domid: -1,
    memory_static_max: 2147483648, VCPUs_max: 2, VCPUs_at_startup: 2,
    ...p,
  };
}

export function vmMetricsRecord(p: Partial<Rec> = {}): Rec {
  return {
    uuid: undefined, memory_actual: 0, VCPUs_number: 0, state: [], start_time: EPOCH, install_time: EPOCH,
    last_updated: EPOCH, other_config: {}, hvm: true, nested_virt: false, nomigrate: false,
    current_domain_type: 'unspecified',
    ...p,
  };
}

export function guestMetricsRecord(p: Partial<Rec> = {}): Rec {
  return {
    uuid: undefined, os_version: {}, PV_drivers_version: {}, PV_drivers_up_to_date: false,
    memory: {}, disks: {}, networks: {}, other: {}, last_updated: EPOCH, other_config: {}, live: false,
    can_use_hotplug_vbd: 'unspecified', can_use_hotplug_vif: 'unspecified', PV_drivers_detected: false,
    ...p,
  };
}

export function vbdRecord(p: Partial<Rec> = {}): Rec {
  return {
    uuid: undefined, allowed_operations: [], current_operations: {}, VM: NULL_REF, VDI: NULL_REF,
    device: '', userdevice: '0', bootable: false, mode: 'RW', type: 'Disk', unpluggable: true,
    storage_lock: false, empty: false, other_config: {}, currently_attached: false,
    ...p,
  };
}

export function vdiRecord(p: Partial<Rec> = {}): Rec {
  return {
    uuid: undefined, name_label: '', name_description: '', allowed_operations: [], current_operations: {},
    SR: NULL_REF, VBDs: [], virtual_size: 10737418240, physical_utilisation: 0, type: 'user',
    sharable: false, read_only: false, other_config: {}, storage_lock: false, location: '', managed: true,
    missing: false, parent: NULL_REF, is_a_snapshot: false, snapshot_of: NULL_REF, snapshots: [],
    snapshot_time: EPOCH, tags: [], is_tools_iso: false, sm_config: {},
    ...p,
  };
}

export function srRecord(p: Partial<Rec> = {}): Rec {
  return {
    uuid: undefined, name_label: '', name_description: '', allowed_operations: [], current_operations: {},
    VDIs: [], PBDs: [], virtual_allocation: 0, physical_utilisation: 0, physical_size: 1099511627776,
    type: 'ext', content_type: 'user', shared: false, other_config: {}, tags: [], sm_config: {},
    is_tools_sr: false, clustered: false,
    ...p,
  };
}

export function poolRecord(p: Partial<Rec> = {}): Rec {
  return {
    uuid: undefined, name_label: '', name_description: '', master: NULL_REF, default_SR: NULL_REF,
    other_config: {}, tags: [], ha_enabled: false, policy_no_vendor_device: false,
    ...p,
  };
}

export function hostRecord(p: Partial<Rec> = {}): Rec {
  return {
    uuid: undefined, name_label: '', name_description: '', enabled: true, address: '', hostname: '',
    resident_VMs: [], API_version_major: 2, API_version_minor: 21, API_version_vendor: 'XCP-ng',
    software_version: { product_brand: 'XCP-ng', product_version: '8.3.0' }, other_config: {}, tags: [],
    control_domain: NULL_REF,
    ...p,
  };
}

/** XA ocaml/idl/datamodel_certificate.ml: uuid, name, type, host, not_before, not_after, fingerprint (SHA-256) */
export function certificateRecord(p: Partial<Rec> = {}): Rec {
  return {
    uuid: undefined, name: '', type: 'host', host: NULL_REF, not_before: EPOCH, not_after: EPOCH, fingerprint: '',
    ...p,
  };
}

export function taskRecord(p: Partial<Rec> = {}): Rec {
  return {
    uuid: undefined, name_label: '', name_description: '', allowed_operations: ['cancel'], current_operations: {},
    created: EPOCH, finished: EPOCH, status: 'pending', resident_on: NULL_REF, progress: 0, type: '<none/>',
    result: '', error_info: [], other_config: {}, subtask_of: NULL_REF, subtasks: [], backtrace: '()',
    ...p,
  };
}

/** field names per class, for the generated getters */
export const FIELDS: Record<string, string[]> = {
  VM: Object.keys(vmRecord()),
  VM_metrics: Object.keys(vmMetricsRecord()),
  VM_guest_metrics: Object.keys(guestMetricsRecord()),
  VBD: Object.keys(vbdRecord()),
  VDI: Object.keys(vdiRecord()),
  SR: Object.keys(srRecord()),
  pool: Object.keys(poolRecord()),
  host: Object.keys(hostRecord()),
  task: Object.keys(taskRecord()),
  Certificate: Object.keys(certificateRecord()),
};
