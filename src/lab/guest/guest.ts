/**
 * One lab guest: a container made of Linux namespaces (mount, PID, UTS) whose root is an overlay
 * of the controller's `/` with the guest's own upper dir, with a real OpenSSH sshd on
 * 127.0.0.1:<port>. This file holds its power cycle, CD drive, disk snapshots and what it
 * publishes; the manager (lab-guests.ts) holds the set of guests and the SimHooks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GuestReport } from '../sim-hooks.js';
import { err, ok, type Result } from '../../util/result.js';
import { CD_ATTACH_FN, CD_DETACH_FN } from './boot-scripts.js';
import { labError, type LabError } from './errors.js';
import { describeFailure, run, type RunOutput } from './exec.js';
import { buildReport, parseHeartbeat } from './report.js';
import type { ResolvedGuest } from './definition.js';

export type GuestPowerState = 'halted' | 'running';

/** Where one guest keeps its state (all under `<stateDir>/guests/<name>/`). */
export interface GuestDirs {
  base: string;
  upper: string;
  /** overlay workdirs, one per boot (a fresh one avoids racing the previous boot's unmount) */
  work: string;
  /** mount point of the overlay inside the guest's mount namespace (empty on the host) */
  root: string;
  /** bound at /run/pvrun-lab in the guest: markers, requests, emulated xenstore, sshd log */
  control: string;
  bootIdFile: string;
  console: string;
  snapshots: string;
  hostKey: string;
  runtime: string;
}

export function guestDirs(stateDir: string, name: string): GuestDirs {
  const base = join(stateDir, 'guests', name);
  return {
    base,
    upper: join(base, 'upper'),
    work: join(base, 'work'),
    root: join(base, 'root'),
    control: join(base, 'control'),
    bootIdFile: join(base, 'boot_id'),
    console: join(base, 'console.log'),
    snapshots: join(base, 'snapshots'),
    hostKey: join(base, 'ssh', 'host_key'),
    runtime: join(base, 'runtime.json'),
  };
}

/** What the manager hands every guest. */
export interface GuestEnv {
  bootScript: string;
  /** read-only package repository bound into guests (online install path), if any */
  repoDir?: string;
  /** agent heartbeat older than this is stale (agent not running) */
  heartbeatStaleMs: number;
}

/** How an inserted ISO is presented to the guest. */
export interface CdMedium {
  label: string;
  /** ISO file (kind iso9660) or extracted tree (kind bind) */
  src: string;
  kind: 'iso9660' | 'bind';
}

/** Recorded on disk so a later process (e.g. `pvrun lab down`) can find what this one started. */
export interface GuestRuntime {
  unsharePid: number;
  initPid: number;
  bootId: string;
  startedAt: string;
}

