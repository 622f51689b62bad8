/**
 * A real OpenSSH sshd on 127.0.0.1 for the lab and the tests: its own directory, generated host
 * and client keys, its own sshd_config, run in the foreground (`-D -e`) as a child process so
 * that stopping it kills exactly that process and nothing else on the machine.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const SSHD_PATH = '/usr/sbin/sshd';

export interface SshdOptions {
  /** directory to keep keys/config/pid in; a fresh temp dir by default (removed by stop()) */
  dir?: string;
  /** user allowed to log in; default the current user (root in CI) */
  user?: string;
  port?: number;
  passwordAuthentication?: boolean;
  forceCommand?: string;
  maxSessions?: number;
  allowTcpForwarding?: boolean;
  /**
   * Keep bash from sourcing ~/.bashrc in sessions (default true). Debian's bash sources it for
   * commands run by sshd; this controller's root ~/.bashrc runs pyenv and costs ~90 ms per exec,
   * which a real guest would not. bash skips it when SHLVL is already set, so the lab sets it.
   */
  skipBashrc?: boolean;
  /** environment for sessions (sshd SetEnv; only one SetEnv line counts, so pass them all here) */
  env?: Record<string, string>;
  /** authorize this existing private key (its .pub next to it) instead of generating one */
  clientKeyPath?: string;
  /** extra sshd_config lines, appended verbatim */
  extraConfig?: string[];
  /** argv prefix, e.g. a namespace/chroot wrapper used by the lab */
  wrap?: string[];
  /** how long to wait for "Server listening" */
  startTimeoutMs?: number;
}

