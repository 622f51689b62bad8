/**
 * Issue 14: the Windows playbooks against the real XCP-ng Windows tools as the lab models them
 * (src/lab/windows/releases.ts: one MSI per release, the package\ layout, the MSI's 1603
 * refusals, XenClean's contract by version, the vendor device on by default and following the
 * simulator's has_vendor_device at each boot). Real pvrun CLI, real XAPI simulator over HTTP,
 * Windows-like guests (real pwsh + PvrunLab) over a real sshd.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeUnless } from '../harness/require.js';
import { Lab } from '../../src/lab/lab.js';
import { findPwsh } from '../../src/lab/windows/lab-windows.js';
import type { WindowsLabState } from '../../src/lab/windows/guest.js';
import { REPO, labSkipReason, mutatingCalls, pvrun, recapOutcomes } from './harness.js';

const TOOLS = join(REPO, 'playbooks', 'windows-tools.yml');
const CITRIX = join(REPO, 'playbooks', 'windows-citrix-migrate.yml');
const skip = labSkipReason() ?? (findPwsh() ? undefined : 'pwsh is not installed (dotnet tool install --global PowerShell)');

const durable = (s: WindowsLabState) => ({ devices: s.devices, adapters: s.adapters, services: s.services, products: s.products });

describeUnless(skip)('Windows tools releases in the lab (issue 14)', () => {
  let lab: Lab;
  let dir: string;
  const state = (n: string) => lab.windows!.state(n)!;
  const edit = (n: string, f: (s: WindowsLabState) => void) => {
    const p = lab.windows!.list().find((w) => w.name === n)!.statePath;
    const s = JSON.parse(readFileSync(p, 'utf8')) as WindowsLabState;
    f(s);
    writeFileSync(p, JSON.stringify(s, null, 2));
  };
  const run = (pb: string, limit: string, ...extra: string[]) =>
    pvrun([pb, '-i', lab.inventoryPath, '--limit', limit, '--state-dir', join(dir, 'pvrun'), ...extra]);
  const agentOf = (n: string) => {
    const vm = lab.sim.vm(n).rec;
    const gm = lab.sim.record('VM_guest_metrics', String(vm['guest_metrics']));
    return { hvm: vm['domain_type'], pv: gm?.['PV_drivers_detected'], agent: gm?.['PV_drivers_version'], vendor: vm['has_vendor_device'] };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pvrun-e2e-winrel-'));
    const l = await Lab.start({
      stateDir: dir, definition: { guests: [] },
      windows: [
        { name: 'w90', release: '9.0' }, { name: 'w91', release: '9.1' }, { name: 'wvd' }, { name: 'wpre' },
        { name: 'wc3', citrix: true }, { name: 'wcfail', citrix: true },
      ],
    });
    if (!l.ok) throw new Error(l.error);
    lab = l.value;
    // wc3: XenClean answers 3 (did not run yet) until the guest reboots; wcfail: XenClean fails (1)
    edit('wc3', (s) => { s.xenclean = { notRunUntilReboot: true }; });
    edit('wcfail', (s) => { s.xenclean = { exitCode: 1 }; });
  }, 180_000);
  afterAll(async () => {
    await lab?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('new VMs have the vendor device on (simulator default), and the guest sees PCI\\VEN_5853&DEV_C000', () => {
    expect(agentOf('w91').vendor).toBe(true);
    expect(state('w91').devices.some((d) => d.present && d.instanceId.startsWith('PCI\\VEN_5853&DEV_C000'))).toBe(true);
  });

  it('check mode lists the one MSI of a v9.0 and of a v9.1 release (local zip), changes nothing', async () => {
    for (const [name, rel, msi, product] of [['w90', '9.0', 'XenDrivers-x64.msi', 'XCP-ng Windows PV Drivers'], ['w91', '9.1', 'XenTools-x64.msi', 'XCP-ng Windows Guest Tools']] as const) {
      const z = lab.windows!.release(rel);
      const before = lab.windows!.raw(name);
      lab.sim.calls.length = 0;
      const r = await run(TOOLS, name, '--check', '-e', 'windows_tools_iso=', '-e', `windows_tools_file=${z.zipPath}`, '-e', `windows_tools_sha256=${z.zipSha256}`);
      expect(r.code, r.out + r.err).toBe(0);
      expect(r.out).toContain(`package\\${msi}`);
      expect(r.out).toContain(product);
      expect(mutatingCalls(lab)).toEqual([]);
      expect(lab.windows!.raw(name)).toBe(before);
    }
  }, 400_000);

  it('check mode with the release ISO not inserted yet: names the one MSI by the ISO\'s name, inserts nothing', async () => {
    for (const [name, msi] of [['w90', 'XenDrivers-x64.msi'], ['w91', 'XenTools-x64.msi']] as const) {
      const before = lab.windows!.raw(name);
      lab.sim.calls.length = 0;
      const r = await run(TOOLS, name, '--check');
      expect(r.code, r.out + r.err).toBe(0);
      expect(r.out).toMatch(new RegExp(`would insert XCP-ng Windows tools 9\\.[01]\\.\\d+\\.iso; by its name release 9\\.[01]\\.\\d+: its one MSI is ${msi.replace('.', '\\.')}`));
      expect(mutatingCalls(lab)).toEqual([]);
      expect(lab.windows!.raw(name)).toBe(before);
    }
  }, 400_000);

  it('rollout from the release ISOs (v9.0, v9.1): vendor device turned off by default, PVHVM with the agent reporting; a re-run changes nothing', async () => {
    const r = await run(TOOLS, 'w90:w91');
    expect(recapOutcomes(r.out), r.out + r.err).toEqual({ w90: 'changed', w91: 'changed' });
    expect(r.code).toBe(0);
    expect(state('w90').products.map((p) => `${p.name} ${p.version}`)).toEqual(['XCP-ng Windows PV Drivers 9.0.9137']);
    expect(state('w91').products.map((p) => `${p.name} ${p.version}`)).toEqual(['XCP-ng Windows Guest Tools 9.1.200']);
    expect(r.out).toMatch(/w91 \[the release's MSI .*\] changed: .*XCP-ng Windows Guest Tools \(v9\.1 or newer\) .*XenTools-x64\.msi/);
    for (const [n, v] of [['w90', { major: '9', minor: '0', micro: '9137' }], ['w91', { major: '9', minor: '1', micro: '200' }]] as const) {
      expect(agentOf(n)).toMatchObject({ hvm: 'hvm', pv: true, agent: expect.objectContaining(v), vendor: false });
      expect(state(n).devices.some((d) => d.present && d.instanceId.startsWith('PCI\\VEN_5853&DEV_C000'))).toBe(false);
    }

    const before = ['w90', 'w91'].map((n) => durable(state(n)));
    lab.sim.calls.length = 0;
    const again = await run(TOOLS, 'w90:w91');
    expect(again.code, again.out).toBe(0);
    expect(Object.values(recapOutcomes(again.out))).not.toContain('changed');
    expect(mutatingCalls(lab)).toEqual([]);
    expect(['w90', 'w91'].map((n) => durable(state(n)))).toEqual(before);
  }, 900_000);

  it('vendor device on and switch_off_windows_update_drivers=false: refused in plan, nothing changed', async () => {
    const before = lab.windows!.raw('wvd');
    lab.sim.calls.length = 0;
    const r = await run(TOOLS, 'wvd', '-e', 'switch_off_windows_update_drivers=false');
    expect(recapOutcomes(r.out), r.out).toEqual({ wvd: 'failed' });
    expect(r.out).toMatch(/wvd \[check what the tools MSI requires .*\] failed: .*vendor device PCI\\VEN_5853&DEV_C000 is present.*Fix: run with switch_off_windows_update_drivers=true/);
    expect(mutatingCalls(lab)).toEqual([]);
    expect(lab.windows!.raw('wvd')).toBe(before);
    expect(agentOf('wvd').vendor).toBe(true);
  }, 300_000);

  it('each precondition failure in plan (check mode shows it) with its reason and fix', async () => {
    edit('wpre', (s) => {
      s.os.version = '10.0.10240'; s.os.build = '10240'; s.os.caption = 'Microsoft Windows 10 Enterprise 2015 LTSB';
      s.dotnetRelease = 379893;
      s.products.push({ name: 'Citrix VM Tools', version: '7.2.0.1555', publisher: 'Citrix Systems, Inc.', productCode: '{CITRIX-TOOLS}' });
    });
    const r = await run(TOOLS, 'wpre', '--check', '-e', 'switch_off_windows_update_drivers=false');
    expect(r.out).toMatch(/wpre \[check what the tools MSI requires .*\] would-fail/);
    expect(r.out).toContain('Windows 10.0.10240 (Microsoft Windows 10 Enterprise 2015 LTSB) is older than 10.0.14393');
    expect(r.out).toContain('.NET Framework 4.5.2 (Release 379893) is installed: the XCP-ng Windows tools need .NET Framework 4.6.2 or newer');
    expect(r.out).toContain('vendor device PCI\\VEN_5853&DEV_C000 is present');
    expect(r.out).toContain('Citrix drivers are installed (Citrix VM Tools 7.2.0.1555)');
    expect(r.out).toContain('Fix: migrate the VM with playbooks/windows-citrix-migrate.yml');
    expect(r.code).not.toBe(0);
  }, 300_000);

  it('Citrix migration: XenClean exit 3 → reboot, run again; then the official order to PVHVM with the agent', async () => {
    const r = await run(CITRIX, 'wc3');
    expect(recapOutcomes(r.out), r.out + r.err).toEqual({ wc3: 'changed' });
    const s = state('wc3');
    const log = s.log ?? [];
    const runs = log.map((l, i) => [l, i] as const).filter(([l]) => l.startsWith('XenClean '));
    expect(runs.map(([l]) => l)).toEqual(['XenClean 9.1.200 -noConfirm -noReboot', 'XenClean 9.1.200 -noConfirm -noReboot']);
    expect(log.slice(runs[0]![1], runs[1]![1]).some((l) => l.startsWith('shutdown /r'))).toBe(true);
    // policies first, XenClean before the install
    const policy = log.findIndex((l) => l.includes('ExcludeWUDriversInQualityUpdate=1'));
    const install = log.findIndex((l) => l.startsWith('msiexec /i XenTools-x64.msi'));
    expect(policy).toBeGreaterThanOrEqual(0);
    expect(policy).toBeLessThan(runs[0]![1]);
    expect(runs[1]![1]).toBeLessThan(install);
    expect(s.registry).toMatchObject({ 'HKLM:\\SOFTWARE\\Policies\\Microsoft\\Windows\\DriverSearching\\SearchOrderConfig': 0 });
    expect(s.products.map((p) => p.name)).toEqual(['XCP-ng Windows Guest Tools']);
    expect(agentOf('wc3')).toMatchObject({ pv: true, vendor: false, agent: expect.objectContaining({ major: '9', minor: '1' }) });
  }, 900_000);

  it('Citrix migration with a failing XenClean: rolled back to the snapshot', async () => {
    const before = durable(state('wcfail'));
    const r = await run(CITRIX, 'wcfail');
    expect(recapOutcomes(r.out), r.out + r.err).toEqual({ wcfail: 'rolled-back' });
    expect(r.out).toMatch(/wcfail \[remove the Citrix PV drivers .*\] failed: XenClean failed \(exit 1/);
    expect(durable(state('wcfail'))).toEqual(before);
    expect(r.code).toBe(2);
  }, 600_000);
});