const SNAPSHOT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export class LabGuest {
  private child: ChildProcess | undefined;
  private runtimeInfo: GuestRuntime | undefined;
  private exited: Promise<void> = Promise.resolve();
  private currentBootId: string | undefined;
  private medium: CdMedium | null = null;
  private stopping = false;
  /** serialises power operations, CD changes and disk operations on this guest */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly spec: ResolvedGuest, readonly dirs: GuestDirs, private readonly env: GuestEnv) {}

  get name(): string { return this.spec.name; }
  get uuid(): string { return this.spec.uuid; }
  get powerState(): GuestPowerState { return this.child ? 'running' : 'halted'; }
  get bootId(): string | undefined { return this.currentBootId; }
  get runtime(): GuestRuntime | undefined { return this.runtimeInfo; }
  get cd(): CdMedium | null { return this.medium; }

  /** Run `fn` after every earlier operation on this guest has finished. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  // ---- power ---------------------------------------------------------------------------------

  /**
   * Boot: new boot id, new namespaces, overlay, sshd. Resolves once the guest's filesystem is
   * assembled (the "domain" runs); sshd comes up later (see waitSsh), after any boot delay.
   * `afterReboot` arms the "reboot never comes back" fault.
   */
  async start(opts: { afterReboot?: boolean } = {}): Promise<Result<void, LabError>> {
    if (this.child) return err(labError('bad-power-state', 'already running', this.name));
    const bootId = randomUUID();
    this.resetControl();
    writeFileSync(this.dirs.bootIdFile, `${bootId}\n`);
    const work = this.freshWorkDir(bootId);
    const hang = opts.afterReboot === true && this.spec.faults.rebootNeverReturns;
    const env: NodeJS.ProcessEnv = {
      ...this.baseEnv(work),
      PVLAB_BOOT_ID: bootId,
      PVLAB_BOOT_DELAY_MS: String(this.spec.faults.slowBootMs),
      PVLAB_SSH: this.spec.faults.sshDown ? '0' : '1',
      PVLAB_PORT: String(this.spec.port),
      PVLAB_HANG: hang ? '1' : '0',
    };
    const launched = await this.launch(env);
    if (!launched.ok) return launched;
    this.currentBootId = bootId;
    return ok(undefined);
  }

  /** Kill the guest's PID namespace (its init, hence every process in it). Idempotent. */
  async kill(): Promise<void> {
    const c = this.child;
    if (!c) return;
    this.stopping = true;
    const initPid = this.runtimeInfo?.initPid;
    try {
      if (initPid) process.kill(initPid, 'SIGKILL');
      else c.kill('SIGKILL');
    } catch { /* already gone */ }
    // the unshare parent exits once the namespace's init is reaped, and init's exit waits for
    // every other process of the namespace: after this, nothing of the guest runs
    const done = await Promise.race([this.exited.then(() => true), sleep(10_000).then(() => false)]);
    if (!done) {
      try { c.kill('SIGKILL'); } catch { /* gone */ }
      await this.exited;
    }
    // Said in the console because unshare words it as an error: when its child (the guest's
    // init) dies of SIGKILL, it tries signal(SIGKILL, SIG_DFL), which fails with EINVAL, and
    // prints "unshare: sigprocmask unblock failed: Invalid argument" (util-linux 2.38.1,
    // sys-utils/unshare.c lines 985-1003). Every power-off prints it; it is not a boot failure.
    appendConsole(this.dirs.console, `=== ${new Date().toISOString()} powered off: the lab SIGKILLed the guest's init (unshare reports that as "sigprocmask unblock failed") ===`);
    this.stopping = false;
  }

  /** Clean and hard shutdown are the same here: no guest OS shutdown sequence to run. */
  async shutdown(): Promise<void> {
    await this.kill();
  }

  /** Wait until sshd listens for the current boot (Result error on timeout or halt). */
  async waitSsh(timeoutMs: number): Promise<Result<void, LabError>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const boot = this.currentBootId;
      if (!this.child || !boot) return err(labError('bad-power-state', 'guest is halted', this.name));
      if (this.marker('sshd-ready') === boot) return ok(undefined);
      if (Date.now() > deadline) return err(labError('timeout', `sshd not up after ${timeoutMs} ms`, this.name));
      await sleep(50);
    }
  }

  // ---- CD drive -----------------------------------------------------------------------------

  async insertCd(medium: CdMedium): Promise<Result<void, LabError>> {
    if (this.medium) {
      const e = await this.ejectCd();
      if (!e.ok) return e;
    }
    this.medium = medium;
    this.saveRuntime();
    if (!this.child) return ok(undefined);
    const r = await this.inGuestMountNs(`${CD_ATTACH_FN}\ncd_attach "$1" "$2" "$3"`, [this.dirs.root, medium.src, medium.kind]);
    return r.code === 0 ? ok(undefined) : err(labError('io', describeFailure('CD insert', r), this.name));
  }

  async ejectCd(): Promise<Result<void, LabError>> {
    this.medium = null;
    this.saveRuntime();
    if (!this.child) return ok(undefined);
    const r = await this.inGuestMountNs(`${CD_DETACH_FN}\ncd_detach "$1"`, [this.dirs.root]);
    return r.code === 0 ? ok(undefined) : err(labError('io', describeFailure('CD eject', r), this.name));
  }

  // ---- disk ---------------------------------------------------------------------------------

  /** Save the upper dir (crash-consistent when running, as a VM disk snapshot is). */
  async snapshot(snapshotId: string): Promise<Result<void, LabError>> {
    if (!SNAPSHOT_ID.test(snapshotId)) return err(labError('io', `bad snapshot id ${JSON.stringify(snapshotId)}`, this.name));
    const dest = join(this.dirs.snapshots, snapshotId);
    const tmp = `${dest}.partial`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    const r = await run('cp', ['-a', '--reflink=auto', this.dirs.upper, join(tmp, 'upper')]);
    if (r.code !== 0) {
      rmSync(tmp, { recursive: true, force: true });
      return err(labError('io', describeFailure('snapshot copy', r), this.name));
    }
    rmSync(dest, { recursive: true, force: true });
    renameSync(tmp, dest);
    return ok(undefined);
  }

  /** Restore the upper dir exactly as saved. The guest is halted first if it is not. */
  async revert(snapshotId: string): Promise<Result<void, LabError>> {
    const src = join(this.dirs.snapshots, snapshotId, 'upper');
    if (!SNAPSHOT_ID.test(snapshotId) || !existsSync(src)) {
      return err(labError('io', `no saved disk state for snapshot ${snapshotId}`, this.name));
    }
    await this.kill();
    const old = `${this.dirs.upper}.old`;
    rmSync(old, { recursive: true, force: true });
    renameSync(this.dirs.upper, old);
    const r = await run('cp', ['-a', '--reflink=auto', src, this.dirs.upper]);
    if (r.code !== 0) {
      rmSync(this.dirs.upper, { recursive: true, force: true });
      renameSync(old, this.dirs.upper);
      return err(labError('io', describeFailure('revert copy', r), this.name));
    }
    rmSync(old, { recursive: true, force: true });
    return ok(undefined);
  }

  deleteSnapshot(snapshotId: string): void {
    if (!SNAPSHOT_ID.test(snapshotId)) return;
    rmSync(join(this.dirs.snapshots, snapshotId), { recursive: true, force: true });
  }

  hasSnapshot(snapshotId: string): boolean {
    return SNAPSHOT_ID.test(snapshotId) && existsSync(join(this.dirs.snapshots, snapshotId, 'upper'));
  }

  // ---- offline commands ----------------------------------------------------------------------

  /**
   * Run a shell command in the guest's filesystem while it is halted (own namespaces, no init,
   * no sshd; emulated systemctl does not start daemons). Used to preinstall the tools.
   */
  async runOffline(command: string, cd?: CdMedium): Promise<RunOutput> {
    if (this.child) return { code: null, signal: null, stdout: '', stderr: 'the guest is running', spawnError: 'the guest is running' };
    const work = this.freshWorkDir(`offline-${randomUUID()}`);
    writeFileSync(this.dirs.bootIdFile, `${randomUUID()}\n`);
    const env: NodeJS.ProcessEnv = {
      ...this.baseEnv(work),
      PVLAB_EXEC: command,
      ...(cd ? { PVLAB_CD_SRC: cd.src, PVLAB_CD_KIND: cd.kind } : {}),
    };
    const out = await run('setpriv', ['--pdeathsig', 'KILL', '--', ...this.unshareArgv()], { env });
    rmSync(work, { recursive: true, force: true });
    return out;
  }

  // ---- what the guest publishes --------------------------------------------------------------

  /**
   * A power request made inside the guest (reboot/poweroff) at least `graceMs` old, consumed by
   * this call. The grace lets the command that asked return its exit status over SSH before the
   * guest goes down, as a real shutdown takes a moment to stop services.
   */
  takeRequest(now: number, graceMs: number): 'reboot' | 'poweroff' | undefined {
    if (!this.child) return undefined;
    for (const r of ['reboot', 'poweroff'] as const) {
      const p = join(this.dirs.control, 'requests', r);
      let age: number;
      try { age = now - statSync(p).mtimeMs; } catch { continue; }
      if (age < graceMs) return undefined;
      rmSync(p, { force: true });
      return r;
    }
    return undefined;
  }

  /** The current report, or undefined while the kernel of this boot is not up. */
  report(now: number): GuestReport | undefined {
    const boot = this.currentBootId;
    if (!this.child || !boot || this.marker('kernel-up') !== boot) return undefined;
    const hbPath = join(this.dirs.control, 'xenstore', 'heartbeat');
    let hb;
    try {
      const st = statSync(hbPath);
      if (now - st.mtimeMs <= this.env.heartbeatStaleMs) {
        const parsed = parseHeartbeat(readFileSync(hbPath, 'utf8'));
        if (parsed && parsed.bootId === boot) hb = parsed;
      }
    } catch { /* no agent */ }
    return buildReport(true, hb);
  }

  // ---- internals -----------------------------------------------------------------------------

  private unshareArgv(): string[] {
    return ['unshare', '--mount', '--pid', '--uts', '--fork', '--kill-child', '--propagation', 'private',
      '--', '/bin/sh', this.env.bootScript];
  }

  private baseEnv(work: string): NodeJS.ProcessEnv {
    const medium = this.medium;
    return {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: '/root',
      LANG: 'C.UTF-8',
      PVLAB_NAME: this.name,
      PVLAB_UUID: this.uuid,
      PVLAB_ROOT: this.dirs.root,
      PVLAB_UPPER: this.dirs.upper,
      PVLAB_WORK: work,
      PVLAB_CONTROL: this.dirs.control,
      PVLAB_BOOT_ID_FILE: this.dirs.bootIdFile,
      ...(this.env.repoDir ? { PVLAB_REPO: this.env.repoDir } : {}),
      ...(medium ? { PVLAB_CD_SRC: medium.src, PVLAB_CD_KIND: medium.kind } : {}),
    };
  }

  private async launch(env: NodeJS.ProcessEnv): Promise<Result<void, LabError>> {
    // the console log spans every boot: a failed boot shows its own lines only (the previous
    // power-off's unshare message misled a diagnosis once: see kill())
    const from = consoleSize(this.dirs.console);
    appendConsole(this.dirs.console, `=== ${new Date().toISOString()} boot ${String(env['PVLAB_BOOT_ID'])} ===`);
    const logFd = openSync(this.dirs.console, 'a');
    // setpriv --pdeathsig: if the controller dies, unshare dies, and --kill-child takes the
    // guest's init (hence the whole PID namespace) with it: no orphaned guests
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', ...this.unshareArgv()], {
      env, stdio: ['ignore', logFd, logFd],
    });
    closeSync(logFd);
    let spawnError: string | undefined;
    let exitedFlag = false;
    this.exited = new Promise<void>((resolve) => {
      child.once('error', (e) => { spawnError = e.message; exitedFlag = true; resolve(); });
      child.once('exit', () => { exitedFlag = true; resolve(); });
    });
    void this.exited.then(() => {
      if (this.child === child) {
        this.child = undefined;
        this.runtimeInfo = undefined;
        this.currentBootId = undefined;
        rmSync(this.dirs.runtime, { force: true });
      }
    });
    this.child = child;

    // generous: on a loaded 2-core machine (load 20 and more: a CI run and QEMU guests alongside)
    // namespaces, overlay and bind mounts have taken many seconds; a boot that truly fails exits
    const deadline = Date.now() + BOOT_ASSEMBLE_MS;
    let initPid: number | undefined;
    while (!exitedFlag && Date.now() < deadline) {
      if (!initPid && child.pid) initPid = childOf(child.pid);
      if (initPid && existsSync(join(this.dirs.control, 'mounted'))) break;
      await sleep(initPid ? 20 : 5);
    }
    if (exitedFlag || !initPid || !existsSync(join(this.dirs.control, 'mounted'))) {
      if (!exitedFlag) { try { child.kill('SIGKILL'); } catch { /* gone */ } await this.exited; }
      const tail = tailOf(this.dirs.console, from);
      const why = spawnError ?? (exitedFlag ? 'the boot script exited' : `the boot did not assemble the guest in ${BOOT_ASSEMBLE_MS / 1000} s`);
      return err(labError('boot-failed', `${why}${tail ? `:\n${tail}` : ''}`, this.name));
    }
    this.runtimeInfo = { unsharePid: child.pid!, initPid, bootId: String(env['PVLAB_BOOT_ID']), startedAt: new Date().toISOString() };
    this.saveRuntime();
    return ok(undefined);
  }

  private saveRuntime(): void {
    if (!this.runtimeInfo) return;
    writeFileSync(this.dirs.runtime, JSON.stringify({ ...this.runtimeInfo, cd: this.medium }, null, 2) + '\n');
  }

  private inGuestMountNs(script: string, args: string[]): Promise<RunOutput> {
    const pid = this.runtimeInfo?.initPid;
    if (!pid) return Promise.resolve({ code: 1, signal: null, stdout: '', stderr: 'guest not running' });
    return run('nsenter', ['-t', String(pid), '-m', '--', '/bin/sh', '-c', script, 'sh', ...args]);
  }

  private resetControl(): void {
    const c = this.dirs.control;
    for (const m of ['mounted', 'kernel-up', 'booted', 'sshd-ready']) rmSync(join(c, m), { force: true });
    for (const d of ['requests', 'xenstore']) {
      rmSync(join(c, d), { recursive: true, force: true });
      mkdirSync(join(c, d), { recursive: true });
    }
  }

  private freshWorkDir(id: string): string {
    mkdirSync(this.dirs.work, { recursive: true });
    for (const old of readdirSync(this.dirs.work)) {
      rmSync(join(this.dirs.work, old), { recursive: true, force: true });
    }
    const w = join(this.dirs.work, id);
    mkdirSync(w);
    return w;
  }

  private marker(name: string): string | undefined {
    try {
      return readFileSync(join(this.dirs.control, name), 'utf8').trim();
    } catch {
      return undefined;
    }
  }
}

/** The (single) child of `pid`: the namespace's init under `unshare --fork`. */
function childOf(pid: number): number | undefined {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    // setpriv execs unshare in place; unshare forks exactly one child
    const first = kids[0];
    return first ? Number(first) : undefined;
  } catch {
    return undefined;
  }
}

/** The last lines of the console written from byte `from` on (this boot's). */
export function tailOf(path: string, from = 0): string {
  try {
    return readFileSync(path).subarray(from).toString('utf8').trimEnd().split('\n').slice(-15).join('\n');
  } catch {
    return '';
  }
}

function consoleSize(path: string): number {
  try { return statSync(path).size; } catch { return 0; }
}

function appendConsole(path: string, line: string): void {
  try { appendFileSync(path, `${line}\n`); } catch { /* a console that cannot be written is no reason to fail a power op */ }
}

/** How long a boot may take to assemble the guest (namespaces, overlay, mounts) before it is called failed. */
const BOOT_ASSEMBLE_MS = 60_000;
