/**
 * A shared pool of local pwsh processes (node-powershell) that hold the PSSessions of many
 * targets. Why a pool and not one pwsh per host: a pwsh costs ~60–100 MB and ~0.5 s of CPU to
 * start, so 200 hosts would mean 200 processes; why not one pwsh for all: node-powershell runs one
 * command line at a time per process, and one busy parser would serialize 200 hosts' bookkeeping.
 *
 * Each host is pinned to one worker (its session lives there). A worker never blocks on a remote
 * command: PvrunSubmit starts it as a job and returns, PvrunPoll collects finished ones (see
 * worker-script.ts). So a long msiexec on one host does not hold up the other hosts of the worker;
 * what is serialized per worker is only the short submit/poll/open calls. Session opening
 * (New-PSSession) is the exception: it is synchronous inside the worker, so the hosts of one worker
 * connect one after another (docs/windows.md gives the numbers).
 */
import { withDefaultBudget } from '../../util/v8-budget.js';
import type { LocalPwsh } from './local-pwsh.js';
import type { ConnectorFailure } from '../types.js';
import { oneLine, quotePs } from '../../util/ps-quote.js';
import { WORKER_SCRIPT } from './worker-script.js';

/** longest a single worker call may take (session opens have their own, shorter limit) */
const WORKER_CALL_LIMIT_MS = 180_000;

export interface PwshPoolOptions {
  /** the local PowerShell: `pwsh` (default) or `powershell` on a Windows controller */
  executable?: string;
  /** most local processes; default 8. The pool grows to min(maxWorkers, hosts) as hosts join. */
  maxWorkers?: number;
  /** how long one poll waits in the worker for a command to finish; default 50 ms */
  pollWaitMs?: number;
}

export interface RemoteResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** notStarted: the command certainly did not run (no session at submit), so a retry is safe */
type Outcome = { ok: true; value: RemoteResult } | { ok: false; error: ConnectorFailure; notStarted?: boolean };

interface WireResult {
  id: string;
  ok: boolean;
  exitCode?: number;
  stdout?: string;
  stderr?: string;
  kind?: ConnectorFailure['kind'];
  message?: string;
}

/** What PvrunOpen needs to know about a target (secrets travel separately). */
export interface SessionSpec {
  transport: 'ssh' | 'wsman';
  address: string;
  port: number;
  user: string;
  key?: string;
  knownHosts?: string;
  strictHostKeyChecking?: 'yes' | 'accept-new' | 'no';
  https?: boolean;
  authentication?: string;
  subsystem?: string;
  /** PowerShell run once in every new session (e.g. Import-Module); a failure fails the open */
  init?: string;
  timeoutMs: number;
}

let seq = 0;

/** What the ssh client printed when New-PSSession -HostName failed. */
export function classifyOpenFailure(text: string): ConnectorFailure['kind'] | undefined {
  if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No \S+ host key is known/i.test(text)) return 'host-key-mismatch';
  if (/Permission denied|Too many authentication failures|no more authentication methods/i.test(text)) return 'auth-failed';
  if (/timed out/i.test(text)) return 'timeout';
  if (/Connection refused|No route to host|Could not resolve|Network is unreachable|Connection closed by/i.test(text)) return 'unreachable';
  return undefined;
}

export class PwshWorker {
  /** bumped when the process is replaced: sessions of an older generation are gone */
  generation = 0;
  hosts = 0;
  private ps: LocalPwsh | undefined;
  private starting: Promise<void> | undefined;
  private readonly pending = new Map<string, (o: Outcome) => void>();
  private polling = false;
  private queued = 0;

  constructor(readonly index: number, private readonly opts: Required<PwshPoolOptions>) {}

  get inFlight(): number {
    return this.pending.size;
  }

