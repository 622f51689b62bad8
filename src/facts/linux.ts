/**
 * Linux guest facts, pyinfra style: one shell script (one round trip) that prints `key=value`
 * lines, and a pure parser of its output (table-tested without a guest).
 */
import type { HostSpec } from '../model/inventory.js';
import type { Connector } from '../connectors/types.js';
import { err, ok, type Result } from '../util/result.js';
import { quoteShell } from '../util/shell-quote.js';
import type { FactFailure } from './failure.js';

export type OsFamily = 'redhat' | 'debian' | 'suse' | 'alpine' | 'unknown';
export type PackageManager = 'dnf' | 'yum' | 'apt' | 'zypper' | 'apk';

/** The service names the Xen guest agent ships under, in order of preference. */
export const TOOLS_SERVICES = ['xe-linux-distribution', 'xe-daemon', 'xen-guest-agent'] as const;
/** Package names that provide the agent (the -latest one is EPEL/XCP-ng's RPM). */
export const TOOLS_PACKAGES = ['xe-guest-utilities', 'xe-guest-utilities-latest', 'xen-guest-agent'] as const;

export const DEFAULT_BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id';

export interface GuestFacts {
  os: {
    family: OsFamily;
    /** os-release ID: rhel, centos, rocky, ubuntu, debian, sles, alpine, … */
    distribution: string;
    version: string;
    major: string;
    pretty_name: string;
  };
  package_manager: PackageManager | null;
  init: 'systemd' | 'sysv';
  boot_id: string;
  /** contents of /sys/hypervisor/type ('xen' on Xen guests), null when absent */
  hypervisor: string | null;
  tools: {
    installed: boolean;
    /** which package provides them, and its version */
    package: string | null;
    version: string | null;
    /** tool service names that exist on this guest, in preference order */
    services: string[];
    /** the first of them, or null */
    service: string | null;
    service_active: boolean;
    /** /usr/sbin/xe-daemon exists (the ISO's installer puts it there) */
    daemon: boolean;
  };
}

/**
 * Where the boot id is read. Production: the kernel's. The lab emulates reboots of container
 * guests by rewriting a file, so a host var `boot_id_path` can point elsewhere.
 */
export function bootIdPath(host?: HostSpec): string {
  const v = host?.vars['boot_id_path'];
  return typeof v === 'string' && v !== '' ? v : DEFAULT_BOOT_ID_PATH;
}

/** The command that prints the boot id (also used alone by the reboot step). */
export function bootIdCommand(host?: HostSpec): string {
  return `cat ${quoteShell(bootIdPath(host))}`;
}

/** The facts script. Every probe is guarded so a missing tool prints nothing rather than failing. */
export function factsScript(host?: HostSpec): string {
  const svcs = TOOLS_SERVICES.join(' ');
  const pkgs = TOOLS_PACKAGES.join(' ');
  return [
    'LC_ALL=C; export LC_ALL',
    `[ -r /etc/os-release ] && sed 's/^/osr./' /etc/os-release`,
    `for m in dnf yum apt-get zypper apk; do command -v $m >/dev/null 2>&1 && echo "pm=$m"; done`,
    `if [ -d /run/systemd/system ]; then echo init=systemd; else echo init=sysv; fi`,
    `echo "boot_id=$(${bootIdCommand(host)} 2>/dev/null)"`,
    `echo "hypervisor=$(cat /sys/hypervisor/type 2>/dev/null)"`,
    `if command -v rpm >/dev/null 2>&1; then for p in ${pkgs}; do rpm -q --qf 'pkg=%{NAME} %{VERSION}-%{RELEASE}\\n' $p 2>/dev/null | grep '^pkg='; done; fi`,
    `if command -v dpkg-query >/dev/null 2>&1; then for p in ${pkgs}; do dpkg-query -W -f='dpkg=\${Package} \${Version} \${db:Status-Abbrev}\\n' $p 2>/dev/null; done; fi`,
    `if command -v apk >/dev/null 2>&1; then for p in ${pkgs}; do apk info -e $p >/dev/null 2>&1 && echo "pkg=$p $(apk info -v $p 2>/dev/null | head -n1 | sed "s/^$p-//")"; done; fi`,
    `for s in ${svcs}; do for d in /etc/systemd/system /run/systemd/system /lib/systemd/system /usr/lib/systemd/system; do [ -e "$d/$s.service" ] && { echo "svc=$s"; break; }; done; [ -x "/etc/init.d/$s" ] && echo "svc=$s"; done`,
    `for s in ${svcs}; do if [ -d /run/systemd/system ]; then systemctl is-active --quiet "$s" 2>/dev/null && echo "active=$s"; elif [ -x "/etc/init.d/$s" ]; then "/etc/init.d/$s" status >/dev/null 2>&1 && echo "active=$s"; fi; done`,
    `[ -x /usr/sbin/xe-daemon ] && echo daemon=yes`,
    'true',
  ].join('\n');
}

