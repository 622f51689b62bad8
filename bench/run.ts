/**
 * pvrun's benchmark suite (`npm run bench`; never part of `npm test`).
 *
 *   npm run bench                          every suite, full sizes
 *   npm run bench -- --quick               small sizes, fewer runs (for development)
 *   npm run bench -- workload connector    only these suites
 *   npm run bench -- workload --sizes 50x10x50 --runs 7 --no-ansible
 *   npm run bench -- workload --contenders pvrun,floor,pvrun-base --baseline /tmp/old/dist/cli/main.cjs
 *
 * Suites: workload (pvrun vs ansible-playbook vs the ssh2 floor on real sshd), scale (1,000
 * hosts on a lightweight ssh2 endpoint), engine (loading/planning; per host-step overhead),
 * connector (per-exec overhead, connection set-up), xapi (calls per VM in the lab), profile
 * (node --cpu-prof of pvrun, summarised), startup (`--help` and `validate` of 10 steps × 50 hosts:
 * wall, CPU, modules loaded), instructions (the same start-up cases and one exec against the
 * floor, counted by valgrind: noise-free on a shared machine).
 * Results: Markdown on stdout and in bench/results/latest.md, raw figures in
 * bench/results/<time>.json (bench/results/ is not committed; BENCHMARKS.md is).
 */
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, REPO } from './lib/build.js';
import { installExitHandlers, onCleanup } from './lib/cleanup.js';
import { measureMethod } from './lib/measure.js';
import type { SuiteContext, SuiteResult } from './lib/suite.js';
import { workloadSuite } from './suites/workload.js';
import { scaleSuite } from './suites/scale.js';
import { engineSuite } from './suites/engine.js';
import { connectorSuite } from './suites/connector.js';
import { xapiSuite } from './suites/xapi.js';
import { profileSuite } from './suites/profile.js';
import { startupSuite } from './suites/startup.js';
import { instructionsSuite } from './suites/instructions.js';

const SUITES: Record<string, (ctx: SuiteContext) => Promise<SuiteResult>> = {
  engine: engineSuite,
  connector: connectorSuite,
  xapi: xapiSuite,
  scale: scaleSuite,
  workload: workloadSuite,
  profile: profileSuite,
  startup: startupSuite,
  instructions: instructionsSuite,
};

interface Args {
  quick: boolean;
  suites: string[];
  runs?: number;
  sizes?: [number, number, number][];
  noAnsible: boolean;
  contenders?: string[];
  baseline?: string;
}

function parse(argv: string[]): Args | string {
  const a: Args = { quick: false, suites: [], noAnsible: false };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i]!;
    if (x === '--quick') a.quick = true;
    else if (x === '--no-ansible') a.noAnsible = true;
    else if (x === '--contenders') a.contenders = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (x === '--baseline') {
      const b = argv[++i];
      if (!b) return '--baseline needs the path of another build\'s dist/cli/main.cjs';
      a.baseline = b;
    }
    else if (x === '--runs') {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) return '--runs needs a positive integer';
      a.runs = n;
    } else if (x === '--sizes') {
      const v = argv[++i] ?? '';
      const sizes = v.split(',').map((s) => s.split('x').map(Number));
      if (!sizes.length || sizes.some((s) => s.length !== 3 || s.some((n) => !Number.isInteger(n) || n < 1))) return '--sizes wants NxKxF[,NxKxF…], e.g. 50x10x50';
      a.sizes = sizes as [number, number, number][];
    } else if (x === '--help' || x === '-h') return 'help';
    else if (x in SUITES) a.suites.push(x);
    else return `unknown argument '${x}' (suites: ${Object.keys(SUITES).join(', ')})`;
  }
  if (a.suites.length === 0) a.suites = Object.keys(SUITES);
  return a;
}

async function main(): Promise<number> {
  const args = parse(process.argv.slice(2));
  if (typeof args === 'string') {
    const help = 'usage: npm run bench -- [--quick] [--runs N] [--sizes NxKxF,…] [--no-ansible] [--contenders a,b,…] [--baseline main.js] [suite…]\n' +
      `suites: ${Object.keys(SUITES).join(', ')}\n`;
    if (args === 'help') { process.stdout.write(help); return 0; }
    process.stderr.write(`bench: ${args}\n${help}`);
    return 2;
  }
  installExitHandlers();
  const log = (line: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  const tmp = mkdtempSync(join(tmpdir(), 'pvbench-'));
  const unhook = onCleanup(() => rmSync(tmp, { recursive: true, force: true }));
  const started = new Date();
  const load0 = loadavg();
  const machine = {
    cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '?', memGiB: +(totalmem() / 2 ** 30).toFixed(1),
    freeGiB: +(freemem() / 2 ** 30).toFixed(1), node: process.version, measure: measureMethod(),
  };
  log(`bench: ${args.suites.join(', ')}${args.quick ? ' (quick)' : ''}; ${machine.cpus} CPUs, ${machine.memGiB} GiB, node ${machine.node}, load ${load0.map((l) => l.toFixed(2)).join(' ')}`);
  const results: SuiteResult[] = [];
  const loads: { suite: string; before: number[]; after: number[] }[] = [];
  try {
    if (args.suites.some((s) => s === 'workload' || s === 'scale' || s === 'profile' || s === 'startup' || s === 'instructions')) await build(log);
    for (const s of args.suites) {
      const before = loadavg();
      log(`suite ${s}: start`);
      const ctx: SuiteContext = { quick: args.quick, noAnsible: args.noAnsible, log, tmp: join(tmp, s), ...(args.runs ? { runs: args.runs } : {}), ...(args.sizes ? { sizes: args.sizes } : {}), ...(args.contenders ? { contenders: args.contenders } : {}), ...(args.baseline ? { baseline: args.baseline } : {}) };
      mkdirSync(ctx.tmp, { recursive: true });
      try {
        results.push(await SUITES[s]!(ctx));
      } catch (e) {
        log(`suite ${s}: FAILED: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
        results.push({ name: s, title: s, markdown: `Suite failed: ${e instanceof Error ? e.message : String(e)}`, data: { error: String(e) } });
      }
      loads.push({ suite: s, before, after: loadavg() });
      log(`suite ${s}: done`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    unhook();
  }
  const finished = new Date();
  const md = [
    `# pvrun benchmark results`,
    '',
    `${started.toISOString()} – ${finished.toISOString()}; ${machine.cpus} × ${machine.cpuModel}, ${machine.memGiB} GiB, node ${machine.node}; process-tree measurement: ${machine.measure}${args.quick ? '; QUICK sizes' : ''}.`,
    '',
    'Load average (1, 5, 15 min) before → after each suite: ' + loads.map((l) => `${l.suite} ${l.before.map((x) => x.toFixed(1)).join('/')} → ${l.after.map((x) => x.toFixed(1)).join('/')}`).join('; ') + '.',
    '',
    ...results.flatMap((r) => [`## ${r.title}`, '', r.markdown, '']),
  ].join('\n');
  const dir = join(REPO, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  writeFileSync(join(dir, `${stamp}.json`), JSON.stringify({ args, machine, started, finished, loads, results }, null, 1));
  writeFileSync(join(dir, 'latest.md'), md);
  process.stdout.write(md + '\n');
  return results.some((r) => (r.data as { error?: string })?.error) ? 1 : 0;
}

process.exitCode = await main();
