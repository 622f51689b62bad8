/**
 * Issue 11: a fresh `pvrun rollback` process has no cached guest connection; after the revert its
 * first connect meets a guest whose sshd is still starting (as a real guest's: the VM runs
 * seconds before sshd listens). The wait must retry until its deadline, the cleanup must then
 * reach the guest, and a rollback whose cleanup could not reach the guest must not exit 0.
 *
 * Real parts: the lab's container guest with a real OpenSSH sshd on 127.0.0.1 (started late by
 * the lab fault slow_boot_ms, set after the run so only the revert's boot is slow), the XAPI
 * simulator over HTTP with the production client, the CLI in-process as operators run it.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../../src/lab/lab.js';
import { listRunIds } from '../../src/journal/read.js';
import { cli, labSkipReason, startLab, guestExec } from '../ci/lab-rig.js';

const skip = labSkipReason();
if (skip) console.log(`skipping the rollback reconnect lab tests: ${skip}`);

const PLAYBOOK = `
- name: change, fail, leave it for pvrun rollback
  hosts: linux
  on_failure: stop
  vars:
    revert_timeout: 15m
  steps:
    - name: snapshot
      snapshot: { name: "pvrun {{ run.id }} {{ host.name }}", keep: false, timeout: "{{ vars.revert_timeout }}" }
    - name: change the guest
      run-script: { script: "touch /root/changed-by-run" }
    - name: fail
      run-script: { script: "exit 1" }
  cleanup:
    - name: cleanup on the guest
      run-script: { script: "echo ran > /root/cleanup-ran" }
`;

describe.skipIf(skip !== undefined)('pvrun rollback reconnects to a guest whose sshd starts late (lab)', () => {
  let lab: Lab;
  let work: string;
  let playbook: string;

  beforeAll(async () => {
    lab = await startLab({ guests: [{ name: 'rc-01', distro: 'ubuntu', version: '22.04' }] });
    work = mkdtempSync(join(tmpdir(), 'pvrun-reconnect-'));
    playbook = join(work, 'leave.yml');
    writeFileSync(playbook, PLAYBOOK);
  }, 300_000);
  afterAll(async () => { await lab?.stop(); });

  /** a run that changed the guest, failed and left it so (exit 2): its id */
  async function changedRun(state: string, extra: string[] = []): Promise<string> {
    lab.guests.setFaults('rc-01', { slowBootMs: 0, sshDown: false });
    // the guest may still be booting from the previous case's rollback: wait as pvrun does
    await guestExec(lab, 'rc-01', 'true');
    const r = await cli([playbook, '-i', lab.inventoryPath, '--state-dir', state, ...extra]);
    expect(r.code, r.out + r.err).toBe(2);
    const g = await guestExec(lab, 'rc-01', 'test -e /root/changed-by-run && echo changed');
    expect(g.stdout.trim()).toBe('changed');
    return listRunIds(state).at(-1)!;
  }

  it('sshd up 5 s after the revert: the rollback waits for it, the cleanup reaches the guest, exit 0', async () => {
    const state = join(work, 'state-late');
    const id = await changedRun(state);
    lab.guests.setFaults('rc-01', { slowBootMs: 5000 });
    const t = Date.now();
    const rb = await cli(['rollback', id, '--state-dir', state]);
    const ms = Date.now() - t;
    console.log(`rollback with sshd 5 s late: ${ms} ms, exit ${rb.code}`);
    const text = rb.out + rb.err;
    expect(text).toContain('guest answers');
    expect(text).not.toContain('does not answer');
    expect(text).not.toContain('cleanup step(s) failed');
    expect(rb.code, text).toBe(0);
    expect(text).toMatch(/RECAP .* exit 0\n/);
    // the revert undid the run's change; the cleanup ran on the reverted guest
    const g = await guestExec(lab, 'rc-01', 'test -e /root/changed-by-run && echo changed; cat /root/cleanup-ran');
    expect(g.stdout.trim()).toBe('ran');
  }, 600_000);

  it('sshd never comes back after the revert: the rollback says the cleanup could not reach the guest and exits 3', async () => {
    const state = join(work, 'state-down');
    const id = await changedRun(state, ['-e', 'revert_timeout=8s']);
    lab.guests.setFaults('rc-01', { sshDown: true });
    const rb = await cli(['rollback', id, '--state-dir', state]);
    const text = rb.out + rb.err;
    expect(text).toContain('does not answer');
    expect(text).toMatch(/rc-01: reverted, but the cleanup could not run/);
    expect(rb.code, text).toBe(3);
    // the RECAP tells the same exit code as the process
    expect(text).toMatch(/RECAP.* exit 3/);
  }, 600_000);
});