function unquote(v: string): string {
  const t = v.trim();
  if (t.length >= 2 && (t[0] === '"' || t[0] === "'") && t[t.length - 1] === t[0]) {
    return t.slice(1, -1).replace(/\\(["$`\\])/g, '$1');
  }
  return t;
}

export function osFamily(id: string, idLike: string): OsFamily {
  const words = `${id} ${idLike}`.toLowerCase().split(/\s+/);
  const has = (...xs: string[]) => xs.some((x) => words.includes(x));
  if (has('rhel', 'fedora', 'centos', 'rocky', 'almalinux', 'ol', 'amzn')) return 'redhat';
  if (has('debian', 'ubuntu')) return 'debian';
  if (words.some((w) => w.startsWith('suse') || w.startsWith('opensuse') || w === 'sles' || w === 'sled')) return 'suse';
  if (has('alpine')) return 'alpine';
  return 'unknown';
}

/** Pure: facts script output → facts. */
export function parseGuestFacts(output: string): GuestFacts {
  const osr: Record<string, string> = {};
  const pms: string[] = [];
  const pkgs: { name: string; version: string }[] = [];
  const services: string[] = [];
  const active: string[] = [];
  let init: 'systemd' | 'sysv' = 'sysv';
  let bootId = '';
  let hypervisor: string | null = null;
  let daemon = false;
  /** a tools package dpkg holds half installed: unpacked, half-configured or half-installed */
  let halfInstalled = false;

  for (const line of output.split('\n')) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq);
    const val = line.slice(eq + 1);
    if (key.startsWith('osr.')) { osr[key.slice(4)] = unquote(val); continue; }
    switch (key) {
      case 'pm': pms.push(val.trim()); break;
      case 'init': init = val.trim() === 'systemd' ? 'systemd' : 'sysv'; break;
      case 'boot_id': bootId = val.trim(); break;
      case 'hypervisor': hypervisor = val.trim() || null; break;
      case 'pkg': {
        const [name, version] = val.trim().split(/\s+/);
        if (name && version) pkgs.push({ name, version });
        break;
      }
      case 'dpkg': {
        // "name version ii " — only fully installed (second letter i) counts
        const [name, version, status] = val.trim().split(/\s+/);
        if (name && version && status?.[1] === 'i') pkgs.push({ name, version });
        // an installer stopped half-way (its pvrun process killed: the closed channel's SIGPIPE
        // ends dpkg between "Unpacking" and "Setting up") leaves the package iU/iF/iH with its
        // files, the daemon binary among them, on disk: that is not installed (dpkg(1) "Package
        // states"); the install must run again, and `dpkg -i` over it completes it
        if (name && version && status && 'UFH'.includes(status[1] ?? '')) halfInstalled = true;
        break;
      }
      case 'svc': if (!services.includes(val.trim())) services.push(val.trim()); break;
      case 'active': active.push(val.trim()); break;
      case 'daemon': daemon = val.trim() === 'yes'; break;
    }
  }

  const id = osr['ID'] ?? '';
  const version = osr['VERSION_ID'] ?? '';
  const family = osFamily(id, osr['ID_LIKE'] ?? '');
  // dnf before yum (RHEL 8+ has both names); apt-get means apt
  const order: [string, PackageManager][] = [['dnf', 'dnf'], ['yum', 'yum'], ['apt-get', 'apt'], ['zypper', 'zypper'], ['apk', 'apk']];
  const pm = order.find(([bin]) => pms.includes(bin))?.[1] ?? null;
  const ordered = TOOLS_SERVICES.filter((s) => services.includes(s));
  const service = ordered[0] ?? null;
  const pkg = pkgs[0] ?? null;

  return {
    os: {
      family,
      distribution: id,
      version,
      major: version.split('.')[0] ?? '',
      pretty_name: osr['PRETTY_NAME'] ?? '',
    },
    package_manager: pm,
    init,
    boot_id: bootId,
    hypervisor,
    tools: {
      // the daemon binary alone counts (a tools install without a package record), but not next
      // to a half-installed package
      installed: pkg !== null || (daemon && !halfInstalled),
      package: pkg?.name ?? null,
      version: pkg?.version ?? null,
      services: ordered,
      service,
      service_active: service !== null && active.includes(service),
      daemon,
    },
  };
}

/** Gather the facts over the connector (read-only, so it also runs in check mode). */
export async function gatherGuestFacts(connector: Connector, host?: HostSpec): Promise<Result<GuestFacts, FactFailure>> {
  const r = await connector.exec(factsScript(host), { mutates: false, timeoutMs: 60_000 });
  if (!r.ok) return err({ kind: 'guest', failure: r.error });
  if (r.value.exitCode !== 0) {
    return err({ kind: 'step', message: `gathering facts failed (exit ${r.value.exitCode}): ${r.value.stderr.trim()}` });
  }
  return ok(parseGuestFacts(r.value.stdout));
}

/** Facts as the FactCache hands them out (a plain record) back to their type. */
export function asGuestFacts(v: Record<string, unknown>): GuestFacts {
  return v as unknown as GuestFacts;
}
