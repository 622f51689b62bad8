/**
 * Runs a command as a child process and measures the whole process tree: wall time, CPU time
 * (user + system) and peak memory.
 *
 * Where the cgroup v1 cpuacct hierarchy is writable (root), the child is put into a fresh
 * cgroup before it execs, so every process it starts — including daemonised ones such as
 * OpenSSH ControlPersist masters, which leave the tree — is counted: CPU from cpuacct.usage,
 * peak memory as the highest sum of VmRSS over the cgroup's processes, sampled every 50 ms.
 * Processes still alive in the cgroup when the command exits are killed (they were started by
 * this run). Without cgroups, /usr/bin/time reports CPU of the waited-for tree and the largest
 * single process's peak RSS.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Measured {
  wallS: number;
  cpuS: number;
  /** peak of the summed RSS of the tree (cgroup mode) or of the largest process (time mode), bytes */
  peakRssBytes: number;
  /** largest single process RSS seen, bytes */
  peakProcRssBytes: number;
  exitCode: number | null;
  method: 'cgroup' | 'time';
}

export interface MeasureOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** file that receives stdout (default /dev/null) */
  stdoutFile?: string;
  /** file that receives stderr (default /dev/null) */
  stderrFile?: string;
  timeoutMs?: number;
}

const CPUACCT = '/sys/fs/cgroup/cpuacct';
let seq = 0;

function cgroupUsable(): boolean {
  if (process.getuid?.() !== 0 || !existsSync(join(CPUACCT, 'cgroup.procs'))) return false;
  const probe = join(CPUACCT, `pvbench-probe-${process.pid}`);
  try {
    mkdirSync(probe);
    rmdirSync(probe);
    return true;
  } catch {
    return false;
  }
}

let usable: boolean | undefined;
export function measureMethod(): 'cgroup' | 'time' {
  usable ??= cgroupUsable();
  return usable ? 'cgroup' : 'time';
}

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function pidsIn(cg: string): number[] {
  try {
    return readFileSync(join(cg, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Processes of every live measurement's cgroup, so an exit handler can kill them. */
const liveGroups = new Set<string>();
export function killLiveGroups(): void {
  for (const cg of liveGroups) for (const p of pidsIn(cg)) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
}

export async function measure(argv: string[], o: MeasureOptions = {}): Promise<Measured> {
  const outFd = openSync(o.stdoutFile ?? '/dev/null', 'w');
  const errFd = openSync(o.stderrFile ?? '/dev/null', 'w');
  try {
    return measureMethod() === 'cgroup' ? await viaCgroup(argv, o, outFd, errFd) : await viaTime(argv, o, outFd, errFd);
  } finally {
    closeSync(outFd);
    closeSync(errFd);
  }
}

async function viaCgroup(argv: string[], o: MeasureOptions, outFd: number, errFd: number): Promise<Measured> {
  const cg = join(CPUACCT, `pvbench-${process.pid}-${seq++}`);
  mkdirSync(cg);
  liveGroups.add(cg);
  try {
    // the shell joins the cgroup, then execs the command: nothing runs outside it
    const script = 'echo $$ > "$PVBENCH_CG/cgroup.procs" && exec "$@"';
    const t0 = process.hrtime.bigint();
    const child = spawn('/bin/sh', ['-c', script, 'sh', ...argv], {
      env: { ...(o.env ?? process.env), PVBENCH_CG: cg },
      cwd: o.cwd,
      stdio: ['ignore', outFd, errFd],
    });
    let peak = 0;
    let peakProc = 0;
    let done = false;
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code, sig) => { done = true; resolve(code ?? (sig ? 128 : null)); });
      child.once('error', () => { done = true; resolve(null); });
    });
    const timer = o.timeoutMs ? setTimeout(() => { for (const p of pidsIn(cg)) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } } }, o.timeoutMs) : undefined;
    const sampler = (async () => {
      while (!done) {
        let sum = 0;
        for (const p of pidsIn(cg)) {
          const r = rssOf(p);
          sum += r;
          if (r > peakProc) peakProc = r;
        }
        if (sum > peak) peak = sum;
        await sleep(50);
      }
    })();
    const code = await exited;
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    if (timer) clearTimeout(timer);
    await sampler;
    // leftovers (e.g. ControlPersist masters) were started by this run: count, then stop them
    for (let i = 0; i < 50; i++) {
      const left = pidsIn(cg);
      if (left.length === 0) break;
      for (const p of left) { try { process.kill(p, i < 10 ? 'SIGTERM' : 'SIGKILL'); } catch { /* gone */ } }
      await sleep(50);
    }
    const cpuS = Number(readFileSync(join(cg, 'cpuacct.usage'), 'utf8').trim()) / 1e9;
    return { wallS, cpuS, peakRssBytes: peak, peakProcRssBytes: peakProc, exitCode: code, method: 'cgroup' };
  } finally {
    try { rmdirSync(cg); } catch { /* still busy: the exit handler tries again */ }
    if (!existsSync(cg)) liveGroups.delete(cg);
  }
}

