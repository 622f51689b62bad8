/**
 * Issue 19 item 3: a VM the run never changed inside must not be reverted (downtime, and what
 * the live VM wrote since the snapshot is lost). Real lab: the XAPI simulator over HTTP with the
 * production client, container guests over real SSH, the real CLI in-process.
 *
 *  1. the guest's host key is refused: nothing is changed at all (no snapshot, no ISO), the VM
 *     keeps running the same boot, exit 4 (unreachable);
 *  2. a failure after the snapshot and the ISO insert but before any guest-side change: the
 *     hypervisor steps are undone (CD ejected, snapshot deleted), the VM is not reverted or
 *     restarted; the same from the journal with `pvrun rollback <run>`;
 *  3. a failure after a guest-side change: reverted to the snapshot, as before; also when the
 *     guest-side step itself failed (it started to apply), and from the snapshot markers alone
 *     (`--from-pool`: what ran is unknown).
 */
import { describeUnless } from '../harness/require.js';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { GuestInfo } from '../../src/lab/guest/index.js';
import { LINUX_TOOLS, labSkipReason, pvrun, recapOutcomes, startLab, type StartedLab } from '../e2e/harness.js';
import { vmState } from '../ci/lab-rig.js';
import { sshExec } from '../lab/helpers.js';

const skip = labSkipReason();
if (skip) console.warn(`[skipped] untouched-VM safety tests: ${skip}`);

/** What says "this VM was not restarted": the guest's boot id (read inside it) and the domain id. */
async function bootOf(l: StartedLab, name: string): Promise<{ bootId: string; domid: unknown; startTime: unknown }> {
  const g = l.lab.list().find((x) => x.name === name) as GuestInfo;
  const r = await sshExec(g, 'cat /proc/sys/kernel/random/boot_id', 20_000);
  const rec = l.lab.sim.vm(name).rec;
  return { bootId: r.stdout.trim(), domid: rec['domid'], startTime: rec['start_time'] };
}

/** XAPI calls since `since` that changed something (each run below is limited to one VM), without `Async.` */
function mutatingCalls(l: StartedLab, since: number): string[] {
  return l.lab.sim.calls.slice(since).filter((c) => !c.readOnly).map((c) => c.method.replace(/^Async\./, ''));
}

function revertCalls(l: StartedLab, since: number): string[] {
  return mutatingCalls(l, since).filter((m) => m === 'VM.revert');
}

const RUN_ID = /RECAP\s+run (\d{8}T\d{6}Z-[0-9a-f]+)/;

