/**
 * What the lab needs from the machine: root (for the overlay over `/` and the mounts; see the
 * probe below for why not unprivileged user namespaces) and a few host tools.
 */
import { existsSync, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { err, ok, type Result } from '../../util/result.js';
import { labError, type LabError } from './errors.js';
import { run } from './exec.js';

/** tool → Debian package that provides it */
export const REQUIRED_TOOLS: Record<string, string> = {
  unshare: 'util-linux',
  nsenter: 'util-linux',
  setpriv: 'util-linux',
  mount: 'mount',
  mountpoint: 'util-linux',
  chroot: 'coreutils',
  mknod: 'coreutils',
  cp: 'coreutils',
  tar: 'tar',
  sshd: 'openssh-server',
  'ssh-keygen': 'openssh-client',
  xorriso: 'xorriso',
  'dpkg-deb': 'dpkg',
  dpkg: 'dpkg',
};

export const PATH_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export function findTool(name: string): string | undefined {
  for (const d of PATH_DIRS) {
    const p = join(d, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

export function missingTools(): string[] {
  return Object.keys(REQUIRED_TOOLS).filter((t) => !findTool(t));
}

/**
 * Why a non-root user cannot run the lab here: try what a rootless lab would need (a user
 * namespace mapping root, then a kernel overlay over `/` inside it) and report what refused.
 */
const firstLine = (s: string): string => s.trim().split('\n')[0] ?? '';

export async function probeUnprivileged(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'pvrun-lab-probe-'));
  try {
    const userns = await run('unshare', ['--user', '--map-root-user', 'true']);
    if (userns.code !== 0) {
      return `unprivileged user namespaces are refused on this machine (unshare --user: ${firstLine(userns.stderr) || `exit ${userns.code}`})`;
    }
    const script = `mkdir -p ${dir}/u ${dir}/w ${dir}/r && mount -t overlay overlay -o lowerdir=/,upperdir=${dir}/u,workdir=${dir}/w ${dir}/r`;
    const overlay = await run('unshare', ['--user', '--map-root-user', '--mount', 'sh', '-c', script]);
    if (overlay.code !== 0) {
      return `user namespaces work, but an overlay over / inside one is refused (${firstLine(overlay.stderr) || `exit ${overlay.code}`})`;
    }
    return 'this kernel would allow a rootless overlay, but the lab does not implement rootless mode yet';
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const OVERLAYFS_SUPER_MAGIC = 0x794c7630;

/**
 * The guests' upper dirs live in the state directory, and the kernel refuses an overlay upper
 * dir on overlayfs — the root of most containers (e.g. a CI job in Docker).
 */
export function checkStateDirFs(stateDir: string): Result<void, LabError> {
  try {
    if (Number(statfsSync(stateDir).type) === OVERLAYFS_SUPER_MAGIC) {
      return err(labError('io', `the lab state directory ${stateDir} is on overlayfs (inside a container?); the kernel refuses overlay upper dirs there: use a directory on ext4, xfs or tmpfs (e.g. under /dev/shm)`));
    }
  } catch { /* statfs unavailable: let the mount say what is wrong */ }
  return ok(undefined);
}

export async function checkLabPrereqs(): Promise<Result<void, LabError>> {
  const missing = missingTools();
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((t) => REQUIRED_TOOLS[t]))].join(' ');
    return err(labError('missing-tool', `the lab needs ${missing.join(', ')} (Debian packages: ${pkgs})`));
  }
  if (process.getuid?.() !== 0) {
    return err(labError('not-root', `the lab needs root: ${await probeUnprivileged()}`));
  }
  return ok(undefined);
}
