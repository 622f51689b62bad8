/**
 * W(N, K, F) on a farm of real OpenSSH sshd processes: pvrun, ansible-playbook (command tasks
 * with pipelining and ControlPersist, linear; raw tasks, free) and the bare ssh2 floor, run
 * alternately on the same farm, whole process trees measured.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { startFarm, type Farm } from '../lib/farm.js';
import { CpuGroup, measure, type Measured } from '../lib/measure.js';
import { FLOOR_JS, PVRUN_JS } from '../lib/build.js';
import { spread, fmt, fmtSpread, table, MiB, type Spread } from '../lib/stats.js';
import type { SuiteContext, SuiteResult } from '../lib/suite.js';
import type { FloorSpec } from '../floor.js';

const execFileP = promisify(execFile);

type Contender = 'pvrun' | 'pvrun-tmpfs' | 'pvrun-nopreflight' | 'pvrun-v8default' | 'pvrun-base' | 'floor' | 'floor-3exec' | 'ansible-command' | 'ansible-raw';
const ALL: Contender[] = ['pvrun', 'pvrun-tmpfs', 'pvrun-nopreflight', 'pvrun-v8default', 'pvrun-base', 'floor', 'floor-3exec', 'ansible-command', 'ansible-raw'];

interface Cell {
  contender: Contender;
  runs: Measured[];
  failures: string[];
  wall: Spread;
  cpu: Spread;
  rssMiB: Spread;
  /** CPU spent by the farm's sshd processes (and what they ran) during the runs */
  serverCpu: Spread;
}

interface SizeResult {
  n: number;
  k: number;
  f: number;
  cells: Cell[];
  /** execve seen at the farm's sshds per host-step (strace), by contender; login shell included */
  execvePerStep: Partial<Record<Contender, number>>;
  /** SSH connections the farm's sshds accepted per host in that traced run (sshd re-execs itself once per connection) */
  connectionsPerHost: Partial<Record<Contender, number>>;
  /** load average (1, 5, 15 min) when the size started and ended */
  load: { before: number[]; after: number[] };
}

export const ANSIBLE_PLAYBOOK = '/usr/bin/ansible-playbook';

/** ansible-core from Debian: installed if missing (apt-get), else the reason it is skipped. */
export async function ensureAnsible(log: (s: string) => void): Promise<string | undefined> {
  if (existsSync(ANSIBLE_PLAYBOOK)) return undefined;
  if (process.getuid?.() !== 0) return 'ansible-playbook is not installed and installing it needs root';
  const pol = spawnSync('apt-cache', ['policy', 'ansible-core'], { encoding: 'utf8' });
  const cand = /Candidate:\s*(\S+)/.exec(pol.stdout ?? '')?.[1];
  if (!cand || cand === '(none)') return 'ansible-core has no installation candidate in the configured apt sources';
  log(`ansible: installing ansible-core ${cand} with apt-get`);
  const r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'ansible-core'], {
    encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 600_000,
  });
  if (r.status !== 0 || !existsSync(ANSIBLE_PLAYBOOK)) return `apt-get install ansible-core failed: ${(r.stderr ?? '').trim().split('\n').pop()}`;
  return undefined;
}

async function ansibleVersion(): Promise<string> {
  try {
    const { stdout } = await execFileP(ANSIBLE_PLAYBOOK, ['--version']);
    return stdout.split('\n')[0]?.trim() ?? '?';
  } catch {
    return '?';
  }
}

