/**
 * Issue 14: the XCP-ng Windows tools releases. Pure: which MSI a package holds (one per release,
 * under package\ or at the root) and which installed product counts as the release. Lab: the
 * release package in the real layout, the local-file source (copy + SHA-256 on the guest), the
 * emulated MSI's refusals and upgrade between the two product names.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSshd, type SshdHandle } from '../../src/lab/sshd.js';
import { createWindowsLabGuest, seedWindowsState, type WindowsLabState } from '../../src/lab/windows/guest.js';
import { buildRelease, LAB_RELEASES, storedZip, type BuiltRelease } from '../../src/lab/windows/releases.js';
import { createSshPowerShell } from '../../src/connectors/powershell/create.js';
import type { SshPowerShellConnector } from '../../src/connectors/powershell/ssh-powershell.js';
import { msiInstallStep, windowsToolsSourceStep } from '../../src/steps/windows/index.js';
import { releaseInstalled } from '../../src/steps/windows/msi-install.js';
import { FAMILIES, pickRelease, zipEntries } from '../../src/steps/windows/tools-release.js';
import { toolsRelease, TOOLS_STATE_KEY } from '../../src/steps/windows/tools-source.js';
import type { Result } from '../../src/util/result.js';
import { describeWindows, PWSH, windowsHost } from './harness.js';
import { runStep, stepContext } from './step-context.js';

const noSecrets = (): Result<string, string> => ({ ok: false, error: 'none' });
const [TOOLS, DRIVERS] = FAMILIES as [typeof FAMILIES[0], typeof FAMILIES[0]];

describe('which MSI a release holds', () => {
  it.each([
    ['v9.0 package', ['package\\XenDrivers-x64.msi', 'package\\XenClean\\XenClean.exe'], 'package\\XenDrivers-x64.msi', 'XCP-ng Windows PV Drivers', 'package\\XenClean\\XenClean.exe'],
    ['v9.1 package (zip names with /)', ['package/XenTools-x64.msi', 'package/XenClean/XenClean.exe', 'README.txt'], 'package\\XenTools-x64.msi', 'XCP-ng Windows Guest Tools', 'package\\XenClean\\XenClean.exe'],
    ['a user-made ISO with the MSI at its root', ['XenTools-x64.msi'], 'XenTools-x64.msi', 'XCP-ng Windows Guest Tools', undefined],
  ])('%s', (_what, files, msi, product, xenclean) => {
    const r = pickRelease(files, 'x');
    expect(r).toEqual({ ok: true, value: expect.objectContaining({ msi, family: expect.objectContaining({ product }) }) });
    expect(r.ok ? r.value.xenclean : 'not found').toBe(xenclean);
  });

  it('none: says what it looked for, and that guest-tools.iso has no Windows installers', () => {
    const r = pickRelease(['Linux/install.sh', 'Linux/xe-guest-utilities.rpm'], "D: (ISO 'guest-tools.iso')");
    expect(r).toEqual({ ok: false, error: expect.stringMatching(/found no XCP-ng Windows tools MSI in D: \(ISO 'guest-tools.iso'\): looked for XenTools-x64.msi \(v9.1 or newer\) and XenDrivers-x64.msi \(v9.0 or older\).*guest-tools.iso holds no Windows installers/) });
  });

  it('two MSIs (the old two-MSI expectation) is not one release', () => {
    expect(pickRelease(['XenDrivers-x64.msi', 'XenTools-x64.msi'], 'D:')).toEqual({ ok: false, error: expect.stringContaining('found two MSIs') });
  });

  it.each([
    // installed, release family, done?
    [['XCP-ng Windows Guest Tools 9.1.200'], TOOLS, true, 'XCP-ng Windows Guest Tools 9.1.200 is installed'],
    [['XCP-ng Windows PV Drivers 9.0.9137'], TOOLS, false, 'would upgrade it'],
    [['XCP-ng Windows PV Drivers 9.0.9137'], DRIVERS, true, 'XCP-ng Windows PV Drivers 9.0.9137 is installed'],
    [['XCP-ng Windows Guest Tools 9.2.350'], DRIVERS, true, 'not downgrading'],
    [['Citrix VM Tools 7.2.0.1555'], TOOLS, false, 'no XCP-ng Windows tools installed'],
    [[], DRIVERS, false, 'no XCP-ng Windows tools installed'],
  ])('installed %j, release %s', (installed, family, done, why) => {
    const products = installed.map((x) => { const i = x.lastIndexOf(' '); return { name: x.slice(0, i), version: x.slice(i + 1), publisher: 'XCP-ng', productCode: x }; });
    const r = releaseInstalled(products, { family });
    expect(r.done).toBe(done);
    expect(r.why).toContain(why);
  });

  it('a version constraint upgrades within a product name', () => {
    const p = [{ name: 'XCP-ng Windows Guest Tools', version: '9.1.200', publisher: 'XCP-ng', productCode: '{A}' }];
    expect(releaseInstalled(p, { family: TOOLS }, '>= 9.2').done).toBe(false);
    expect(releaseInstalled(p, { family: TOOLS }, '>= 9.1').done).toBe(true);
  });
});

describeWindows('release packages on a lab guest', { sshd: true }, () => {
  let sshd: SshdHandle;
  let r90: BuiltRelease;
  let r91: BuiltRelease;
  const opened: SshPowerShellConnector[] = [];
  beforeAll(async () => {
    sshd = await startSshd();
    const d = mkdtempSync(join(tmpdir(), 'pvrun-relt-'));
    r90 = buildRelease(join(d, 'xcp-ng-windows-tools-9.0.9137'), LAB_RELEASES['9.0'], PWSH!);
    r91 = buildRelease(join(d, 'xcp-ng-windows-tools-9.1.200'), LAB_RELEASES['9.1'], PWSH!);
  });
  afterAll(async () => {
    await Promise.all(opened.map((c) => c.close()));
    await sshd?.stop();
  });
  function guest(name: string, state: WindowsLabState, checkMode = false) {
    const g = createWindowsLabGuest(mkdtempSync(join(tmpdir(), `pvrun-relg-${name}-`)), PWSH!, state);
    const host = windowsHost(sshd, 'ssh-powershell', name);
    const r = createSshPowerShell(host, { resolveSecret: noSecrets, executable: g.executable, ...(checkMode ? { mode: 'check' as const } : {}) });
    if (!r.ok) throw new Error(r.error);
    opened.push(r.value.connector);
    return { g, host, conn: r.value.connector };
  }

  it('the lab builds each release in the real layout: one MSI with its product name, package\\XenClean\\XenClean.exe, a zip of the same', () => {
    expect(existsSync(join(r90.root, 'package', 'XenDrivers-x64.msi'))).toBe(true);
    expect(existsSync(join(r90.root, 'package', 'XenTools-x64.msi'))).toBe(false);
    expect(existsSync(join(r91.root, 'package', 'XenTools-x64.msi'))).toBe(true);
    expect(existsSync(join(r91.root, 'package', 'XenDrivers-x64.msi'))).toBe(false);
    expect(JSON.parse(readFileSync(r90.msiPath, 'utf8')).product).toMatchObject({ name: 'XCP-ng Windows PV Drivers', version: '9.0.9137' });
    expect(JSON.parse(readFileSync(r91.msiPath, 'utf8')).product).toMatchObject({ name: 'XCP-ng Windows Guest Tools', version: '9.1.200' });
    const z = zipEntries(readFileSync(r91.zipPath));
    expect(z).toEqual({ ok: true, value: ['package/XenClean/XenClean.exe', 'package/XenTools-x64.msi'] });
    expect(zipEntries(storedZip(r90.root))).toEqual({ ok: true, value: ['package/XenClean/XenClean.exe', 'package/XenDrivers-x64.msi'] });
  });

  it('local release zip: check mode names the MSI and copies nothing; the run copies it, checks the SHA-256, finds the MSI; again: nothing to copy', async () => {
    const { g, conn: checkConn, host } = guest('zip', seedWindowsState({ vendorDevice: false }), true);
    const args = { file: r91.zipPath, sha256: r91.zipSha256 };
    const check = await runStep(windowsToolsSourceStep, stepContext(host, checkConn, { check: true }), args);
    expect(check.plan).toMatchObject({ kind: 'change', summary: expect.stringMatching(/would copy xcp-ng-windows-tools-9\.1\.200\.zip .*release: XCP-ng Windows Guest Tools \(v9\.1 or newer\): .*package\\XenTools-x64\.msi; XenClean: .*package\\XenClean\\XenClean\.exe/) });
    expect(existsSync(join(g.statePath, '..', 'tmp', 'pvrun-windows-tools'))).toBe(false);

    const r = createSshPowerShell(host, { resolveSecret: noSecrets, executable: g.executable });
    if (!r.ok) throw new Error(r.error);
    opened.push(r.value.connector);
    const ctx = stepContext(host, r.value.connector);
    const run = await runStep(windowsToolsSourceStep, ctx, args);
    expect(run.apply).toMatchObject({ kind: 'changed', data: { product: 'XCP-ng Windows Guest Tools', msi: expect.stringMatching(/pvrun-windows-tools.xcp-ng-windows-tools-9\.1\.200.package.XenTools-x64\.msi$/) } });
    expect(readFileSync(join(g.statePath, '..', 'tmp', 'pvrun-windows-tools', 'xcp-ng-windows-tools-9.1.200', 'package', 'XenTools-x64.msi'), 'utf8')).toBe(readFileSync(r91.msiPath, 'utf8'));
    expect(toolsRelease(ctx)?.xenclean).toMatch(/XenClean\.exe$/);

    // the release MSI installs from the copy, under its product name
    const inst = await runStep(msiInstallStep, ctx, { release: true });
    expect(inst.plan).toMatchObject({ kind: 'change', summary: expect.stringContaining('(XCP-ng Windows Guest Tools, v9.1 or newer)') });
    expect(inst.apply).toMatchObject({ kind: 'changed', data: { exit_code: 3010 } });
    expect(g.read().products.map((p) => p.name)).toEqual(['XCP-ng Windows Guest Tools']);

    const again = await runStep(windowsToolsSourceStep, stepContext(host, r.value.connector), args);
    expect(again.plan).toMatchObject({ kind: 'ok', summary: expect.stringContaining('already copied, SHA-256 matches') });
    expect((await runStep(msiInstallStep, ctx, { release: true })).plan).toEqual({ kind: 'ok', summary: 'XCP-ng Windows Guest Tools 9.1.200 is installed' });
  });

  it('a wrong SHA-256 refuses the file before anything is copied', async () => {
    const { g, host, conn } = guest('badsha', seedWindowsState({ vendorDevice: false }));
    const r = await runStep(windowsToolsSourceStep, stepContext(host, conn), { file: r90.zipPath, sha256: '0'.repeat(64) });
    expect(r.plan).toMatchObject({ kind: 'fail', reason: expect.stringContaining(`SHA-256 is ${r90.zipSha256}, not the expected ${'0'.repeat(64)}`) });
    expect(r.apply).toBeUndefined();
    expect(existsSync(join(g.statePath, '..', 'tmp', 'pvrun-windows-tools'))).toBe(false);
  });

  it('no source, or a file that is no release: the reason', async () => {
    const { host, conn } = guest('nosrc', seedWindowsState());
    const ctx = stepContext(host, conn);
    expect((await windowsToolsSourceStep.plan(ctx, { iso: '', file: '' }))).toMatchObject({ kind: 'fail', reason: expect.stringContaining('no Windows tools source: set windows_tools_iso') });
    expect((await windowsToolsSourceStep.plan(ctx, { file: LAB_MODULE_GUESS() }))).toMatchObject({ kind: 'fail', reason: expect.stringContaining('is neither a release zip') });
  });

  it('upgrade: a v9.1 release replaces the v9.0 "PV Drivers" product; v9.0 over v9.1 is nothing to do (no downgrade)', async () => {
    const { g, host, conn } = guest('upgrade', { ...seedWindowsState({ vendorDevice: false }), cdrom: r90.root });
    const ctx = stepContext(host, conn);
    ctx.state.set(TOOLS_STATE_KEY, { family: DRIVERS, msi: 'D:\\package\\XenDrivers-x64.msi', where: 'D:' });
    expect((await runStep(msiInstallStep, ctx, { release: true })).apply).toMatchObject({ kind: 'changed', data: { exit_code: 3010 } });
    expect(g.read().products.map((p) => `${p.name} ${p.version}`)).toEqual(['XCP-ng Windows PV Drivers 9.0.9137']);
    const s = g.read(); s.cdrom = r91.root; g.write(s);
    ctx.state.set(TOOLS_STATE_KEY, { family: TOOLS, msi: 'D:\\package\\XenTools-x64.msi', where: 'D:' });
    const up = await runStep(msiInstallStep, ctx, { release: true });
    expect(up.plan.kind).toBe('change');
    expect(up.apply).toMatchObject({ kind: 'changed' });
    expect(g.read().products.map((p) => `${p.name} ${p.version}`)).toEqual(['XCP-ng Windows Guest Tools 9.1.200']);
    ctx.state.set(TOOLS_STATE_KEY, { family: DRIVERS, msi: 'D:\\package\\XenDrivers-x64.msi', where: 'D:' });
    expect((await runStep(msiInstallStep, ctx, { release: true })).plan).toMatchObject({ kind: 'ok', summary: expect.stringContaining('not downgrading') });
  });

  it('the emulated MSI refuses (1603) with the vendor device present, naming it in its log', async () => {
    const { g, host, conn } = guest('vendor', { ...seedWindowsState(), cdrom: r91.root });
    const ctx = stepContext(host, conn);
    ctx.state.set(TOOLS_STATE_KEY, { family: TOOLS, msi: 'D:\\package\\XenTools-x64.msi', where: 'D:' });
    const r = await runStep(msiInstallStep, ctx, { release: true, log: join(g.statePath, '..', 'msi.log') });
    expect(r.apply).toMatchObject({ kind: 'failed', reason: expect.stringMatching(/msiexec exit 1603 .*log says: .*PCI\\VEN_5853&DEV_C000 is present/) });
    expect(g.read().products).toEqual([]);
  });
});

/** a file that exists but is no release (this test file) */
const LAB_MODULE_GUESS = (): string => new URL(import.meta.url).pathname;
