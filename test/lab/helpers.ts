/**
 * Shared by the lab tests: why a suite must be skipped on this machine, a small ssh2 exec
 * helper that talks to a guest with the lab's key, and a byte-level fingerprint of a directory.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'ssh2';
import { missingTools } from '../../src/lab/guest/prereqs.js';
import type { GuestInfo } from '../../src/lab/guest/index.js';

/** undefined when the container-guest suites can run here; else the reason, printed once */
export function labSkipReason(): string | undefined {
  const missing = missingTools();
  if (missing.length > 0) return `lab tools missing: ${missing.join(', ')}`;
  if (process.getuid?.() !== 0) return 'the lab needs root (CI runs as root)';
  return undefined;
}

export interface ExecResult { code: number | null; stdout: string; stderr: string }

/** Run one command in a guest over a fresh SSH connection (host key checked against the lab's). */
export function sshExec(g: GuestInfo, command: string, timeoutMs = 30_000): Promise<ExecResult> {
  const expectedKey = g.knownHostsLine.split(' ')[2] ?? '';
  return new Promise((resolve, reject) => {
    const c = new Client();
    const timer = setTimeout(() => { c.end(); reject(new Error(`ssh ${g.name}: timeout running ${command}`)); }, timeoutMs);
    c.on('ready', () => {
      c.exec(command, (e, stream) => {
        if (e) { clearTimeout(timer); c.end(); reject(e); return; }
        let stdout = '';
        let stderr = '';
        let code: number | null = null;
        stream.on('data', (d: Buffer) => { stdout += d.toString(); });
        stream.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
        stream.on('exit', (c2: number | null) => { code = c2; });
        stream.on('close', () => { clearTimeout(timer); c.end(); resolve({ code, stdout, stderr }); });
      });
    });
    c.on('error', (e) => { clearTimeout(timer); reject(e); });
    c.connect({
      host: g.host, port: g.port, username: g.user, privateKey: readFileSync(g.privateKeyPath),
      hostVerifier: (key: Buffer) => key.toString('base64') === expectedKey,
      // the caller's budget covers the handshake too: a TCG QEMU guest on a loaded CI machine took
      // more than a fixed 10 s to answer the KEX (run 8-1: 'Timed out while waiting for handshake')
      readyTimeout: timeoutMs,
    });
  });
}

/** Whether a TCP connection to the guest's SSH port succeeds (without logging in). */
export async function sshAnswers(g: GuestInfo): Promise<boolean> {
  try {
    const r = await sshExec(g, 'true', 5_000);
    return r.code === 0;
  } catch {
    return false;
  }
}

/**
 * Fingerprint of a tree: every entry's path, type, mode, owner, size, mtime, device number,
 * link target and content hash. Two trees with equal fingerprints are byte-identical (xattrs
 * aside: node cannot read them).
 */
export function treeFingerprint(root: string): { digest: string; entries: number } {
  const h = createHash('sha256');
  let entries = 0;
  const walk = (rel: string): void => {
    const p = join(root, rel);
    const st = lstatSync(p, { bigint: true });
    entries++;
    const type = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFile() ? 'f' : st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : 'o';
    h.update(`${rel}\0${type}\0${st.mode}\0${st.uid}:${st.gid}\0${st.size}\0${st.mtimeNs}\0${st.rdev}\0`);
    if (type === 'l') h.update(readlinkSync(p));
    if (type === 'f') h.update(createHash('sha256').update(readFileSync(p)).digest());
    if (type === 'd') for (const name of readdirSync(p).sort()) walk(rel ? `${rel}/${name}` : name);
  };
  walk('');
  return { digest: h.digest('hex'), entries };
}

/** Poll `probe` until it returns a value (not undefined) or the deadline passes. */
export async function eventually<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** pids of processes whose PID namespace is `nsLink` (a readlink of /proc/<pid>/ns/pid) */
export function pidsInNamespace(nsLink: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try { if (readlinkSync(`/proc/${name}/ns/pid`) === nsLink) out.push(Number(name)); } catch { /* gone */ }
  }
  return out;
}
