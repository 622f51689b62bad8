/**
 * The host farm: N real OpenSSH sshd processes on 127.0.0.1, one port each, each with its own
 * host key; one client key authorised everywhere and one known_hosts file listing every host.
 * Sessions get SHLVL=1 (src/lab/sshd.ts) so bash does not source root's ~/.bashrc (which runs
 * pyenv here): remote commands pay no login-shell start-up files.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startSshd, type SshdHandle } from '../../src/lab/sshd.js';
import { onCleanup, trackPid, untrackPid } from './cleanup.js';

const execFileP = promisify(execFile);

export interface FarmHost {
  name: string;
  port: number;
}

export interface Farm {
  dir: string;
  user: string;
  clientKey: string;
  knownHosts: string;
  hosts: FarmHost[];
  /** pids of the listening sshds */
  pids(): number[];
  stop(): Promise<void>;
}

export const hostName = (i: number) => `h${String(i + 1).padStart(4, '0')}`;

export async function startFarm(n: number, log: (s: string) => void = () => {}): Promise<Farm> {
  const dir = mkdtempSync(join(tmpdir(), 'pvbench-farm-'));
  const unhook = onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const clientKey = join(dir, 'client_key');
  await execFileP('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'pvbench-client', '-f', clientKey]);
  const handles: SshdHandle[] = [];
  const stop = async () => {
    await Promise.all(handles.map(async (h) => { const p = h.pid(); await h.stop(); untrackPid(p); }));
    handles.length = 0;
    rmSync(dir, { recursive: true, force: true });
    unhook();
  };
  try {
    const t0 = Date.now();
    // a few at a time: each start runs ssh-keygen and waits for "Server listening"
    let next = 0;
    const worker = async () => {
      while (next < n) {
        const i = next++;
        const hdir = join(dir, hostName(i));
        mkdirSync(hdir);
        const h = await startSshd({ dir: hdir, clientKeyPath: clientKey, maxSessions: 10 });
        handles[i] = h;
        trackPid(h.pid());
      }
    };
    await Promise.all(Array.from({ length: Math.min(8, n) }, worker));
    log(`farm: ${n} sshd started in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, handles.map((h) => h.knownHostsLine()).join('\n') + '\n');
    return {
      dir, user: handles[0]!.user, clientKey, knownHosts,
      hosts: handles.map((h, i) => ({ name: hostName(i), port: h.port })),
      pids: () => handles.map((h) => h.pid()).filter((p): p is number => p !== undefined),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
