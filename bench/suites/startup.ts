/**
 * Start-up (issue 17): `pvrun --help` and `pvrun validate` of a 10-step playbook on a 50-host
 * inventory (bench/fixtures/startup-*.yml), against `node -e 0` (Node's own start), each as a
 * fresh process of the compiled copy: wall time, CPU (user + system), the modules it loads
 * (test/harness/module-trace.mjs, in one extra untimed run), its minor page faults (the pages
 * it touched first: ~11 µs each on the 2-vCPU machine of 2026-12-07, /usr/bin/time, 3 untimed runs)
 * and its garbage collections (bench/lib/gc-count.cjs, 3 untimed runs). With --baseline, the same for another
 * build (`pvrun-base`), in interleaved rounds.
 *
 *   npm run bench -- startup [--runs 10] [--baseline /path/to/old/dist/cli/main.cjs]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { measure } from '../lib/measure.js';
import { PVRUN_JS, REPO } from '../lib/build.js';
import { fmtSpread, spread, table } from '../lib/stats.js';
import type { SuiteContext, SuiteResult } from '../lib/suite.js';

const PLAYBOOK = join(REPO, 'bench', 'fixtures', 'startup-playbook.yml');
const INVENTORY = join(REPO, 'bench', 'fixtures', 'startup-inventory.yml');
const TRACE = join(REPO, 'test', 'harness', 'module-trace.mjs');

interface Case { name: string; build: string; argv: string[]; env?: NodeJS.ProcessEnv }

/**
 * NODE_EXTRA_CA_CERTS makes Node read and decode that CA bundle at every start, before any
 * JavaScript runs: ~75 ms of a 110 ms `node -e 0` on the machine of 2026-12-07 (its environment
 * sets it to the system bundle). pvrun cannot avoid it, and an operator's shell seldom sets it:
 * the cases run without it, and `node -e 0` is also measured with it, so the report shows the cost.
 */
const CA_VAR = 'NODE_EXTRA_CA_CERTS';
function envWithoutExtraCa(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env[CA_VAR];
  return env;
}

