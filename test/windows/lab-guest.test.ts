/**
 * The Windows procedure against a Windows-like lab guest: real sshd, the ssh-powershell connector,
 * real pwsh running the PvrunLab module on a state file. The ghost-NIC scenario end to end.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSshd, type SshdHandle } from '../../src/lab/sshd.js';
import { createWindowsLabGuest, seedWindowsState, type WindowsLabGuest, type WindowsLabState } from '../../src/lab/windows/guest.js';
import { createSshPowerShell } from '../../src/connectors/powershell/create.js';
import type { SshPowerShellConnector } from '../../src/connectors/powershell/ssh-powershell.js';
import { citrixCleanupStep, msiInstallStep, nicMigrateStep, windowsPredicates, windowsRebootStep } from '../../src/steps/windows/index.js';
import type { Result } from '../../src/util/result.js';
import { createPsRemoting } from '../../src/connectors/powershell/create.js';
import { PwshPool } from '../../src/connectors/powershell/pool.js';
import { describeWindows, PWSH, startPwshSshd, windowsHost } from './harness.js';
import { buildRelease, LAB_RELEASES, type BuiltRelease } from '../../src/lab/windows/releases.js';
import { runStep, stepContext } from './step-context.js';
import { REBOOT_REQUIRED } from '../../src/steps/state.js';
import { BOOT_TIME_SCRIPT } from '../../src/steps/windows/windows-reboot.js';

const noSecrets = (): Result<string, string> => ({ ok: false, error: 'none' });
const predicate = (key: string) => windowsPredicates.find((p) => p.key === key)!;

describeWindows('Windows procedure on a lab guest (ssh-powershell + PvrunLab)', { sshd: true }, () => {
  let sshd: SshdHandle;
  const opened: SshPowerShellConnector[] = [];
  // the real tools come as a release package (one MSI per release, XenClean under package\XenClean\)
  let r90: BuiltRelease;
  let r91: BuiltRelease;
  /** a guest whose CD drive D: holds a release, with the vendor device off (the MSI refuses otherwise) */
  const ready = (rel: BuiltRelease, o: Parameters<typeof seedWindowsState>[0] = {}): WindowsLabState => ({ ...seedWindowsState({ vendorDevice: false, ...o }), cdrom: rel.root });

  function guest(name: string, state: WindowsLabState, checkMode = false) {
    const g: WindowsLabGuest = createWindowsLabGuest(mkdtempSync(join(tmpdir(), `pvrun-win-${name}-`)), PWSH!, state);
    const host = windowsHost(sshd, 'ssh-powershell', name);
    const r = createSshPowerShell(host, { resolveSecret: noSecrets, executable: g.executable, ...(checkMode ? { mode: 'check' as const } : {}) });
    if (!r.ok) throw new Error(r.error);
    opened.push(r.value.connector);
    return { g, host, conn: r.value.connector };
  }

  beforeAll(async () => {
    sshd = await startSshd();
    const d = mkdtempSync(join(tmpdir(), 'pvrun-win-rel-'));
    r90 = buildRelease(join(d, 'r90'), LAB_RELEASES['9.0'], PWSH!);
    r91 = buildRelease(join(d, 'r91'), LAB_RELEASES['9.1'], PWSH!);
  });
  afterAll(async () => {
    await Promise.all(opened.map((c) => c.close()));
    await sshd?.stop();
  });

  it('check mode: predicts the procedure and changes nothing on the guest', async () => {
    const { g, host, conn } = guest('check', ready(r90), true);
    const before = JSON.stringify(g.read());
    const ctx = stepContext(host, conn, { check: true });
    const cap = await runStep(nicMigrateStep, ctx, { action: 'capture' });
    expect(cap.plan).toMatchObject({ kind: 'ok', summary: expect.stringContaining('00:16:3e:5a:01:02 10.20.30.40/24') });
    expect((await runStep(msiInstallStep, ctx, { path: 'D:\\package\\XenDrivers-x64.msi', product: 'XCP-ng Windows PV Drivers' })).plan.kind).toBe('change');
    expect((await runStep(windowsRebootStep, ctx, { when_required: true })).plan.kind).toBe('change');
    // the rehearsal of restore sees the captured settings still on the emulated NIC and says what
    // the real run will move
    const restore = await runStep(nicMigrateStep, ctx, { action: 'restore' });
    expect(restore.plan).toEqual({ kind: 'change', summary: 'after the NIC driver change, would move 10.20.30.40/24, gateway 10.20.30.1, dns 10.20.30.2,10.20.30.3 from Ethernet to the PV adapter with MAC 00:16:3e:5a:01:02' });
    // and a step that forgot its plan/apply split is stopped by the connector itself
    const direct = await conn.exec("& shutdown.exe /r /t 2");
    expect(!direct.ok && direct.error.kind).toBe('check-mode-refused');
    expect(JSON.stringify(g.read())).toBe(before);
  });

  it('ghost NIC: a static IP left on the hidden adapter ends up on the new PV adapter, the ghost is gone', async () => {
    const { g, host, conn } = guest('ghost', ready(r90));
    const ctx = stepContext(host, conn);
    expect((await predicate('pv_drivers_present').evaluate(ctx, true, { fresh: true }))).toMatchObject({ ok: true, value: { pass: false } });

    const cap = await runStep(nicMigrateStep, ctx, { action: 'capture' });
    expect(cap.apply).toMatchObject({ kind: 'ok', summary: 'captured 1 static adapter(s)' });
    expect(ctx.intents).toContainEqual({ action: 'nic-capture', detail: { adapters: [expect.objectContaining({ mac: '00:16:3e:5a:01:02', addresses: [{ ip: '10.20.30.40', prefix: 24 }], gateways: ['10.20.30.1'], dns: ['10.20.30.2', '10.20.30.3'] })] } });

    const inst = await runStep(msiInstallStep, ctx, { path: 'D:\\package\\XenDrivers-x64.msi', product: 'XCP-ng Windows PV Drivers' });
    expect(inst.apply).toMatchObject({ kind: 'changed', data: { exit_code: 3010, reboot_required: true } });
    expect(ctx.state.get(REBOOT_REQUIRED)).toBe(true);

    const boot = await runStep(windowsRebootStep, ctx, { when_required: true });
    expect(boot.apply).toMatchObject({ kind: 'changed', data: { reboots: 1 } });
    expect(ctx.state.get(REBOOT_REQUIRED)).toBe(false);

    // the driver change happened: PV NIC on DHCP, the static IP stranded on a hidden adapter
    let s = g.read();
    const pv = s.adapters.find((a) => a.pnpDeviceId.startsWith('XENVIF\\'))!;
    expect(pv).toMatchObject({ mac: '00-16-3E-5A-01-02', dhcp: 'Enabled' });
    expect(s.devices.filter((d) => d.class === 'Net' && !d.present)).toHaveLength(1);
    expect((await predicate('pv_drivers_present').evaluate(ctx, true, { fresh: true }))).toMatchObject({ ok: true, value: { pass: true } });
    expect((await predicate('tools_installed').evaluate(ctx, 'XCP-ng Windows PV Drivers >= 9.0', { fresh: true }))).toMatchObject({ ok: true, value: { pass: true } });
    expect((await predicate('windows_service_running').evaluate(ctx, ['xenbus', 'xenvif'], { fresh: true }))).toMatchObject({ ok: true, value: { pass: true } });

    const restore = await runStep(nicMigrateStep, ctx, { action: 'restore' });
    expect(restore.plan).toMatchObject({ kind: 'change', summary: expect.stringContaining('10.20.30.40/24') });
    expect(restore.apply).toMatchObject({ kind: 'changed' });
    s = g.read();
    const after = s.adapters.find((a) => a.pnpDeviceId.startsWith('XENVIF\\'))!;
    expect(after).toMatchObject({ dhcp: 'Disabled', addresses: [{ ip: '10.20.30.40', prefix: 24, origin: 'Manual' }], gateways: ['10.20.30.1'], dns: ['10.20.30.2', '10.20.30.3'] });
    expect(s.devices.filter((d) => d.class === 'Net' && !d.present)).toHaveLength(0);
    expect(s.adapters).toHaveLength(1);

    // idempotent: nothing left to do, nothing done
    const logLen = s.log?.length ?? 0;
    const again = await runStep(nicMigrateStep, ctx, { action: 'restore' });
    expect(again.plan.kind).toBe('ok');
    expect(g.read().log?.length ?? 0).toBe(logLen);
  });

  it('restore in a later session: settings from the journaled capture record', async () => {
    const state = seedWindowsState({ ip: '192.168.7.9' });
    const { g, host, conn } = guest('later', state);
    const first = stepContext(host, conn);
    await runStep(nicMigrateStep, first, { action: 'capture' });
    const record = first.intents.find((i) => i.action === 'nic-capture')!.detail['adapters'];
    // the driver change and reboot happen "elsewhere"
    const s = g.read(); s.pendingDriverSwap = true; g.write(s);
    expect((await conn.exec('& shutdown.exe /r /t 2; exit $LASTEXITCODE')).ok).toBe(true);
    const second = stepContext(host, conn); // fresh state: nothing captured in this session
    const r = await runStep(nicMigrateStep, second, { action: 'restore', captured: record as never });
    expect(r.apply).toMatchObject({ kind: 'changed' });
    expect(g.read().adapters.find((a) => a.pnpDeviceId.startsWith('XENVIF\\'))?.addresses).toEqual([{ ip: '192.168.7.9', prefix: 24, origin: 'Manual' }]);
  });

  it('a failed install reports the installer code and its meaning', async () => {
    const { host, conn } = guest('broken', seedWindowsState());
    const ctx = stepContext(host, conn);
    const r = await runStep(msiInstallStep, ctx, { path: 'D:\\broken.msi' });
    expect(r.apply).toMatchObject({ kind: 'failed', reason: expect.stringContaining('msiexec exit 1603 (fatal error during installation)') });
    expect(ctx.state.get(REBOOT_REQUIRED)).toBeUndefined();
  });

  // the real XenClean (v9.1+) without -onboard removes every PV product and returns 0; 64/65/66
  // exist only with -onboard (win-pv-drivers XenClean Program.cs, ExitCode.cs)
  it('Citrix clean-up: the release XenClean removes the tools and asks for a reboot; clean is ok; a failing XenClean fails with the reason', async () => {
    const { g, host, conn } = guest('citrix', ready(r91, { citrix: true }));
    const ctx = stepContext(host, conn);
    const xc = { path: 'D:\\package\\XenClean\\XenClean.exe' };
    const r = await runStep(citrixCleanupStep, ctx, xc);
    expect(r.plan).toMatchObject({ kind: 'change', summary: expect.stringContaining('Citrix VM Tools 7.2.0.1555') });
    expect(r.apply).toMatchObject({ kind: 'changed', data: { exit_code: 0, reboot_required: true } });
    expect(g.read().products).toEqual([]);
    expect((await runStep(citrixCleanupStep, ctx, xc)).plan.kind).toBe('ok');
    const s = g.read(); s.xenclean = { exitCode: 1 }; g.write(s);
    expect(await citrixCleanupStep.apply(ctx, xc, { kind: 'change', summary: '' })).toMatchObject({ kind: 'failed', reason: expect.stringContaining('XenClean failed (exit 1') });
  });

  it('windows-reboot follows the reboots drivers ask for, up to max_followups', async () => {
    const { g, host, conn } = guest('followup', { ...seedWindowsState(), followupReboots: 1 });
    const ctx = stepContext(host, conn);
    expect((await runStep(windowsRebootStep, ctx, {})).apply).toMatchObject({ kind: 'changed', data: { reboots: 2 } });
    expect(g.read().bootCount).toBe(3);
    const s = g.read(); s.followupReboots = 2; g.write(s);
    expect((await runStep(windowsRebootStep, ctx, { max_followups: 1 })).apply)
      .toMatchObject({ kind: 'failed', reason: expect.stringContaining('still a reboot pending (component-based-servicing) after 2 reboot(s)') });
  });

  it('windows-reboot: the connection drops with the reboot, as on a real guest; the step reconnects', async () => {
    const { g, host, conn } = guest('drop', { ...seedWindowsState(), dropConnectionOnReboot: true });
    const ctx = stepContext(host, conn);
    // the emulation really cuts the connection: a plain exec of the trigger loses it
    const cut = await conn.exec('& shutdown.exe /r /t 2');
    expect(!cut.ok && cut.error.kind).toBe('connection-lost');
    expect(g.read().bootCount).toBe(2);
    const r = await runStep(windowsRebootStep, ctx, {});
    expect(r.apply).toMatchObject({ kind: 'changed', data: { reboots: 1 } });
    expect(g.read().bootCount).toBe(3);
  });

  /** LastBootUpTime as the step reads it (what the killed process journaled) */
  async function lastBoot(c: SshPowerShellConnector): Promise<string> {
    const r = await c.exec(BOOT_TIME_SCRIPT, { mutates: false });
    if (!r.ok || r.value.exitCode !== 0) throw new Error(`cannot read LastBootUpTime: ${JSON.stringify(r)}`);
    return r.value.stdout.trim();
  }

  // pvrun resume of a windows-reboot cut short after it asked for the reboot (the intent holds the
  // LastBootUpTime read then): a reboot that has happened since is not asked for a second time
  it('windows-reboot resumed after the killed process\'s reboot happened: no second reboot', async () => {
    const { g, host, conn } = guest('resumed-done', seedWindowsState());
    const asked = await lastBoot(conn);
    // the reboot the killed process asked for, done
    expect((await conn.exec('& shutdown.exe /r /t 2')).ok).toBe(true);
    const s0 = g.read();
    const done = await lastBoot(conn);
    expect(done).not.toBe(asked);
    const ctx = stepContext(host, conn, { resumedApply: { intents: [{ action: 'windows-reboot', detail: { lastBootUpTime: asked } }] } });
    const r = await runStep(windowsRebootStep, ctx, {});
    expect(r.apply, ctx.lines.join('\n')).toMatchObject({ kind: 'changed', data: { reboots: 1, last_boot: done } });
    expect(ctx.lines.join('\n')).toMatch(/resumed: LastBootUpTime is \S+, not \S+ as when the killed process asked for a reboot: it has rebooted; not asking again/);
    expect(ctx.intents).toEqual([]);
    expect(g.read().bootCount).toBe(s0.bootCount);
    expect(g.read().log).toEqual(s0.log);
  });

  it('windows-reboot resumed when the killed process\'s reboot has not happened: asks again', async () => {
    const { g, host, conn } = guest('resumed-pending', seedWindowsState());
    const asked = await lastBoot(conn);
    const count = g.read().bootCount;
    const ctx = stepContext(host, conn, { resumedApply: { intents: [{ action: 'windows-reboot', detail: { lastBootUpTime: asked } }] } });
    const r = await runStep(windowsRebootStep, ctx, {});
    expect(r.apply, ctx.lines.join('\n')).toMatchObject({ kind: 'changed', data: { reboots: 1 } });
    expect(ctx.lines.join('\n')).toMatch(/resumed: LastBootUpTime has not changed since the killed process asked for a reboot: asking again/);
    expect(ctx.intents.map((i) => i.action)).toEqual(['windows-reboot']);
    expect(g.read().bootCount).toBe(count + 1);
  });

  it('windows-reboot aborts an already scheduled shutdown and retries once', async () => {
    const { g, host, conn } = guest('sched', { ...seedWindowsState(), shutdownScheduled: true });
    const bootBefore = g.read().bootTime;
    const ctx = stepContext(host, conn);
    const r = await runStep(windowsRebootStep, ctx, {});
    expect(r.apply).toMatchObject({ kind: 'changed', data: { reboots: 1 } });
    const s = g.read();
    expect(s.bootTime).not.toBe(bootBefore);
    expect(s.log).toEqual(['shutdown /r /t 2 /c pvrun: reboot', 'shutdown /a', 'shutdown /r /t 2 /c pvrun: reboot']);
    expect(ctx.lines).toContain('a shutdown was already scheduled: aborted it and rebooted');
  });
});

