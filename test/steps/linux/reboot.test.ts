import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithSshd } from '../../harness/sshd.js';
import { rebootStep } from '../../../src/steps/reboot.js';
import { XapiSimulator } from '../../../src/lab/xapi-sim/index.js';
import { PoolSessions } from '../../../src/hypervisor/pool.js';
import { ok } from '../../../src/util/result.js';
import { makeCtx, runStep } from './ctx.js';
import { startGuest, type TestGuest } from './guest.js';
import { REBOOT_REQUIRED } from '../../../src/steps/state.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Plays the hypervisor: when the guest's reboot command has touched `trigger`, drop every
 * connection, stop sshd, optionally give the guest a new boot id, optionally start sshd again.
 */
async function emulateReboot(g: TestGuest, trigger: string, o: { newBootId: boolean; comeBack: boolean }): Promise<string | null> {
  for (let i = 0; i < 600 && !existsSync(trigger); i++) await sleep(50);
  if (!existsSync(trigger)) return null;
  rmSync(trigger);
  await g.sshd.killConnections();
  await g.sshd.stopListening();
  const id = crypto.randomUUID();
  if (o.newBootId) writeFileSync(g.bootIdFile, `${id}\n`);
  await sleep(700); // "booting"
  if (o.comeBack) await g.sshd.restart();
  return o.newBootId ? id : null;
}

async function bootIdOf(g: TestGuest): Promise<string> {
  const r = await g.connector.exec(`cat ${g.bootIdFile}`);
  if (!r.ok) throw new Error(`cannot read the boot id: ${r.error.message}`);
  return r.value.stdout.trim();
}