function writeInputs(dir: string, farm: Farm, n: number, k: number, f: number): void {
  mkdirSync(dir, { recursive: true });
  const hosts = farm.hosts.slice(0, n);
  // pvrun
  const steps = Array.from({ length: k }, (_, i) => `    - name: step ${i + 1}\n      run-script: { script: "true" }\n`).join('');
  writeFileSync(join(dir, 'pvrun.yml'), `- name: bench W(${n},${k},${f})\n  hosts: all\n  forks: ${f}\n  on_failure: stop\n  steps:\n${steps}`);
  const inv = [
    'groups:',
    '  all:',
    `    connection: { type: ssh, address: 127.0.0.1, user: ${farm.user}, key: ${farm.clientKey}, known_hosts: ${farm.knownHosts}, host_key_checking: strict }`,
    'hosts:',
    ...hosts.map((h) => `  ${h.name}: { connection: { port: ${h.port} } }`),
  ].join('\n') + '\n';
  writeFileSync(join(dir, 'inventory.yml'), inv);
  // floor
  const spec: FloorSpec = {
    hosts: hosts.map((h) => ({ host: '127.0.0.1', port: h.port })), user: farm.user, key: farm.clientKey,
    knownHosts: farm.knownHosts, k, forks: f, command: 'true',
  };
  writeFileSync(join(dir, 'floor.json'), JSON.stringify(spec));
  writeFileSync(join(dir, 'floor-3exec.json'), JSON.stringify({ ...spec, execsPerStep: 'three' }));
  // ansible
  writeFileSync(join(dir, 'hosts.ini'), [
    '[bench]',
    ...hosts.map((h) => `${h.name} ansible_host=127.0.0.1 ansible_port=${h.port}`),
    '[bench:vars]',
    `ansible_user=${farm.user}`,
    `ansible_ssh_private_key_file=${farm.clientKey}`,
    'ansible_python_interpreter=/usr/bin/python3',
  ].join('\n') + '\n');
  writeFileSync(join(dir, 'ansible.cfg'), [
    '[defaults]',
    `forks = ${f}`,
    'host_key_checking = True',
    'gathering = explicit',
    'retry_files_enabled = False',
    'interpreter_python = /usr/bin/python3',
    `local_tmp = ${join(dir, 'ansible-tmp')}`,
    '[ssh_connection]',
    'pipelining = True',
    `ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=${farm.knownHosts} -o StrictHostKeyChecking=yes -o BatchMode=yes`,
    'control_path = %(directory)s/%%C',
  ].join('\n') + '\n');
  const cmdTasks = Array.from({ length: k }, (_, i) => `    - name: step ${i + 1}\n      command: /bin/true\n`).join('');
  writeFileSync(join(dir, 'command.yml'), `- hosts: bench\n  gather_facts: false\n  strategy: linear\n  tasks:\n${cmdTasks}`);
  const rawTasks = Array.from({ length: k }, (_, i) => `    - name: step ${i + 1}\n      raw: "true"\n`).join('');
  writeFileSync(join(dir, 'raw.yml'), `- hosts: bench\n  gather_facts: false\n  strategy: free\n  tasks:\n${rawTasks}`);
}

