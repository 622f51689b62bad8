/**
 * Issue 14: XenClean's real contract (win-pv-drivers XenClean/Program.cs, ExitCode.cs; FIDELITY.md
 * "Windows guest tools"), as the lab's release XenClean models it and as citrix-cleanup reads it:
 * v9.1+ `-noConfirm -noReboot` removes every Xen/Citrix/XCP-ng PV product and returns 0; 3 = did
 * not run yet: reboot, then run again; 1 error; unknown flags print the usage and return 1;
 * 64/65/66 only with -onboard. v9.0's XenClean has no contract: citrix-cleanup refuses it in plan.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSshd, type SshdHandle } from '../../src/lab/sshd.js';
import { createWindowsLabGuest, seedWindowsState, type WindowsLabState } from '../../src/lab/windows/guest.js';
import { buildRelease, LAB_RELEASES, type BuiltRelease } from '../../src/lab/windows/releases.js';
import { createSshPowerShell } from '../../src/connectors/powershell/create.js';
import type { SshPowerShellConnector } from '../../src/connectors/powershell/ssh-powershell.js';
import { citrixCleanupStep } from '../../src/steps/windows/index.js';
import { FAMILIES } from '../../src/steps/windows/tools-release.js';
import type { Result } from '../../src/util/result.js';
import { describeWindows, PWSH, windowsHost } from './harness.js';
import { runStep, stepContext } from './step-context.js';
import { TOOLS_STATE_KEY } from '../../src/steps/windows/tools-source.js';

const noSecrets = (): Result<string, string> => ({ ok: false, error: 'none' });
const XC = 'D:\\package\\XenClean\\XenClean.exe';

describeWindows('XenClean by release', { sshd: true }, () => {
  let sshd: SshdHandle;
  let r90: BuiltRelease;
  let r91: BuiltRelease;
  const opened: SshPowerShellConnector[] = [];
  beforeAll(async () => {
    sshd = await startSshd();
    const d = mkdtempSync(join(tmpdir(), 'pvrun-xc-'));
    r90 = buildRelease(join(d, 'r90'), LAB_RELEASES['9.0'], PWSH!);
    r91 = buildRelease(join(d, 'r91'), LAB_RELEASES['9.1'], PWSH!);
  });
  afterAll(async () => {
    await Promise.all(opened.map((c) => c.close()));
    await sshd?.stop();
  });
  function guest(name: string, state: WindowsLabState) {
    const g = createWindowsLabGuest(mkdtempSync(join(tmpdir(), `pvrun-xcg-${name}-`)), PWSH!, state);
    const host = windowsHost(sshd, 'ssh-powershell', name);
    const r = createSshPowerShell(host, { resolveSecret: noSecrets, executable: g.executable });
    if (!r.ok) throw new Error(r.error);
    opened.push(r.value.connector);
    return { g, host, conn: r.value.connector };
  }
  const citrixOn = (rel: BuiltRelease): WindowsLabState => ({ ...seedWindowsState({ citrix: true }), cdrom: rel.root });
  const exec = async (c: SshPowerShellConnector, s: string) => {
    const r = await c.exec(s);
    if (!r.ok) throw new Error(r.error.message);
    return r.value;
  };

  it('the v9.1 XenClean: unknown flag → usage, exit 1; without -onboard it removes XCP-ng\'s own tools too and returns 0; -onboard answers 64 on a clean guest', async () => {
    const { g, conn } = guest('contract', { ...seedWindowsState(), cdrom: r91.root, products: [{ name: 'XCP-ng Windows PV Drivers', version: '9.0.9137', publisher: 'XCP-ng', productCode: '{X}' }] });
    const bad = await exec(conn, `& '${XC}' -quiet; exit $LASTEXITCODE`);
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout).toContain('Usage: XenClean [-dryRun] [-noReboot] [-noConfirm]');
    expect((await exec(conn, `& '${XC}' -noConfirm -noReboot; exit $LASTEXITCODE`)).exitCode).toBe(0);
    expect(g.read().products).toEqual([]);
    expect((await exec(conn, `& '${XC}' -noConfirm -noReboot -onboard XCP-ng; exit $LASTEXITCODE`)).exitCode).toBe(64);
  });

  it('exit 3: citrix-cleanup reboots the guest and runs XenClean again', async () => {
    const { g, host, conn } = guest('three', { ...citrixOn(r91), xenclean: { notRunUntilReboot: true } });
    const ctx = stepContext(host, conn);
    const r = await runStep(citrixCleanupStep, ctx, { path: XC });
    expect(r.apply).toMatchObject({ kind: 'changed', summary: expect.stringContaining('after the reboot it asked for'), data: { exit_code: 0, rebooted_first: true, reboot_required: true } });
    const log = g.read().log ?? [];
    expect(log.filter((l) => l.startsWith('XenClean') || l.startsWith('shutdown /r'))).toEqual([
      'XenClean 9.1.200 -noConfirm -noReboot', expect.stringMatching(/^shutdown \/r/), 'XenClean 9.1.200 -noConfirm -noReboot',
    ]);
    expect(g.read().products).toEqual([]);
    expect(g.read().bootCount).toBe(2);
  });

  it('exit 3 again after the reboot: failed, not looped', async () => {
    const { g, host, conn } = guest('three-again', { ...citrixOn(r91), xenclean: { exitCode: 3 } });
    const r = await runStep(citrixCleanupStep, stepContext(host, conn), { path: XC });
    expect(r.apply).toMatchObject({ kind: 'failed', reason: 'XenClean still answers 3 (did not run) after a reboot' });
    expect((g.read().log ?? []).filter((l) => l.startsWith('XenClean'))).toHaveLength(2);
  });

  it('a failing XenClean (exit 1): failed with the reason, the Citrix tools still there', async () => {
    const { g, host, conn } = guest('fail', { ...citrixOn(r91), xenclean: { exitCode: 1 } });
    const r = await runStep(citrixCleanupStep, stepContext(host, conn), { path: XC });
    expect(r.apply).toMatchObject({ kind: 'failed', reason: expect.stringContaining('XenClean failed (exit 1: error)') });
    expect(g.read().products.map((p) => p.name)).toEqual(['Citrix VM Tools']);
  });

  it('the release\'s XenClean by default; a v9.0 release is refused in plan (no exit-code contract), before anything runs', async () => {
    const { g, host, conn } = guest('v90', citrixOn(r90));
    const ctx = stepContext(host, conn);
    expect((await citrixCleanupStep.plan(ctx, {}))).toMatchObject({ kind: 'fail', reason: expect.stringContaining('a windows-tools-source step must find the release first') });
    ctx.state.set(TOOLS_STATE_KEY, { family: FAMILIES.find((f) => f.msi === 'XenDrivers-x64.msi')!, msi: 'D:\\package\\XenDrivers-x64.msi', xenclean: XC, where: 'D:' });
    expect(await citrixCleanupStep.plan(ctx, {})).toMatchObject({ kind: 'fail', reason: expect.stringMatching(/v9\.0 or older \(XenDrivers-x64\.msi\): its XenClean has no flags and no exit-code contract.*Use a v9\.1 or newer release/) });
    expect(g.read().log ?? []).toEqual([]);
    // the v9.0 XenClean itself: exit 0 whatever happened (here: forced to fail, nothing removed)
    const s = g.read(); s.xenclean = { exitCode: 1 }; g.write(s);
    expect((await exec(conn, `& '${XC}'; exit $LASTEXITCODE`)).exitCode).toBe(0);
    expect(g.read().products.map((p) => p.name)).toEqual(['Citrix VM Tools']);

    ctx.state.set(TOOLS_STATE_KEY, { family: FAMILIES.find((f) => f.msi === 'XenTools-x64.msi')!, msi: 'D:\\package\\XenTools-x64.msi', xenclean: XC, where: 'D:' });
    expect(await citrixCleanupStep.plan(ctx, {})).toMatchObject({ kind: 'change', summary: expect.stringContaining(`would run ${XC} -noConfirm -noReboot`) });
  });
});
