/**
 * Instructions (issue 17): what the start-up cases and a step's exec cost in instructions
 * executed, counted by valgrind (cachegrind, no cache simulation) — user-space instructions of
 * every thread of the process, the same from one run to the next within ~0.5 % whatever else
 * the machine does. Wall and CPU time on a shared 2-vCPU machine vary by ±10 % from minute to
 * minute (BENCHMARKS.md, ninth pass), so a change of a few per cent is only visible this way.
 * Not a time: the kernel's work (socket writes, fsync) is not in it, and JIT-compiled code
 * counts the same as interpreted code per instruction.
 *
 * Cases: `node -e 0`, `pvrun --help`, `pvrun validate` (the start-up fixtures); then a run of
 * K=10 and K=30 steps of `run-script: true` on 2 real sshd, pvrun and the ssh2 floor: the
 * difference between the two sizes divided by the 40 extra execs is the cost of one exec, with
 * the fixed costs (start-up, handshakes) taken out. With --baseline, the same for that build.
 *
 *   npm run bench -- instructions [--baseline /path/to/old/dist/cli/main.cjs]
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FLOOR_JS, PVRUN_JS, REPO } from '../lib/build.js';
import { startFarm, type Farm } from '../lib/farm.js';
import { table } from '../lib/stats.js';
import type { SuiteContext, SuiteResult } from '../lib/suite.js';

const execFileP = promisify(execFile);
const VALGRIND = '/usr/bin/valgrind';
const PLAYBOOK = join(REPO, 'bench', 'fixtures', 'startup-playbook.yml');
const INVENTORY = join(REPO, 'bench', 'fixtures', 'startup-inventory.yml');

/**
 * Node decodes NODE_EXTRA_CA_CERTS at every start (bench/suites/startup.ts): left out here too.
 * The installed CLI's code cache (src/cli/compile-cache.ts) goes to the suite's own directory
 * (`cache`), or is turned off ('off'); the older ES module builds ignore it.
 */
function env(cache: string): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, PVRUN_COMPILE_CACHE: cache };
  delete e['NODE_EXTRA_CA_CERTS'];
  return e;
}

let cacheDir = 'off';

/** Run once without counting: the run that writes the code cache the counted ones use. */
async function warm(argv: string[], cwd: string): Promise<void> {
  await execFileP(argv[0]!, argv.slice(1), { cwd, env: env(cacheDir), maxBuffer: 64 * 1024 * 1024, timeout: 600_000 });
}

/** Instructions executed by `argv` under cachegrind, in millions; throws on a non-zero exit. */
async function instructions(argv: string[], cwd: string, cache = cacheDir): Promise<number> {
  const log = join(cwd, `vg-${process.pid}-${Date.now()}.log`);
  try {
    await execFileP(VALGRIND, ['--tool=cachegrind', '--cache-sim=no', '--cachegrind-out-file=/dev/null', `--log-file=${log}`, ...argv],
      { cwd, env: env(cache), maxBuffer: 64 * 1024 * 1024, timeout: 1_800_000 });
    const m = /I\s+refs:\s+([\d,]+)/.exec(readFileSync(log, 'utf8'));
    if (!m) throw new Error(`no instruction count in ${log}`);
    return Number(m[1]!.replace(/,/g, '')) / 1e6;
  } finally {
    rmSync(log, { force: true });
  }
}

function writeRunInputs(dir: string, farm: Farm): void {
  mkdirSync(dir, { recursive: true });
  const hosts = farm.hosts.slice(0, 2);
  for (const k of [10, 30]) {
    const steps = Array.from({ length: k }, (_, i) => `    - name: step ${i + 1}\n      run-script: { script: "true" }\n`).join('');
    writeFileSync(join(dir, `pvrun-${k}.yml`), `- name: bench\n  hosts: all\n  forks: 2\n  on_failure: stop\n  steps:\n${steps}`);
    writeFileSync(join(dir, `floor-${k}.json`), JSON.stringify({
      hosts: hosts.map((h) => ({ host: '127.0.0.1', port: h.port })), user: farm.user, key: farm.clientKey, knownHosts: farm.knownHosts, k, forks: 2, command: 'true',
    }));
  }
  writeFileSync(join(dir, 'inventory.yml'), ['groups:', '  all:',
    `    connection: { type: ssh, address: 127.0.0.1, user: ${farm.user}, key: ${farm.clientKey}, known_hosts: ${farm.knownHosts}, host_key_checking: strict }`,
    'hosts:', ...hosts.map((h) => `  ${h.name}: { connection: { port: ${h.port} } }`)].join('\n') + '\n');
}

