/**
 * Windows guest facts: one PowerShell script that prints one JSON document, and a pure parser
 * that turns that document into typed facts (table-tested without a Windows machine).
 *
 * The script uses only what Windows Server 2012 R2+ / Windows 8.1+ ships (CIM, NetAdapter,
 * NetTCPIP, DnsClient, PnpDevice, the registry), runs under Windows PowerShell 5.1 and pwsh 7,
 * and never stops at a missing piece: each section that fails is listed in `errors`.
 */
import { execJson } from '../connectors/powershell/exec-json.js';
import type { Connector } from '../connectors/types.js';
import { err, ok, type Result } from '../util/result.js';
import type { FactFailure } from './failure.js';

export const WINDOWS_FACTS_SCRIPT = String.raw`
$ErrorActionPreference = 'Stop'
$errors = @()
function Iso($d) { if ($d) { ([datetime]$d).ToUniversalTime().ToString('o') } else { $null } }

$os = $null
try {
  $o = Get-CimInstance -ClassName Win32_OperatingSystem
  $edition = $null
  try { $edition = (Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion').EditionID } catch { }
  $os = [ordered]@{ caption = [string]$o.Caption; version = [string]$o.Version; build = [string]$o.BuildNumber;
                    edition = $edition; lastBootUpTime = (Iso $o.LastBootUpTime) }
} catch { $errors += 'os: ' + $_.ToString() }

$pv = @()
$ghosts = @()
try {
  foreach ($d in @(Get-PnpDevice)) {
    $id = [string]$d.InstanceId
    if ($id -like 'PCI\VEN_5853*' -or $id -like 'XENBUS\*' -or $id -like 'XENVIF\*' -or $id -like 'XENVBD\*' -or $id -like 'XEN\*') {
      $pv += [ordered]@{ instanceId = $id; friendlyName = [string]$d.FriendlyName; class = [string]$d.Class; present = [bool]$d.Present; status = [string]$d.Status }
    }
    if ([string]$d.Class -eq 'Net' -and -not $d.Present) {
      $ghosts += [ordered]@{ instanceId = $id; friendlyName = [string]$d.FriendlyName }
    }
  }
} catch { $errors += 'pnp: ' + $_.ToString() }

$services = @()
try {
  foreach ($s in @(Get-Service | Where-Object { $_.Name -match '^(xen|citrix)' -or $_.DisplayName -match 'Xen|Citrix|XCP' })) {
    $services += [ordered]@{ name = [string]$s.Name; displayName = [string]$s.DisplayName; status = [string]$s.Status; startType = [string]$s.StartType }
  }
} catch { $errors += 'services: ' + $_.ToString() }

$products = @()
try {
  $keys = @('HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\*', 'HKLM:\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\*')
  foreach ($k in $keys) {
    foreach ($p in @(Get-ItemProperty -Path $k -ErrorAction SilentlyContinue)) {
      if ($p.DisplayName -and ($p.DisplayName -match 'XCP-ng|XenServer|Citrix|Xen ' -or $p.Publisher -match 'XCP-ng|Vates|Citrix|XenServer')) {
        $products += [ordered]@{ name = [string]$p.DisplayName; version = [string]$p.DisplayVersion; publisher = [string]$p.Publisher; productCode = [string]$p.PSChildName }
      }
    }
  }
} catch { $errors += 'products: ' + $_.ToString() }

$adapters = @()
try {
  foreach ($a in @(Get-NetAdapter)) {
    $i = $a.ifIndex
    $ipif = Get-NetIPInterface -InterfaceIndex $i -AddressFamily IPv4 -ErrorAction SilentlyContinue
    $addrs = @()
    foreach ($x in @(Get-NetIPAddress -InterfaceIndex $i -AddressFamily IPv4 -ErrorAction SilentlyContinue)) {
      $addrs += [ordered]@{ ip = [string]$x.IPAddress; prefix = [int]$x.PrefixLength; origin = [string]$x.PrefixOrigin }
    }
    $gw = @(Get-NetRoute -InterfaceIndex $i -DestinationPrefix '0.0.0.0/0' -ErrorAction SilentlyContinue | ForEach-Object { [string]$_.NextHop })
    $dns = @((Get-DnsClientServerAddress -InterfaceIndex $i -AddressFamily IPv4 -ErrorAction SilentlyContinue).ServerAddresses | ForEach-Object { [string]$_ })
    $adapters += [ordered]@{
      name = [string]$a.Name; description = [string]$a.InterfaceDescription; mac = [string]$a.MacAddress; ifIndex = [int]$i
      status = [string]$a.Status; pnpDeviceId = [string]$a.PnPDeviceID; dhcp = [string]$ipif.Dhcp
      addresses = $addrs; gateways = $gw; dns = $dns
    }
  }
} catch { $errors += 'adapters: ' + $_.ToString() }

# .NET Framework 4.x: the Release DWORD (394802 = 4.6.2, what the XCP-ng tools MSI requires)
$dotnet = $null
try {
  $nd = Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\Microsoft\NET Framework Setup\NDP\v4\Full' -ErrorAction Stop
  if ($nd.Release) { $dotnet = [int]$nd.Release }
} catch { }

$pending = @()
try {
  if (Test-Path -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending') { $pending += 'component-based-servicing' }
  if (Test-Path -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired') { $pending += 'windows-update' }
  $sm = Get-ItemProperty -LiteralPath 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager' -ErrorAction SilentlyContinue
  if ($sm -and $sm.PendingFileRenameOperations) { $pending += 'pending-file-rename' }
} catch { $errors += 'pending-reboot: ' + $_.ToString() }

[ordered]@{ os = $os; pvDevices = $pv; services = $services; products = $products; adapters = $adapters
            ghostAdapters = $ghosts; pendingReboot = $pending; dotnetRelease = $dotnet; errors = $errors }
`;