async function viaTime(argv: string[], o: MeasureOptions, outFd: number, errFd: number): Promise<Measured> {
  const fmtFile = `/tmp/pvbench-time-${process.pid}-${seq++}`;
  const t0 = process.hrtime.bigint();
  const child = spawn('/usr/bin/time', ['-o', fmtFile, '-f', '%U %S %M', ...argv], {
    env: o.env ?? process.env, cwd: o.cwd, stdio: ['ignore', outFd, errFd],
  });
  const timer = o.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), o.timeoutMs) : undefined;
  const code = await new Promise<number | null>((resolve) => {
    child.once('exit', (c) => resolve(c));
    child.once('error', () => resolve(null));
  });
  if (timer) clearTimeout(timer);
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const last = readFileSync(fmtFile, 'utf8').trim().split('\n').pop() ?? '';
  const [u, s, m] = last.split(' ').map(Number);
  writeFileSync(fmtFile, '');
  return { wallS, cpuS: (u ?? NaN) + (s ?? NaN), peakRssBytes: (m ?? 0) * 1024, peakProcRssBytes: (m ?? 0) * 1024, exitCode: code, method: 'time' };
}

/** CPU (s) used by some already running processes and everything they start, via a cpuacct cgroup. */
export class CpuGroup {
  private readonly cg: string | undefined;
  constructor(pids: number[], name: string) {
    if (measureMethod() !== 'cgroup') return;
    const cg = join(CPUACCT, name);
    try {
      mkdirSync(cg);
      for (const p of pids) writeFileSync(join(cg, 'cgroup.procs'), String(p));
      this.cg = cg;
      liveGroupsNoKill.add(cg);
    } catch {
      this.cg = undefined;
    }
  }
  read(): number {
    if (!this.cg) return NaN;
    return Number(readFileSync(join(this.cg, 'cpuacct.usage'), 'utf8').trim()) / 1e9;
  }
  /** move the processes back to the root group and remove ours */
  dispose(): void {
    if (!this.cg) return;
    disposeGroup(this.cg);
    liveGroupsNoKill.delete(this.cg);
  }
}

const liveGroupsNoKill = new Set<string>();
function disposeGroup(cg: string): void {
  for (const p of pidsIn(cg)) {
    try { writeFileSync(join(CPUACCT, 'cgroup.procs'), String(p)); } catch { /* gone */ }
  }
  try { rmdirSync(cg); } catch { /* best effort */ }
}
/** exit handler: give the processes back to the root group (they are stopped by their owners) */
export function releaseGroups(): void {
  for (const cg of liveGroupsNoKill) disposeGroup(cg);
  liveGroupsNoKill.clear();
  for (const cg of liveGroups) { try { rmdirSync(cg); } catch { /* busy */ } }
}
