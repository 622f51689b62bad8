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
# -p PIDFILE: write the pid there (the deb's SysV script starts it so; XGU mk/xe-linux-distribution.init)
if [ "\${1:-}" = -p ] && [ -n "\${2:-}" ]; then echo $$ > "$2"; fi
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
 * The ISO's `Linux/versions.{rpm,deb,tgz}`: shell assignments that install.sh sources to find
 * the package file for the guest's architecture, `XE_GUEST_UTILITIES_PKG_FILE_<arch>='…'`
 * (FIDELITY.md "Linux guest tools": XGU mk/install.sh select_rpm_utilities / select_pkgs_debian,
 * PVT spec). The rpm key is `uname -m` (x86_64), the deb key dpkg's architecture (amd64).
 */
export function versionsFile(kind: 'rpm' | 'deb' | 'tgz', v: ToolsVersion, debArch: string): string {
  switch (kind) {
    case 'rpm': return `XE_GUEST_UTILITIES_PKG_FILE_x86_64='${rpmFileName(v)}'\n`;
    case 'deb': return `XE_GUEST_UTILITIES_PKG_FILE_${debArch}='${debFileName(v, debArch)}'\n`;
    case 'tgz': return `XE_GUEST_UTILITIES_PKG_FILE_x86_64='${tgzFileName(v)}'\n`;
  }
}

/** Where the SysV script of the deb keeps the daemon's pid (XGU mk/xe-linux-distribution.init). */
export const XE_DAEMON_PIDFILE = '/var/run/xe-daemon.pid';

/**
 * The deb's `/etc/init.d/xe-linux-distribution`: the deb ships a SysV init script, the rpm a
 * systemd unit (FIDELITY.md "Linux guest tools"; XGU mk/xe-linux-distribution.init). Follows the
 * real script (start: write the distribution cache, start xe-daemon with `-p PIDFILE`; stop: kill
 * the pid; status: print the cache) with one difference: the real one exits silently without
 * /proc/xen, which a lab guest (a container) does not have.
 * Under systemd, systemd-sysv-generator turns it into xe-linux-distribution.service; it has no
 * `# pidfile:` header, so the generated unit has RemainAfterExit=yes (the emulated systemctl
 * follows that, see emulated-systemd.ts).
 */
export function sysvInitScript(): string {
  return `#!/bin/sh
#
# xe-linux-distribution	Write Linux distribution information to XenStore.
#
# chkconfig: 2345 14 86
# description: Writes Linux distribution version information to XenStore.
#
### BEGIN INIT INFO
# Provides:          xe-linux-distribution
# Required-Start:    $remote_fs
# Required-Stop:     $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: Xen guest agent providing host integration services
# Description:       Writes Linux distribution version information to XenStore.
### END INIT INFO
# (pvrun lab build: no /proc/xen check, see docs/lab.md)

XE_LINUX_DISTRIBUTION=/usr/sbin/xe-linux-distribution
XE_LINUX_DISTRIBUTION_CACHE=/var/cache/xe-linux-distribution
XE_DAEMON=/usr/sbin/xe-daemon
XE_DAEMON_PIDFILE=${XE_DAEMON_PIDFILE}

[ -x "\${XE_LINUX_DISTRIBUTION}" ] || exit 0

start() {
  printf 'Detecting Linux distribution version: '
  if \${XE_LINUX_DISTRIBUTION} \${XE_LINUX_DISTRIBUTION_CACHE}; then echo OK; else echo Failed; fi
  echo "Starting xe daemon: OK"
  mkdir -p "$(dirname \${XE_DAEMON_PIDFILE})"
  setsid \${XE_DAEMON} -p \${XE_DAEMON_PIDFILE} </dev/null >/dev/null 2>&1 &
  exit 0
}

stop() {
  [ ! -f "\${XE_DAEMON_PIDFILE}" ] && return 0
  printf 'Stopping xe daemon: '
  if kill -TERM "$(cat \${XE_DAEMON_PIDFILE})" 2>/dev/null; then echo OK; else echo Failed; fi
  rm -f "\${XE_DAEMON_PIDFILE}"
  return 0
}

status() {
  cat \${XE_LINUX_DISTRIBUTION_CACHE}
}

case "$1" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  force-reload|restart) stop; start ;;
  *) echo "Usage: $0 start|restart|status"; exit 1 ;;
esac
exit $?
`;
}

