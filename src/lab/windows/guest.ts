/**
 * Windows-like lab guests: real pwsh with the PvrunLab module (PvrunLab.psm1) loaded, working on
 * a JSON state file. The guest is reached through the ssh-powershell connector, whose
 * `executable` is the wrapper written here: it is what `powershell.exe` is on a real guest.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// next to this file in the sources; next to every chunk in the bundle (dist/cli/, copied there by
// scripts/bundle.mjs)
export const LAB_MODULE_PATH = join(dirname(fileURLToPath(import.meta.url)), 'PvrunLab.psm1');

export interface LabAddress { ip: string; prefix: number; origin: 'Manual' | 'Dhcp' | 'WellKnown' }
export interface LabAdapter {
  name: string; description: string; mac: string; ifIndex: number; pnpDeviceId: string;
  dhcp: 'Enabled' | 'Disabled'; addresses: LabAddress[]; gateways: string[]; dns: string[];
}
export interface LabDevice { instanceId: string; friendlyName: string; class: string; present: boolean }
export interface LabService { name: string; displayName: string; status: string; startType: string }
export interface LabProduct { name: string; version: string; publisher: string; productCode: string }
/** a test double for an MSI that is not a lab release (e.g. `broken.msi`): found by file name */
export interface LabPackage { exitCode: number; product?: LabProduct; services?: LabService[]; pvDrivers?: boolean }

/** The Xen vendor device, there when the VM's has_vendor_device is on (win-pv-drivers `XenDeviceInfo.cs:37-153`). */
export const VENDOR_DEVICE_ID = 'PCI\\VEN_5853&DEV_C000&SUBSYS_C0005853&REV_01\\3&267A616A&0&20';

export interface WindowsLabState {
  os: { caption: string; version: string; build: string; edition: string };
  bootTime: string;
  bootCount: number;
  devices: LabDevice[];
  adapters: LabAdapter[];
  services: LabService[];
  products: LabProduct[];
  pendingReboot: string[];
  /**
   * test doubles for MSIs that are not lab releases, by file name. A lab release's MSI is a file
   * (src/lab/windows/releases.ts) whose content the emulated msiexec reads.
   */
  packages: Record<string, LabPackage>;
  /**
   * XenClean's behaviour: `exitCode` forces one (1 error, 2 cancelled); `notRunUntilReboot`: its
   * first run answers 3 ("did not run yet: reboot, then run again", win-pv-drivers XenClean
   * `Program.cs:62-85`), and it runs after the next boot (`answered3` until then).
   */
  xenclean?: { exitCode?: number; notRunUntilReboot?: boolean; answered3?: boolean };
  /** .NET Framework 4.x `Release` (HKLM:\SOFTWARE\Microsoft\NET Framework Setup\NDP\v4\Full); 394802 = 4.6.2 */
  dotnetRelease?: number;
  /** the VM's has_vendor_device at this boot: the vendor device PCI\VEN_5853&DEV_C000 is present */
  vendorDevice?: boolean;
  /** another installation is running: msiexec ends 1618 */
  msiBusy?: boolean;
  /** the inserted ISO's content (a directory on the lab host), seen as drive D: */
  cdrom?: string | null;
  /** registry values under HKLM:\SOFTWARE (policies the onboarding sets), path\name → value */
  registry?: Record<string, number | string>;
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
  name: 'XCP-ng Windows PV Drivers', version: '9.0.9137', publisher: 'XCP-ng', productCode: '{LAB-XCPNG-9.0.9137}',
};

/**
 * An HVM Windows Server 2022 (.NET 4.8) with an emulated Realtek NIC holding a static address, and
 * the vendor device on: new VMs get has_vendor_device = true from xapi 24.14.0 (xen-api
 * `ocaml/idl/datamodel_vm.ml:3290-3299`).
 */
export function seedWindowsState(o: { mac?: string; ip?: string; citrix?: boolean; vendorDevice?: boolean } = {}): WindowsLabState {
  const mac = o.mac ?? '00-16-3E-5A-01-02';
  const nicId = 'PCI\\VEN_10EC&DEV_8139&SUBSYS_11001AF4&REV_20\\3&267A616A&0&18';
  const state: WindowsLabState = {
    os: { caption: 'Microsoft Windows Server 2022 Standard', version: '10.0.20348', build: '20348', edition: 'ServerStandard' },
    bootTime: new Date(Date.now() - 3600_000).toISOString(),
    bootCount: 1,
    devices: [
      { instanceId: 'PCI\\VEN_5853&DEV_0001&SUBSYS_00015853&REV_01\\3&267A616A&0&10', friendlyName: 'PCI Device', class: 'System', present: true },
      { instanceId: nicId, friendlyName: 'Realtek RTL8139C+ Fast Ethernet NIC', class: 'Net', present: true },
      ...(o.vendorDevice ?? true ? [{ instanceId: VENDOR_DEVICE_ID, friendlyName: 'PCI Device', class: 'System', present: true }] : []),
    ],
    vendorDevice: o.vendorDevice ?? true,
    dotnetRelease: 528449,
    adapters: [{
      name: 'Ethernet', description: 'Realtek RTL8139C+ Fast Ethernet NIC', mac, ifIndex: 4, pnpDeviceId: nicId, dhcp: 'Disabled',
      addresses: [{ ip: o.ip ?? '10.20.30.40', prefix: 24, origin: 'Manual' }], gateways: ['10.20.30.1'], dns: ['10.20.30.2', '10.20.30.3'],
    }],
    services: [],
    products: [],
    pendingReboot: [],
    // the XCP-ng tools come from a release package (releases.ts), not from here
    packages: { 'broken.msi': { exitCode: 1603 } },
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
  const tmp = join(dir, 'tmp') + '/';
  mkdirSync(tmp, { recursive: true });
  const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const psq = (s: string) => `'${s.replace(/'/g, "''")}'`;
  writeFileSync(executable, [
    '#!/bin/sh',
    '# lab guest "powershell.exe": pwsh with PvrunLab loaded, state in PVRUN_LAB_STATE',
    `export PVRUN_LAB_STATE=${sq(statePath)}`,
    // this guest's own temp folder ([IO.Path]::GetTempPath(), where copied tools go)
    `export TMPDIR=${sq(tmp)}`,
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
    sessionInit: `$env:PVRUN_LAB_STATE = ${psq(statePath)}; $env:TMPDIR = ${psq(tmp)}; Import-Module ${psq(LAB_MODULE_PATH)}`,
    read: () => JSON.parse(readFileSync(statePath, 'utf8')) as WindowsLabState,
    write: (s) => writeFileSync(statePath, JSON.stringify(s, null, 2)),
  };
}
