/**
 * Mount state of a guest, read in one probe: which device a path resolves to, what is mounted
 * where (/proc/self/mounts, octal escapes decoded), whether the mount point is empty.
 */
import { quoteShell } from '../../util/shell-quote.js';

/** The CD drive of an HVM guest: /dev/cdrom when the link exists, else /dev/sr0 (never xvdd). */
export const CD_CANDIDATES = ['/dev/cdrom', '/dev/sr0'];

export interface MountProbe {
  /** the device chosen (first existing candidate, or the one asked for) */
  device: string;
  deviceExists: boolean;
  /** device after readlink -f */
  deviceReal: string;
  pointExists: boolean;
  pointIsDir: boolean;
  pointEmpty: boolean;
  /** source mounted at the mount point (the last one: mounts stack), resolved; null when none */
  mountedSource: string | null;
}

export function mountProbeCommand(device: string | undefined, point: string): string {
  const cands = device !== undefined ? [device] : CD_CANDIDATES;
  return [
    `dev=''; for d in ${cands.map(quoteShell).join(' ')}; do if [ -e "$d" ]; then dev=$d; break; fi; done`,
    `[ -n "$dev" ] && echo "device=$dev" && echo "device_real=$(readlink -f "$dev")" || echo device=${quoteShell(cands[0]!)}`,
    `mp=${quoteShell(point)}`,
    `[ -e "$mp" ] && echo point_exists=1`,
    `[ -d "$mp" ] && echo point_dir=1`,
    `[ -d "$mp" ] && [ -z "$(ls -A "$mp" 2>/dev/null | head -n 1)" ] && echo point_empty=1`,
    `while read -r src dst rest; do echo "mount=$src $dst"; done < /proc/self/mounts`,
    // resolve sources that are device paths, so /dev/cdrom and /dev/sr0 compare equal
    `for s in $(awk '{print $1}' /proc/self/mounts | sort -u); do case "$s" in /*) echo "real=$s $(readlink -f "$s")";; esac; done`,
    'true',
  ].join('\n');
}

/** /proc/mounts escapes space, tab, newline and backslash as \\ooo. */
export function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

function normPath(p: string): string {
  const t = p.replace(/\/+$/, '');
  return t === '' ? '/' : t;
}

export function parseMountProbe(out: string, point: string): MountProbe {
  const real = new Map<string, string>();
  let device = '';
  let deviceReal = '';
  let mountedSource: string | null = null;
  const flags = new Set<string>();
  for (const line of out.split('\n')) {
    const i = line.indexOf('=');
    if (i < 0) continue;
    const k = line.slice(0, i);
    const v = line.slice(i + 1);
    if (k === 'device') device = v;
    else if (k === 'device_real') deviceReal = v;
    else if (k === 'real') {
      const [src, r] = v.split(' ');
      if (src && r) real.set(src, r);
    } else if (k === 'mount') {
      const [src, dst] = v.split(' ');
      if (src && dst && normPath(unescapeMount(dst)) === normPath(point)) mountedSource = unescapeMount(src);
    } else flags.add(k);
  }
  if (mountedSource !== null) mountedSource = real.get(mountedSource) ?? mountedSource;
  return {
    device,
    deviceExists: deviceReal !== '',
    deviceReal: deviceReal || device,
    pointExists: flags.has('point_exists'),
    pointIsDir: flags.has('point_dir'),
    pointEmpty: flags.has('point_empty'),
    mountedSource,
  };
}