export interface PvDevice { instanceId: string; friendlyName: string; class: string; present: boolean; status: string }
export interface WindowsService { name: string; displayName: string; status: string; startType: string }
export interface ToolsProduct { name: string; version: string; publisher: string; productCode: string }
export interface IpAddress { ip: string; prefix: number; origin: string }
export interface NetAdapterFacts {
  name: string;
  description: string;
  /** lower case, colon separated: 00:16:3e:aa:bb:cc */
  mac: string;
  ifIndex: number;
  status: string;
  pnpDeviceId: string;
  /** the PV network device (XENVIF\...) rather than an emulated NIC */
  xenvif: boolean;
  ipConfig: 'static' | 'dhcp' | 'unknown';
  addresses: IpAddress[];
  gateways: string[];
  dns: string[];
}
export interface GhostAdapter { instanceId: string; friendlyName: string }

export interface WindowsFacts {
  os: { caption: string; version: string; build: string; edition: string | null };
  /** ISO 8601, UTC; changes exactly when the guest has rebooted */
  lastBootUpTime: string | null;
  pv: {
    /** the Xen platform PCI device (vendor 5853) */
    platformDevice: boolean;
    /**
     * the vendor device PCI\VEN_5853&DEV_C000 (the VM's has_vendor_device, "Manage Citrix PV
     * drivers via Windows Update"): the XCP-ng tools MSI refuses to install while it is present
     */
    vendorDevice: boolean;
    xenbus: boolean;
    xenvif: boolean;
    /** the PV storage driver's devices */
    xenvbd: boolean;
    devices: PvDevice[];
  };
  services: WindowsService[];
  products: ToolsProduct[];
  adapters: NetAdapterFacts[];
  ghostAdapters: GhostAdapter[];
  pendingReboot: boolean;
  pendingRebootReasons: string[];
  /** .NET Framework 4.x `Release` value (394802 = 4.6.2); null when no 4.x is installed */
  dotnetRelease: number | null;
  /** sections the script could not read (the rest is still valid) */
  errors: string[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
/** ConvertTo-Json gives a single-element array as the element in Windows PowerShell 5.1 corners */
const list = (v: unknown): unknown[] => (v === null || v === undefined ? [] : Array.isArray(v) ? v : [v]);
const str = (v: unknown): string => (typeof v === 'string' ? v : v === null || v === undefined ? '' : String(v));

export function normalizeMac(mac: string): string {
  const hex = mac.replace(/[^0-9a-fA-F]/g, '').toLowerCase();
  if (hex.length !== 12) return mac.toLowerCase();
  return hex.match(/../g)!.join(':');
}

function ipConfigOf(dhcp: string, addresses: IpAddress[]): NetAdapterFacts['ipConfig'] {
  if (/^enabled$/i.test(dhcp)) return 'dhcp';
  if (/^disabled$/i.test(dhcp)) return 'static';
  if (addresses.some((a) => /^dhcp$/i.test(a.origin))) return 'dhcp';
  if (addresses.some((a) => /^manual$/i.test(a.origin))) return 'static';
  return 'unknown';
}

/** Pure: the script's JSON → facts. Malformed input is an error value, not an exception. */
export function parseWindowsFacts(raw: unknown): Result<WindowsFacts, string> {
  if (!isObj(raw)) return err('windows facts: expected a JSON object');
  const os = isObj(raw['os']) ? raw['os'] : undefined;
  const devices: PvDevice[] = list(raw['pvDevices']).filter(isObj).map((d) => ({
    instanceId: str(d['instanceId']), friendlyName: str(d['friendlyName']), class: str(d['class']),
    present: d['present'] === true, status: str(d['status']),
  }));
  const present = (prefix: string) => devices.some((d) => d.present && d.instanceId.toUpperCase().startsWith(prefix));
  const adapters: NetAdapterFacts[] = list(raw['adapters']).filter(isObj).map((a) => {
    const addresses = list(a['addresses']).filter(isObj).map((x) => ({
      ip: str(x['ip']), prefix: typeof x['prefix'] === 'number' ? x['prefix'] : Number(x['prefix']), origin: str(x['origin']),
    }));
    const pnp = str(a['pnpDeviceId']);
    return {
      name: str(a['name']), description: str(a['description']), mac: normalizeMac(str(a['mac'])),
      ifIndex: Number(a['ifIndex']), status: str(a['status']), pnpDeviceId: pnp,
      xenvif: pnp.toUpperCase().startsWith('XENVIF\\'),
      ipConfig: ipConfigOf(str(a['dhcp']), addresses),
      addresses,
      gateways: list(a['gateways']).map(str).filter(Boolean),
      dns: list(a['dns']).map(str).filter(Boolean),
    };
  });
  const reasons = list(raw['pendingReboot']).map(str).filter(Boolean);
  return ok({
    os: {
      caption: str(os?.['caption']), version: str(os?.['version']), build: str(os?.['build']),
      edition: os?.['edition'] ? str(os['edition']) : null,
    },
    lastBootUpTime: os?.['lastBootUpTime'] ? str(os['lastBootUpTime']) : null,
    pv: {
      platformDevice: present('PCI\\VEN_5853'), vendorDevice: present('PCI\\VEN_5853&DEV_C000'), xenbus: present('XENBUS\\'), xenvif: present('XENVIF\\'),
      xenvbd: present('XENVBD\\'), devices,
    },
    services: list(raw['services']).filter(isObj).map((s) => ({
      name: str(s['name']), displayName: str(s['displayName']), status: str(s['status']), startType: str(s['startType']),
    })),
    products: list(raw['products']).filter(isObj).map((p) => ({
      name: str(p['name']), version: str(p['version']), publisher: str(p['publisher']), productCode: str(p['productCode']),
    })),
    adapters,
    ghostAdapters: list(raw['ghostAdapters']).filter(isObj).map((g) => ({ instanceId: str(g['instanceId']), friendlyName: str(g['friendlyName']) })),
    pendingReboot: reasons.length > 0,
    pendingRebootReasons: reasons,
    dotnetRelease: typeof raw['dotnetRelease'] === 'number' ? raw['dotnetRelease'] : null,
    errors: list(raw['errors']).map(str),
  });
}

/**
 * Gather the facts over a PowerShell connector (read-only, so it also runs in check mode).
 * `log` gets the script at -vv, as the Windows steps log theirs.
 */
export async function gatherWindowsFacts(c: Connector, log?: (line: string, level: 2 | 3) => void): Promise<Result<WindowsFacts, FactFailure>> {
  log?.(`PS> ${WINDOWS_FACTS_SCRIPT}`, 2);
  const r = await execJson(c, WINDOWS_FACTS_SCRIPT, { mutates: false, timeoutMs: 120_000 });
  if (!r.ok) return err({ kind: 'guest', failure: r.error });
  // as the steps' tail() (src/steps/linux/common.ts): the last 400 characters
  const tailOf = (s: string): string => { const t = s.trim(); return t.length > 400 ? `…${t.slice(-400)}` : t; };
  if (r.value.exitCode !== 0) return err({ kind: 'step', message: `reading Windows facts failed (exit ${r.value.exitCode}): ${tailOf(r.value.stderr || r.value.stdout)}` });
  if (r.value.parseError) return err({ kind: 'step', message: `reading Windows facts: ${r.value.parseError}` });
  const f = parseWindowsFacts(r.value.value);
  return f.ok ? f : err({ kind: 'step', message: f.error });
}
