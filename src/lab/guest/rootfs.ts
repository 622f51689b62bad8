/**
 * A guest's "disk": the overlay upper directory that holds everything the guest differs from the
 * controller's root by. At creation the lab writes the guest's identity (os-release and release
 * files), its emulated commands, its sshd configuration and host key, and hides the controller's
 * package tools that the distribution would not have (overlay whiteouts).
 */
import {
  chmodSync, chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';
import type { DistroIdentity } from './distros.js';
import { guestInitScript, GUEST_INIT_PATH, GUEST_SSHD_CONFIG, sshdConfig } from './boot-scripts.js';
import { powerScript, serviceScript, systemctlScript, GUEST_LAB_LIB } from './emulated-systemd.js';
import { dnfScript, mountWrapper, rpmScript } from './emulated-tools.js';
import { GUEST_APT_SOURCE } from '../iso/repo.js';
import { INSTALL_FAULT_FILE } from '../iso/tools-scripts.js';

export interface RootfsInput {
  upper: string;
  name: string;
  identity: DistroIdentity;
  port: number;
  hostKeyPath: string;
  authorizedKey: string;
  installFails: boolean;
}

/** Create the directories leading to `rel` in the upper dir with the lower dir's owner and mode. */
function ensureUpperDir(upper: string, rel: string): void {
  const parts = rel.split('/').filter(Boolean);
  let cur = '';
  for (const p of parts) {
    cur += `/${p}`;
    const target = join(upper, cur);
    if (existsSync(target)) continue;
    let mode = 0o755, uid = 0, gid = 0;
    let st;
    try { st = lstatSync(cur); } catch { /* not in the lower dir: defaults */ }
    // a real directory in the upper dir over a lower symlink (/sbin → usr/sbin) would hide
    // everything behind the link: callers must use resolved paths
    if (st?.isSymbolicLink()) throw new Error(`lab bug: guest path ${cur} is a symlink on the controller`);
    if (st?.isDirectory()) { mode = st.mode & 0o7777; uid = st.uid; gid = st.gid; }
    mkdirSync(target, { mode });
    chmodSync(target, mode);
    chownSync(target, uid, gid);
  }
}

/** Write a file into the guest's disk (absolute guest path). */
export function writeGuestFile(upper: string, path: string, content: string | Buffer, mode = 0o644): void {
  ensureUpperDir(upper, dirname(path));
  const target = join(upper, path);
  rmSync(target, { force: true });
  writeFileSync(target, content);
  chmodSync(target, mode);
}

/** Hide a controller file from the guest: an overlay whiteout (a 0/0 character device). */
function whiteout(upper: string, path: string): void {
  let lowerExists = false;
  try { lstatSync(path); lowerExists = true; } catch { /* absent */ }
  if (!lowerExists) return;
  ensureUpperDir(upper, dirname(path));
  const target = join(upper, path);
  rmSync(target, { force: true });
  execFileSync('mknod', [target, 'c', '0', '0']);
}

const DEB_TOOLS = [
  '/usr/bin/dpkg', '/usr/bin/dpkg-deb', '/usr/bin/dpkg-query', '/usr/bin/dpkg-divert', '/usr/bin/dpkg-split',
  '/usr/bin/dpkg-trigger', '/usr/bin/dpkg-statoverride', '/usr/bin/dpkg-maintscript-helper',
  '/usr/bin/apt', '/usr/bin/apt-get', '/usr/bin/apt-cache', '/usr/bin/apt-mark', '/usr/bin/apt-config',
];

/**
 * The controller's own rpm tools (Debian's `rpm` package: CI installs it to test version ordering
 * against rpm's). No guest may see them: a Debian guest has no rpm, and an rpm guest has the
 * lab's emulated rpm (written below) over a database the host's rpm cannot read.
 */
const HOST_RPM_TOOLS = [
  '/usr/bin/rpm', '/usr/bin/rpmbuild', '/usr/bin/rpmdb', '/usr/bin/rpmgraph', '/usr/bin/rpmkeys', '/usr/bin/rpmlua',
  '/usr/bin/rpmsign', '/usr/bin/rpmspec', '/usr/bin/rpmquery', '/usr/bin/rpmverify', '/usr/bin/rpm2archive',
  '/usr/bin/rpm2cpio', '/usr/bin/gendiff',
];

/** Lay out a new guest's upper dir. The caller has created `upper` (empty). */
export function prepareRootfs(input: RootfsInput): void {
  const { upper, identity } = input;
  // identity
  writeGuestFile(upper, '/etc/os-release', input.identity.osRelease);
  writeGuestFile(upper, '/usr/lib/os-release', input.identity.osRelease);
  writeGuestFile(upper, '/etc/hostname', `${input.name}\n`);
  // as a distribution installer writes it: sudo and others resolve the machine's own name
  writeGuestFile(upper, '/etc/hosts', `127.0.0.1\tlocalhost\n127.0.1.1\t${input.name}\n::1\tlocalhost ip6-localhost ip6-loopback\n`);
  if (identity.family !== 'deb') {
    for (const p of ['/etc/debian_version', '/etc/lsb-release']) whiteout(upper, p);
    for (const p of DEB_TOOLS) whiteout(upper, p);
  }
  for (const p of HOST_RPM_TOOLS) whiteout(upper, p);
  for (const [path, content] of Object.entries(identity.releaseFiles)) writeGuestFile(upper, path, content);

  // emulated systemd and power commands, both first in root's PATH and at the usual absolute paths
  const lib = GUEST_LAB_LIB;
  writeGuestFile(upper, GUEST_INIT_PATH, guestInitScript(), 0o755);
  writeGuestFile(upper, `${lib}/power`, powerScript(), 0o755);
  for (const dir of ['/usr/local/sbin', '/usr/sbin']) {
    for (const name of ['reboot', 'shutdown', 'poweroff', 'halt']) {
      writeGuestFile(upper, `${dir}/${name}`, powerScript(), 0o755);
    }
    writeGuestFile(upper, `${dir}/service`, serviceScript(), 0o755);
  }
  writeGuestFile(upper, '/usr/local/sbin/systemctl', systemctlScript(), 0o755);
  writeGuestFile(upper, '/usr/bin/systemctl', systemctlScript(), 0o755);
  writeGuestFile(upper, '/usr/local/sbin/mount', mountWrapper(), 0o755);
  if (identity.family === 'rpm') {
    writeGuestFile(upper, '/usr/bin/rpm', rpmScript(), 0o755);
    writeGuestFile(upper, '/usr/bin/dnf', dnfScript(), 0o755);
    writeGuestFile(upper, '/usr/bin/yum', dnfScript(), 0o755);
  }

  // sshd: the guest's own host key; the lab's client key is the only one authorized
  writeGuestFile(upper, GUEST_SSHD_CONFIG, sshdConfig(input.port), 0o600);
  writeGuestFile(upper, '/etc/pvrun-lab/authorized_keys', input.authorizedKey, 0o644);
  ensureUpperDir(upper, '/etc/ssh');
  copyFileSync(input.hostKeyPath, join(upper, '/etc/ssh/ssh_host_ed25519_key'));
  chmodSync(join(upper, '/etc/ssh/ssh_host_ed25519_key'), 0o600);
  copyFileSync(`${input.hostKeyPath}.pub`, join(upper, '/etc/ssh/ssh_host_ed25519_key.pub'));

  if (identity.family === 'deb') aptSources(upper);
  hideControllerServices(upper);
  // a fresh VM's mount points are empty (the manual checks /mnt before mounting the CD)
  for (const dir of ['/mnt', '/media']) hideEntries(upper, dir);
  freshRootHome(upper);
  setInstallFault(upper, input.installFails);
}

/**
 * The guest's init starts what multi-user.target wants; the controller's own enabled services
 * (its sshd on port 22, databases, …) must not start in every guest — the network is shared.
 */
function hideControllerServices(upper: string): void {
  hideEntries(upper, '/etc/systemd/system/multi-user.target.wants');
}

/** Whiteout every entry the controller has in `dir`, so the guest sees it empty. */
function hideEntries(upper: string, dir: string): void {
  let names: string[] = [];
  try { names = readdirSync(dir); } catch { /* absent on the controller */ }
  for (const n of names) whiteout(upper, `${dir}/${n}`);
}

/** apt sees only the lab's repository (the controller's sources are hidden). */
function aptSources(upper: string): void {
  writeGuestFile(upper, '/etc/apt/sources.list', `${GUEST_APT_SOURCE}\n`);
  hideEntries(upper, '/etc/apt/sources.list.d');
}

/**
 * root gets a fresh home from /etc/skel: the controller's /root (its dotfiles, its tool caches,
 * and whatever its .bashrc runs on every ssh exec) is hidden by whiteouts, one per entry.
 */
function freshRootHome(upper: string): void {
  ensureUpperDir(upper, '/root');
  hideEntries(upper, '/root');
  let skel: string[] = [];
  try { skel = readdirSync('/etc/skel'); } catch { /* none */ }
  for (const n of skel) {
    const src = join('/etc/skel', n);
    if (lstatSync(src).isFile()) writeGuestFile(upper, `/root/${n}`, readFileSync(src), 0o644);
  }
}

/** Lab fault knob: install.sh fails while this file exists in the guest. */
export function setInstallFault(upper: string, on: boolean): void {
  if (on) writeGuestFile(upper, INSTALL_FAULT_FILE, 'set by the pvrun lab definition (faults.install_fails)\n');
  else rmSync(join(upper, INSTALL_FAULT_FILE), { force: true });
}
