/**
 * Fault knobs of lab guests (ssh down, reboot never comes back, slow boot), guest-initiated
 * poweroff, and stopping guests recorded in a state directory by another process.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeUnless } from '../harness/require.js';
import { LabGuests } from '../../src/lab/guest/index.js';
import type { GuestReport } from '../../src/lab/sim-hooks.js';
import { eventually, labSkipReason, sshAnswers, sshExec } from './helpers.js';

const skip = labSkipReason();

const SSH_DOWN = 'aaaaaaaa-0000-4000-8000-000000000001';
const NEVER = 'aaaaaaaa-0000-4000-8000-000000000002';
const SLOW = 'aaaaaaaa-0000-4000-8000-000000000003';

describeUnless(skip)('lab guest faults', () => {
  let stateDir: string;
  let lab: LabGuests;
  const reports: { vm: string; report: GuestReport }[] = [];
  const shutdowns: string[] = [];

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'pvrun-lab-faults-'));
    const created = await LabGuests.create({
      guests: [
        { name: 'nossh', uuid: SSH_DOWN, distro: 'debian', version: '12', faults: { sshDown: true } },
        { name: 'never', uuid: NEVER, distro: 'rhel', version: '9', faults: { rebootNeverReturns: true } },
        { name: 'slow', uuid: SLOW, distro: 'ubuntu', version: '24.04', faults: { slowBootMs: 1500 } },
      ],
    }, {
      stateDir, rebootDelayMs: 50,
      onGuestReport: (vm, report) => reports.push({ vm, report }),
      onGuestInitiatedShutdown: (vm) => { shutdowns.push(vm); void lab.onPowerOp(vm, 'clean_shutdown'); },
    });
    if (!created.ok) throw new Error(created.error.message);
    lab = created.value;
    const s = await lab.startAll();
    if (!s.ok) throw new Error(s.error.message);
  });

  afterAll(async () => {
    await lab?.stopAll();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it('ssh_down: the guest boots (PV drivers reported) but nothing listens on its port', async () => {
    const booted = await eventually(() => reports.find((r) => r.vm === SSH_DOWN)?.report);
    expect(booted?.pvDriversDetected).toBe(true);
    const w = await lab.waitReady(SSH_DOWN, 1500);
    expect(w.ok).toBe(false);
    if (!w.ok) expect(w.error.kind).toBe('timeout');
    expect(await sshAnswers(lab.info(SSH_DOWN)!)).toBe(false);
  });

  it('slow_boot_ms: the guest still comes up, sshd after the delay', async () => {
    expect((await lab.waitReady(SLOW, 30_000)).ok).toBe(true);
    const r = await sshExec(lab.info(SLOW)!, 'hostname');
    expect(r.stdout.trim()).toBe('slow');
  });

  it('reboot_never_returns: after a reboot the guest never boots; a fresh start (as after a revert) does', async () => {
    expect((await lab.waitReady(NEVER, 30_000)).ok).toBe(true);
    await lab.onPowerOp(NEVER, 'clean_reboot');
    const hungBoot = lab.bootId(NEVER);
    expect(lab.info(NEVER)?.powerState).toBe('running');
    const w = await lab.waitReady(NEVER, 2000);
    expect(w.ok).toBe(false);
    expect(await sshAnswers(lab.info(NEVER)!)).toBe(false);
    // no guest report for the hung boot: its kernel never came up
    const currentBootId = readFileSync(join(stateDir, 'guests', 'never', 'boot_id'), 'utf8').trim();
    expect(currentBootId).toBe(hungBoot);
    expect(existsSync(join(stateDir, 'guests', 'never', 'control', 'kernel-up'))).toBe(false);
    await lab.onPowerOp(NEVER, 'hard_shutdown');
    expect(lab.info(NEVER)?.powerState).toBe('halted');
    await lab.onPowerOp(NEVER, 'start');
    expect((await lab.waitReady(NEVER, 30_000)).ok).toBe(true);
  });

  it('reboot inside the guest, with no reboot handler wired: the lab reboots the guest itself', async () => {
    const before = lab.bootId(SLOW);
    expect([0, null]).toContain((await sshExec(lab.info(SLOW)!, 'systemctl reboot')).code);
    const changed = await eventually(() => (lab.bootId(SLOW) && lab.bootId(SLOW) !== before ? true : undefined));
    expect(changed).toBe(true);
    expect((await lab.waitReady(SLOW, 30_000)).ok).toBe(true);
  });

  it('poweroff inside the guest halts it and tells the orchestrator', async () => {
    const slow = lab.info(SLOW)!;
    expect([0, null]).toContain((await sshExec(slow, 'shutdown -h now')).code);
    const halted = await eventually(() => (lab.info(SLOW)?.powerState === 'halted' ? true : undefined));
    expect(halted).toBe(true);
    expect(shutdowns).toEqual([SLOW]);
  });

  it('killFromState stops guests recorded by another process, and only those', async () => {
    const rt = JSON.parse(readFileSync(join(stateDir, 'guests', 'never', 'runtime.json'), 'utf8')) as { initPid: number; unsharePid: number };
    expect(existsSync(`/proc/${rt.initPid}`)).toBe(true);
    // a state directory that is not this one touches nothing
    expect(await LabGuests.killFromState(join(stateDir, 'elsewhere'))).toBe(0);
    expect(await LabGuests.killFromState(stateDir)).toBe(2); // nossh and never are running
    expect(existsSync(`/proc/${rt.unsharePid}`)).toBe(false);
    const halted = await eventually(() => (lab.list().every((g) => g.powerState === 'halted') ? true : undefined));
    expect(halted).toBe(true);
  });
});
