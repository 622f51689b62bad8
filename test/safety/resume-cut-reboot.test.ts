/**
 * Issue 11 (CI on stop 22 ended "resume exit 2" in the crash test): the rollout was SIGKILLed in
 * linux-tools.yml's `reboot` step, after it had asked the guest to reboot (`sleep 1; shutdown -r
 * now`, detached) and before the guest went down. `pvrun resume` then gathered facts afresh, saw
 * `facts.guest.tools.installed` true (the installer had run), skipped the reboot by its `when`,
 * and the reboot the killed process had asked for landed in a later step: "verify inside the
 * guest: connection lost", a failed host, a rollback.
 *
 * Now a step cut short while applying is run again without evaluating its `when` anew (it held
 * when the killed process started it: HostResume.gatePassed), and resume first waits for the
 * commands the killed process left running on the guest (src/runtime/orphans.ts): here the
 * detached reboot trigger.
 *
 * Deterministic: the kill happens as soon as the journal holds the reboot step's intent for the
 * one guest; the resume starts at once, in this process, well inside the trigger's one second.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Lab } from '../../src/lab/lab.js';
import { describeUnless } from '../harness/require.js';
import { cli, guestExec, labSkipReason, startLab, vmState } from '../ci/lab-rig.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const PLAYBOOK = join(ROOT, 'playbooks', 'linux-tools.yml');

function journalText(state: string): string {
  try {
    const runs = join(state, 'runs');
    const f = readdirSync(runs).find((n) => n.endsWith('.jsonl'));
    return f ? readFileSync(join(runs, f), 'utf8') : '';
  } catch { return ''; }
}

const skip = labSkipReason();
describeUnless(skip)('resume after a kill inside the reboot step (lab)', () => {
  let lab: Lab;
  let work: string;
  beforeAll(async () => {
    lab = await startLab({ guests: [
      { name: 'rb-01', distro: 'debian', version: '12' }, { name: 'rb-02', distro: 'debian', version: '12' },
      // down for 5 s on every reboot: the third case kills the rollout while it waits for the guest
      { name: 'rb-03', distro: 'debian', version: '12', rebootDelayMs: 5000 },
    ] });
    work = mkdtempSync(join(tmpdir(), 'pvrun-cut-reboot-'));
  }, 300_000);
  afterAll(async () => { await lab?.stop(); });

  it('the cut reboot is finished, not skipped by a `when` that now reads the installed tools; resume exits 0', async () => {
    const state = join(work, 'state');
    const log = join(work, 'run.log');
    const bootBefore = (await guestExec(lab, 'rb-01', 'cat /proc/sys/kernel/random/boot_id')).stdout.trim();
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), PLAYBOOK, '-i', lab.inventoryPath, '--limit', 'rb-01', '--state-dir', state], {
      cwd: ROOT, stdio: ['ignore', openSync(log, 'a'), openSync(log, 'a')], env: { ...process.env, CI: '1' },
    });
    const exited = new Promise<string | null>((res) => child.on('exit', (_c, sig) => res(sig)));
    // the reboot step journals its intent (with the boot id) right before it sends the trigger;
    // the trigger waits a second before `shutdown`, so a kill now leaves the reboot pending
    const rebootIntent = /"kind":"intent","host":"rb-01","step":"reboot","action":"reboot"/;
    let killed = false;
    for (let i = 0; i < 30_000 && !killed; i++) {
      if (rebootIntent.test(journalText(state))) { child.kill('SIGKILL'); killed = true; } else await new Promise((r) => setTimeout(r, 5));
      if (child.exitCode !== null) break;
    }
    expect(killed, readFileSync(log, 'utf8').slice(-3000)).toBe(true);
    expect(await exited).toBe('SIGKILL');

    const rs = await cli(['resume', 'last', '--state-dir', state], { ...process.env, CI: '1' }, ROOT);
    const text = rs.out + rs.err;
    expect(rs.code, text).toBe(0);
    // the reboot step ran again instead of being skipped by its `when`
    expect(journalText(state)).not.toMatch(/"type":"step-result","host":"rb-01","step":"reboot","stepType":"reboot",[^\n]*"status":"skipped"/);
    const s = await vmState(lab, 'rb-01');
    expect(s, text).toEqual({ power: 'Running', cdEmpty: true, pvrunSnapshots: 1, toolsOnDisk: true });
    const bootAfter = (await guestExec(lab, 'rb-01', 'cat /proc/sys/kernel/random/boot_id')).stdout.trim();
    expect(bootAfter).not.toBe(bootBefore);
    // and the journal agrees: the resumed session's reboot step ended changed
    expect(journalText(state)).toMatch(/"type":"step-result","host":"rb-01","step":"reboot","stepType":"reboot",[^\n]*"status":"changed"/);
  }, 600_000);

  /**
   * Killed after the installer ran and before the reboot: the facts a resume gathers afresh show
   * the tools installed, and every later `when: tools.installed == false` (unmount, eject, reboot)
   * would skip: the tools installed, never rebooted into. Resume now reads the facts the killed
   * process had read (journal 'facts' records) until a step drops them.
   */
  it('killed between the installer and the reboot: resume reads the run\'s own facts, so the reboot still happens', async () => {
    const state = join(work, 'state-2');
    const log = join(work, 'run-2.log');
    const bootBefore = (await guestExec(lab, 'rb-02', 'cat /proc/sys/kernel/random/boot_id')).stdout.trim();
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), PLAYBOOK, '-i', lab.inventoryPath, '--limit', 'rb-02', '--state-dir', state], {
      cwd: ROOT, stdio: ['ignore', openSync(log, 'a'), openSync(log, 'a')], env: { ...process.env, CI: '1' },
    });
    const exited = new Promise<string | null>((res) => child.on('exit', (_c, sig) => res(sig)));
    const installed = /"type":"step-result","host":"rb-02","step":"run the installer",[^\n]*"status":"changed"/;
    let killed = false;
    for (let i = 0; i < 30_000 && !killed; i++) {
      if (installed.test(journalText(state))) { child.kill('SIGKILL'); killed = true; } else await new Promise((r) => setTimeout(r, 5));
      if (child.exitCode !== null) break;
    }
    expect(killed, readFileSync(log, 'utf8').slice(-3000)).toBe(true);
    expect(await exited).toBe('SIGKILL');
    // the journal holds the facts the run read, with the tools not installed yet
    expect(journalText(state)).toMatch(/"kind":"facts","host":"rb-02","namespace":"guest","values":\{[^\n]*"installed":false/);

    const rs = await cli(['resume', 'last', '--state-dir', state], { ...process.env, CI: '1' }, ROOT);
    const text = rs.out + rs.err;
    expect(rs.code, text).toBe(0);
    const j = journalText(state);
    expect(j, text).toMatch(/"type":"step-result","host":"rb-02","step":"reboot","stepType":"reboot",[^\n]*"status":"changed"/);
    expect(j).not.toMatch(/"type":"step-result","host":"rb-02","step":"reboot","stepType":"reboot",[^\n]*"status":"skipped"/);
    expect(await vmState(lab, 'rb-02'), text).toEqual({ power: 'Running', cdEmpty: true, pvrunSnapshots: 1, toolsOnDisk: true });
    const bootAfter = (await guestExec(lab, 'rb-02', 'cat /proc/sys/kernel/random/boot_id')).stdout.trim();
    expect(bootAfter).not.toBe(bootBefore);
  }, 600_000);

  /**
   * CI on stop 28: killed after the reboot step had asked for the reboot, and resumed while the
   * guest went down; the resumed step read the boot id on a connection that died with the old
   * boot ("connection lost (closed)"): a failed host and a rollback. Here the kill comes while the
   * guest is down (its reboot lasts 5 s), so the resume always starts on a guest that is rebooting:
   * the resumed step waits for it, sees the new boot id, and does not reboot it a second time.
   */
  it('killed while the guest reboots: resume waits for it and does not reboot it again', async () => {
    const state = join(work, 'state-3');
    const log = join(work, 'run-3.log');
    const guest = () => lab.list().find((x) => x.name === 'rb-03')!;
    const bootBefore = guest().bootId;
    expect(bootBefore).toBeDefined();
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), PLAYBOOK, '-i', lab.inventoryPath, '--limit', 'rb-03', '--state-dir', state], {
      cwd: ROOT, stdio: ['ignore', openSync(log, 'a'), openSync(log, 'a')], env: { ...process.env, CI: '1' },
    });
    const exited = new Promise<string | null>((res) => child.on('exit', (_c, sig) => res(sig)));
    // the guest is down (the lab has no boot id for it) once the reboot the step asked for began
    let killed = false;
    for (let i = 0; i < 60_000 && !killed; i++) {
      if (guest().bootId !== bootBefore) { child.kill('SIGKILL'); killed = true; } else await new Promise((r) => setTimeout(r, 5));
      if (child.exitCode !== null) break;
    }
    expect(killed, readFileSync(log, 'utf8').slice(-3000)).toBe(true);
    expect(await exited).toBe('SIGKILL');
    const cut = journalText(state);
    expect(cut).toMatch(/"kind":"intent","host":"rb-03","step":"reboot","action":"reboot"/);
    expect(cut).not.toMatch(/"type":"step-result","host":"rb-03","step":"reboot"/);

    // every boot the guest goes through while pvrun resumes
    const boots = new Set<string>();
    const watch = setInterval(() => { const b = guest().bootId; if (b) boots.add(b); }, 10);
    const rs = await cli(['resume', 'last', '--state-dir', state], { ...process.env, CI: '1' }, ROOT);
    clearInterval(watch);
    const text = rs.out + rs.err;
    expect(rs.code, text).toBe(0);
    expect([...boots], text).toHaveLength(1);
    const j = journalText(state);
    expect(j, text).toMatch(/"type":"step-result","host":"rb-03","step":"reboot","stepType":"reboot",[^\n]*"status":"changed","summary":"rebooted via guest \(asked for by the killed process\)/);
    // one reboot: the resumed session asked for none (the run's only reboot intent is the killed process's)
    expect(j.match(/"kind":"intent","host":"rb-03","step":"reboot","action":"reboot"/g)?.length, text).toBe(1);
    const bootAfterKill = [...boots][0];
    expect(bootAfterKill).not.toBe(bootBefore);
    expect(guest().bootId).toBe(bootAfterKill);
    expect((await guestExec(lab, 'rb-03', 'cat /proc/sys/kernel/random/boot_id')).stdout.trim()).toBe(bootAfterKill);
    expect(await vmState(lab, 'rb-03'), text).toEqual({ power: 'Running', cdEmpty: true, pvrunSnapshots: 1, toolsOnDisk: true });
  }, 600_000);
});
