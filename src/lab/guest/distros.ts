/**
 * The identities a lab guest can take: what its /etc/os-release (and the older release files
 * some scripts still read) says, and which package family it behaves as. The guest's userland
 * is the controller's (an overlay of `/`), so only identity and package-manager behaviour
 * differ between guests; docs/lab.md says so.
 */

/** 'none': neither dpkg nor rpm (e.g. Alpine) — the tools installer rejects it */
export type PackageFamily = 'deb' | 'rpm' | 'none';

export interface DistroIdentity {
  /** os-release ID */
  id: string;
  /** os-release VERSION_ID, e.g. "22.04", "9.4" */
  versionId: string;
  prettyName: string;
  family: PackageFamily;
  /** extra files (path → content) that the real distribution ships, e.g. /etc/redhat-release */
  releaseFiles: Record<string, string>;
  osRelease: string;
}

interface DistroTemplate {
  name: string;
  family: PackageFamily;
  idLike?: string;
  /** default minor version per major, used when the definition gives only "9" */
  defaultMinor: Record<string, string>;
  pretty(v: string): string;
  codename?(major: string): string | undefined;
  releaseFiles?(v: string, pretty: string): Record<string, string>;
}

const rhelRelease = (label: string) => (v: string, _pretty: string): Record<string, string> => {
  const line = `${label} release ${v}\n`;
  return { '/etc/redhat-release': line, '/etc/system-release': line };
};

const TEMPLATES: Record<string, DistroTemplate> = {
  rhel: {
    name: 'Red Hat Enterprise Linux', family: 'rpm', idLike: 'fedora',
    defaultMinor: { '8': '8.10', '9': '9.4' },
    pretty: (v) => `Red Hat Enterprise Linux ${v} (${v.startsWith('8') ? 'Ootpa' : 'Plow'})`,
    releaseFiles: (v) => rhelRelease('Red Hat Enterprise Linux')(v, ''),
  },
  almalinux: {
    name: 'AlmaLinux', family: 'rpm', idLike: 'rhel centos fedora',
    defaultMinor: { '8': '8.10', '9': '9.4' },
    pretty: (v) => `AlmaLinux ${v}`,
    releaseFiles: (v) => rhelRelease('AlmaLinux')(v, ''),
  },
  rocky: {
    name: 'Rocky Linux', family: 'rpm', idLike: 'rhel centos fedora',
    defaultMinor: { '8': '8.10', '9': '9.4' },
    pretty: (v) => `Rocky Linux ${v}`,
    releaseFiles: (v) => rhelRelease('Rocky Linux')(v, ''),
  },
  centos: {
    name: 'CentOS Stream', family: 'rpm', idLike: 'rhel fedora',
    defaultMinor: { '8': '8', '9': '9' },
    pretty: (v) => `CentOS Stream ${v}`,
    releaseFiles: (v) => rhelRelease('CentOS Stream')(v, ''),
  },
  ol: {
    name: 'Oracle Linux Server', family: 'rpm', idLike: 'fedora',
    defaultMinor: { '8': '8.10', '9': '9.4' },
    pretty: (v) => `Oracle Linux Server ${v}`,
    releaseFiles: (v) => ({ ...rhelRelease('Oracle Linux Server')(v, ''), '/etc/oracle-release': `Oracle Linux Server release ${v}\n` }),
  },
  fedora: {
    name: 'Fedora Linux', family: 'rpm',
    defaultMinor: {},
    pretty: (v) => `Fedora Linux ${v}`,
    releaseFiles: (v) => ({ '/etc/fedora-release': `Fedora release ${v}\n`, '/etc/system-release': `Fedora release ${v}\n`, '/etc/redhat-release': `Fedora release ${v}\n` }),
  },
  ubuntu: {
    name: 'Ubuntu', family: 'deb', idLike: 'debian',
    defaultMinor: { '20': '20.04', '22': '22.04', '24': '24.04' },
    pretty: (v) => `Ubuntu ${v} LTS`,
    codename: (m) => ({ '20': 'focal', '22': 'jammy', '24': 'noble' })[m],
  },
  debian: {
    name: 'Debian GNU/Linux', family: 'deb',
    defaultMinor: { '11': '11', '12': '12', '13': '13' },
    pretty: (v) => `Debian GNU/Linux ${v} (${({ '11': 'bullseye', '12': 'bookworm', '13': 'trixie' })[v.split('.')[0] ?? ''] ?? 'unknown'})`,
    codename: (m) => ({ '11': 'bullseye', '12': 'bookworm', '13': 'trixie' })[m],
  },
  // Not supported by the tools installer: lets a lab show install.sh's "unsupported" exit 1.
  alpine: {
    name: 'Alpine Linux', family: 'none',
    defaultMinor: { '3': '3.20.3' },
    pretty: (v) => `Alpine Linux v${v.split('.').slice(0, 2).join('.')}`,
  },
};

/** Accepted spellings in lab definitions → os-release ID. */
const ALIASES: Record<string, string> = {
  rhel: 'rhel', redhat: 'rhel', alma: 'almalinux', almalinux: 'almalinux', rocky: 'rocky',
  centos: 'centos', oracle: 'ol', ol: 'ol', oraclelinux: 'ol', fedora: 'fedora',
  ubuntu: 'ubuntu', debian: 'debian', alpine: 'alpine',
};

export const KNOWN_DISTROS: readonly string[] = Object.keys(ALIASES);

export function resolveDistro(distro: string, version: string): DistroIdentity | undefined {
  const id = ALIASES[distro.toLowerCase()];
  const t = id ? TEMPLATES[id] : undefined;
  if (!id || !t || !/^[0-9][0-9.]*$/.test(version)) return undefined;
  const major = version.split('.')[0] ?? version;
  const versionId = version.includes('.') ? version : (t.defaultMinor[major] ?? version);
  const pretty = t.pretty(versionId);
  const codename = t.codename?.(major);
  const lines = [
    `PRETTY_NAME="${pretty}"`,
    `NAME="${t.name}"`,
    `VERSION_ID="${versionId}"`,
    `VERSION="${versionId}${codename ? ` (${codename})` : ''}"`,
    ...(codename ? [`VERSION_CODENAME=${codename}`] : []),
    `ID=${id}`,
    ...(t.idLike ? [`ID_LIKE="${t.idLike}"`] : []),
    ...(t.family === 'rpm' ? [`PLATFORM_ID="platform:el${major}"`] : []),
    'HOME_URL="https://example.invalid/pvrun-lab"',
  ];
  const releaseFiles: Record<string, string> = { ...(t.releaseFiles?.(versionId, pretty) ?? {}) };
  if (id === 'ubuntu') {
    releaseFiles['/etc/lsb-release'] =
      `DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=${versionId}\nDISTRIB_CODENAME=${codename ?? ''}\nDISTRIB_DESCRIPTION="${pretty}"\n`;
    releaseFiles['/etc/debian_version'] = `${codename ?? 'sid'}/sid\n`;
  }
  if (id === 'debian') releaseFiles['/etc/debian_version'] = `${versionId}\n`;
  if (id === 'alpine') releaseFiles['/etc/alpine-release'] = `${versionId}\n`;
  return { id, versionId, prettyName: pretty, family: t.family, releaseFiles, osRelease: lines.join('\n') + '\n' };
}