describeWithSshd('reboot step (via guest, emulated by restarting sshd)', () => {
  let g: TestGuest;
  let trigger: string;
  beforeAll(async () => {
    g = await startGuest();
    trigger = join(g.sshd.dir, 'reboot-requested');
  });
  afterAll(async () => { await g?.stop(); });

  it('check mode predicts a reboot and triggers nothing; when_required follows the state', async () => {
    const ctx = makeCtx(g.host, g.checkConnector, { check: true });
    expect((await runStep(rebootStep, ctx, { via: 'guest', reboot_command: `touch ${trigger}` })).plan.kind).toBe('change');
    const real = makeCtx(g.host, g.connector);
    expect((await runStep(rebootStep, real, { when_required: true, reboot_command: `touch ${trigger}` })).plan)
      .toEqual({ kind: 'ok', summary: 'no reboot required' });
    real.state.set(REBOOT_REQUIRED, true);
    expect((await rebootStep.plan(real, { when_required: true })).kind).toBe('change');
    await sleep(1500);
    expect(existsSync(trigger)).toBe(false);
  });

  it('detects the new boot id, reconnects and runs the test command', async () => {
    const ctx = makeCtx(g.host, g.connector);
    ctx.state.set(REBOOT_REQUIRED, true);
    const before = (await g.connector.exec(`cat ${g.bootIdFile}`)).ok;
    expect(before).toBe(true);
    const [res, newId] = await Promise.all([
      runStep(rebootStep, ctx, { via: 'guest', reboot_command: `touch ${trigger}`, test_command: 'test -d /', reboot_timeout: 60 }),
      emulateReboot(g, trigger, { newBootId: true, comeBack: true }),
    ]);
    expect(newId).not.toBeNull();
    expect(res.apply).toMatchObject({ kind: 'changed', data: { boot_id: newId } });
    expect(res.apply?.kind === 'changed' && res.apply.data?.['boot_id_before']).not.toBe(newId);
    expect(ctx.state.get(REBOOT_REQUIRED)).toBe(false);
    expect(ctx.intents.map((i) => i.action)).toEqual(['reboot']);
    const after = await g.connector.exec('echo alive');
    expect(after.ok && after.value.stdout).toBe('alive\n');
  });

  it('a guest that comes back with the same boot id has not rebooted: fails at reboot_timeout', async () => {
    const ctx = makeCtx(g.host, g.connector);
    const [res] = await Promise.all([
      runStep(rebootStep, ctx, { reboot_command: `touch ${trigger}`, reboot_timeout: 5 }),
      emulateReboot(g, trigger, { newBootId: false, comeBack: true }),
    ]);
    expect(res.apply?.kind).toBe('failed');
    expect(res.apply?.kind === 'failed' && res.apply.reason).toMatch(/did not come back within reboot_timeout \(5s\); last: boot id unchanged/);
  });

  it('a guest that never comes back fails at reboot_timeout, as unreachable', async () => {
    const ctx = makeCtx(g.host, g.connector);
    const [res] = await Promise.all([
      runStep(rebootStep, ctx, { reboot_command: `touch ${trigger}`, reboot_timeout: 4 }),
      emulateReboot(g, trigger, { newBootId: true, comeBack: false }),
    ]);
    expect(res.apply).toMatchObject({ kind: 'failed', unreachable: true });
    expect(res.apply?.kind === 'failed' && res.apply.reason).toMatch(/did not come back within reboot_timeout \(4s\); last: unreachable/);
    await g.sshd.restart();
  });

  /** the guest goes down now (its connections cut, sshd stopped) and is back with a new boot id after `downMs` */
  async function rebootUnderWay(downMs: number): Promise<string> {
    await g.sshd.killConnections();
    await g.sshd.stopListening();
    const id = crypto.randomUUID();
    writeFileSync(g.bootIdFile, `${id}\n`);
    setTimeout(() => void g.sshd.restart(), downMs);
    return id;
  }
  const bootId = (): Promise<string> => bootIdOf(g);

  // CI on stop 28: the guest went down (a reboot already asked for) between the connect and the
  // step's first read of the boot id; the step failed with "connection lost (closed)"
  it('a guest that is down as the step starts (a reboot under way) is waited for, then rebooted', async () => {
    const ctx = makeCtx(g.host, g.connector);
    await bootId(); // the step's connection is open (and dies with the "reboot" below)
    const first = await rebootUnderWay(1500);
    const [res, newId] = await Promise.all([
      runStep(rebootStep, ctx, { reboot_command: `touch ${trigger}`, reboot_timeout: 60 }),
      emulateReboot(g, trigger, { newBootId: true, comeBack: true }),
    ]);
    expect(res.apply, ctx.logs.join('\n')).toMatchObject({ kind: 'changed', data: { boot_id_before: first, boot_id: newId } });
    expect(ctx.logs.join('\n')).toMatch(/does not answer before the reboot .*it may be rebooting already; waiting for it/);
    expect(ctx.intents.map((i) => i.action)).toEqual(['reboot']);
  });

  it('pvrun resume: a reboot the killed process asked for and that has happened is not asked for again', async () => {
    const asked = await bootId();
    const ctx = makeCtx(g.host, g.connector, { resumedApply: { intents: [{ action: 'reboot', detail: { via: 'guest', boot_id: asked } }] } });
    // the killed process's reboot: under way as the resumed step starts
    const after = await rebootUnderWay(1500);
    const res = await runStep(rebootStep, ctx, { reboot_command: `touch ${trigger}`, reboot_timeout: 60 });
    expect(res.apply, ctx.logs.join('\n')).toMatchObject({ kind: 'changed', data: { boot_id_before: asked, boot_id: after } });
    expect(res.apply?.kind === 'changed' && res.apply.summary).toMatch(/^rebooted via guest \(asked for by the killed process\)/);
    expect(ctx.logs.join('\n')).toMatch(/resumed: the boot id is \S+, not \S+ as when the killed process asked for this reboot: it has rebooted; not asking again/);
    // no second reboot: no intent for one, and no trigger ran
    expect(ctx.intents).toEqual([]);
    expect(existsSync(trigger)).toBe(false);
    expect(await bootId()).toBe(after);
  });

  it('pvrun resume: a reboot the killed process asked for that has not happened is asked for again', async () => {
    const asked = await bootId();
    const ctx = makeCtx(g.host, g.connector, { resumedApply: { intents: [{ action: 'reboot', detail: { via: 'guest', boot_id: asked } }] } });
    const [res, newId] = await Promise.all([
      runStep(rebootStep, ctx, { reboot_command: `touch ${trigger}`, reboot_timeout: 60 }),
      emulateReboot(g, trigger, { newBootId: true, comeBack: true }),
    ]);
    expect(newId).not.toBeNull();
    expect(res.apply, ctx.logs.join('\n')).toMatchObject({ kind: 'changed', summary: expect.stringMatching(/^rebooted via guest in /), data: { boot_id_before: asked, boot_id: newId } });
    expect(ctx.logs.join('\n')).toMatch(/resumed: the boot id has not changed since the killed process asked for this reboot: asking again/);
    expect(ctx.intents.map((i) => i.action)).toEqual(['reboot']);
  });

  it('via hypervisor without a VM fails cleanly', async () => {
    const ctx = makeCtx(g.host, g.connector);
    const { apply } = await runStep(rebootStep, ctx, { via: 'hypervisor', reboot_timeout: 5 });
    expect(apply).toEqual({ kind: 'failed', reason: 'this test host has no VM' });
  });
});

