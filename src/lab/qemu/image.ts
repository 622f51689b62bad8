/**
 * The QEMU guest image: a small Debian 12 (bookworm) system built from Debian's packages at test
 * time (never downloaded whole), cached under the lab's cache directory keyed by the versions of
 * the packages it is made of, and rebuilt when they change.
 *
 *   <cache>/qemu-images/<key>/
 *       base.qcow2           the root file system (ext4 on /dev/vda, no partition table)
 *       vmlinuz, initrd.img  the guest's own kernel and initramfs, for QEMU's direct kernel boot
 *       manifest.json        key, package versions, build phase times
 *   <cache>/debs/            the downloaded .debs (a rebuild does not download them again)
 *
 * Recipe (docs/lab.md "QEMU guests"): mmdebstrap --variant=minbase with the kernel, systemd,
 * openssh-server, udev, kmod, iproute2, dbus (systemd-logind: the ACPI power button of a clean shutdown)
 * and sudo (pvrun's `become: true` runs sudo even as root; a guest without it fails every such step); kernel modules trimmed to what a QEMU guest uses
 * (virtio, the CD: sr_mod/cdrom/isofs, ext4, networking) and the initramfs regenerated from them;
 * the NIC configured by systemd-networkd matching `en*` (its real name is enp0s…, found at boot);
 * a serial console (ttyS0); no root password (SSH with a key only).
 * What differs per VM (the authorised key, the host keys) is not in the image: QEMU hands it to
 * the guest through fw_cfg (`opt/pvrun/…`) and pvrun-seed.service installs it at boot, the way a
 * cloud image takes its seed — so one cached image serves every lab.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, copyFileSync, symlinkSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { join, relative } from 'node:path';
import { describeFailure, run } from '../guest/exec.js';
import { err, ok, type Result } from '../../util/result.js';

/** Bumped whenever the recipe below changes: part of the cache key. */
export const IMAGE_RECIPE = 6;
export const IMAGE_SUITE = 'bookworm';
export const IMAGE_PACKAGES = ['linux-image-amd64', 'systemd-sysv', 'openssh-server', 'udev', 'kmod', 'iproute2', 'dbus', 'sudo'] as const;

/** Host programs a build needs (Debian packages: mmdebstrap, e2fsprogs, qemu-utils). */
export const IMAGE_TOOLS = ['mmdebstrap', 'mkfs.ext4', 'qemu-img', 'apt-cache'] as const;

/** What QEMU guests need on the controller, tool → the Debian 12 package that provides it (`pvrun demo --qemu` installs them). */
export const QEMU_TOOL_PACKAGES: Record<string, string> = {
  'qemu-system-x86_64': 'qemu-system-x86', 'qemu-img': 'qemu-utils', mmdebstrap: 'mmdebstrap', 'mkfs.ext4': 'e2fsprogs', 'apt-cache': 'apt', setpriv: 'util-linux',
};

/** The virtio-serial port the guest's xenstore bridge writes to (see vm.ts, docs/lab.md). */
export const XENSTORE_PORT_NAME = 'org.pvrun.xenstore';
/** Where the emulated agent (the ISO's xe-daemon) writes its facts in the guest. */
export const GUEST_XENSTORE_DIR = '/run/pvrun-lab/xenstore';

export interface GuestImage {
  key: string;
  dir: string;
  disk: string;
  kernel: string;
  initrd: string;
  versions: Record<string, string>;
  /** seconds per build phase; absent when the image came from the cache */
  built?: Record<string, number>;
}

/** `$PVRUN_LAB_CACHE`, else `$XDG_CACHE_HOME/pvrun/lab`, else `~/.cache/pvrun/lab`. */
export function labCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['PVRUN_LAB_CACHE']) return env['PVRUN_LAB_CACHE'];
  return join(env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'pvrun', 'lab');
}

/** Which of the image tools are not on PATH. */
export async function missingImageTools(): Promise<string[]> {
  const missing: string[] = [];
  for (const t of IMAGE_TOOLS) {
    const r = await run('sh', ['-c', `command -v ${t}`]);
    if (r.code !== 0) missing.push(t);
  }
  return missing;
}

/**
 * The candidate versions apt (the same sources mmdebstrap uses) would install for the image's
 * packages and the kernel package linux-image-amd64 depends on: the cache key's input.
 */
