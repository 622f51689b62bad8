/**
 * Start-up structure (issue 17), not timed: `pvrun --help`, `pvrun validate` and `pvrun schema` run
 * as fresh processes of the CLI's sources (through tsx, as bin/pvrun.cjs runs a checkout) with a
 * loader hook that lists every module the process loads (test/harness/module-trace.mjs), and must
 * not load the step implementations, the connectors, the hypervisor client, the lab, ssh2,
 * node-powershell or undici: validating needs only the step catalog (src/steps/catalog.ts).
 * The same commands' output is checked too, so a command that loads less by doing less fails.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const REPO = join(import.meta.dirname, '..', '..');
const TRACE = join(REPO, 'test', 'harness', 'module-trace.mjs');
const MAIN = join(REPO, 'src', 'cli', 'main.ts');
const PLAYBOOK = join(REPO, 'bench', 'fixtures', 'startup-playbook.yml');
const INVENTORY = join(REPO, 'bench', 'fixtures', 'startup-inventory.yml');
const tmp = mkdtempSync(join(tmpdir(), 'pvrun-lazy-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** What must stay unloaded, as paths relative to the repository. */
const FORBIDDEN: [string, RegExp][] = [
  ['Linux step implementations', /^src\/steps\/linux\//],
  ['Windows step implementations', /^src\/steps\/windows\//],
  ['VM step implementations', /^src\/steps\/vm\//],
  ['the step registry (imports every implementation)', /^src\/steps\/(registry|reboot|check)\.ts$/],
  ['connectors', /^src\/connectors\//],
  ['the hypervisor client', /^src\/hypervisor\//],
  ['the lab', /^src\/lab\//],
  ['the engine (beyond exit codes and batch sizes)', /^src\/engine\/(?!exit-codes\.ts$|batches\.ts$)/],
  ['ssh2', /^node_modules\/ssh2\//],
  ['node-powershell', /^node_modules\/node-powershell\//],
  ['undici', /^node_modules\/undici\//],
];

let seq = 0;
/** Runs the CLI's sources with the module trace: exit code, output, and every file it loaded (repo-relative; packages as node_modules/…). */
async function traced(args: string[], nodeArgs: string[] = [MAIN]): Promise<{ code: number; out: string; err: string; loaded: string[] }> {
  const list = join(tmp, `trace-${seq++}.txt`);
  const r = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--import', TRACE, ...nodeArgs, ...args], {
    cwd: REPO, env: { ...process.env, PVRUN_MODULE_TRACE: list, NO_COLOR: '1' }, maxBuffer: 16 * 1024 * 1024,
  }).then((x) => ({ code: 0, out: x.stdout, err: x.stderr }), (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? -1, out: e.stdout ?? '', err: e.stderr ?? '' }));
  const loaded = new Set<string>();
  for (const line of readFileSync(list, 'utf8').split('\n')) {
    const what = line.slice(4);
    const file = what.startsWith('file:') ? fileURLToPath(what.replace(/\?.*$/, '')) : what;
    // packages by their path below node_modules (wherever that is: a linked or hoisted one too)
    const pkg = file.lastIndexOf('/node_modules/');
    if (pkg >= 0) loaded.add(file.slice(pkg + 1));
    else if (file.startsWith(REPO + '/')) loaded.add(file.slice(REPO.length + 1));
  }
  return { ...r, loaded: [...loaded].sort() };
}

function forbiddenIn(loaded: string[]): string[] {
  return loaded.filter((f) => FORBIDDEN.some(([, re]) => re.test(f))).map((f) => `${f} (${FORBIDDEN.find(([, re]) => re.test(f))![0]})`);
}

describe('start-up: commands load only what they use (issue 17)', () => {
  it('pvrun validate of 10 steps on 50 hosts loads the loader and the step catalog, no step implementation, connector, hypervisor, lab, ssh2 or node-powershell', async () => {
    const r = await traced(['validate', PLAYBOOK, '-i', INVENTORY]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('valid: 1 play, 50 hosts, 10 steps');
    // the trace works: what validate needs is listed
    expect(r.loaded).toEqual(expect.arrayContaining(['src/cli/validate.ts', 'src/load/project.ts', 'node_modules/yaml/dist/index.js']));
    expect(forbiddenIn(r.loaded)).toEqual([]);
    expect(r.loaded).toContain('src/steps/catalog.ts');
  }, 120_000);

  it('pvrun validate reports a bad step argument from the catalog\'s schema, still without the implementations', async () => {
    const r = await traced(['validate', join(REPO, 'test', 'fixtures', 'invalid', 'missing-required-arg', 'playbook.yml'), '-i', join(REPO, 'test', 'fixtures', 'valid', 'inventory.yml')]);
    expect(r.code).toBe(5);
    expect(r.err).toMatch(/playbook\.yml:\d+:\d+: /);
    expect(forbiddenIn(r.loaded)).toEqual([]);
  }, 120_000);

  it('pvrun --help loads neither the loader nor any step module', async () => {
    const r = await traced(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('Usage: pvrun');
    expect(r.loaded).toContain('src/cli/program.ts');
    expect(forbiddenIn(r.loaded)).toEqual([]);
    expect(r.loaded.filter((f) => f.startsWith('src/steps/') || f.startsWith('src/load/project') || f.startsWith('node_modules/yaml/'))).toEqual([]);
  }, 120_000);

  it('pvrun schema prints the playbook schema from the catalog without the implementations', async () => {
    const r = await traced(['schema']);
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.out) as { $defs: Record<string, unknown> };
    expect(Object.keys(schema.$defs)).toEqual(expect.arrayContaining(['step_run-script', 'step_powershell', 'step_snapshot', 'step_check']));
    expect(forbiddenIn(r.loaded)).toEqual([]);
  }, 120_000);

  it('the run command\'s module imports neither the live terminal reporter (log-update), the HTML report nor the lab: a run loads them only when it uses them', async () => {
    const r = await traced([], ['--input-type=module', '-e', `await import(${JSON.stringify(join(REPO, 'src', 'cli', 'run.ts'))})`]);
    expect(r.code).toBe(0);
    // the trace works: the run path itself is listed
    expect(r.loaded).toEqual(expect.arrayContaining(['src/engine/scheduler.ts', 'src/steps/registry.ts', 'src/report/plain.ts']));
    expect(r.loaded.filter((f) => /^src\/report\/(tty|html|run-timeline)\.ts$|^src\/lab\/|^node_modules\/log-update\//.test(f))).toEqual([]);
  }, 120_000);
});
