/**
 * Windows-like lab guests: real pwsh with the PvrunLab module (PvrunLab.psm1) loaded, working on
 * a JSON state file. The guest is reached through the ssh-powershell connector, whose
 * `executable` is the wrapper written here: it is what `powershell.exe` is on a real guest.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const LAB_MODULE_PATH = join(dirname(fileURLToPath(import.meta.url)), 'PvrunLab.psm1');

export interface LabAddress { ip: string; prefix: number; origin: 'Manual' | 'Dhcp' | 'WellKnown' }
export interface LabAdapter {
  name: string; description: string; mac: string; ifIndex: number; pnpDeviceId: string;
  dhcp: 'Enabled' | 'Disabled'; addresses: LabAddress[]; gateways: string[]; dns: string[];
}
export interface LabDevice { instanceId: string; friendlyName: string; class: string; present: boolean }
export interface LabService { name: string; displayName: string; status: string; startType: string }
export interface LabProduct { name: string; version: string; publisher: string; productCode: string }
export interface LabPackage { exitCode: number; product?: LabProduct; services?: LabService[]; pvDrivers?: boolean }

export interface WindowsLabState {
  os: { caption: string; version: string; build: string; edition: string };
  bootTime: string;
  bootCount: number;
  devices: LabDevice[];
  adapters: LabAdapter[];
  services: LabService[];
  products: LabProduct[];
  pendingReboot: string[];
  /** MSI file name → what installing it does */
  packages: Record<string, LabPackage>;
  xenclean?: { exitCode?: number };
  shutdownScheduled?: boolean;
  /** a reboot cuts the SSH connection the command came in on, as a real one does */
  dropConnectionOnReboot?: boolean;
  /** reboots that leave a reboot pending (drivers asking for another one) */
  followupReboots?: number;
  pendingDriverSwap?: boolean;
  pendingDriverRemoval?: boolean;
  /** every mutating emulated command, in order */
  log?: string[];
}

export const XCPNG_DRIVERS: LabProduct = {
  name: 'XCP-ng Windows PV Drivers', version: '9.0.9065', publisher: 'Vates', productCode: '{8B7E7B4A-0000-4C3B-9D5E-XCPNGDRIVERS}',
};

/** An HVM Windows Server 2022 with an emulated Realtek NIC holding a static address. */
export function seedWindowsState(o: { mac?: string; ip?: string; citrix?: boolean } = {}): WindowsLabState {
  const mac = o.mac ?? '00-16-3E-5A-01-02';
  const nicId = 'PCI\\VEN_10EC&DEV_8139&SUBSYS_11001AF4&REV_20\\3&267A616A&0&18';
  const state: WindowsLabState = {
    os: { caption: 'Microsoft Windows Server 2022 Standard', version: '10.0.20348', build: '20348', edition: 'ServerStandard' },
    bootTime: new Date(Date.now() - 3600_000).toISOString(),
    bootCount: 1,
    devices: [
      { instanceId: 'PCI\\VEN_5853&DEV_0001&SUBSYS_00015853&REV_01\\3&267A616A&0&10', friendlyName: 'PCI Device', class: 'System', present: true },
      { instanceId: nicId, friendlyName: 'Realtek RTL8139C+ Fast Ethernet NIC', class: 'Net', present: true },
    ],
    adapters: [{
      name: 'Ethernet', description: 'Realtek RTL8139C+ Fast Ethernet NIC', mac, ifIndex: 4, pnpDeviceId: nicId, dhcp: 'Disabled',
      addresses: [{ ip: o.ip ?? '10.20.30.40', prefix: 24, origin: 'Manual' }], gateways: ['10.20.30.1'], dns: ['10.20.30.2', '10.20.30.3'],
    }],
    services: [],
    products: [],
    pendingReboot: [],
    packages: {
      'XenDrivers-x64.msi': {
        exitCode: 3010, product: XCPNG_DRIVERS, pvDrivers: true,
        services: [
          { name: 'xenbus', displayName: 'XenBus', status: 'Running', startType: 'Boot' },
          { name: 'xenvif', displayName: 'XenVif', status: 'Running', startType: 'Boot' },
          { name: 'xennet', displayName: 'XenNet', status: 'Running', startType: 'Boot' },
        ],
      },
      'XenTools-x64.msi': {
        exitCode: 0,
        product: { name: 'XCP-ng Windows Guest Tools', version: '9.0.9065', publisher: 'Vates', productCode: '{XCPNG-TOOLS}' },
        services: [{ name: 'XenSvc', displayName: 'XCP-ng Guest Agent', status: 'Running', startType: 'Automatic' }],
      },
      'broken.msi': { exitCode: 1603 },
    },
  };
  if (o.citrix) {
    state.products.push({ name: 'Citrix VM Tools', version: '7.2.0.1555', publisher: 'Citrix Systems, Inc.', productCode: '{CITRIX-TOOLS}' });
    state.services.push({ name: 'XenSvc', displayName: 'Citrix Xen Guest Agent', status: 'Running', startType: 'Automatic' });
  }
  return state;
}

export interface WindowsLabGuest {
  /** give this to the ssh-powershell connector as `executable` */
  readonly executable: string;
  readonly statePath: string;
  /** for the psremoting connector (sessionInit): points the session at this guest, loads PvrunLab */
  readonly sessionInit: string;
  read(): WindowsLabState;
  write(state: WindowsLabState): void;
}

/**
 * Write the guest's state and its `powershell` wrapper into `dir`. The wrapper takes the
 * connector's `-EncodedCommand` and runs it after `Import-Module PvrunLab` (functions shadow
 * the cmdlets and .exe names the module emulates).
 */
export function createWindowsLabGuest(dir: string, pwsh: string, state: WindowsLabState): WindowsLabGuest {
  mkdirSync(dir, { recursive: true });
  const statePath = join(dir, 'windows-state.json');
  writeFileSync(statePath, JSON.stringify(state, null, 2));
  const executable = join(dir, 'powershell');
  const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const psq = (s: string) => `'${s.replace(/'/g, "''")}'`;
  writeFileSync(executable, [
    '#!/bin/sh',
    '# lab guest "powershell.exe": pwsh with PvrunLab loaded, state in PVRUN_LAB_STATE',
    `export PVRUN_LAB_STATE=${sq(statePath)}`,
    'enc=',
    'while [ $# -gt 0 ]; do',
    '  case "$1" in',
    '    -EncodedCommand) enc="$2"; shift 2 ;;',
    '    -OutputFormat) shift 2 ;;',
    '    *) shift ;;',
    '  esac',
    'done',
    '[ -n "$enc" ] || { echo "lab powershell: only -EncodedCommand is supported" >&2; exit 64; }',
    // the decoded command runs as a scriptblock after the import; `exit N` in it ends the process
    `exec ${sq(pwsh)} -NoProfile -NonInteractive -OutputFormat Text -Command "Import-Module ${psq(LAB_MODULE_PATH).replace(/"/g, '\\"')}; & ([scriptblock]::Create([Text.Encoding]::Unicode.GetString([Convert]::FromBase64String('$enc'))))"`,
    '',
  ].join('\n'));
  chmodSync(executable, 0o755);
  return {
    executable,
    statePath,
    sessionInit: `$env:PVRUN_LAB_STATE = ${psq(statePath)}; Import-Module ${psq(LAB_MODULE_PATH)}`,
    read: () => JSON.parse(readFileSync(statePath, 'utf8')) as WindowsLabState,
    write: (s) => writeFileSync(statePath, JSON.stringify(s, null, 2)),
  };
}
