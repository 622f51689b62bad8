/**
 * Shared by the lab-based CI tests: a small lab, the CLI run in-process with captured output,
 * and what a VM looks like now (power state, CD, tools, pvrun snapshots).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab } from '../../src/lab/lab.js';
import type { LabDefinition } from '../../src/lab/guest/definition.js';
import { runCli, type CliResult } from '../harness/cli.js';
import { MARK } from '../../src/hypervisor/vm-snapshot.js';
import { sshExec } from '../lab/helpers.js';

export { labSkipReason } from '../lab/helpers.js';

export const SMALL_LAB: LabDefinition = {
  guests: [
    { name: 'ci-01', distro: 'ubuntu', version: '22.04' },
    { name: 'ci-02', distro: 'rocky', version: '9' },
    { name: 'ci-03', distro: 'debian', version: '12' },
  ],
};

export async function startLab(def: LabDefinition = SMALL_LAB): Promise<Lab> {
  const dir = mkdtempSync(join(tmpdir(), 'pvrun-ci-lab-'));
  const lab = await Lab.start({ stateDir: dir, definition: def });
  if (!lab.ok) throw new Error(lab.error);
  return lab.value;
}

export type { CliResult } from '../harness/cli.js';

/** `pvrun …` in this process, with stdout/stderr captured (not a TTY: plain lines). */
export function cli(argv: string[], env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Promise<CliResult> {
  return runCli(argv, { env, cwd });
}

export interface VmState {
  power: string;
  cdEmpty: boolean;
  pvrunSnapshots: number;
  /** the installer's daemon is on the guest's disk */
  toolsOnDisk: boolean | undefined;
}

export async function vmState(lab: Lab, name: string): Promise<VmState> {
  const sim = lab.sim;
  const vm = sim.vm(name);
  const store = sim.model.store;
  const power = String(vm.rec['power_state']);
  let cdEmpty = true;
  for (const vbd of vm.rec['VBDs'] as string[]) {
    const b = store.get('VBD', vbd) as Record<string, unknown> | undefined;
    if (b && b['type'] === 'CD' && b['empty'] === false) cdEmpty = false;
  }
  let snaps = 0;
  for (const s of vm.rec['snapshots'] as string[]) {
    const r = store.get('VM', s) as Record<string, unknown> | undefined;
    if (r && (r['other_config'] as Record<string, string>)[MARK.run] !== undefined) snaps++;
  }
  let toolsOnDisk: boolean | undefined;
  if (power === 'Running') {
    const g = lab.list().find((x) => x.name === name)!;
    try {
      const r = await sshExec(g, 'test -e /usr/sbin/xe-daemon && echo yes || echo no', 20_000);
      toolsOnDisk = r.stdout.trim() === 'yes';
    } catch { toolsOnDisk = undefined; }
  }
  return { power, cdEmpty, pvrunSnapshots: snaps, toolsOnDisk };
}