describeWindows('Windows procedure on a lab guest through psremoting (SSH transport)', { sshd: true }, () => {
  let sshd: SshdHandle;
  let pool: PwshPool;
  beforeAll(async () => {
    sshd = await startPwshSshd();
    pool = new PwshPool({ executable: PWSH!, maxWorkers: 2 });
  });
  afterAll(async () => {
    await pool?.close();
    await sshd?.stop();
  });

  it('ghost NIC end to end: capture, install (3010), reboot, restore', async () => {
    const rel = buildRelease(join(mkdtempSync(join(tmpdir(), 'pvrun-winpsr-rel-')), 'r90'), LAB_RELEASES['9.0'], PWSH!);
    const g = createWindowsLabGuest(mkdtempSync(join(tmpdir(), 'pvrun-winpsr-')), PWSH!, { ...seedWindowsState({ ip: '172.16.5.5', vendorDevice: false }), cdrom: rel.root });
    const host = windowsHost(sshd, 'psremoting', 'psr-ghost');
    const r = createPsRemoting(host, { resolveSecret: noSecrets, pool, sessionInit: g.sessionInit });
    if (!r.ok) throw new Error(r.error);
    const conn = r.value.connector;
    try {
      const ctx = stepContext(host, conn);
      expect((await runStep(nicMigrateStep, ctx, { action: 'capture' })).apply).toMatchObject({ kind: 'ok', summary: 'captured 1 static adapter(s)' });
      expect((await runStep(msiInstallStep, ctx, { path: 'D:\\package\\XenDrivers-x64.msi' })).apply).toMatchObject({ kind: 'changed', data: { exit_code: 3010 } });
      expect((await runStep(windowsRebootStep, ctx, { when_required: true })).apply).toMatchObject({ kind: 'changed', data: { reboots: 1 } });
      expect((await runStep(nicMigrateStep, ctx, { action: 'restore' })).apply).toMatchObject({ kind: 'changed' });
      const s = g.read();
      expect(s.adapters).toEqual([expect.objectContaining({ pnpDeviceId: expect.stringMatching(/^XENVIF\\/), addresses: [{ ip: '172.16.5.5', prefix: 24, origin: 'Manual' }] })]);
      expect(s.devices.filter((d) => !d.present)).toEqual([]);
    } finally {
      await conn.close();
    }
  });
});