  /** Run one worker function; its stdout is one JSON document. Process death is a failure value. */
  private async call(line: string): Promise<{ ok: true; value: unknown; noise?: string } | { ok: false; message: string }> {
    const started = await this.ensure();
    if (!started.ok) return started;
    const ps = this.ps!;
    this.queued++;
    let stdout: string;
    let stderr: string;
    try {
      // A worker call is short (a session open is bounded by its own timeout, a command is
      // polled for): one that does not answer means the local pwsh is stuck. Replace it rather
      // than wait forever; its hosts get connection-lost and open new sessions.
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`local pwsh did not answer within ${WORKER_CALL_LIMIT_MS / 1000}s`)), WORKER_CALL_LIMIT_MS);
        timer.unref();
      });
      const r = await Promise.race([ps.invoke(line), stuck]).finally(() => clearTimeout(timer));
      // node-powershell keeps every command and its output forever; the lines carry scripts and
      // (for WinRM) a password, so drop them
      ps.history.length = 0;
      stdout = r.stdout?.toString('utf8').trim() ?? '';
      stderr = r.stderr?.toString('utf8').trim() ?? '';
    } catch (e) {
      this.died(`local pwsh failed: ${(e as Error).message}`);
      return { ok: false, message: (e as Error).message };
    } finally {
      this.queued--;
    }
    // every worker function prints one compressed JSON line, last; anything before it is noise
    // from children (the ssh client under New-PSSession writes warnings to the console)
    const cut = stdout.lastIndexOf('\n');
    const last = stdout.slice(cut + 1);
    const noise = [cut > 0 ? stdout.slice(0, cut) : '', stderr].filter(Boolean).join('\n').trim();
    try {
      return { ok: true, value: JSON.parse(last) as unknown, noise };
    } catch {
      return { ok: false, message: `local pwsh gave no JSON answer: ${(stdout || stderr).slice(0, 500)}` };
    }
  }

  private ensure(): Promise<{ ok: true } | { ok: false; message: string }> {
    if (this.ps) return Promise.resolve({ ok: true });
    this.starting ??= (async () => {
      // LocalPwsh: node-powershell with its command framing fixed (stray output of the ssh
      // clients under New-PSSession could stall an invocation forever; see local-pwsh.ts)
      // loaded here, not at start-up: runs without PowerShell hosts never load node-powershell
      const { LocalPwsh } = await withDefaultBudget(() => import('./local-pwsh.js'));
      const ps = new LocalPwsh({
        executable: this.opts.executable,
        throwOnInvocationError: false,
        executableOptions: { '-NoProfile': true, '-NonInteractive': true },
        // TERM=dumb: no terminal escape sequences around the delimiters node-powershell parses
        spawnOptions: { env: { ...process.env, TERM: 'dumb', NO_COLOR: '1' } },
      });
      const r = await ps.invoke(oneLine(WORKER_SCRIPT, { dotSource: true }));
      ps.history.length = 0;
      if (!r.stdout?.toString('utf8').includes('pvrun-worker-ready')) {
        await ps.dispose().catch(() => {});
        throw new Error(`worker script did not load: ${r.stderr?.toString('utf8') ?? ''}`);
      }
      this.ps = ps;
      this.generation++;
      // node-powershell's exit promise rejects when the process is killed; nobody awaits it
      // between commands, so handle it here (also: fail in-flight commands at once)
      const exited = (ps as unknown as { exitPromise?: Promise<void> }).exitPromise;
      void exited?.then(() => {}, () => {}).finally(() => { if (this.ps === ps) this.died('local pwsh exited'); });
    })().finally(() => { this.starting = undefined; });
    return this.starting.then(() => ({ ok: true as const }), (e: Error) => ({ ok: false as const, message: e.message }));
  }

  private died(message: string): void {
    const ps = this.ps;
    this.ps = undefined;
    // its sessions died with it: connectors compare generations and open new ones
    this.generation++;
    if (ps) void ps.dispose().catch(() => {});
    for (const [, resolve] of this.pending) resolve({ ok: false, error: { kind: 'connection-lost', message } });
    this.pending.clear();
  }

  async open(key: string, spec: SessionSpec, secret?: string): Promise<{ ok: true; generation: number } | { ok: false; error: ConnectorFailure }> {
    const r = await this.call(oneLine(`PvrunOpen ${quotePs(key)} ${quotePs(JSON.stringify(spec))} ${quotePs(secret ?? '')}`));
    if (!r.ok) return { ok: false, error: { kind: 'unreachable', message: r.message } };
    const v = r.value as { ok: boolean; kind?: ConnectorFailure['kind']; message?: string };
    if (v.ok) return { ok: true, generation: this.generation };
    // over SSH, New-PSSession only says "the SSH transport process has abruptly terminated"; the
    // ssh client's own words (on the worker's console) say why
    const message = [v.message ?? 'New-PSSession failed', r.noise].filter(Boolean).join(' — ');
    return { ok: false, error: { kind: classifyOpenFailure(r.noise ?? '') ?? v.kind ?? 'unreachable', message } as ConnectorFailure };
  }

  async closeSession(key: string): Promise<void> {
    if (!this.ps) return;
    await this.call(oneLine(`PvrunCloseSession ${quotePs(key)}; PvrunJson @{ ok = $true }`));
  }

  /** Start a command on the host's session and resolve when it has finished (or failed). */
  async run(key: string, script: string, timeoutMs: number | undefined): Promise<Outcome> {
    const id = `c${++seq}`;
    const done = new Promise<Outcome>((resolve) => this.pending.set(id, resolve));
    const r = await this.call(oneLine(`PvrunSubmit ${quotePs(id)} ${quotePs(key)} ${quotePs(script)} ${Math.max(0, Math.floor(timeoutMs ?? 0))}`));
    if (!r.ok || !(r.value as { ok: boolean }).ok) {
      this.pending.delete(id);
      const v = r.ok ? (r.value as { kind?: ConnectorFailure['kind']; message?: string; notStarted?: boolean }) : { kind: 'connection-lost' as const, message: r.message };
      const out: Outcome = { ok: false, error: { kind: v.kind ?? 'connection-lost', message: v.message ?? 'submit failed' } as ConnectorFailure };
      if ('notStarted' in v && v.notStarted) out.notStarted = true;
      return out;
    }
    void this.pollLoop();
    return done;
  }

  private async pollLoop(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      while (this.pending.size > 0 && this.ps) {
        // submits waiting behind us: do not sit in WaitAny while they queue
        const wait = this.queued > 0 ? 0 : this.opts.pollWaitMs;
        const r = await this.call(oneLine(`PvrunPoll ${wait}`));
        if (!r.ok) {
          // a poll that cannot be read leaves every command of this worker without an answer:
          // fail them rather than wait forever (the process is replaced on the next call)
          this.died(`local pwsh poll failed: ${r.message}`);
          break;
        }
        const list = (Array.isArray(r.value) ? r.value : []) as WireResult[];
        for (const w of list) {
          const resolve = this.pending.get(w.id);
          if (!resolve) continue;
          this.pending.delete(w.id);
          if (w.ok) {
            resolve({ ok: true, value: { exitCode: w.exitCode ?? 0, stdout: w.stdout ?? '', stderr: w.stderr ?? '' } });
          } else {
            resolve({ ok: false, error: { kind: w.kind ?? 'connection-lost', message: w.message ?? 'remote command failed' } as ConnectorFailure });
          }
        }
      }
    } finally {
      this.polling = false;
    }
  }

  async dispose(): Promise<void> {
    const ps = this.ps;
    this.ps = undefined;
    if (!ps) return;
    // Remove-PSSession ends the remote ends cleanly; then the local process
    await ps.invoke(oneLine('Get-PSSession | Remove-PSSession -ErrorAction SilentlyContinue; PvrunJson @{ ok = $true }')).catch(() => {});
    await ps.dispose().catch(() => {});
  }
}

