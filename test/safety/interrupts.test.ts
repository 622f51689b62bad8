/**
 * Issue 19 item 6, interrupts and outages: the recap and the exit code tell the truth.
 *  - two SIGINTs while an installer (no undo) runs: the recap names the step cut short, and the
 *    needs-attention 3 wins over 130;
 *  - `pvrun rollback`'s recap prints the exit code the process exits with;
 *  - `pvrun rollback` rides out an XAPI outage (every call dropped for a few seconds) instead of
 *    giving up within a second.
 * The XAPI side is the simulator over HTTP with the production client; the engine part uses the
 * scripted rig (pure logic: the question is what the engine reports).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XapiSimulator } from '../../src/lab/xapi-sim/index.js';
import { listRunIds } from '../../src/journal/read.js';
import { defineStep, type StepType } from '../../src/steps/types.js';
import { formatRecap } from '../../src/report/recap.js';
import type { RunEvent } from '../../src/engine/events.js';
import { makeRig, newLog, play, scheduler, step, type RigArgs } from '../engine/rig.js';
import { pvrun, recapOutcomes } from '../e2e/harness.js';

describe('two SIGINTs while a step without undo runs', () => {
  it('the recap names the step cut short, and exit 3 (needs attention) wins over 130', async () => {
    const log = newLog();
    let installerFinished = false;
    // an installer that has no undo and does not stop when pvrun gives up on it: it finishes
    const installer: StepType<RigArgs> = defineStep<RigArgs>({
      type: 'installer', description: 'rig installer (no undo)', schema: { type: 'object' }, needs: 'none',
      async plan() { return { kind: 'change', summary: 'would install' }; },
      async apply() {
        await new Promise((r) => setTimeout(r, 300));
        installerFinished = true;
        return { kind: 'changed', summary: 'installed' };
      },
    });
    const rig = [...makeRig(log), installer];
    const { s, events } = scheduler();
    const p = s.run([play({ rig, hosts: ['a'], steps: [step('snap', {}, { name: 'snapshot' }), step('installer', {}, { name: 'run the installer' })] })]);
    // wait until the installer's apply has started
    for (let i = 0; i < 200 && !events.some((e) => e.type === 'intent' && e.step === 'run the installer'); i++) await new Promise((r) => setTimeout(r, 5));
    s.interrupt();
    s.interrupt();
    const r = await p;
    const recap = r.recap[0]!;
    expect(recap.outcome).toBe('needs-attention');
    expect(recap.reason).toContain("'run the installer'");
    expect(recap.attention).toContain("cut short: 'run the installer'");
    expect(recap.attention).toContain('applied: snapshot');
    expect(r.exitCode).toBe(3);
    const end = events.find((e): e is Extract<RunEvent, { type: 'run-end' }> => e.type === 'run-end')!;
    expect(end.exitCode).toBe(3);
    const text = formatRecap(end.recap, { color: false, runId: 'r1', durationMs: 1, exitCode: end.exitCode, check: false });
    expect(text).toMatch(/RECAP .* exit 3/);
    expect(text).toContain("cut short: 'run the installer'");
    await new Promise((res) => setTimeout(res, 400));
    expect(installerFinished).toBe(true);
  });

  it('one SIGINT with every host rolled back cleanly still exits 130', async () => {
    const log = newLog();
    const rig = makeRig(log);
    const { s } = scheduler();
    const p = s.run([play({ rig, hosts: ['a'], steps: [step('snap'), step('change', { sleep: 150 }), step('other')] })]);
    await new Promise((r) => setTimeout(r, 60));
    s.interrupt();
    const r = await p;
    expect(r.recap[0]!.outcome).toBe('rolled-back');
    expect(r.exitCode).toBe(130);
  });
});

describe('pvrun rollback against the XAPI simulator', () => {
  let sim: XapiSimulator;
  let dir: string;
  const PW = 'outage-secret';
  beforeAll(async () => {
    sim = new XapiSimulator({
      definition: { pool: 'p1', password: PW, isos: ['tools.iso'], vms: [{ name: 'vm-01', os: 'Ubuntu 22.04', power: 'Running', tools: 'agent' }] },
      guestReportDelayMs: 0,
    });
    await sim.start();
    dir = mkdtempSync(join(tmpdir(), 'pvrun-outage-'));
    writeFileSync(join(dir, 'pw'), `${PW}\n`);
    writeFileSync(join(dir, 'inv.yml'), [
      'hypervisors:',
      `  p1: { url: "${sim.url}", username: root, password: { file: ${join(dir, 'pw')} } }`,
      'hosts:',
      '  vm-01: { vm: { pool: p1, name_label: vm-01 }, connection: { type: none } }',
      '',
    ].join('\n'));
    writeFileSync(join(dir, 'pb.yml'), [
      '- name: change the VM, fail, leave it for pvrun rollback',
      '  hosts: all',
      '  on_failure: stop',
      '  steps:',
      '    - name: snapshot',
      '      snapshot: { keep: false }',
      '    - name: insert an ISO',
      '      attach-iso: { iso: tools.iso }',
      '    - name: fail on purpose',
      '      check: { power_state: Halted }',
      '',
    ].join('\n'));
  });
  afterAll(async () => {
    await sim?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function failedRun(name: string): Promise<{ state: string; id: string }> {
    const state = join(dir, name);
    const r = await pvrun([join(dir, 'pb.yml'), '-i', join(dir, 'inv.yml'), '--state-dir', state]);
    expect(r.code, r.out + r.err).toBe(2);
    return { state, id: listRunIds(state).at(-1)! };
  }

  it("the rollback's recap prints the exit code the process exits with", async () => {
    const { state, id } = await failedRun('state-recap');
    const rb = await pvrun(['rollback', id, '--state-dir', state]);
    expect(recapOutcomes(rb.out)).toEqual({ 'vm-01': 'rolled-back' });
    expect(rb.code, rb.out + rb.err).toBe(0);
    expect(rb.out).toMatch(/RECAP .* exit 0\n/);
  });

  it('the rollback rides out a 4 s XAPI outage (every call dropped) instead of giving up', async () => {
    const { state, id } = await failedRun('state-outage');
    sim.addFault({ method: /.*/, drop: true });
    const started = Date.now();
    const lifted = new Promise<number>((res) => setTimeout(() => { sim.clearFaults(); res(Date.now() - started); }, 4000));
    const rb = await pvrun(['rollback', id, '--state-dir', state]);
    const ms = Date.now() - started;
    await lifted;
    console.log(`rollback through a 4 s outage: ${ms} ms, exit ${rb.code}`);
    expect(recapOutcomes(rb.out), rb.out + rb.err).toEqual({ 'vm-01': 'rolled-back' });
    expect(rb.code, rb.out + rb.err).toBe(0);
    // it really waited for the pool: it cannot have finished before the outage ended
    expect(ms).toBeGreaterThanOrEqual(4000);
    // the CD is empty again: the revert happened
    const vm = sim.vm('vm-01');
    const cds = (vm.rec['VBDs'] as string[]).map((v) => sim.model.store.get('VBD', v) as Record<string, unknown>).filter((b) => b['type'] === 'CD');
    expect(cds.every((b) => b['empty'] === true)).toBe(true);
  }, 120_000);

  it('an outage in the middle of the undo steps (the ISO eject) is ridden out, not given up', async () => {
    const { state, id } = await failedRun('state-undo-outage');
    // nothing changed inside the guest: the rollback ejects the ISO and drops the snapshot (no
    // revert). Its read of the VM's drives is dropped 6 times: more than the client's own retries.
    sim.addFault({ method: /^VM\.get_VBDs$/, drop: true, times: 6 });
    try {
      const rb = await pvrun(['rollback', id, '--state-dir', state, '-v']);
      expect(recapOutcomes(rb.out), rb.out + rb.err).toEqual({ 'vm-01': 'rolled-back' });
      expect(rb.code, rb.out + rb.err).toBe(0);
      expect(rb.out + rb.err).toContain('the pool does not answer');
      expect(sim.calls.filter((c) => c.method === 'VM.get_VBDs' && c.error === 'DROPPED')).toHaveLength(6);
      const vm = sim.vm('vm-01');
      const cds = (vm.rec['VBDs'] as string[]).map((v) => sim.model.store.get('VBD', v) as Record<string, unknown>).filter((b) => b['type'] === 'CD');
      expect(cds.every((b) => b['empty'] === true)).toBe(true);
    } finally {
      sim.clearFaults();
    }
  }, 120_000);

  it('a revert whose connection drops (twice) mid-rollback is retried until it is done', async () => {
    const { state, id } = await failedRun('state-revert');
    // from the snapshot markers: the rollback cannot know what changed in the guest, so it reverts
    rmSync(state, { recursive: true, force: true });
    sim.addFault({ method: /^(Async\.)?VM\.revert$/, drop: true, times: 2 });
    try {
      const rb = await pvrun(['rollback', id, '--from-pool', '-i', join(dir, 'inv.yml'), '--state-dir', state, '-v']);
      expect(recapOutcomes(rb.out), rb.out + rb.err).toEqual({ 'vm-01': 'rolled-back' });
      expect(rb.code, rb.out + rb.err).toBe(0);
      expect(rb.out + rb.err).toContain('the pool does not answer');
      expect(sim.calls.filter((c) => /VM\.revert$/.test(c.method)).map((c) => c.error ?? 'ok')).toEqual(['DROPPED', 'DROPPED', 'ok']);
    } finally {
      sim.clearFaults();
    }
  }, 120_000);
});
