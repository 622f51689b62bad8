import { isDeepStrictEqual } from 'node:util';
import type { GuestReport } from '../sim-hooks.js';
import type { Rec, SimClass, Store } from './store.js';
import { SIM_CLASSES } from './store.js';

/** Tools state shorthand: none, PV drivers only (Linux kernel drivers, no agent), or drivers + agent. */
export type ToolsDef = 'none' | 'drivers' | 'agent' | GuestReport;

export interface SimVmDef {
  name: string;
  uuid?: string;
  /** OS name for guest metrics, e.g. 'Ubuntu 22.04' or 'Windows Server 2022' */
  os?: string;
  power?: 'Running' | 'Halted';
  domainType?: 'hvm' | 'pv' | 'pvh' | 'pv_in_pvh';
  tools?: ToolsDef;
  hasVendorDevice?: boolean;
  /** has a CD drive (default true) */
  cdDrive?: boolean;
  /** name of an ISO in the drive */
  iso?: string;
  disks?: number;
  tags?: string[];
  ips?: Record<string, string>;
}

export interface SimDefinition {
  pool?: string;
  username?: string;
  password?: string;
  vms: SimVmDef[];
  /** extra ISOs in an ISO library SR */
  isos?: string[];
}

export function toolsReport(def: SimVmDef): GuestReport {
  const t = def.tools ?? 'none';
  if (typeof t === 'object') return t;
  const windows = /windows/i.test(def.os ?? '');
  const os = def.os
    ? { name: def.os, distro: windows ? 'windows' : def.os.split(/\s+/)[0]!.toLowerCase(), major: (/(\d+)/.exec(def.os)?.[1]) ?? '0' }
    : undefined;
  return {
    pvDriversDetected: t !== 'none',
    agentVersion: t === 'agent' ? { major: 9, minor: 4, micro: 0, build: 12 } : null,
    ...(t === 'agent' && os ? { os } : {}),
    ...(t === 'agent' ? { ips: def.ips ?? { '0/ip': '10.0.0.10', '0/ipv4/0': '10.0.0.10' } } : {}),
  };
}

/** The demo pool used by `pvrun lab xapi` without a state file. */
export const DEMO_DEFINITION: SimDefinition = {
  pool: 'lab-pool',
  vms: [
    { name: 'web-01', os: 'Ubuntu 22.04', power: 'Running', tools: 'drivers' },
    { name: 'db-01', os: 'Rocky Linux 9', power: 'Running', tools: 'agent' },
    { name: 'win-01', os: 'Windows Server 2022', power: 'Running', tools: 'none', hasVendorDevice: false },
    { name: 'old-01', os: 'Debian 12', power: 'Halted', tools: 'none' },
  ],
};

/** Records by class, then by ref, as a pool sent them. */
export type RecordSet = Partial<Record<SimClass, Record<string, Rec>>> & {
  /** snapshot refs to add to a VM's `snapshots` (the derived snapshot's parent is a recorded VM) */
  VM_snapshot_of?: Record<string, string[]>;
};

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The records in a file of recorded records, in one of the shapes of ../shared/xapi-replay/vectors
 * (see its PROVENANCE.md):
 * - `{ <class>: { <ref>: record } }`: community.general
 *   tests/unit/plugins/module_utils/_xenserver/fixtures/ansible-test-vm-N-params.json (recorded
 *   from a real XenServer 7.x pool over XML-RPC: ints as strings, no domain_type) and
 *   derived/dom0-template-snapshot.json (plus `VM_snapshot_of`);
 * - `{ <test id>: { method, params, expected_result: { "<class>.get_all_records": { result } } } }`:
 *   xen-api ocaml/sdk-gen/component-test/spec/xapi-24/*.json (JSON-RPC: ints as numbers, one VM
 *   record deliberately partial).
 * Records are kept as they are; a class the simulator does not hold is an error.
 */
export function recordsFromFile(data: unknown): RecordSet {
  if (!isObj(data)) throw new Error('recorded records: not an object');
  const out: RecordSet = {};
  const put = (cls: string, recs: unknown) => {
    if (!(SIM_CLASSES as readonly string[]).includes(cls)) throw new Error(`recorded records: class ${cls} is not held by the simulator`);
    if (!isObj(recs)) throw new Error(`recorded records: ${cls} is not a map of refs to records`);
    const into = (out[cls as SimClass] ??= {});
    for (const [ref, r] of Object.entries(recs)) into[ref] = structuredClone(r) as Rec;
  };
  for (const [key, val] of Object.entries(data)) {
    if (isObj(val) && isObj(val.expected_result)) {
      for (const [method, res] of Object.entries(val.expected_result)) {
        const m = /^(\w+)\.get_all_records$/.exec(method);
        if (m && isObj(res) && isObj(res.result)) put(m[1]!, res.result);
      }
    } else if (key === 'VM_snapshot_of') {
      if (!isObj(val)) throw new Error('recorded records: VM_snapshot_of is not a map');
      out.VM_snapshot_of = Object.fromEntries(Object.entries(val).map(([k, v]) => [k, Array.isArray(v) ? v.map(String) : []]));
    } else {
      put(key, val);
    }
  }
  return out;
}

/**
 * Load recorded records into a simulator's store under their own refs, as they are (so the
 * production client reads them exactly as the real pool sent them). Only a record without a uuid
 * gets one (Store.add). Returns the refs loaded, by class.
 */
export function loadRecordedRecords(store: Store, set: RecordSet): Partial<Record<SimClass, string[]>> {
  const loaded: Partial<Record<SimClass, string[]>> = {};
  for (const cls of SIM_CLASSES) {
    for (const [ref, rec] of Object.entries(set[cls] ?? {})) {
      // the same pool recorded per VM: shared objects (SR, network, host) repeat, identically
      const have = store.get(cls, ref);
      if (have) {
        if (isDeepStrictEqual(have, rec)) continue;
        throw new Error(`recorded records: ${cls} ${ref} is loaded twice, with different fields`);
      }
      store.add(cls, structuredClone(rec), ref);
      (loaded[cls] ??= []).push(ref);
    }
  }
  for (const [vm, snaps] of Object.entries(set.VM_snapshot_of ?? {})) {
    const rec = store.get('VM', vm);
    if (!rec) continue;
    const have = Array.isArray(rec.snapshots) ? rec.snapshots.map(String) : [];
    store.mod('VM', vm, { snapshots: [...have, ...snaps.filter((s) => !have.includes(s))] });
  }
  return loaded;
}
