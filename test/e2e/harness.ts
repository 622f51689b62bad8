/**
 * End-to-end harness: a real lab (XAPI simulator over HTTP + container guests over SSH) and
 * the real CLI, run in-process through main() with captured output.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliResult } from '../harness/cli.js';
import { Lab } from '../../src/lab/lab.js';
import type { LabDefinition } from '../../src/lab/guest/definition.js';
import type { GuestSpec } from '../../src/lab/guest/definition.js';
import { treeFingerprint } from '../lab/helpers.js';

export { labSkipReason } from '../lab/helpers.js';

export const REPO = join(import.meta.dirname, '..', '..');
export const LINUX_TOOLS = join(REPO, 'playbooks', 'linux-tools.yml');
export const LINUX_TOOLS_ONLINE = join(REPO, 'playbooks', 'linux-tools-online.yml');

export interface StartedLab {
  lab: Lab;
  dir: string;
  inventory: string;
}

export async function startLab(guests: GuestSpec[], name: string): Promise<StartedLab> {
  const dir = mkdtempSync(join(tmpdir(), `pvrun-e2e-${name}-`));
  const def: LabDefinition = { guests };
  const lab = await Lab.start({ stateDir: dir, definition: def });
  if (!lab.ok) throw new Error(`lab did not start: ${lab.error}`);
  return { lab: lab.value, dir, inventory: lab.value.inventoryPath };
}

export type { CliResult } from '../harness/cli.js';

/** Run `pvrun …` in-process, as a user would from a non-TTY (plain lines), from the repo root. */
export function pvrun(args: string[], cwd = REPO): Promise<CliResult> {
  return runCli(args, { cwd, env: { ...process.env, CI: 'true' } });
}

/** host → outcome, parsed from the recap lines of the plain reporter */
export function recapOutcomes(out: string): Record<string, string> {
  const lines = out.split('\n');
  const i = lines.findIndex((l) => l.includes('RECAP'));
  const res: Record<string, string> = {};
  for (const l of lines.slice(i + 1)) {
    const m = /^\s+(\S+)\s+(ok|changed|skipped|failed|unreachable|rolled-back|needs-attention)\s+ok=/.exec(l);
    if (m) res[m[1]!] = m[2]!;
  }
  return res;
}

export function fingerprints(lab: Lab): Record<string, string> {
  return Object.fromEntries(lab.list().map((g) => [g.name, treeFingerprint(g.upperDir).digest]));
}

/** A copy of a shipped playbook with some text replaced (e.g. a stricter max_fail_percentage). */
export function playbookVariant(src: string, dir: string, replace: [string, string][]): string {
  let text = readFileSync(src, 'utf8');
  for (const [a, b] of replace) {
    if (!text.includes(a)) throw new Error(`playbook has no '${a}'`);
    text = text.replace(a, b);
  }
  const p = join(dir, 'variant.yml');
  writeFileSync(p, text);
  return p;
}

export function pvrunSnapshots(lab: Lab): string[] {
  return [...lab.sim.model.store.table('VM').values()]
    .filter((r) => r['is_a_snapshot'] === true)
    .map((r) => String(r['uuid']));
}

/** XAPI calls the run made that change something (the simulator's own method table decides). */
export function mutatingCalls(lab: Lab): string[] {
  return lab.sim.calls.filter((c) => !c.readOnly).map((c) => c.method);
}
