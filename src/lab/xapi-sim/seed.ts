import type { GuestReport } from '../sim-hooks.js';

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