describeUnless(skip)('a VM the run did not change inside is never reverted', () => {
  let l: StartedLab;
  beforeAll(async () => {
    l = await startLab([
      { name: 'hk-01', distro: 'ubuntu', version: '22.04' },
      { name: 'vmfail-01', distro: 'debian', version: '12' },
      { name: 'guest-01', distro: 'rocky', version: '9' },
    ], 'untouched');
  }, 240_000);
  afterAll(async () => {
    await l?.lab.stop();
    if (l) rmSync(l.dir, { recursive: true, force: true });
  });

  it('host key refused: exit 4, no snapshot, no ISO, the VM keeps running the same boot', async () => {
    // known_hosts names another key for hk-01's address (a re-keyed or impostor guest)
    const kh = join(l.dir, 'known_hosts');
    const hk = l.lab.list().find((g) => g.name === 'hk-01')!;
    const other = l.lab.list().find((g) => g.name === 'guest-01')!;
    const wrongKey = other.knownHostsLine.trim().split(' ').slice(1).join(' ');
    const original = readFileSync(kh, 'utf8');
    expect(original).toContain(hk.knownHostsLine.trim());
    writeFileSync(kh, original.replace(hk.knownHostsLine.trim(), `[127.0.0.1]:${hk.port} ${wrongKey}`));
    const before = await bootOf(l, 'hk-01');
    const since = l.lab.sim.calls.length;
    let r: Awaited<ReturnType<typeof pvrun>>;
    try {
      // --skip-preflight: this tests the engine's own guest gate (a key changed after the preflight; issue 20)
      r = await pvrun([LINUX_TOOLS, '-i', l.inventory, '--limit', 'hk-01', '--state-dir', join(l.dir, 'pvrun'), '--skip-preflight']);
    } finally {
      // the right key again (the lab rig's vmState reads the guest through this file too)
      writeFileSync(kh, original);
    }
    expect(r.out + r.err).toMatch(/HOST KEY CHANGED/);
    expect(recapOutcomes(r.out)).toEqual({ 'hk-01': 'unreachable' });
    expect(r.code).toBe(4);
    expect(mutatingCalls(l, since)).toEqual([]);
    expect(r.out).not.toMatch(/hk-01 ROLLBACK/);
    expect(r.out).toMatch(/nothing was changed on this host/);
    const st = await vmState(l.lab, 'hk-01');
    expect(st).toMatchObject({ power: 'Running', cdEmpty: true, pvrunSnapshots: 0 });
    expect(await bootOf(l, 'hk-01')).toEqual(before);
  }, 240_000);

  it('login refused (a key the guest does not authorize): exit 4, nothing changed', async () => {
    // the same inventory, but hk-01 logs in with a fresh key the guest has never seen
    const key = join(l.dir, 'stranger_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const inv = parse(readFileSync(l.inventory, 'utf8')) as { hosts: Record<string, { connection: Record<string, unknown> }> };
    inv.hosts['hk-01']!.connection['key'] = key;
    const invPath = join(l.dir, 'stranger-inventory.yml');
    writeFileSync(invPath, stringify(inv));
    const before = await bootOf(l, 'hk-01');
    const since = l.lab.sim.calls.length;
    // --skip-preflight: the engine's guest gate, behind the preflight (issue 20)
    const r = await pvrun([LINUX_TOOLS, '-i', invPath, '--limit', 'hk-01', '--state-dir', join(l.dir, 'pvrun'), '--skip-preflight']);
    expect(r.out).toMatch(/hk-01 \[snapshot before the drivers change\] unreachable: the guest cannot be used, so nothing was changed on this host: auth-failed/);
    expect(recapOutcomes(r.out)).toEqual({ 'hk-01': 'unreachable' });
    expect(r.code).toBe(4);
    expect(mutatingCalls(l, since)).toEqual([]);
    expect(await vmState(l.lab, 'hk-01')).toMatchObject({ power: 'Running', cdEmpty: true, pvrunSnapshots: 0 });
    expect(await bootOf(l, 'hk-01')).toEqual(before);
  }, 240_000);

  it('a failure after snapshot and ISO insert, before any guest change: CD ejected, snapshot deleted, VM not reverted', async () => {
    const pb = join(l.dir, 'vm-fail.yml');
    writeFileSync(pb, [
      '- name: fails between the hypervisor steps and the guest',
      '  hosts: vmfail-01',
      '  on_failure: rollback',
      '  steps:',
      '    - name: snapshot',
      '      snapshot: { keep: 7d }',
      '    - name: insert the tools ISO',
      '      attach-iso: {}',
      '    - name: a VM fact that does not hold',
      '      check: { power_state: Halted }',
      '    - name: a guest change that never runs',
      '      run-script: { script: "touch /root/never-written" }',
      '',
    ].join('\n'));
    const before = await bootOf(l, 'vmfail-01');
    const since = l.lab.sim.calls.length;
    const r = await pvrun([pb, '-i', l.inventory, '--state-dir', join(l.dir, 'pvrun')]);
    expect(recapOutcomes(r.out)).toEqual({ 'vmfail-01': 'rolled-back' });
    expect(r.code).toBe(2);
    // what the hypervisor steps did was undone, one by one
    const methods = mutatingCalls(l, since);
    expect(methods).toContain('VM.snapshot');
    expect(methods).toContain('VBD.insert');
    expect(methods).toContain('VBD.eject');
    expect(revertCalls(l, since)).toEqual([]);
    expect(await vmState(l.lab, 'vmfail-01')).toMatchObject({ power: 'Running', cdEmpty: true, pvrunSnapshots: 0 });
    expect(await bootOf(l, 'vmfail-01')).toEqual(before);
    // the recap says which kind of rollback happened
    const recap = r.out.slice(r.out.indexOf('RECAP'));
    expect(recap).toMatch(/rolled back: undid the hypervisor changes, VM left running/);
    expect(r.out).not.toMatch(/reverted to the snapshot/);
    expect(r.out).toMatch(/vmfail-01 \[rollback insert the tools ISO\] ok: ejected the ISO/);
    expect(r.out).toMatch(/vmfail-01 \[rollback snapshot\] ok: deleted snapshot/);
  }, 240_000);

  it('the same decision from the journal: `pvrun rollback <run>` after on_failure: stop', async () => {
    const pb = join(l.dir, 'vm-fail-stop.yml');
    writeFileSync(pb, [
      '- name: left as is, rolled back later',
      '  hosts: vmfail-01',
      '  on_failure: stop',
      '  steps:',
      '    - name: snapshot',
      '      snapshot: { keep: 7d }',
      '    - name: insert the tools ISO',
      '      attach-iso: {}',
      '    - name: a VM fact that does not hold',
      '      check: { power_state: Halted }',
      '    - name: a guest change that never runs',
      '      run-script: { script: "touch /root/never-written" }',
      '',
    ].join('\n'));
    const state = join(l.dir, 'pvrun-stop');
    const snapsBefore = (await vmState(l.lab, 'vmfail-01')).pvrunSnapshots;
    const run = await pvrun([pb, '-i', l.inventory, '--state-dir', state]);
    expect(recapOutcomes(run.out)).toEqual({ 'vmfail-01': 'failed' });
    expect(await vmState(l.lab, 'vmfail-01')).toMatchObject({ power: 'Running', cdEmpty: false, pvrunSnapshots: snapsBefore + 1 });
    const runId = RUN_ID.exec(run.out)?.[1];
    expect(runId).toBeDefined();
    const before = await bootOf(l, 'vmfail-01');
    const since = l.lab.sim.calls.length;
    const rb = await pvrun(['rollback', runId!, '--state-dir', state]);
    expect(rb.code).toBe(0);
    expect(revertCalls(l, since)).toEqual([]);
    expect(await vmState(l.lab, 'vmfail-01')).toMatchObject({ power: 'Running', cdEmpty: true, pvrunSnapshots: snapsBefore });
    expect(await bootOf(l, 'vmfail-01')).toEqual(before);
    expect(rb.out.slice(rb.out.indexOf('RECAP'))).toMatch(/rolled back: undid the hypervisor changes, VM left running/);
  }, 240_000);

  it('a guest-side step that fails after writing: it started to apply, so the VM is reverted', async () => {
    const pb = join(l.dir, 'guest-half.yml');
    writeFileSync(pb, [
      '- name: a guest step that fails half way',
      '  hosts: guest-01',
      '  on_failure: rollback',
      '  steps:',
      '    - name: snapshot',
      '      snapshot: { keep: 7d }',
      '    - name: insert the tools ISO',
      '      attach-iso: {}',
      '    - name: writes, then fails',
      '      run-script: { script: "touch /root/half-done; exit 4" }',
      '',
    ].join('\n'));
    const g = l.lab.list().find((x) => x.name === 'guest-01')!;
    const before = await bootOf(l, 'guest-01');
    const since = l.lab.sim.calls.length;
    const r = await pvrun([pb, '-i', l.inventory, '--state-dir', join(l.dir, 'pvrun')]);
    expect(recapOutcomes(r.out)).toEqual({ 'guest-01': 'rolled-back' });
    expect(revertCalls(l, since)).toEqual(['VM.revert']);
    expect(existsSync(join(g.upperDir, 'root', 'half-done'))).toBe(false);
    expect((await bootOf(l, 'guest-01')).bootId).not.toBe(before.bootId);
    expect(r.out.slice(r.out.indexOf('RECAP'))).toMatch(/rolled back: reverted to the snapshot/);
  }, 300_000);

  it('rollback from the snapshot markers alone (--from-pool) cannot know what ran: it reverts', async () => {
    const pb = join(l.dir, 'vm-fail-lost.yml');
    writeFileSync(pb, [
      '- name: left as is, journal lost',
      '  hosts: vmfail-01',
      '  on_failure: stop',
      '  steps:',
      '    - name: snapshot',
      '      snapshot: { keep: 7d }',
      '    - name: a VM fact that does not hold',
      '      check: { power_state: Halted }',
      '',
    ].join('\n'));
    const state = join(l.dir, 'pvrun-lost');
    const run = await pvrun([pb, '-i', l.inventory, '--state-dir', state]);
    expect(recapOutcomes(run.out)).toEqual({ 'vmfail-01': 'failed' });
    const runId = RUN_ID.exec(run.out)?.[1];
    expect(runId).toBeDefined();
    rmSync(state, { recursive: true, force: true });
    const before = await bootOf(l, 'vmfail-01');
    const since = l.lab.sim.calls.length;
    const rb = await pvrun(['rollback', runId!, '--from-pool', '-i', l.inventory, '--playbook', pb, '--state-dir', state]);
    expect(rb.code, rb.out + rb.err).toBe(0);
    expect(revertCalls(l, since)).toEqual(['VM.revert']);
    expect((await bootOf(l, 'vmfail-01')).bootId).not.toBe(before.bootId);
    expect(rb.out.slice(rb.out.indexOf('RECAP'))).toMatch(/rolled back: reverted to the snapshot/);
  }, 300_000);

  it('a failure after a guest-side change: reverted to the snapshot, as before', async () => {
    const pb = join(l.dir, 'guest-fail.yml');
    writeFileSync(pb, [
      '- name: fails after changing the guest',
      '  hosts: guest-01',
      '  on_failure: rollback',
      '  steps:',
      '    - name: snapshot',
      '      snapshot: { keep: 7d }',
      '    - name: insert the tools ISO',
      '      attach-iso: {}',
      '    - name: a guest change',
      '      run-script: { script: "touch /root/written-by-the-run" }',
      '    - name: then a failure',
      '      run-script: { script: "exit 3" }',
      '',
    ].join('\n'));
    const g = l.lab.list().find((x) => x.name === 'guest-01')!;
    const before = await bootOf(l, 'guest-01');
    const since = l.lab.sim.calls.length;
    const r = await pvrun([pb, '-i', l.inventory, '--state-dir', join(l.dir, 'pvrun')]);
    expect(recapOutcomes(r.out)).toEqual({ 'guest-01': 'rolled-back' });
    expect(r.code).toBe(2);
    expect(revertCalls(l, since)).toEqual(['VM.revert']);
    expect(existsSync(join(g.upperDir, 'root', 'written-by-the-run'))).toBe(false);
    const after = await bootOf(l, 'guest-01');
    expect(after.bootId).not.toBe(before.bootId);
    expect((await vmState(l.lab, 'guest-01')).power).toBe('Running');
    expect(r.out.slice(r.out.indexOf('RECAP'))).toMatch(/rolled back: reverted to the snapshot/);
    expect(r.out).not.toMatch(/VM left running/);
  }, 300_000);
});
