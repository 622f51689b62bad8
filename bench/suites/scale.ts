/**
 * Scale: 1,000 hosts × 10 run-script steps against a lightweight SSH endpoint (bench/fake-sshd.ts:
 * an ssh2 Server in a few cluster workers on one port; every inventory host points at it, so
 * pvrun opens 1,000 separate connections), forks 100 and 200. pvrun's process tree is measured
 * (wall, CPU, peak RSS); the endpoint's CPU is reported apart. The floor runs the same workload
 * alternately for reference.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { userInfo } from 'node:os';
import { CpuGroup, measure, type Measured } from '../lib/measure.js';
import { FAKE_SSHD_JS, FLOOR_JS, PVRUN_JS } from '../lib/build.js';
import { freePort } from '../../src/lab/sshd.js';
import { trackPid, untrackPid } from '../lib/cleanup.js';
import { spread, fmt, fmtSpread, table, MiB, type Spread } from '../lib/stats.js';
import type { SuiteContext, SuiteResult } from '../lib/suite.js';
import type { FloorSpec } from '../floor.js';

const execFileP = promisify(execFile);

interface Endpoint { port: number; pids: number[]; child: ChildProcess; knownHosts: string; clientKey: string }

async function startEndpoint(dir: string, workers: number): Promise<Endpoint> {
  const hostKey = join(dir, 'fake_host_key');
  const clientKey = join(dir, 'fake_client_key');
  await execFileP('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  await execFileP('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', clientKey]);
  const port = await freePort();
  const spec = join(dir, 'fake-sshd.json');
  writeFileSync(spec, JSON.stringify({ hostKey, clientPub: `${clientKey}.pub`, port, workers }));
  const child = spawn(process.execPath, [FAKE_SSHD_JS, spec], { stdio: ['ignore', 'pipe', 'inherit'] });
  trackPid(child.pid);
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error('fake sshd did not start')), 30_000);
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) { clearTimeout(t); resolve(buf.slice(0, nl)); }
    });
    child.once('exit', (c) => { clearTimeout(t); reject(new Error(`fake sshd exited ${c}`)); });
  });
  const pids = line.split(' ').slice(2).map(Number);
  for (const p of pids) trackPid(p);
  const [type, b64] = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/);
  const knownHosts = join(dir, 'fake_known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${type} ${b64}\n`);
  return { port, pids, child, knownHosts, clientKey };
}

async function stopEndpoint(e: Endpoint): Promise<void> {
  const exited = new Promise<void>((r) => { if (e.child.exitCode !== null) r(); else e.child.once('exit', () => r()); });
  e.child.kill('SIGTERM');
  const t = setTimeout(() => { for (const p of e.pids) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } } }, 5000);
  await exited;
  clearTimeout(t);
  for (const p of e.pids) untrackPid(p);
  untrackPid(e.pids[0]);
}

function writeInputs(dir: string, e: Endpoint, n: number, k: number): void {
  const steps = Array.from({ length: k }, (_, i) => `    - name: step ${i + 1}\n      run-script: { script: "true" }\n`).join('');
  writeFileSync(join(dir, `pvrun-${n}.yml`), `- name: scale ${n}×${k}\n  hosts: all\n  on_failure: stop\n  steps:\n${steps}`);
  const user = userInfo().username;
  const inv = [
    'groups:', '  all:',
    `    connection: { type: ssh, address: 127.0.0.1, port: ${e.port}, user: ${user}, key: ${e.clientKey}, known_hosts: ${e.knownHosts}, host_key_checking: strict }`,
    'hosts:', ...Array.from({ length: n }, (_, i) => `  s${String(i + 1).padStart(4, '0')}:`),
  ].join('\n') + '\n';
  writeFileSync(join(dir, `inventory-${n}.yml`), inv);
  const spec: FloorSpec = { hosts: Array.from({ length: n }, () => ({ host: '127.0.0.1', port: e.port })), user, key: e.clientKey, knownHosts: e.knownHosts, k, forks: 0, command: 'true' };
  writeFileSync(join(dir, `floor-${n}.json`), JSON.stringify(spec));
}

interface Row { who: string; n: number; forks: number; runs: Measured[]; server: number[]; failures: string[] }

export async function scaleSuite(ctx: SuiteContext): Promise<SuiteResult> {
  const n = 1000;
  const k = 10;
  const forksList = [100, 200];
  const runs = ctx.runs ? Math.min(ctx.runs, 3) : ctx.quick ? 1 : 3;
  const dir = ctx.tmp;
  const e = await startEndpoint(dir, 2);
  const cpu = new CpuGroup([e.child.pid!, ...e.pids], `pvbench-fake-${process.pid}`);
  const rows: Row[] = [];
  try {
    writeInputs(dir, e, n, k);
    writeInputs(dir, e, 10, k);
    const run = async (who: 'pvrun' | 'pvrun-tmpfs' | 'floor', hosts: number, forks: number, i: number): Promise<{ m: Measured; server: number }> => {
      const out = join(dir, `${who}-${hosts}-${forks}-${i}.out`);
      const errF = join(dir, `${who}-${hosts}-${forks}-${i}.err`);
      const s0 = cpu.read();
      let m: Measured;
      if (who !== 'floor') {
        // pvrun-tmpfs: the run journal on /dev/shm, where fsync costs nothing (diagnostic)
        const state = who === 'pvrun' ? join(dir, `state-${hosts}-${forks}-${i}`) : join('/dev/shm', `pvbench-scale-${process.pid}-${i}`);
        try {
          m = await measure([process.execPath, PVRUN_JS, join(dir, `pvrun-${hosts}.yml`), '-i', join(dir, `inventory-${hosts}.yml`), '-f', String(forks), '--json', '--state-dir', state],
            { stdoutFile: out, stderrFile: errF, cwd: dir, timeoutMs: 900_000, env: { ...process.env, CI: 'true' } });
        } finally {
          rmSync(state, { recursive: true, force: true });
        }
      } else {
        const spec = JSON.parse(readFileSync(join(dir, `floor-${hosts}.json`), 'utf8')) as FloorSpec;
        const f = join(dir, `floor-${hosts}-${forks}.json`);
        writeFileSync(f, JSON.stringify({ ...spec, forks }));
        m = await measure([process.execPath, FLOOR_JS, f], { stdoutFile: out, stderrFile: errF, timeoutMs: 900_000 });
      }
      const server = cpu.read() - s0;
      ctx.log(`scale: ${who} ${hosts}×${k} forks ${forks} #${i}: wall ${fmt(m.wallS)} s, cpu ${fmt(m.cpuS)} s, rss ${fmt(m.peakRssBytes / MiB, 0)} MiB, endpoint cpu ${fmt(server)} s, exit ${m.exitCode}`);
      if (m.exitCode !== 0) ctx.log(`scale: ${who} failed: ${readFileSync(errF, 'utf8').slice(-500)}`);
      return { m, server };
    };
    // baseline: the same pvrun with 10 hosts (for the marginal memory per host)
    const base: Row = { who: 'pvrun', n: 10, forks: 100, runs: [], server: [], failures: [] };
    for (let i = 0; i < runs; i++) {
      const r = await run('pvrun', 10, 100, i);
      base.runs.push(r.m);
      base.server.push(r.server);
    }
    rows.push(base);
    for (const forks of forksList) {
      const pv: Row = { who: 'pvrun', n, forks, runs: [], server: [], failures: [] };
      const fl: Row = { who: 'floor', n, forks, runs: [], server: [], failures: [] };
      const pt: Row = { who: 'pvrun-tmpfs', n, forks, runs: [], server: [], failures: [] };
      const order: ['pvrun' | 'pvrun-tmpfs' | 'floor', Row][] = [['pvrun', pv], ['floor', fl]];
      if (forks === forksList[0] && existsSync('/dev/shm')) order.push(['pvrun-tmpfs', pt]);
      for (let i = 0; i < runs; i++) {
        for (let j = 0; j < order.length; j++) {
          const [who, row] = order[(i + j) % order.length]!;
          const r = await run(who, n, forks, i);
          row.runs.push(r.m);
          row.server.push(r.server);
          if (r.m.exitCode !== 0) row.failures.push(`#${i}: exit ${r.m.exitCode}`);
        }
      }
      rows.push(pv, fl);
      if (pt.runs.length) rows.push(pt);
    }
  } finally {
    cpu.dispose();
    await stopEndpoint(e);
  }
  const baseRss = spread(rows[0]!.runs.map((m) => m.peakRssBytes / MiB)).median;
  const md = [
    `${n} hosts × ${k} run-script steps (\`script: "true"\`) against bench/fake-sshd.ts (ssh2 Server, 2 cluster workers, one port); ${runs} run(s) each, alternating pvrun and floor; median (min–max). ` +
      `RSS per host = peak RSS / hosts; marginal = (peak RSS − peak RSS of the same run with 10 hosts, ${fmt(baseRss, 0)} MiB) / (hosts − 10).`,
    '',
    table(['contender', 'hosts', 'forks', 'wall s', 'CPU s (tree)', 'peak RSS MiB', 'RSS per host KiB', 'marginal KiB/host', 'endpoint CPU s', 'runs'], rows.map((r) => {
      const rss: Spread = spread(r.runs.map((m) => m.peakRssBytes / MiB));
      return [r.who, String(r.n), String(r.forks), fmtSpread(spread(r.runs.map((m) => m.wallS))), fmtSpread(spread(r.runs.map((m) => m.cpuS))), fmtSpread(rss, 0),
        fmt((rss.median * 1024) / r.n, 0), r.n > 10 ? fmt(((rss.median - baseRss) * 1024) / (r.n - 10), 0) : '—', fmtSpread(spread(r.server)), r.failures.length ? `${r.failures.length} failed` : 'ok'];
    })),
  ].join('\n');
  return { name: 'scale', title: 'Scale: 1,000 hosts on a lightweight SSH endpoint', markdown: md, data: { rows } };
}