/**
 * Shared by every psremoting connector of a run. Hosts are pinned to the least-loaded worker;
 * workers start lazily, so a run with 3 Windows hosts starts 3 local pwsh, one with 200 starts 8.
 */
export class PwshPool {
  private readonly workers: PwshWorker[] = [];
  private readonly opts: Required<PwshPoolOptions>;
  private readonly pinned = new Map<string, PwshWorker>();

  constructor(opts: PwshPoolOptions = {}) {
    this.opts = { executable: opts.executable ?? 'pwsh', maxWorkers: Math.max(1, opts.maxWorkers ?? 8), pollWaitMs: opts.pollWaitMs ?? 50 };
  }

  /** the worker that holds `key`'s session (assigned on first use) */
  workerFor(key: string): PwshWorker {
    let w = this.pinned.get(key);
    if (w) return w;
    if (this.workers.length < this.opts.maxWorkers) {
      w = new PwshWorker(this.workers.length, this.opts);
      this.workers.push(w);
    } else {
      w = this.workers.reduce((a, b) => (b.hosts < a.hosts ? b : a));
    }
    w.hosts++;
    this.pinned.set(key, w);
    return w;
  }

  release(key: string): void {
    const w = this.pinned.get(key);
    if (!w) return;
    w.hosts--;
    this.pinned.delete(key);
  }

  get size(): number {
    return this.workers.length;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.dispose()));
    this.workers.length = 0;
    this.pinned.clear();
  }
}