/**
 * Linux/install.sh, following the real one (XGU mk/install.sh; FIDELITY.md "Linux guest tools"):
 * - flags `-d DISTRO -m MAJOR` (both or neither, else exit 1), `-k`, `-n`, `-h` (usage, exit 1)
 *   (XGU install.sh:17-46);
 * - auto-detection needs Linux/xe-linux-distribution and versions.deb + versions.rpm;
 * - the real distribution matrix (select_pkgs_rhel / select_pkgs_sles / select_pkgs_debian):
 *   RHEL family 4-9 (rocky and almalinux 8-9, fedora any), SLES 9-15, Debian ≥ 6, Ubuntu ≥ 10;
 *   anything else: "Unable to install guest packages", exit 1;
 * - the package file comes from versions.{rpm,deb} (`XE_GUEST_UTILITIES_PKG_FILE_<arch>`);
 * - there is NO "already installed" check: after the confirmation it runs under `set -e`
 *   (install.sh:669) `rpm -Uvh` (install.sh:483-487), which FAILS when the same version is
 *   installed ("package … is already installed", exit 1), or `dpkg -i`, which reinstalls.
 * Written for POSIX sh (the real one is bash): `.` instead of `source`, a plain `read`.
 * One lab addition: the install-fails fault knob (a file in the guest) fails the install half way.
 */
