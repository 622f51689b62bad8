/**
 * The shell programs the lab's guest-tools.iso carries, generated per agent version. They follow
 * the real XCP-ng / XenServer Linux tools: `Linux/install.sh` with its command-line contract,
 * `xe-linux-distribution` writing the os_* facts the agent reports, `/usr/sbin/xe-daemon` and the
 * `xe-linux-distribution` service. The daemon is emulated: it cannot write to xenstore, so it
 * writes its status to the lab's emulated xenstore channel (see docs/lab.md).
 */

export const PACKAGE_NAME = 'xe-guest-utilities';
export const SERVICE_NAME = 'xe-linux-distribution';

/** Where the emulated agent writes inside the guest: a directory the lab binds from the host. */
export const GUEST_XENSTORE_DIR = '/run/pvrun-lab/xenstore';
/** A file whose presence makes install.sh fail after writing a partial file (lab fault knob). */
export const INSTALL_FAULT_FILE = '/etc/pvrun-lab/faults/install-fails';
/** What a failing install leaves behind, so a test can prove the revert removed it. */
export const INSTALL_FAULT_LEFTOVER = '/var/lib/xe-guest-utilities/partial-install';

export interface ToolsVersion {
  /** e.g. "8.4.0" */
  version: string;
  /** e.g. "1" */
  release: string;
}

export const DEFAULT_TOOLS_VERSION: ToolsVersion = { version: '8.4.0', release: '1' };

export const debFileName = (v: ToolsVersion, arch: string): string =>
  `${PACKAGE_NAME}_${v.version}-${v.release}_${arch}.deb`;
export const rpmFileName = (v: ToolsVersion): string =>
  `${PACKAGE_NAME}-${v.version}-${v.release}.x86_64.rpm`;
export const tgzFileName = (v: ToolsVersion): string =>
  `${PACKAGE_NAME}_${v.version}-${v.release}_x86_64.tgz`;

/** `xe-linux-distribution [FILE]`: os facts as shell assignments, to stdout or into FILE. */
export function xeLinuxDistribution(): string {
  return `#!/bin/sh
# xe-linux-distribution (pvrun lab build): print the os_* facts the guest agent reports.
# Usage: xe-linux-distribution [FILE]   (FILE is only rewritten when its content changes)
[ -r /etc/os-release ] || { echo "xe-linux-distribution: /etc/os-release not found" >&2; exit 1; }
ID= ; VERSION_ID= ; PRETTY_NAME=
. /etc/os-release
case "$ID" in
  ol) distro=oracle ;;
  rhel|centos|almalinux|rocky|fedora|debian|ubuntu|sles|opensuse-leap) distro=$ID ;;
  *) distro=$ID ;;
esac
major=\${VERSION_ID%%.*}
minor=0
case "$VERSION_ID" in *.*) minor=\${VERSION_ID#*.}; minor=\${minor%%.*} ;; esac
if [ "$ID" = debian ] && [ -r /etc/debian_version ]; then
  dv=$(cat /etc/debian_version)
  case "$dv" in *.*) minor=\${dv#*.} ;; esac
fi
out="os_distro=\\"$distro\\"
os_majorver=\\"$major\\"
os_minorver=\\"$minor\\"
os_uname=\\"$(uname -r)\\"
os_name=\\"$PRETTY_NAME\\""
if [ -n "\${1:-}" ]; then
  if [ -f "$1" ] && [ "$(cat "$1")" = "$out" ]; then exit 0; fi
  mkdir -p "$(dirname "$1")"
  printf '%s\\n' "$out" > "$1.tmp.$$" && mv "$1.tmp.$$" "$1"
else
  printf '%s\\n' "$out"
fi
`;
}

/** The emulated agent: a loop that publishes version, os facts and IPs with a timestamp. */
export function xeDaemon(v: ToolsVersion): string {
  return `#!/bin/sh
# xe-daemon (pvrun lab emulation). The real agent writes PV_drivers_version, os facts and IPs to
# xenstore; there is no xenstore here, so it writes the same facts to the lab's channel
# ${GUEST_XENSTORE_DIR}, which the lab controller reads from the host and turns into guest metrics.
VERSION="${v.version}-${v.release}"
XS=${GUEST_XENSTORE_DIR}
INTERVAL=\${XE_DAEMON_INTERVAL:-2}
while :; do
  if [ -d "$XS" ]; then
    os_distro= ; os_majorver= ; os_minorver= ; os_uname= ; os_name=
    [ -r /var/cache/xe-linux-distribution ] && . /var/cache/xe-linux-distribution
    ips=$(hostname -I 2>/dev/null)
    {
      echo "version=$VERSION"
      echo "time=$(date +%s)"
      echo "boot_id=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)"
      echo "pid=$$"
      echo "os_distro=$os_distro"
      echo "os_majorver=$os_majorver"
      echo "os_minorver=$os_minorver"
      echo "os_uname=$os_uname"
      echo "os_name=$os_name"
      n=0
      for ip in $ips; do echo "ip$n=$ip"; n=$((n + 1)); done
      echo "feature_static_ip_setting=1"
    } > "$XS/.heartbeat.$$" && mv "$XS/.heartbeat.$$" "$XS/heartbeat"
  fi
  sleep "$INTERVAL"
done
`;
}

export function serviceUnit(): string {
  return `[Unit]
Description=Linux Guest Agent
ConditionVirtualization=xen

[Service]
ExecStartPre=/usr/sbin/xe-linux-distribution /var/cache/xe-linux-distribution
ExecStart=/usr/sbin/xe-daemon

[Install]
WantedBy=multi-user.target
`;
}

