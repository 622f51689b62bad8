/**
 * The two scripts that make a guest boot.
 *
 * hostBootScript runs as PID 1 of fresh mount/PID/UTS namespaces (under `unshare`), still seeing
 * the controller's filesystem: it builds the guest's root (overlay of `/` with the guest's own
 * upper dir), its /proc (with the lab's boot id bound over boot_id), a minimal /dev, /run, /tmp,
 * /sys with /sys/hypervisor, the control directory shared with the controller and the CD medium,
 * then chroots into the guest's init. Everything is mounted in the guest's private mount
 * namespace, so it all disappears with the guest's last process: nothing to unmount on the host.
 *
 * guestInitScript is the guest's PID 1 after the chroot: it starts enabled services (emulated
 * systemd), then sshd, and reports progress through marker files in the control directory.
 */
import { GUEST_CONTROL_DIR } from './emulated-systemd.js';
import { GUEST_CD_MEDIA } from './emulated-tools.js';
import { GUEST_REPO_DIR } from './emulated-tools.js';

export const GUEST_INIT_PATH = '/usr/local/lib/pvrun-lab/init';
export const GUEST_SSHD_CONFIG = '/etc/pvrun-lab/sshd_config';

/**
 * Shell that presents a CD medium at `$1` (guest root) from `$2` (ISO file or extracted
 * directory), `$3` = "iso9660" (loop-mount the image) or "bind" (read-only bind of the tree).
 * Used at boot and, through nsenter into the guest's mount namespace, on a live insert.
 */
export const CD_ATTACH_FN = `cd_attach() {
  mkdir -p "$1${GUEST_CD_MEDIA}" || return 1
  if [ "$3" = iso9660 ]; then
    mount -t iso9660 -o ro,loop "$2" "$1${GUEST_CD_MEDIA}" || return 1
  else
    mount --bind -o ro "$2" "$1${GUEST_CD_MEDIA}" || return 1
  fi
  rm -f "$1/dev/sr0" "$1/dev/cdrom"
  mknod -m 660 "$1/dev/sr0" b 11 0 && ln -s sr0 "$1/dev/cdrom"
}`;

/** Shell that withdraws the medium: lazily unmounts what the guest mounted from it, then the medium. */
export const CD_DETACH_FN = `cd_detach() {
  if [ -f "$1/run/pvrun-lab-cd/mounts" ]; then
    while IFS= read -r t; do [ -n "$t" ] && umount -l "$1$t" 2>/dev/null; done < "$1/run/pvrun-lab-cd/mounts"
    rm -f "$1/run/pvrun-lab-cd/mounts"
  fi
  if mountpoint -q "$1${GUEST_CD_MEDIA}"; then umount -l "$1${GUEST_CD_MEDIA}" || return 1; fi
  rm -f "$1/dev/sr0" "$1/dev/cdrom"
}`;

export function hostBootScript(): string {
  return `#!/bin/sh
# pvrun lab guest boot (host side, PID 1 of the guest's new namespaces; see docs/lab.md)
set -eu
R=$PVLAB_ROOT
${CD_ATTACH_FN}

hostname "$PVLAB_NAME"
mount --make-rprivate /
mount -t overlay overlay -o "lowerdir=/,upperdir=$PVLAB_UPPER,workdir=$PVLAB_WORK" "$R"

# /proc of the new PID namespace; /proc/sys read-only so the guest cannot retune the host's
# kernel; the lab's per-boot id over boot_id; sysrq-trigger masked.
mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
mount --bind -o ro "$R/proc/sys" "$R/proc/sys"
mount --bind -o ro "$PVLAB_BOOT_ID_FILE" "$R/proc/sys/kernel/random/boot_id"
if [ -e "$R/proc/sysrq-trigger" ]; then mount --bind /dev/null "$R/proc/sysrq-trigger"; fi

# a minimal /dev
mount -t tmpfs -o mode=755,nosuid tmpfs "$R/dev"
mknod -m 666 "$R/dev/null" c 1 3
mknod -m 666 "$R/dev/zero" c 1 5
mknod -m 666 "$R/dev/full" c 1 7
mknod -m 666 "$R/dev/random" c 1 8
mknod -m 666 "$R/dev/urandom" c 1 9
mknod -m 666 "$R/dev/tty" c 5 0
mkdir -m 755 "$R/dev/pts" && mkdir -m 1777 "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"
ln -s /proc/self/fd/1 "$R/dev/stdout"
ln -s /proc/self/fd/2 "$R/dev/stderr"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/dev/shm"

# /sys: the host's sysfs read-only, plus /sys/hypervisor as a Xen guest sees it
mount -t tmpfs -o mode=755,nosuid,nodev,noexec tmpfs "$R/sys"
for d in /sys/*; do
  n=\${d##*/}
  [ "$n" = hypervisor ] && continue
  [ -d "$d" ] || continue
  mkdir "$R/sys/$n" && mount --bind -o ro "$d" "$R/sys/$n"
done
mkdir -p "$R/sys/hypervisor"
echo xen > "$R/sys/hypervisor/type"
echo "$PVLAB_UUID" > "$R/sys/hypervisor/uuid"
mount -o remount,ro "$R/sys"

mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$R/run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/tmp"
mkdir -p "$R${GUEST_CONTROL_DIR}"
mount --bind "$PVLAB_CONTROL" "$R${GUEST_CONTROL_DIR}"
if [ -n "\${PVLAB_REPO:-}" ]; then
  mkdir -p "$R${GUEST_REPO_DIR}" && mount --bind -o ro "$PVLAB_REPO" "$R${GUEST_REPO_DIR}"
fi
if [ -n "\${PVLAB_CD_SRC:-}" ]; then
  cd_attach "$R" "$PVLAB_CD_SRC" "$PVLAB_CD_KIND"
fi

echo "\${PVLAB_BOOT_ID:-offline}" > "$PVLAB_CONTROL/mounted"

if [ "\${PVLAB_HANG:-0}" = 1 ]; then
  # lab fault "reboot never comes back": the boot stops here, before the guest's init
  exec sh -c 'while :; do sleep 3600; done'
fi
if [ -n "\${PVLAB_EXEC:-}" ]; then
  # one-shot command in the guest's filesystem while it is halted (e.g. preinstalled tools)
  exec chroot "$R" /usr/bin/env PVRUN_LAB_OFFLINE=1 /bin/sh -c "$PVLAB_EXEC"
fi
exec chroot "$R" ${GUEST_INIT_PATH}
`;
}