export function installSh(v: ToolsVersion, _debArch: string): string {
  return `#!/bin/sh
# Linux/install.sh — XCP-ng guest tools installer (pvrun lab build, version ${v.version}-${v.release};
# follows xcp-ng/xe-guest-utilities mk/install.sh, see docs/lab.md)
#
# This script installs or updates the XE support packages installed in a guest.

os_distro=""
os_majorver=""
install_kernel=1
interactive=1

if [ -z "\${DATADIR}" ] ; then
    DATADIR=$(dirname "$0")
fi

usage()
{
    echo "usage: install.sh [-d <DISTRO> -m <MAJOR>] [-k]"
    echo ""
    echo "    -d <DISTRO>       Specifies the distro name."
    echo "    -m <MAJOR>        Specifies the major version of the distro release."
    echo "    -k                Do not update the kernel."
    echo "    -n                Non interactive mode."
    echo ""
    echo "The -d and -m options must be used together. If neither is given then"
    echo "auto-detection will be attempted."
    exit 1
}
while getopts d:hkm:n OPT ; do
    case $OPT in
	d) os_distro="$OPTARG" ;;
	k) install_kernel=0 ;;
	m) os_majorver="$OPTARG" ;;
	n) interactive=0 ;;
	h|\\?) usage ;;
    esac
done

if [ -z "\${os_distro}" -a -n "\${os_majorver}" ] || \\
   [ -n "\${os_distro}" -a -z "\${os_majorver}" ] ; then
    echo "Distribution name (-d) and major version (-m) must be specified"
    echo "together on the command line."
    exit 1
fi

if [ -z "\${os_distro}" ] ; then
    if [ -z "\${XE_LINUX_DISTRIBUTION}" ] ; then
	XE_LINUX_DISTRIBUTION=\${DATADIR}/xe-linux-distribution
    fi

    if [ ! -f "\${XE_LINUX_DISTRIBUTION}" ] ; then
	echo "Fatal Error: xe-linux-distribution script not found in \${DATADIR}."
	exit 1
    fi

    if [ ! -f "\${DATADIR}/versions.deb" -o ! -f "\${DATADIR}/versions.rpm" ] ; then
	echo "Fatal Error: versions.deb or versions.rpm not found in \${DATADIR}."
	exit 1
    fi

    eval $(\${XE_LINUX_DISTRIBUTION})
    if [ $? -ne 0 -o -z "\${os_distro}" -o -z "\${os_majorver}" ] ; then
	echo "Fatal Error: Failed to determine Linux distribution and version."
	exit 1
    fi

    echo "Detected \\\`\${os_name}' (\${os_distro} version \${os_majorver})."
    echo
else
    echo "Distribution \\\`\${os_distro}' version \\\`\${os_majorver}' given on command line."
    echo
fi

ARCH=$(uname -m | sed -e 's/i.86/i386/g')
case "\${ARCH}" in
    i386|x86_64|amd64) ;;
    *)
	echo "Architecture \${ARCH} is not supported"
	exit 1
	;;
esac

failure()
{
	echo "Unable to install guest packages for distribution"
	if [ -n "\${os_name}" ] ; then
	    echo "\${os_name} (\${os_distro})."
	else
	    echo "\${os_distro}."
	fi
	echo
	if [ $# -gt 0 ] ; then
	    echo "$@"
	    echo
	fi
	echo "You should manually install a version of"
	echo "xe-guest-utilities which is suitable for your"
	echo "distribution."
	exit 1
}

select_rpm_utilities()
{
    if [ -f "\${DATADIR}/versions.rpm" ] ; then
        . "\${DATADIR}/versions.rpm"
        XGU=
        if command -v systemctl >/dev/null 2>&1; then
            LEGACY=
        else
            LEGACY="LEGACY_"
        fi
        for p in $(eval echo \\\${XE_GUEST_UTILITIES_PKG_FILE_\${LEGACY}\${ARCH}}) ; do
            XGU="$XGU \${DATADIR}/\${p}"
        done
    else
        echo "Warning: Guest utilities not found in \${DATADIR}."
    fi
}

select_pkgs_rhel()
{
    GUEST_PKG_TYPE=rpm

    case "\${os_distro}\${os_majorver}" in
	rhel4|centos4) ;;
	rhel5|centos5|oracle5|scientific5) ;;
	rhel6|centos6|oracle6|scientific6|neokylin5|neokylin6|asianux4|turbo12) ;;
	rhel7|centos7|oracle7|scientific7|neokylin7|cloudlinux7) ;;
	rhel8|oracle8|centos8|rocky8|cloudlinux8|almalinux8) ;;
	rhel9|oracle9|centos9|rocky9|cloudlinux9|almalinux9) ;;
	sangoma*) ;;
	rhel3|fedora*) ;;
	*)
	    failure "Unknown RedHat Linux variant \\\`\${os_distro} \${os_majorver}'."
	    ;;
    esac

    select_rpm_utilities
}

select_pkgs_sles()
{
    GUEST_PKG_TYPE=rpm

    case "\${os_distro}\${os_majorver}" in
	sles9|"suse linux9"|sles10|"suse linux10"|sles11|"suse linux11") ;;
	sles12|"suse linux12"|sles15|"suse linux15") ;;
	*)
	    failure "Unknown SuSE Linux variant \\\`\${os_distro} \${os_majorver}'."
	    ;;
    esac

    select_rpm_utilities
}

select_pkgs_debian()
{
    GUEST_PKG_TYPE=deb

    case \${os_distro}:\${os_majorver}:\${os_minorver} in
	debian:[0-5]:*)
	    failure "This version of Debian is no longer supported by these utilities."
	    ;;
	debian:[6-9]:*)      ;;
	debian:[1-9][0-9]:*) ;;
	debian:testing:*|debian:unstable:*) ;;
	linx:*:*) ;;
	yinhe:*:*) ;;
	Gooroom:*:*) ;;
	ubuntu:[1-9]:*)
	    failure "This version of Ubuntu is no longer supported by these utilities."
	    ;;
	ubuntu:[1-9][0-9]:*) ;;
        *)
	    failure "Unknown Debian variant \${os_distro}:\${os_majorver}:\${os_minorver}"
	    ;;
    esac

    case \${ARCH} in
	i386) DARCH=i386 ;;
	x86_64) DARCH=amd64 ;;
    esac

    if [ -f "\${DATADIR}/versions.deb" ] ; then
	. "\${DATADIR}/versions.deb"
	XGU=\${DATADIR}/$(eval echo \\\${XE_GUEST_UTILITIES_PKG_FILE_\${DARCH}})
    else
	echo "Warning: Guest utilities not found in \${DATADIR}."
    fi
}

install_rpms()
{
    if [ -n "\${XGU}" ] ; then
	rpm -Uvh \${XGU}
    fi
    echo ""
}

install_debs()
{
    dpkg -i \${XGU}

    echo ""
}

case "\${os_distro}" in
    rhel|centos|oracle|fedora|rocky)         select_pkgs_rhel ;;
    scientific|neokylin|asianux|turbo) select_pkgs_rhel ;;
    cloudlinux|sangoma|almalinux)      select_pkgs_rhel ;;
    sles|"suse linux")                 select_pkgs_sles ;;
    debian|ubuntu|linx|yinhe|Gooroom)  select_pkgs_debian ;;
    *)                  failure "Unknown Linux distribution \\\`\${os_distro}'." ;;
esac

if [ -n "\${XGU}" ] ; then
    for P in \${XGU} ; do
	if [ ! -f "\${P}" ] ; then
	    echo "Warning: xe-guest-utilities \${P} not found."
	    XGU=""
	fi
    done
fi
if [ -z "\${XGU}" ] ; then
    echo ""
    echo "Certain guest features will not be active until a version of "
    echo "xe-guest-utilities is installed."
    echo ""
fi

if [ -z "\${XGU}" ] ; then
    echo "No updates required to this Virtual Machine."
    exit 0
fi

echo "The following changes will be made to this Virtual Machine:"
echo "  * packages to be installed/upgraded:"
for P in \${XGU}; do
    echo "    - $(basename \${P})"
done
echo ""

# (as in the real one, end of input leaves the loop and goes on with the install)
if [ \${interactive} -gt 0 ] ; then
    while printf 'Continue? [y/n] ' && read -r ans ; do
	case "$ans" in
	    Y|y)
		break
		;;
	    N|n)
		echo "Aborting."
		exit 0
		;;
	    *)
		echo "Invalid response \\\`$ans'"
		;;
	esac
    done
    echo
fi

set -e # Any failures from here onwards should be fatal

if [ -e ${INSTALL_FAULT_FILE} ] ; then
    # pvrun lab fault knob (not in the real installer): fail half way, leaving a file behind
    mkdir -p "$(dirname ${INSTALL_FAULT_LEFTOVER})"
    echo "partial install of xe-guest-utilities" > ${INSTALL_FAULT_LEFTOVER}
    echo "Fatal Error: failed to install \${XGU} (lab fault: install fails)" >&2
    exit 1
fi

case \${GUEST_PKG_TYPE} in
    rpm) install_rpms ;;
    deb) install_debs ;;
esac

if [ -n "\${XGU}" ] ; then
    echo "You should now reboot this Virtual Machine."
fi

exit 0
`;
}