describeWithSshd('reboot step (via hypervisor, XAPI simulator + restarted sshd)', () => {
  let g: TestGuest;
  let sim: XapiSimulator;
  let pools: PoolSessions;
  let powerOps: string[];
  let hookDelayMs = 0;
  beforeAll(async () => {
    g = await startGuest();
    powerOps = [];
    sim = new XapiSimulator({
      definition: { pool: 'p', username: 'root', password: 'pw', vms: [{ name: 'lin-1', os: 'Ubuntu 22.04', power: 'Running', tools: 'agent' }] },
      autoGuestReports: true,
      hooks: {
        // what the lab does on a power op: the guest's processes go away, a new boot id, back up
        async onPowerOp(_vm, op) {
          powerOps.push(op);
          if (hookDelayMs > 0) await sleep(hookDelayMs); // a guest slow to shut down: the operation stays in current_operations
          await g.sshd.killConnections();
          await g.sshd.stopListening();
          writeFileSync(g.bootIdFile, `${crypto.randomUUID()}\n`);
          await g.sshd.restart();
        },
      },
    });
    await sim.start();
    pools = new PoolSessions(
      { p: { name: 'p', url: sim.url, username: 'root', password: { env: 'X' }, tls: {}, pos: { file: 't', line: 1, col: 1 } } },
      () => ok('pw'),
      { mode: 'apply' },
    );
  });
  afterAll(async () => {
    await pools?.closeAll();
    await sim?.stop();
    await g?.stop();
  });

  it('reboots through XAPI and waits for the new boot id on the guest', async () => {
    const vm = await pools.vm({ pool: 'p', name_label: 'lin-1' });
    if (!vm.ok) throw new Error(JSON.stringify(vm.error));
    const ctx = makeCtx(g.host, g.connector, { vm: vm.value });
    const before = await g.connector.exec(`cat ${g.bootIdFile}`);
    const { apply } = await runStep(rebootStep, ctx, { via: 'hypervisor', reboot_timeout: 60 });
    expect(apply).toMatchObject({ kind: 'changed', data: { boot_id_before: before.ok ? before.value.stdout.trim() : '?' } });
    expect(apply?.kind === 'changed' && apply.data?.['boot_id']).not.toBe(before.ok ? before.value.stdout.trim() : '?');
    expect(powerOps).toEqual(['clean_reboot']);
    // the intent is journaled with the VM's start_time before the call: what a resume asks XAPI about
    expect(ctx.intents).toHaveLength(1);
    expect(ctx.intents[0]?.detail).toMatchObject({ via: 'hypervisor', mode: 'auto', start_time: expect.stringMatching(/^\d{8}T/) });
  });

  // `pvrun resume` of a hypervisor reboot cut short after its intent (src/steps/reboot.ts,
  // cutRebootBootId): the boot id the killed process read decides whether XAPI is asked again
  const bootId = (): Promise<string> => bootIdOf(g);
  const vmRef = async () => {
    const vm = await pools.vm({ pool: 'p', name_label: 'lin-1' });
    if (!vm.ok) throw new Error(JSON.stringify(vm.error));
    return vm.value;
  };

  it('pvrun resume: a hypervisor reboot that has happened is not asked of XAPI again', async () => {
    const asked = await bootId();
    // the killed process's reboot, done: a new boot id, sshd back
    await g.sshd.killConnections();
    await g.sshd.stopListening();
    const after = crypto.randomUUID();
    writeFileSync(g.bootIdFile, `${after}\n`);
    await g.sshd.restart();
    powerOps.length = 0;
    const ctx = makeCtx(g.host, g.connector, { vm: await vmRef(), resumedApply: { intents: [{ action: 'reboot', detail: { via: 'hypervisor', boot_id: asked, mode: 'auto' } }] } });
    const { apply } = await runStep(rebootStep, ctx, { via: 'hypervisor', reboot_timeout: 60 });
    expect(apply, ctx.logs.join('\n')).toMatchObject({ kind: 'changed', summary: expect.stringMatching(/^rebooted via hypervisor \(asked for by the killed process\)/), data: { boot_id_before: asked, boot_id: after } });
    expect(powerOps).toEqual([]);
    expect(ctx.intents).toEqual([]);
    expect(await bootId()).toBe(after);
  });

  it('pvrun resume: a hypervisor reboot that has not happened is asked of XAPI once more', async () => {
    const asked = await bootId();
    powerOps.length = 0;
    const ctx = makeCtx(g.host, g.connector, { vm: await vmRef(), resumedApply: { intents: [{ action: 'reboot', detail: { via: 'hypervisor', boot_id: asked, mode: 'auto' } }] } });
    const { apply } = await runStep(rebootStep, ctx, { via: 'hypervisor', reboot_timeout: 60 });
    expect(apply, ctx.logs.join('\n')).toMatchObject({ kind: 'changed', summary: expect.stringMatching(/^rebooted via hypervisor in /), data: { boot_id_before: asked } });
    expect(apply?.kind === 'changed' && apply.data?.['boot_id']).not.toBe(asked);
    expect(ctx.logs.join('\n')).toMatch(/resumed: the boot id has not changed since the killed process asked for this reboot: asking again/);
    expect(powerOps).toEqual(['clean_reboot']);
    expect(ctx.intents.map((i) => i.action)).toEqual(['reboot']);
  });

  // with the VM's start_time in the intent, XAPI decides: even a guest whose boot id the killed
  // process could not read (boot_id null: a hung guest, the reason to reboot via the hypervisor)
  const startTime = async (): Promise<string> => {
    const vm = await vmRef();
    const m = await vm.xapi.call<string>('VM.get_metrics', [vm.ref]);
    if (!m.ok) throw new Error(JSON.stringify(m.error));
    const t = await vm.xapi.call<string>('VM_metrics.get_start_time', [m.value]);
    if (!t.ok) throw new Error(JSON.stringify(t.error));
    return t.value;
  };
  const resumedCtx = async (start: string) => makeCtx(g.host, g.connector, {
    vm: await vmRef(), resumedApply: { intents: [{ action: 'reboot', detail: { via: 'hypervisor', boot_id: null, mode: 'auto', start_time: start } }] },
  });

  it('pvrun resume: XAPI shows a boot after the journaled start_time: not rebooted again, though the boot id was never read', async () => {
    const asked = await startTime();
    const vm = await vmRef();
    // the killed process's reboot, which reached XAPI and finished
    const done = await vm.xapi.call('VM.clean_reboot', [vm.ref]);
    expect(done.ok).toBe(true);
    expect(await startTime()).not.toBe(asked);
    powerOps.length = 0;
    const ctx = await resumedCtx(asked);
    const { apply } = await runStep(rebootStep, ctx, { via: 'hypervisor', reboot_timeout: 60 });
    expect(apply, ctx.logs.join('\n')).toMatchObject({ kind: 'changed', summary: expect.stringMatching(/^rebooted via hypervisor \(asked for by the killed process\)/) });
    expect(ctx.logs.join('\n')).toMatch(/booted at \S+, after \S+ when the killed process asked XAPI for this reboot: it has rebooted; not asking again/);
    expect(powerOps).toEqual([]);
    expect(ctx.intents).toEqual([]);
  });

  it('pvrun resume: a reboot still under way in XAPI is waited for, not asked again', async () => {
    const asked = await startTime();
    const bootBefore = await bootId();
    const vm = await vmRef();
    powerOps.length = 0;
    hookDelayMs = 1500;
    try {
      // the killed process's XAPI task, still running as the resume starts
      const task = vm.xapi.call('VM.clean_reboot', [vm.ref]);
      for (let i = 0; i < 100 && powerOps.length === 0; i++) await sleep(20);
      const ops = await vm.xapi.call<Record<string, string>>('VM.get_current_operations', [vm.ref]);
      expect(ops.ok && Object.values(ops.value)).toEqual(['clean_reboot']);
      const ctx = await resumedCtx(asked);
      const { apply } = await runStep(rebootStep, ctx, { via: 'hypervisor', reboot_timeout: 60 });
      expect((await task).ok).toBe(true);
      expect(apply, ctx.logs.join('\n')).toMatchObject({ kind: 'changed', summary: expect.stringMatching(/^rebooted via hypervisor \(asked for by the killed process\)/) });
      expect(apply?.kind === 'changed' && apply.data?.['boot_id']).not.toBe(bootBefore);
      expect(ctx.logs.join('\n')).toMatch(/XAPI is still rebooting lin-1 for the killed process: waiting for that boot, not asking again/);
      expect(powerOps).toEqual(['clean_reboot']);
      expect(ctx.intents).toEqual([]);
    } finally {
      hookDelayMs = 0;
    }
  });

  it('pvrun resume: no boot since the journaled start_time and nothing under way: asked of XAPI once more', async () => {
    const asked = await startTime();
    powerOps.length = 0;
    const ctx = await resumedCtx(asked);
    const { apply } = await runStep(rebootStep, ctx, { via: 'hypervisor', reboot_timeout: 60 });
    expect(apply, ctx.logs.join('\n')).toMatchObject({ kind: 'changed', summary: expect.stringMatching(/^rebooted via hypervisor in /) });
    expect(ctx.logs.join('\n')).toMatch(/XAPI shows no boot of lin-1 since \S+ and no reboot under way: the killed process's reboot never reached it; asking again/);
    expect(powerOps).toEqual(['clean_reboot']);
    expect(ctx.intents.map((i) => i.detail['start_time'])).toEqual([asked]);
  });
});
