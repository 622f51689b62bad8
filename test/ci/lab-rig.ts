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
import { createConnector } from '../../src/connectors/factory.js';
import type { Connector } from '../../src/connectors/types.js';
import { loadInventories } from '../../src/load/inventory.js';
import { describeWaitFailure, waitForGuest } from '../../src/runtime/wait-guest.js';
import { err, ok } from '../../src/util/result.js';

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
    const r = await guestExec(lab, name, 'test -e /usr/sbin/xe-daemon && echo yes || echo no');
    toolsOnDisk = r.stdout.trim() === 'yes';
  }
  return { power, cdEmpty, pvrunSnapshots: snaps, toolsOnDisk };
}

export interface GuestExecResult { code: number | null; stdout: string; stderr: string }

/**
 * Run one command in a lab guest the way pvrun reaches it: the lab inventory's connection
 * settings, the production SSH connector (host key pinned), and pvrun's own wait for a guest
 * (src/runtime/wait-guest.ts: refusals and resets retried with capped backoff until the
 * deadline; auth and host key failures final). A guest that does not answer in time fails the
 * test with the reason, never a silent "unknown".
 */
export async function guestExec(lab: Lab, name: string, command: string, waitMs = 120_000): Promise<GuestExecResult> {
  const inv = loadInventories([lab.inventoryPath]);
  if (!inv.ok) throw new Error(`lab inventory: ${inv.error.map((d) => d.message).join('; ')}`);
  const host = inv.value.hosts[name];
  if (!host) throw new Error(`no host ${name} in the lab inventory`);
  let made: Connector | undefined;
  const w = await waitForGuest(async () => {
    if (made) return ok(made);
    const c = createConnector(host, { resolveSecret: () => err('the lab inventory has no secrets for guests') });
    if (!c.ok) return err({ kind: 'config', message: c.error });
    const r = await c.value.connector.connect();
    if (!r.ok) { await c.value.connector.close(); return err({ kind: 'guest', failure: r.error }); }
    made = c.value.connector;
    return ok(made);
  }, { deadline: Date.now() + waitMs, reconnectFirst: false });
  try {
    if (!w.ok) throw new Error(describeWaitFailure(w.error, `${name} (lab rig)`));
    const r = await w.value.connector.exec(command, { timeoutMs: 60_000 });
    if (!r.ok) throw new Error(`${name}: ${command}: ${r.error.kind}: ${r.error.message}`);
    return { code: r.value.exitCode, stdout: r.value.stdout, stderr: r.value.stderr };
  } finally {
    await made?.close();
  }
}