/** Post-install: enable and start the service, as the distribution packages do. */
export function postInstall(): string {
  return `#!/bin/sh
if [ "\${1:-configure}" = configure ] || [ "\${1:-}" = 1 ] || [ "\${1:-}" = 2 ]; then
  systemctl enable ${SERVICE_NAME}.service >/dev/null 2>&1 || true
  systemctl restart ${SERVICE_NAME}.service || true
fi
exit 0
`;
}

/** Pre-removal: stop and disable the service. */
export function preRemove(): string {
  return `#!/bin/sh
case "\${1:-remove}" in
  remove|0|purge)
    systemctl stop ${SERVICE_NAME}.service >/dev/null 2>&1 || true
    systemctl disable ${SERVICE_NAME}.service >/dev/null 2>&1 || true ;;
esac
exit 0
`;
}

/**
 * Linux/install.sh with the real contract: -n non-interactive; -d DISTRO -m MAJOR together
 * override detection; exit 1 on an unsupported distribution; an installed package of the same
 * or a newer version is reported as already installed (exit 0) and not reinstalled.
 */
export function installSh(v: ToolsVersion, debArch: string): string {
  const full = `${v.version}-${v.release}`;
  return `#!/bin/sh
# Linux/install.sh — XCP-ng guest tools installer (pvrun lab build, version ${full})
PACKAGE=${PACKAGE_NAME}
VERSION=${full}
HERE=$(cd "$(dirname "$0")" && pwd)

usage() {
  echo "Usage: $0 [-d <DISTRO> -m <MAJOR>] [-n]" >&2
  echo "  -d DISTRO  override the detected distribution (requires -m)" >&2
  echo "  -m MAJOR   override the detected major version (requires -d)" >&2
  echo "  -n         non-interactive: do not ask for confirmation" >&2
  exit 1
}

interactive=1
distro=""
major=""
while getopts "d:m:nh" opt; do
  case "$opt" in
    d) distro=$OPTARG ;;
    m) major=$OPTARG ;;
    n) interactive=0 ;;
    *) usage ;;
  esac
done
if { [ -n "$distro" ] && [ -z "$major" ]; } || { [ -z "$distro" ] && [ -n "$major" ]; }; then
  echo "Fatal Error: -d and -m must be used together" >&2
  usage
fi

if [ "$(id -u)" != 0 ]; then
  echo "Fatal Error: You must be root to run this script" >&2
  exit 1
fi

if [ -z "$distro" ]; then
  facts=$("$HERE/xe-linux-distribution" 2>/dev/null)
  os_distro= ; os_majorver=
  eval "$facts"
  distro=$os_distro
  major=$os_majorver
fi
if [ -z "$distro" ] || [ -z "$major" ]; then
  echo "Fatal Error: Failed to determine Linux distribution and version." >&2
  exit 1
fi

case "$distro" in
  rhel|centos|almalinux|rocky|oracle|scientific)
    case "$major" in 7|8|9|10) kind=rpm ;; *) kind=unsupported ;; esac ;;
  fedora)
    kind=rpm ;;
  debian)
    case "$major" in 10|11|12|13) kind=deb ;; *) kind=unsupported ;; esac ;;
  ubuntu)
    case "$major" in 18|20|22|24) kind=deb ;; *) kind=unsupported ;; esac ;;
  *)
    kind=unsupported ;;
esac
if [ "$kind" = unsupported ]; then
  echo "Fatal Error: Linux distribution '$distro' version '$major' is not supported." >&2
  exit 1
fi

installed=""
if [ "$kind" = rpm ]; then
  for p in $PACKAGE $PACKAGE-latest; do
    q=$(rpm -q --qf '%{VERSION}-%{RELEASE}' "$p" 2>/dev/null) && installed="$q" && break
  done
else
  for p in $PACKAGE $PACKAGE-latest; do
    if dpkg-query -W -f='\${Status}' "$p" 2>/dev/null | grep -q ' installed$'; then
      installed=$(dpkg-query -W -f='\${Version}' "$p"); break
    fi
  done
fi
if [ -n "$installed" ]; then
  newest=$(printf '%s\\n%s\\n' "$installed" "$VERSION" | sort -V | tail -n 1)
  if [ "$newest" = "$installed" ]; then
    echo "$PACKAGE $installed is already installed (this ISO has $VERSION): nothing to do."
    exit 0
  fi
fi

echo "Detected '$distro' version '$major'."
if [ "$kind" = rpm ]; then
  pkg="$HERE/${rpmFileName(v)}"
else
  pkg="$HERE/${debFileName(v, debArch)}"
fi
echo "The following package will be installed: $(basename "$pkg")"
if [ "$interactive" = 1 ]; then
  printf 'Continue? [y/n] '
  read -r answer || answer=n
  case "$answer" in y|Y|yes) ;; *) echo "Installation aborted."; exit 1 ;; esac
fi

if [ -e ${INSTALL_FAULT_FILE} ]; then
  # lab fault knob: fail half way, leaving a file behind (as an interrupted install would)
  mkdir -p "$(dirname ${INSTALL_FAULT_LEFTOVER})"
  echo "partial install of $PACKAGE $VERSION" > ${INSTALL_FAULT_LEFTOVER}
  echo "Fatal Error: failed to install $(basename "$pkg") (lab fault: install fails)" >&2
  exit 1
fi

if [ "$kind" = rpm ]; then
  rpm -Uvh "$pkg" || { echo "Fatal Error: rpm failed to install $pkg" >&2; exit 1; }
else
  dpkg -i "$pkg" || { echo "Fatal Error: dpkg failed to install $pkg" >&2; exit 1; }
fi

echo
echo "You should now reboot this Virtual Machine to ensure that the guest tools are used."
exit 0
`;
}