export function guestInitScript(): string {
  return `#!/bin/sh
# pvrun lab guest init: PID 1 inside the guest (no systemd; see docs/lab.md)
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
C=${GUEST_CONTROL_DIR}
BOOT_ID=$PVLAB_BOOT_ID
DELAY_MS=\${PVLAB_BOOT_DELAY_MS:-0}
SSH=\${PVLAB_SSH:-1}
PORT=$PVLAB_PORT
for v in $(env | sed -n 's/^\\(PVLAB_[A-Z_]*\\)=.*/\\1/p'); do unset "$v"; done
cd /
echo "$BOOT_ID" > "$C/kernel-up"
mkdir -p /run/sshd /run/lock /run/pvrun-lab-systemd /run/pvrun-lab-cd
# what sd_booted() and service tools check to know that systemd is the init (emulated here)
mkdir -p /run/systemd/system
chmod 755 /run/sshd

if [ "$DELAY_MS" -gt 0 ]; then
  sleep "$((DELAY_MS / 1000)).$(printf '%03d' $((DELAY_MS % 1000)))"
fi

for l in /etc/systemd/system/multi-user.target.wants/*.service; do
  [ -e "$l" ] && systemctl start "\${l##*/}" >/dev/null 2>&1
done
# SysV scripts enabled for runlevel 5 start too (systemd-sysv-generator; the emulated systemctl
# skips those with a native unit, as the generator does)
for l in /etc/rc5.d/S[0-9][0-9]*; do
  n=\${l##*/S[0-9][0-9]}
  [ -e "$l" ] && [ ! -e "/lib/systemd/system/$n.service" ] && [ ! -e "/etc/systemd/system/$n.service" ] && [ ! -e "/usr/lib/systemd/system/$n.service" ] && systemctl start "$n.service" >/dev/null 2>&1
done

if [ "$SSH" = 1 ]; then
  /usr/sbin/sshd -D -f ${GUEST_SSHD_CONFIG} -E "$C/sshd.log" &
  hex=$(printf '%04X' "$PORT")
  n=0
  while ! grep -q "0100007F:$hex 00000000:0000 0A" /proc/net/tcp 2>/dev/null; do
    n=$((n + 1))
    [ $n -gt 400 ] && { echo "sshd did not listen on $PORT" >> "$C/boot.log"; break; }
    sleep 0.05
  done
  [ $n -le 400 ] && echo "$BOOT_ID" > "$C/sshd-ready"
fi
echo "$BOOT_ID" > "$C/booted"

# PID 1 reaps orphans while it waits
while :; do
  sleep 3600 &
  wait $!
done
`;
}

export function sshdConfig(port: number): string {
  return [
    '# pvrun lab guest sshd (the guest\'s own host key, the lab\'s client key)',
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    'HostKey /etc/ssh/ssh_host_ed25519_key',
    'PidFile /run/sshd.pid',
    'AuthorizedKeysFile /etc/pvrun-lab/authorized_keys',
    // no PAM inside the container; StrictModes would refuse the lab's paths
    'UsePAM no',
    'StrictModes no',
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'MaxSessions 10',
    'MaxStartups 100:30:200',
    'PrintMotd no',
    'PrintLastLog no',
    'UseDNS no',
    'AcceptEnv LANG LC_*',
    'Subsystem sftp internal-sftp',
    'LogLevel INFO',
    '',
  ].join('\n');
}