async function runOnce(c: Contender, dir: string, f: number, runNo: number, baseline?: string): Promise<Measured> {
  const out = join(dir, `${c}-${runNo}.out`);
  const errF = join(dir, `${c}-${runNo}.err`);
  const timeoutMs = 900_000;
  switch (c) {
    case 'pvrun':
    case 'pvrun-tmpfs':
    case 'pvrun-nopreflight':
    case 'pvrun-v8default':
    case 'pvrun-base': {
      // pvrun-tmpfs: the run journal on /dev/shm, where fsync costs nothing (diagnostic only);
      // pvrun-nopreflight: --skip-preflight (the preflight opens its own connection to every
      // host before batch 1); pvrun-v8default: V8's default tiering (src/cli/v8-tuning.ts);
      // pvrun-base: another build (--baseline), for before/after
      const state = c === 'pvrun-tmpfs' ? join('/dev/shm', `pvbench-state-${process.pid}-${runNo}`) : join(dir, `${c}-state-${runNo}`);
      const js = c === 'pvrun-base' ? baseline! : PVRUN_JS;
      const extra = c === 'pvrun-nopreflight' ? ['--skip-preflight'] : [];
      try {
        return await measure([process.execPath, js, join(dir, 'pvrun.yml'), '-i', join(dir, 'inventory.yml'), '-f', String(f), '--json', '--state-dir', state, ...extra],
          // each build its own code-cache directory (src/cli/compile-cache.ts), written by the
          // warm-up round: an older build keeps one file per kind of command and would delete
          // the other build's at every write
          { stdoutFile: out, stderrFile: errF, timeoutMs, cwd: dir, env: { ...process.env, CI: 'true', PVRUN_COMPILE_CACHE: join(dir, `v8cache-${c === 'pvrun-base' ? 'base' : 'pvrun'}`), ...(c === 'pvrun-v8default' ? { PVRUN_V8_DEFAULTS: '1' } : {}) } });
      } finally {
        rmSync(state, { recursive: true, force: true });
      }
    }
    case 'floor':
    case 'floor-3exec':
      return measure([process.execPath, FLOOR_JS, join(dir, `${c}.json`)], { stdoutFile: out, stderrFile: errF, timeoutMs });
    case 'ansible-command':
    case 'ansible-raw': {
      const cp = join('/tmp', `pvb-cp-${process.pid}-${runNo}-${c === 'ansible-raw' ? 'r' : 'c'}`);
      mkdirSync(cp, { recursive: true });
      try {
        return await measure([ANSIBLE_PLAYBOOK, '-i', join(dir, 'hosts.ini'), join(dir, c === 'ansible-raw' ? 'raw.yml' : 'command.yml'), '-f', String(f)], {
          stdoutFile: out, stderrFile: errF, timeoutMs, cwd: dir,
          env: { ...process.env, ANSIBLE_CONFIG: join(dir, 'ansible.cfg'), ANSIBLE_SSH_CONTROL_PATH_DIR: cp, ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0' },
        });
      } finally {
        rmSync(cp, { recursive: true, force: true });
      }
    }
  }
}

function tail(file: string): string {
  try { return readFileSync(file, 'utf8').trim().split('\n').slice(-3).join(' / ').slice(0, 400); } catch { return ''; }
}

export async function workloadSuite(ctx: SuiteContext): Promise<SuiteResult> {
  const sizes: [number, number, number][] = ctx.sizes ?? (ctx.quick ? [[10, 10, 10], [20, 10, 20]] : [[20, 10, 20], [50, 10, 50], [100, 10, 50]]);
  const runs = ctx.runs ?? (ctx.quick ? 2 : 5);
  let ansibleSkip: string | undefined = ctx.noAnsible ? 'disabled with --no-ansible' : await ensureAnsible(ctx.log);
  const wanted = ctx.contenders as Contender[] | undefined;
  const bad = wanted?.filter((c) => !ALL.includes(c));
  if (bad?.length) throw new Error(`unknown contender(s) ${bad.join(', ')} (known: ${ALL.join(', ')})`);
  if (wanted?.includes('pvrun-base') && !ctx.baseline) throw new Error('contender pvrun-base needs --baseline <main.js of another build>');
  if (wanted && !wanted.some((c) => c.startsWith('ansible'))) ansibleSkip ??= 'not among --contenders';
  const contenders: Contender[] = wanted
    ? wanted.filter((c) => !(c.startsWith('ansible') && ansibleSkip))
    : ['pvrun', 'floor', 'floor-3exec', ...(existsSync('/dev/shm') ? (['pvrun-tmpfs'] as const) : []), ...(ansibleSkip ? [] : (['ansible-command', 'ansible-raw'] as const))];
  const ansVer = ansibleSkip ? undefined : await ansibleVersion();
  if (ansibleSkip) ctx.log(`workload: ansible-playbook skipped: ${ansibleSkip}`);
  const maxN = Math.max(...sizes.map((s) => s[0]));
  const farm = await startFarm(maxN, ctx.log);
  const farmCpu = new CpuGroup(farm.pids(), `pvbench-farm-${process.pid}`);
  const results: SizeResult[] = [];
  const notes = new Set<string>();
  try {
    for (const [n, k, f] of sizes) {
      const dir = join(ctx.tmp, `w-${n}-${k}-${f}`);
      writeInputs(dir, farm, n, k, f);
      const load0 = loadavg();
      const raw = new Map<Contender, { runs: Measured[]; server: number[]; failures: string[] }>(contenders.map((c) => [c, { runs: [], server: [], failures: [] }]));
      for (let r = 0; r <= runs; r++) {
        // rotate the order each round so no contender always follows another
        const order = contenders.map((_, i) => contenders[(i + r) % contenders.length]!);
        for (const c of order) {
          const s0 = farmCpu.read();
          const m = await runOnce(c, dir, f, r, ctx.baseline);
          const s1 = farmCpu.read();
          const label = r === 0 ? 'warm-up' : `run ${r}/${runs}`;
          ctx.log(`W(${n},${k},${f}) ${label} ${c}: wall ${fmt(m.wallS)} s, cpu ${fmt(m.cpuS)} s, rss ${fmt(m.peakRssBytes / MiB, 0)} MiB, exit ${m.exitCode}`);
          const slot = raw.get(c)!;
          if (m.exitCode !== 0) slot.failures.push(`run ${r}: exit ${m.exitCode}: ${tail(join(dir, `${c}-${r}.err`)) || tail(join(dir, `${c}-${r}.out`))}`);
          if (r === runs) {
            const first = tail(join(dir, `${c}-${r}.err`)).split(' / ')[0];
            if (first) notes.add(`${c}: stderr: ${first}`);
          }
          if (r === 0) continue;
          slot.runs.push(m);
          slot.server.push(s1 - s0);
        }
      }
      // what the hosts execute per step: one more run of each pvrun build and of the floor, traced
      const execvePerStep: SizeResult['execvePerStep'] = {};
      const connectionsPerHost: SizeResult['connectionsPerHost'] = {};
      for (const c of contenders.filter((x) => x === 'pvrun' || x === 'pvrun-base' || x === 'floor')) {
        const t = await countExecve(farm.pids(), () => runOnce(c, dir, f, runs + 1, ctx.baseline), ctx.log);
        if (t !== undefined) {
          execvePerStep[c] = t.execs / (n * k);
          connectionsPerHost[c] = t.connections / n;
        }
        ctx.log(`W(${n},${k},${f}) at the hosts, ${c}: ${t ? `${t.execs} execve (${fmt(t.execs / (n * k))} per host-step), ${t.connections} connections` : 'n/a'}`);
      }
      results.push({
        n, k, f, execvePerStep, connectionsPerHost, load: { before: load0, after: loadavg() },
        cells: contenders.map((c) => {
          const s = raw.get(c)!;
          return {
            contender: c, runs: s.runs, failures: s.failures,
            wall: spread(s.runs.map((m) => m.wallS)), cpu: spread(s.runs.map((m) => m.cpuS)),
            rssMiB: spread(s.runs.map((m) => m.peakRssBytes / MiB)), serverCpu: spread(s.server),
          };
        }),
      });
    }
  } finally {
    farmCpu.dispose();
    await farm.stop();
  }
  return { name: 'workload', title: 'Workload W(N, K, F) on real OpenSSH sshd', markdown: render(results, runs, ansibleSkip, ansVer) + (notes.size ? `\n\nWhat the contenders wrote on stderr (last run of each size):\n\n${[...notes].map((n) => `- ${n}`).join('\n')}` : ''), data: { runs, ansibleSkip, ansibleVersion: ansVer, results, notes: [...notes] } };
}

function render(results: SizeResult[], runs: number, ansibleSkip: string | undefined, ansVer: string | undefined): string {
  const out: string[] = [];
  out.push(`${runs} measured runs per contender after one warm-up, alternating; median (min–max).` +
    (ansibleSkip ? ` ansible-playbook skipped: ${ansibleSkip}.` : ` ansible: ${ansVer}.`));
  out.push('');
  const rows: string[][] = [];
  for (const s of results) {
    for (const c of s.cells) {
      rows.push([`(${s.n},${s.k},${s.f})`, c.contender, fmtSpread(c.wall), fmtSpread(c.cpu), fmtSpread(c.rssMiB, 0), fmtSpread(c.serverCpu),
        c.failures.length ? `${c.failures.length} failed` : 'ok']);
    }
  }
  out.push(table(['W(N,K,F)', 'contender', 'wall s', 'CPU s (client tree)', 'peak RSS MiB (tree)', 'server CPU s (sshd side)', 'runs'], rows));
  const ratioRows: string[][] = [];
  for (const s of results) {
    const get = (c: Contender) => s.cells.find((x) => x.contender === c);
    const pv = get('pvrun');
    const fl = get('floor');
    const ac = get('ansible-command');
    const ar = get('ansible-raw');
    const f3 = get('floor-3exec');
    const pt = get('pvrun-tmpfs');
    const pb = get('pvrun-base');
    const pn = get('pvrun-nopreflight');
    const pd = get('pvrun-v8default');
    const r = (a: Spread | undefined, b: Spread | undefined) => (a && b ? fmt(a.median / b.median) : 'n/a');
    const ex = (c: Contender) => (s.execvePerStep[c] !== undefined ? fmt(s.execvePerStep[c]!) : 'n/a');
    const cn = (c: Contender) => (s.connectionsPerHost[c] !== undefined ? fmt(s.connectionsPerHost[c]!) : 'n/a');
    ratioRows.push([`(${s.n},${s.k},${s.f})`, r(pv?.wall, fl?.wall), r(pv?.cpu, fl?.cpu), ex('pvrun'), ex('floor'), `${cn('pvrun')}, ${cn('floor')}`, r(pb?.wall, fl?.wall), r(pb?.cpu, fl?.cpu), ex('pvrun-base'), r(pn?.wall, fl?.wall), r(pn?.cpu, fl?.cpu), r(pd?.wall, fl?.wall), r(pd?.cpu, fl?.cpu), r(pv?.wall, f3?.wall), r(pt?.wall, fl?.wall), r(ac?.wall, pv?.wall), r(ac?.cpu, pv?.cpu), r(ar?.wall, pv?.wall), r(ar?.cpu, pv?.cpu),
      `${s.load.before.map((x) => x.toFixed(1)).join('/')} → ${s.load.after.map((x) => x.toFixed(1)).join('/')}`]);
  }
  out.push('');
  out.push('Ratios of medians:');
  out.push('');
  out.push(table(['W(N,K,F)', 'pvrun/floor wall', 'pvrun/floor CPU', 'pvrun execve per step', 'floor execve per step', 'connections per host (pvrun, floor)', 'pvrun-base/floor wall', 'pvrun-base/floor CPU', 'pvrun-base execve per step', 'pvrun-nopreflight/floor wall', 'pvrun-nopreflight/floor CPU', 'pvrun-v8default/floor wall', 'pvrun-v8default/floor CPU', 'pvrun/floor-3exec wall', 'pvrun-tmpfs/floor wall', 'ansible-command/pvrun wall', 'ansible-command/pvrun CPU', 'ansible-raw/pvrun wall', 'ansible-raw/pvrun CPU', 'load 1/5/15 min (size start → end)'], ratioRows));
  out.push('', '*execve per step*: every execve the farm\'s sshds and their children made during one extra run, over hosts × steps (strace -f attached to the sshds; sshd\'s own re-exec per connection left out; the login shell counts, so the floor\'s `true` is 1). *Connections per host*: sshd\'s re-execs in the same trace (one per accepted connection, the preflight\'s included), over hosts.');
  const fails = results.flatMap((s) => s.cells.flatMap((c) => c.failures.map((f) => `- (${s.n},${s.k},${s.f}) ${c.contender}: ${f}`)));
  if (fails.length) out.push('', 'Failed runs:', '', ...fails);
  return out.join('\n');
}

/**
 * execve made by the farm's sshds and everything they start while `run` runs: strace -f attached
 * to the listening sshds (new connections are forked from them), sshd's own re-exec per
 * connection counted apart (as connections). undefined without strace (or without permission to trace).
 */
async function countExecve(pids: number[], run: () => Promise<unknown>, log: (s: string) => void): Promise<{ execs: number; connections: number } | undefined> {
  const out = join('/tmp', `pvbench-strace-${process.pid}-${Date.now()}`);
  const st = spawn('strace', ['-f', '-e', 'trace=execve', '-e', 'signal=none', '-o', out, ...pids.flatMap((p) => ['-p', String(p)])], { stdio: ['ignore', 'ignore', 'pipe'] });
  const ok = await new Promise<boolean>((resolve) => {
    st.once('error', () => resolve(false));
    st.once('exit', () => resolve(false));
    // "Process N attached" for every sshd before the run starts
    let buf = '';
    st.stderr!.setEncoding('utf8');
    st.stderr!.on('data', (d: string) => { buf += d; if ((buf.match(/attached/g) ?? []).length >= pids.length) resolve(true); });
    setTimeout(() => resolve(false), 30_000);
  });
  if (!ok) {
    if (st.exitCode === null) st.kill();
    log('execve count: strace is not available or cannot attach; skipped');
    return undefined;
  }
  try {
    await run();
  } finally {
    const exited = new Promise((r) => st.once('exit', r));
    st.kill('SIGINT');
    await exited;
  }
  try {
    const all = successfulExecs(readFileSync(out, 'utf8'));
    const sshd = all.filter((e) => e.path === '/usr/sbin/sshd').length;
    return { execs: all.length - sshd, connections: sshd };
  } finally {
    rmSync(out, { force: true });
  }
}

/**
 * The execve calls in `strace -f` output that succeeded. With several processes traced, a call
 * can be split over two lines (`PID execve("…", … <unfinished ...>` … `PID <... execve resumed>…) = 0`).
 */
export function successfulExecs(text: string): { pid: number; path: string }[] {
  const out: { pid: number; path: string }[] = [];
  const pending = new Map<number, string>();
  for (const line of text.split('\n')) {
    const start = /^(\d+)\s+execve\("([^"]+)"/.exec(line);
    if (start) {
      const pid = Number(start[1]);
      if (/<unfinished \.\.\.>\s*$/.test(line)) pending.set(pid, start[2]!);
      else if (/\)\s+= 0$/.test(line.trim())) out.push({ pid, path: start[2]! });
      continue;
    }
    const resumed = /^(\d+)\s+<\.\.\. execve resumed>.*\)\s+= (-?\d+)/.exec(line);
    if (resumed) {
      const pid = Number(resumed[1]);
      const path = pending.get(pid);
      pending.delete(pid);
      if (path !== undefined && resumed[2] === '0') out.push({ pid, path });
    }
  }
  return out;
}