export async function resolveVersions(): Promise<Result<Record<string, string>, string>> {
  const versions: Record<string, string> = {};
  const dep = await run('apt-cache', ['depends', 'linux-image-amd64']);
  const kernelPkg = /Depends:\s*(linux-image-[0-9][^\s]*)/.exec(dep.stdout)?.[1];
  if (!kernelPkg) return err('apt knows no linux-image-amd64 (run `apt-get update` as root; the image is built from Debian 12 packages)');
  for (const p of [...IMAGE_PACKAGES, kernelPkg]) {
    const r = await run('apt-cache', ['policy', p]);
    const v = /Candidate:\s*(\S+)/.exec(r.stdout)?.[1];
    if (!v || v === '(none)') return err(`apt has no candidate for ${p} (run \`apt-get update\`)`);
    versions[p] = v;
  }
  return ok(versions);
}

export function imageKey(versions: Record<string, string>): string {
  const text = [`recipe=${IMAGE_RECIPE}`, `suite=${IMAGE_SUITE}`, ...Object.keys(versions).sort().map((k) => `${k}=${versions[k]}`)].join('\n');
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

function imageOf(dir: string, key: string, versions: Record<string, string>): GuestImage {
  return { key, dir, disk: join(dir, 'base.qcow2'), kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.img'), versions };
}

/** The cached image for the current package versions, if it was built. */
export async function cachedImage(cacheDir = labCacheDir()): Promise<Result<GuestImage | undefined, string>> {
  const v = await resolveVersions();
  if (!v.ok) return err(v.error);
  const key = imageKey(v.value);
  const dir = join(cacheDir, 'qemu-images', key);
  return ok(existsSync(join(dir, 'manifest.json')) ? imageOf(dir, key, v.value) : undefined);
}

export interface BuildOptions {
  cacheDir?: string;
  /** rebuild even when cached */
  force?: boolean;
  log?: (line: string) => void;
}

/**
 * The image for the current package versions: from the cache, or built (about 10 minutes on a
 * loaded 2-core machine; most of it is dpkg inside mmdebstrap). Concurrent builds of the same
 * key are serialised by a lock directory.
 */
export async function ensureImage(opts: BuildOptions = {}): Promise<Result<GuestImage, string>> {
  const cacheDir = opts.cacheDir ?? labCacheDir();
  const log = opts.log ?? (() => undefined);
  const missing = await missingImageTools();
  if (missing.length) return err(`cannot build the QEMU guest image: missing ${missing.join(', ')} (apt-get install mmdebstrap e2fsprogs qemu-utils)`);
  const v = await resolveVersions();
  if (!v.ok) return err(v.error);
  const key = imageKey(v.value);
  const images = join(cacheDir, 'qemu-images');
  const dir = join(images, key);
  mkdirSync(images, { recursive: true });
  if (!opts.force && existsSync(join(dir, 'manifest.json'))) return ok(imageOf(dir, key, v.value));
  const lock = join(images, `${key}.lock`);
  const locked = await takeLock(lock, log);
  if (!locked.ok) return err(locked.error);
  try {
    if (!opts.force && existsSync(join(dir, 'manifest.json'))) return ok(imageOf(dir, key, v.value));
    const built = await build(cacheDir, dir, key, v.value, log);
    return built.ok ? ok({ ...imageOf(dir, key, v.value), built: built.value }) : err(built.error);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

async function takeLock(lock: string, log: (l: string) => void): Promise<Result<void, string>> {
  for (let i = 0; ; i++) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      return ok(undefined);
    } catch {
      let pid = 0;
      try { pid = Number(readFileSync(join(lock, 'pid'), 'utf8')); } catch { /* being written */ }
      let alive = false;
      try { if (pid > 0) { process.kill(pid, 0); alive = true; } } catch { /* gone */ }
      if (pid > 0 && !alive) { rmSync(lock, { recursive: true, force: true }); continue; }
      if (i % 30 === 0) log(`waiting for another build of this image (pid ${pid || '?'})`);
      // an hour: a build under heavy load takes well under that
      if (i > 1800) return err(`another process (pid ${pid}) holds ${lock}`);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

async function step(name: string, times: Record<string, number>, log: (l: string) => void, f: () => Promise<Result<void, string>>): Promise<Result<void, string>> {
  const t0 = Date.now();
  log(`${name}…`);
  const r = await f();
  times[name] = Math.round((Date.now() - t0) / 100) / 10;
  if (r.ok) log(`${name}: ${times[name]}s`);
  return r;
}

const sh = async (what: string, cmd: string, args: string[]): Promise<Result<void, string>> => {
  const r = await run(cmd, args, { env: { ...process.env, LC_ALL: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive' } });
  return r.code === 0 ? ok(undefined) : err(describeFailure(what, r));
};

async function build(cacheDir: string, dir: string, key: string, versions: Record<string, string>, log: (l: string) => void): Promise<Result<Record<string, number>, string>> {
  const work = `${dir}.build-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const root = join(work, 'root');
  const debs = join(cacheDir, 'debs');
  mkdirSync(debs, { recursive: true });
  const times: Record<string, number> = {};
  try {
    // 1. the root file system from Debian's packages (the host's apt sources, as apt-get uses)
    let r = await step('mmdebstrap', times, log, () => sh('mmdebstrap', 'mmdebstrap', [
      '--variant=minbase', `--include=${IMAGE_PACKAGES.join(',')}`,
      // keep the downloaded .debs for the next build, reuse the kept ones (mmdebstrap(1), "EXAMPLES")
      '--skip=essential/unlink',
      '--setup-hook=mkdir -p "$1"/var/cache/apt/archives/',
      `--setup-hook=sync-in ${debs} /var/cache/apt/archives/`,
      `--customize-hook=sync-out /var/cache/apt/archives ${debs}`,
      IMAGE_SUITE, root,
    ]));
    if (!r.ok) return err(r.error);
    const f = await finishImage(root, work, times, log);
    if (!f.ok) return err(f.error);
    writeFileSync(join(work, 'manifest.json'), JSON.stringify({
      key, recipe: IMAGE_RECIPE, suite: IMAGE_SUITE, versions, kernel: f.value, built: new Date().toISOString(), seconds: times,
      diskBytes: statSync(join(work, 'base.qcow2')).size,
    }, null, 2) + '\n');
    rmSync(dir, { recursive: true, force: true });
    renameSync(work, dir);
    return ok(times);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * From an mmdebstrap tree to `<work>/{base.qcow2,vmlinuz,initrd.img}` (the tree is consumed).
 * Returns the kernel's file name.
 */
export async function finishImage(root: string, work: string, times: Record<string, number>, log: (l: string) => void): Promise<Result<string, string>> {
  {
    // 2. configure and trim
    let r = await step('configure', times, log, () => configure(root));
    if (!r.ok) return err(r.error);
    r = await step('trim-modules+initramfs', times, log, () => trimModules(root));
    if (!r.ok) return err(r.error);
    // 3. kernel and initrd for direct kernel boot
    const boot = join(root, 'boot');
    const kernel = readdirSync(boot).find((f) => f.startsWith('vmlinuz-'));
    const initrd = readdirSync(boot).find((f) => f.startsWith('initrd.img-'));
    if (!kernel || !initrd) return err(`the image has no kernel or initrd in /boot (${readdirSync(boot).join(', ')})`);
    copyFileSync(join(boot, kernel), join(work, 'vmlinuz'));
    copyFileSync(join(boot, initrd), join(work, 'initrd.img'));
    // 4. the disk: ext4 made from the tree, then qcow2 (snapshots, overlays)
    const used = await run('du', ['-sbx', root]);
    const bytes = Number(used.stdout.split(/\s/)[0]) || 600e6;
    const sizeMb = Math.ceil((bytes * 1.3) / 1048576) + 1024;
    r = await step('mkfs.ext4', times, log, () => sh('mkfs.ext4 -d', 'mkfs.ext4', [
      // inode tables and journal zeroed now: no ext4lazyinit writing to the disk after the first boot
      '-q', '-F', '-L', 'pvrun-root', '-E', 'lazy_itable_init=0,lazy_journal_init=0', '-d', root, join(work, 'disk.raw'), `${sizeMb}M`]));
    if (!r.ok) return err(r.error);
    r = await step('qemu-img convert', times, log, () => sh('qemu-img convert', 'qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', join(work, 'disk.raw'), join(work, 'base.qcow2')]));
    if (!r.ok) return err(r.error);
    rmSync(join(work, 'disk.raw'), { force: true });
    rmSync(root, { recursive: true, force: true });
    return ok(kernel);
  }
}

function put(root: string, path: string, content: string, mode = 0o644): void {
  const p = join(root, path);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, content);
  chmodSync(p, mode);
}

function enable(root: string, unit: string, target = 'multi-user.target'): void {
  const wants = join(root, 'etc/systemd/system', `${target}.wants`);
  mkdirSync(wants, { recursive: true });
  const src = ['lib/systemd/system', 'etc/systemd/system'].map((d) => join(root, d, unit)).find((p) => existsSync(p));
  rmSync(join(wants, unit), { force: true });
  symlinkSync(src ? `/${relative(root, src)}` : `/etc/systemd/system/${unit}`, join(wants, unit));
}

function mask(root: string, unit: string): void {
  const p = join(root, 'etc/systemd/system', unit);
  rmSync(p, { force: true });
  mkdirSync(join(p, '..'), { recursive: true });
  symlinkSync('/dev/null', p);
}

/** The guest's configuration (what the image's first boot finds). */
async function configure(root: string): Promise<Result<void, string>> {
  put(root, 'etc/hostname', 'pvrun-qemu\n');
  put(root, 'etc/hosts', '127.0.0.1 localhost\n127.0.1.1 pvrun-qemu\n::1 localhost ip6-localhost ip6-loopback\n');
  // the root file system is the whole virtio disk; noatime: reads (check mode) do not write.
  // /var/log in memory: an SSH login writes wtmp/lastlog, so without it a read-only (check mode)
  // run would change the disk through sshd's own accounting (docs/lab.md "QEMU guests")
  put(root, 'etc/fstab', 'LABEL=pvrun-root / ext4 noatime,errors=remount-ro 0 1\ntmpfs /tmp tmpfs nosuid,nodev 0 0\ntmpfs /var/log tmpfs nosuid,nodev,mode=0755 0 0\n');
  // the NIC by its real name: whatever udev calls it (enp0s3 on QEMU's i440fx), matched by pattern
  put(root, 'etc/systemd/network/10-pvrun.network', '[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n');
  enable(root, 'systemd-networkd.service');
  // the journal in memory: the disk changes only when something is changed on purpose
  put(root, 'etc/systemd/journald.conf.d/pvrun.conf', '[Journal]\nStorage=volatile\n');
  // timers that would write to the disk on their own
  for (const t of ['apt-daily.timer', 'apt-daily-upgrade.timer', 'dpkg-db-backup.timer', 'e2scrub_all.timer', 'fstrim.timer', 'systemd-tmpfiles-clean.timer']) mask(root, t);
  // sshd: keys only; the per-VM host keys and authorised key come from the seed (fw_cfg)
  put(root, 'etc/ssh/sshd_config.d/pvrun.conf', 'HostKey /etc/ssh/ssh_host_ed25519_key\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\nPrintLastLog no\n');
  for (const f of readdirSync(join(root, 'etc/ssh'))) if (f.startsWith('ssh_host_')) rmSync(join(root, 'etc/ssh', f));
  put(root, 'usr/local/sbin/pvrun-seed', SEED_SCRIPT, 0o755);
  put(root, 'etc/systemd/system/pvrun-seed.service', SEED_UNIT);
  enable(root, 'pvrun-seed.service');
  // the xenstore channel: the agent's facts to the host over a virtio-serial port
  put(root, 'usr/local/sbin/pvrun-xenstore-bridge', BRIDGE_SCRIPT, 0o755);
  put(root, 'etc/systemd/system/pvrun-xenstore-bridge.service', BRIDGE_UNIT);
  enable(root, 'pvrun-xenstore-bridge.service');
  put(root, 'etc/modules-load.d/pvrun.conf', 'qemu_fw_cfg\nvirtio_console\n');
  // what pvrun's mount step mounts: the kernel's CD device
  put(root, 'etc/udev/rules.d/60-pvrun-cdrom.rules', 'KERNEL=="sr0", SYMLINK+="cdrom"\n');
  rmSync(join(root, 'etc/machine-id'), { force: true });
  writeFileSync(join(root, 'etc/machine-id'), '');
  // no documentation, locales or apt lists in a lab disk
  for (const d of ['usr/share/doc', 'usr/share/man', 'usr/share/info', 'usr/share/locale', 'var/lib/apt/lists', 'var/cache/apt']) {
    rmSync(join(root, d), { recursive: true, force: true });
    mkdirSync(join(root, d), { recursive: true });
  }
  return ok(undefined);
}

/**
 * Only the modules a QEMU guest loads stay (virtio, the CD and iso9660, ext4, networking, the
 * crypto and library code they need); the initramfs is regenerated from what is left.
 */
async function trimModules(root: string): Promise<Result<void, string>> {
  const modRoot = join(root, 'lib/modules');
  const kvers = readdirSync(modRoot);
  const keep = [
    /^kernel\/drivers\/(virtio|block\/virtio_blk|net\/(virtio_net|net_failover|tun|dummy|veth)|char\/(virtio_console|hw_random\/(virtio-rng|rng-core))|cdrom|scsi\/(sr_mod|virtio_scsi|scsi_mod|sd_mod|scsi_common)|ata\/(ata_piix|libata|ata_generic)|firmware\/qemu_fw_cfg|input|acpi|ptp|pps)/,
    /^kernel\/fs\/(ext4|jbd2|mbcache|isofs|nls|fat|vfat|overlayfs|autofs)/,
    /^kernel\/net\/(?!wireless|mac80211|bluetooth|nfc|rfkill|6lowpan|ieee802154|mac802154|can|sunrpc|ceph|mac802154)/,
    /^kernel\/(crypto|lib|arch)\//,
  ];
  for (const kv of kvers) {
    const base = join(modRoot, kv, 'kernel');
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (!keep.some((k) => k.test(relative(join(modRoot, kv), p)))) rmSync(p);
      }
    };
    walk(base);
    rmSync(join(root, 'lib/firmware'), { recursive: true, force: true });
    const d = await sh(`depmod ${kv}`, 'chroot', [root, 'depmod', kv]);
    if (!d.ok) return d;
  }
  put(root, 'etc/initramfs-tools/conf.d/pvrun.conf', 'MODULES=list\nCOMPRESS=gzip\n');
  put(root, 'etc/initramfs-tools/modules', 'virtio_pci\nvirtio_blk\nvirtio_net\next4\n');
  return sh('update-initramfs', 'chroot', [root, 'update-initramfs', '-u', '-k', 'all']);
}

/**
 * pvrun-seed: what QEMU passes per VM through fw_cfg (opt/pvrun/authorized_keys, opt/pvrun/host_key)
 * becomes root's authorised key and the SSH host key, before sshd starts. Files are written only
 * when their content differs (a reboot of the same VM writes nothing).
 */
const SEED_SCRIPT = `#!/bin/sh
set -eu
FW=/sys/firmware/qemu_fw_cfg/by_name/opt/pvrun
modprobe qemu_fw_cfg 2>/dev/null || true
[ -d "$FW" ] || { echo "pvrun-seed: no fw_cfg seed"; exit 0; }
install_if_changed() { # SRC DST MODE
  if [ -f "$1/raw" ] && ! cmp -s "$1/raw" "$2"; then
    mkdir -p "$(dirname "$2")"; cat "$1/raw" > "$2.tmp"; chmod "$3" "$2.tmp"; mv "$2.tmp" "$2"
  fi
}
install_if_changed "$FW/authorized_keys" /root/.ssh/authorized_keys 600
install_if_changed "$FW/host_key" /etc/ssh/ssh_host_ed25519_key 600
install_if_changed "$FW/host_key.pub" /etc/ssh/ssh_host_ed25519_key.pub 644
chmod 700 /root/.ssh
`;
const SEED_UNIT = `[Unit]
Description=pvrun lab seed (authorised key, host key) from QEMU fw_cfg
DefaultDependencies=no
After=local-fs.target systemd-modules-load.service
Before=ssh.service sshd.service
Wants=systemd-modules-load.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/pvrun-seed
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
`;

/**
 * The xenstore bridge (docs/lab.md): on Xen, the agent's facts reach XAPI through xenstore, a
 * channel the hypervisor provides. QEMU has none, so this stands in for the xenstore ring: the
 * ISO's unchanged xe-daemon writes ${GUEST_XENSTORE_DIR}/heartbeat (as in container guests) and
 * this service sends every new version over the virtio-serial port ${XENSTORE_PORT_NAME}, ending
 * each record with a line "--". It also says the PV frontends are up: a "pv" record at start.
 */
const BRIDGE_SCRIPT = `#!/bin/sh
PORT=/dev/virtio-ports/${XENSTORE_PORT_NAME}
XS=${GUEST_XENSTORE_DIR}
mkdir -p "$XS"
while [ ! -e "$PORT" ]; do sleep 1; done
exec 3>"$PORT"
printf 'pv=1\\nboot_id=%s\\n--\\n' "$(cat /proc/sys/kernel/random/boot_id)" >&3
last=
while :; do
  if [ -f "$XS/heartbeat" ]; then
    cur=$(cat "$XS/heartbeat" 2>/dev/null)
    if [ -n "$cur" ] && [ "$cur" != "$last" ]; then
      printf '%s\\n--\\n' "$cur" >&3 || exit 1
      last=$cur
    fi
  fi
  sleep 1
done
`;
const BRIDGE_UNIT = `[Unit]
Description=pvrun lab xenstore bridge (agent facts to the host over virtio-serial)
After=systemd-modules-load.service

[Service]
ExecStart=/usr/local/sbin/pvrun-xenstore-bridge
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
`;