export interface SshdHandle {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly user: string;
  readonly dir: string;
  /** private key that is authorized to log in */
  readonly clientKeyPath: string;
  readonly hostKeyPath: string;
  /** SHA256:… as OpenSSH prints it */
  hostKeyFingerprint(): string;
  /** `[127.0.0.1]:port type base64` */
  knownHostsLine(): string;
  /** pid of the listening sshd (the per-connection processes are its children) */
  pid(): number | undefined;
  /** everything sshd wrote to stderr so far (-e logs there) */
  log(): string;
  /** kill the per-connection sshd processes (drops every open connection), keep listening */
  killConnections(): Promise<number>;
  /** stop and start again on the same port; `newHostKey` regenerates the host key first */
  restart(opts?: { newHostKey?: boolean }): Promise<void>;
  /** stop listening (the directory stays until dispose) */
  stopListening(): Promise<void>;
  /** stop and remove the directory if we created it */
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (there is a small race until sshd binds it; start() retries). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export function hasSshd(): boolean {
  return existsSync(SSHD_PATH) && existsSync('/usr/bin/ssh-keygen');
}

async function keygen(path: string, comment: string): Promise<void> {
  rmSync(path, { force: true });
  rmSync(`${path}.pub`, { force: true });
  await execFileP('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path]);
}

function pubBlob(pubPath: string): { type: string; b64: string } {
  const [type, b64] = readFileSync(pubPath, 'utf8').trim().split(/\s+/);
  if (!type || !b64) throw new Error(`cannot parse public key ${pubPath}`);
  return { type, b64 };
}

export function fingerprintOfBlob(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

function writeConfig(dir: string, port: number, user: string, o: SshdOptions): string {
  const lines = [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${join(dir, 'host_key')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    `AllowUsers ${user}`,
    // no PAM: the container has no PAM session setup; StrictModes would refuse /tmp paths
    'UsePAM no',
    'StrictModes no',
    `PermitRootLogin ${o.passwordAuthentication ? 'yes' : 'prohibit-password'}`,
    'PubkeyAuthentication yes',
    `PasswordAuthentication ${o.passwordAuthentication ? 'yes' : 'no'}`,
    'KbdInteractiveAuthentication no',
    `MaxSessions ${o.maxSessions ?? 10}`,
    // the 100-concurrent-exec test opens many channels quickly; startups are not the point here
    'MaxStartups 100:30:200',
    `AllowTcpForwarding ${o.allowTcpForwarding ? 'yes' : 'no'}`,
    'PrintMotd no',
    'LogLevel INFO',
  ];
  const env = { ...(o.skipBashrc !== false ? { SHLVL: '1' } : {}), ...(o.env ?? {}) };
  const pairs = Object.entries(env).map(([k, v]) => `${k}=${/\s|"/.test(v) ? JSON.stringify(v) : v}`);
  if (pairs.length) lines.push(`SetEnv ${pairs.join(' ')}`);
  if (o.forceCommand) lines.push(`ForceCommand ${o.forceCommand}`);
  lines.push(...(o.extraConfig ?? []));
  const path = join(dir, 'sshd_config');
  writeFileSync(path, lines.join('\n') + '\n', { mode: 0o600 });
  return path;
}

/** Start an sshd; resolves once it listens. Throws on setup errors (this is test/lab tooling). */
export async function startSshd(opts: SshdOptions = {}): Promise<SshdHandle> {
  if (!hasSshd()) throw new Error(`${SSHD_PATH} or ssh-keygen not installed`);
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'pvrun-sshd-'));
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  // sshd refuses to start without its privilege separation directory
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const user = opts.user ?? userInfo().username;
  // sshd reads AuthorizedKeysFile as the user logging in: another user must be able to reach it
  // (mkdtemp makes the directory 0700; the private keys in it stay 0600)
  if (user !== userInfo().username) chmodSync(dir, 0o755);
  const hostKeyPath = join(dir, 'host_key');
  const clientKeyPath = opts.clientKeyPath ?? join(dir, 'client_key');
  await keygen(hostKeyPath, 'pvrun-lab-host');
  if (!opts.clientKeyPath) await keygen(clientKeyPath, 'pvrun-lab-client');
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${clientKeyPath}.pub`), { mode: 0o644 });

  let port = opts.port ?? 0;
  let child: ChildProcess | undefined;
  let logText = '';

  const launch = async (): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      const p = port || (await freePort());
      const config = writeConfig(dir, p, user, opts);
      const argv = [...(opts.wrap ?? []), SSHD_PATH, '-D', '-e', '-f', config];
      const c = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
      const started = await new Promise<boolean | 'bind'>((resolve) => {
        let buf = '';
        const timer = setTimeout(() => resolve(false), opts.startTimeoutMs ?? 15_000);
        c.stderr!.setEncoding('utf8');
        c.stderr!.on('data', (d: string) => {
          logText += d;
          buf += d;
          if (buf.includes('Server listening on')) { clearTimeout(timer); resolve(true); }
          if (/Bind to port .* failed|Cannot bind any address/.test(buf)) { clearTimeout(timer); resolve('bind'); }
        });
        c.once('exit', () => { clearTimeout(timer); resolve(false); });
      });
      if (started === true) {
        port = p;
        child = c;
        c.once('exit', () => { if (child === c) child = undefined; });
        return;
      }
      c.kill('SIGKILL');
      // a random port was taken between probing and binding: try another one
      if (started === 'bind' && !opts.port && attempt < 5) continue;
      throw new Error(`sshd did not start:\n${logText}`);
    }
  };

  const stopChild = async (): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) { child = undefined; return; }
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
    child = undefined;
  };

  await launch();

  const handle: SshdHandle = {
    host: '127.0.0.1',
    get port() { return port; },
    user,
    dir,
    clientKeyPath,
    hostKeyPath,
    hostKeyFingerprint() {
      return fingerprintOfBlob(Buffer.from(pubBlob(`${hostKeyPath}.pub`).b64, 'base64'));
    },
    knownHostsLine() {
      const { type, b64 } = pubBlob(`${hostKeyPath}.pub`);
      return `[127.0.0.1]:${port} ${type} ${b64}`;
    },
    pid: () => child?.pid,
    log: () => logText,
    async killConnections() {
      const pid = child?.pid;
      if (!pid) return 0;
      // children of the listener are the per-connection monitors; kill their trees too
      const all = await descendants(pid);
      for (const p of all) { try { process.kill(p, 'SIGKILL'); } catch { /* already gone */ } }
      return all.length;
    },
    async restart(o = {}) {
      await stopChild();
      if (o.newHostKey) await keygen(hostKeyPath, 'pvrun-lab-host');
      await launch();
    },
    stopListening: stopChild,
    async stop() {
      await stopChild();
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
  return handle;
}

/** pids of every descendant of `pid` (not pid itself), from /proc. */
export async function descendants(pid: number): Promise<number[]> {
  const kids = new Map<number, number[]>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try { stat = await readFile(`/proc/${name}/stat`, 'utf8'); } catch { continue; }
    // the command name (field 2) may contain spaces and parentheses: parse after the last ')'
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    kids.set(ppid, [...(kids.get(ppid) ?? []), Number(name)]);
  }
  const out: number[] = [];
  const stack = [...(kids.get(pid) ?? [])];
  while (stack.length) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(kids.get(p) ?? []));
  }
  return out;
}