/** Modules one run loads: pvrun's own, and per npm package. */
async function modulesOf(c: Case, tmp: string): Promise<{ pvrun: number; packages: Record<string, number> }> {
  const out = join(tmp, `trace-${c.name.replace(/\W+/g, '_')}.txt`);
  const argv = [process.execPath, '--import', TRACE, ...c.argv.slice(1)];
  const m = await measure(argv, { cwd: REPO, env: { ...(c.env ?? process.env), PVRUN_MODULE_TRACE: out }, timeoutMs: 120_000 });
  if (m.exitCode !== 0) throw new Error(`${c.name}: exit ${m.exitCode} in the traced run`);
  const files = new Set(readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => l.slice(4).replace(/^file:\/\//, '')).filter((u) => u.startsWith('/')));
  const packages: Record<string, number> = {};
  let pvrun = 0;
  for (const f of files) {
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(f)?.[1];
    if (pkg) packages[pkg] = (packages[pkg] ?? 0) + 1;
    else pvrun++;
  }
  return { pvrun, packages };
}

/**
 * Minor page faults of one run (median of 3, /usr/bin/time's %R): each is a page of memory the
 * process touched for the first time. On the virtual machines this was measured on one costs
 * ~11 µs (writing 1.8 MB of fresh memory: ~5 ms), so memory a start-up touches is time.
 */
function faultsOf(c: Case): number | undefined {
  if (!existsSync('/usr/bin/time')) return undefined;
  const n: number[] = [];
  for (let i = 0; i < 3; i++) {
    const r = spawnSync('/usr/bin/time', ['-f', '@faults %R', ...c.argv], { cwd: REPO, env: c.env ?? process.env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 120_000 });
    const m = /@faults (\d+)\s*$/.exec(r.stderr ?? '');
    if (r.status !== 0 || !m) throw new Error(`${c.name}: exit ${r.status} in the page-fault run: ${(r.stderr ?? '').slice(-300)}`);
    n.push(Number(m[1]));
  }
  n.sort((a, b) => a - b);
  return n[1];
}

const GC_COUNT = join(REPO, 'bench', 'lib', 'gc-count.cjs');

/**
 * Garbage collections of one run (median of 3 by count, with their duration), from the
 * PerformanceObserver preload bench/lib/gc-count.cjs: like the page faults, a count that does not
 * move with the machine's load. On the machine of 2026-12-07 each of the first scavenges cost
 * 3–5 ms, most of it pages touched for the first time.
 */
function gcOf(c: Case): { n: number; ms: number } | undefined {
  const got: { n: number; ms: number }[] = [];
  for (let i = 0; i < 3; i++) {
    const r = spawnSync(c.argv[0]!, ['-r', GC_COUNT, ...c.argv.slice(1)], { cwd: REPO, env: c.env ?? process.env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 120_000 });
    const m = /@gc (\d+) ([\d.]+)\s*$/.exec(r.stderr ?? '');
    if (r.status !== 0) throw new Error(`${c.name}: exit ${r.status} in the GC run: ${(r.stderr ?? '').slice(-300)}`);
    if (!m) return undefined; // the process ended with process.exit(): no report
    got.push({ n: Number(m[1]), ms: Number(m[2]) });
  }
  got.sort((a, b) => a.n - b.n || a.ms - b.ms);
  return got[1];
}

export async function startupSuite(ctx: SuiteContext): Promise<SuiteResult> {
  const runs = ctx.runs ?? (ctx.quick ? 3 : 10);
  const builds: [string, string][] = [['pvrun', PVRUN_JS], ...(ctx.baseline ? [['pvrun-base', ctx.baseline] as [string, string]] : [])];
  // the installed CLI's code cache (src/cli/compile-cache.ts) in the suite's own directory, written
  // by the warm-up round; and the same commands without it (a first run, another Node)
  const env = { ...envWithoutExtraCa(), PVRUN_COMPILE_CACHE: join(ctx.tmp, 'v8cache') };
  const noCache = { ...env, PVRUN_COMPILE_CACHE: 'off' };
  const cases: Case[] = [{ name: 'node -e 0', build: '-', argv: [process.execPath, '-e', '0'], env }];
  if (process.env[CA_VAR]) cases.push({ name: `node -e 0 (with ${CA_VAR})`, build: '-', argv: [process.execPath, '-e', '0'] });
  for (const [b, js] of builds) {
    // each build its own cache directory: an older build keeps one file per kind of command and
    // would delete the other build's at every write
    const own = { ...env, PVRUN_COMPILE_CACHE: join(ctx.tmp, `v8cache-${b}`) };
    cases.push({ name: `--help (${b})`, build: b, argv: [process.execPath, js, '--help'], env: own });
    cases.push({ name: `validate (${b})`, build: b, argv: [process.execPath, js, 'validate', PLAYBOOK, '-i', INVENTORY], env: own });
  }
  cases.push({ name: '--help (pvrun, no code cache)', build: 'pvrun', argv: [process.execPath, PVRUN_JS, '--help'], env: noCache });
  cases.push({ name: 'validate (pvrun, no code cache)', build: 'pvrun', argv: [process.execPath, PVRUN_JS, 'validate', PLAYBOOK, '-i', INVENTORY], env: noCache });
  const load0 = loadavg();
  const wall = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  const cpu = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  // one warm-up round (file cache), then `runs` rounds, the order rotating each round
  for (let r = -1; r < runs; r++) {
    const order = cases.map((_, i) => cases[(i + Math.max(r, 0)) % cases.length]!);
    for (const c of order) {
      const m = await measure(c.argv, { cwd: REPO, timeoutMs: 120_000, ...(c.env ? { env: c.env } : {}) });
      if (m.exitCode !== 0) throw new Error(`${c.name}: exit ${m.exitCode}`);
      if (r >= 0) { wall.get(c.name)!.push(m.wallS * 1000); cpu.get(c.name)!.push(m.cpuS * 1000); }
    }
  }
  const load1 = loadavg();
  const mods = new Map<string, Awaited<ReturnType<typeof modulesOf>>>();
  for (const c of cases) if (c.build !== '-') mods.set(c.name, await modulesOf(c, ctx.tmp));
  const faults = new Map(cases.map((c) => [c.name, faultsOf(c)]));
  const gcs = new Map(cases.map((c) => [c.name, gcOf(c)]));
  const rows = cases.map((c) => {
    const m = mods.get(c.name);
    const pk = m ? Object.entries(m.packages).sort((a, b) => b[1] - a[1]).map(([p, n]) => `${p} ${n}`).join(', ') : '';
    const f = faults.get(c.name);
    const g = gcs.get(c.name);
    return [c.name, fmtSpread(spread(wall.get(c.name)!), 0), fmtSpread(spread(cpu.get(c.name)!), 0), f === undefined ? '—' : String(f), g === undefined ? '—' : `${g.n} (${g.ms.toFixed(1)} ms)`, m ? String(m.pvrun) : '—', pk || '—'];
  });
  const markdown = [
    `${runs} measured rounds after one warm-up, interleaved; load average ${load0.map((l) => l.toFixed(1)).join('/')} → ${load1.map((l) => l.toFixed(1)).join('/')}.`,
    `validate: ${PLAYBOOK.slice(REPO.length + 1)} (10 steps) on ${INVENTORY.slice(REPO.length + 1)} (50 hosts).`,
    process.env[CA_VAR] ? `This environment sets ${CA_VAR}: every case but the one named so runs without it (Node decodes that bundle at each start; see bench/suites/startup.ts).` : `${CA_VAR} is not set.`,
    '',
    table(['case', 'wall ms, median (min–max)', 'CPU ms, median (min–max)', 'minor page faults', 'GCs (their time)', "pvrun's modules", 'npm modules'], rows),
  ].join('\n');
  return { name: 'startup', title: 'Start-up: pvrun --help and pvrun validate', markdown, data: { runs, load: [load0, load1], wall: Object.fromEntries(wall), cpu: Object.fromEntries(cpu), faults: Object.fromEntries(faults), gcs: Object.fromEntries(gcs), modules: Object.fromEntries(mods) } };
}