export async function instructionsSuite(ctx: SuiteContext): Promise<SuiteResult> {
  const title = 'Instructions executed (valgrind): start-up and one exec';
  if (!existsSync(VALGRIND)) {
    return { name: 'instructions', title, markdown: `Skipped: ${VALGRIND} is not installed (apt-get install valgrind).`, data: { skipped: 'no valgrind' } };
  }
  const builds: [string, string][] = [['pvrun', PVRUN_JS], ...(ctx.baseline ? [['pvrun-base', ctx.baseline] as [string, string]] : [])];
  const node = process.execPath;
  const startup: Record<string, number> = {};
  startup['node -e 0'] = await instructions([node, '-e', '0'], ctx.tmp);
  cacheDir = join(ctx.tmp, 'v8cache');
  for (const [b, js] of builds) {
    for (const [label, args] of [['--help', ['--help']], ['validate', ['validate', PLAYBOOK, '-i', INVENTORY]]] as const) {
      // without a code cache (a first run, another Node), then with the one a first run wrote
      startup[`${label} (${b}, no code cache)`] = await instructions([node, js, ...args], ctx.tmp, 'off');
      await warm([node, js, ...args], ctx.tmp);
      startup[`${label} (${b})`] = await instructions([node, js, ...args], ctx.tmp);
    }
    ctx.log(`instructions: start-up of ${b} counted`);
  }
  const farm = await startFarm(2, ctx.log);
  const perRun: Record<string, Record<number, number>> = {};
  try {
    const dir = join(ctx.tmp, 'instructions');
    writeRunInputs(dir, farm);
    const contenders: [string, (k: number) => string[]][] = [
      ['floor', (k) => [node, FLOOR_JS, join(dir, `floor-${k}.json`)]],
      ...builds.map(([b, js]): [string, (k: number) => string[]] => [b, (k) => [node, js, join(dir, `pvrun-${k}.yml`), '-i', join(dir, 'inventory.yml'), '--json', '--state-dir', join(dir, `state-${b}-${k}`)]]),
    ];
    for (const [c, argv] of contenders) {
      perRun[c] = {};
      if (c !== 'floor') await warm(argv(10), dir);
      for (const k of [10, 30]) {
        perRun[c]![k] = await instructions(argv(k), dir);
        ctx.log(`instructions: ${c} K=${k}: ${perRun[c]![k]!.toFixed(1)} M`);
      }
    }
  } finally {
    await farm.stop();
  }
  const perExec = (c: string) => (perRun[c]![30]! - perRun[c]![10]!) / 40;
  const rows1 = Object.entries(startup).map(([k, v]) => [k, v.toFixed(1), k === 'node -e 0' ? '—' : (v - startup['node -e 0']!).toFixed(1)]);
  const rows2 = Object.keys(perRun).map((c) => [c, perRun[c]![10]!.toFixed(1), perRun[c]![30]!.toFixed(1), perExec(c).toFixed(3),
    c === 'floor' ? '—' : (perExec(c) / perExec('floor')).toFixed(2), c === 'floor' ? '—' : (perRun[c]![10]! / perRun['floor']![10]!).toFixed(2)]);
  const markdown = [
    'Millions of instructions (user space, all threads), one run each (repeat runs agree within ~0.5 %). NODE_EXTRA_CA_CERTS unset.',
    '',
    table(['case', 'M instructions', 'beyond node -e 0'], rows1),
    '',
    '2 hosts (real sshd), `run-script: true` steps; per exec = (K=30 − K=10) / 40 execs:',
    '',
    table(['contender', 'K=10', 'K=30', 'per exec', 'per exec / floor', 'K=10 / floor'], rows2),
  ].join('\n');
  return { name: 'instructions', title, markdown, data: { startup, perRun } };
}
