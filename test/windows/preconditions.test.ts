/**
 * Issue 14: what the XCP-ng Windows tools MSI requires (win-pv-drivers installer/Package.wxs,
 * InstCA.wxs), checked by windows-tools-preconditions in plan: each failure with its reason and
 * fix. Pure table over the facts; the facts themselves (.NET release, vendor device) read from a
 * lab guest through the real connector. The whole step in a real run: test/e2e/windows-releases.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WindowsFacts } from '../../src/facts/windows.js';
import { preconditionProblems } from '../../src/steps/windows/preconditions.js';
import { dotnetVersion, versionAtLeast } from '../../src/steps/windows/tools-release.js';
import { startSshd, type SshdHandle } from '../../src/lab/sshd.js';
import { createWindowsLabGuest, seedWindowsState } from '../../src/lab/windows/guest.js';
import { createSshPowerShell } from '../../src/connectors/powershell/create.js';
import { windowsFacts } from '../../src/steps/windows/common.js';
import type { Result } from '../../src/util/result.js';
import { describeWindows, PWSH, windowsHost } from './harness.js';
import { stepContext } from './step-context.js';

function facts(o: { version?: string; dotnet?: number | null; citrix?: boolean } = {}): WindowsFacts {
  return {
    os: { caption: 'Microsoft Windows Server 2022 Standard', version: o.version ?? '10.0.20348', build: '20348', edition: null },
    lastBootUpTime: null,
    pv: { platformDevice: true, vendorDevice: false, xenbus: false, xenvif: false, xenvbd: false, devices: [] },
    services: [],
    products: o.citrix ? [{ name: 'Citrix VM Tools', version: '7.2.0.1555', publisher: 'Citrix Systems, Inc.', productCode: '{C}' }] : [],
    adapters: [], ghostAdapters: [], pendingReboot: false, pendingRebootReasons: [],
    dotnetRelease: o.dotnet === undefined ? 528449 : o.dotnet,
    errors: [],
  };
}

describe('windows-tools-preconditions (pure)', () => {
  it('all met: no problem', () => {
    expect(preconditionProblems(facts(), false, {})).toEqual({ problems: [], notes: [] });
  });

  it.each([
    ['Windows older than 10.0.14393', facts({ version: '10.0.10240' }), false, {},
      /^Windows 10\.0\.10240 \(Microsoft Windows Server 2022 Standard\) is older than 10\.0\.14393 \(Windows 10 1607 \/ Server 2016\): .*msiexec 1603.*Fix: upgrade Windows/],
    ['.NET older than 4.6.2', facts({ dotnet: 394254 }), false, {},
      /^\.NET Framework 4\.6\.1 \(Release 394254\) is installed: the XCP-ng Windows tools need \.NET Framework 4\.6\.2 or newer.*Fix: install \.NET Framework 4\.8/],
    ['no .NET 4.x at all', facts({ dotnet: null }), false, {}, /^no \.NET Framework 4\.x is installed/],
    ['vendor device on, told not to touch it', facts(), true, { vendor_device: 'refuse' as const },
      /^the vendor device PCI\\VEN_5853&DEV_C000 is present .*msiexec 1603.*Fix: run with switch_off_windows_update_drivers=true .*has-vendor-device=false/],
    ['vendor device on, false from the playbook var', facts(), true, { vendor_device: false },
      /^the vendor device PCI\\VEN_5853&DEV_C000 is present/],
    ['Citrix drivers left', facts({ citrix: true }), false, {},
      /^Citrix drivers are installed \(Citrix VM Tools 7\.2\.0\.1555\): .*msiexec 1603.*Fix: migrate the VM with playbooks\/windows-citrix-migrate\.yml/],
  ])('%s: one problem, with its reason and fix', (_what, f, vendorOn, args, message) => {
    const r = preconditionProblems(f, vendorOn, args);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatch(message);
  });

  it('vendor device on with fix (the default) and Citrix drivers under migration: notes, not problems', () => {
    expect(preconditionProblems(facts({ citrix: true }), true, { citrix: 'migrate' })).toEqual({
      problems: [],
      notes: ['vendor device on: the vm-setting step turns it off (the VM is halted and started)', 'Citrix drivers (Citrix VM Tools 7.2.0.1555): XenClean removes them'],
    });
  });

  it('versions and .NET names', () => {
    expect(versionAtLeast('10.0.14393', '10.0.14393')).toBe(true);
    expect(versionAtLeast('10.0.9200', '10.0.14393')).toBe(false);
    expect(versionAtLeast('6.3.9600', '10.0.14393')).toBe(false);
    expect(dotnetVersion(394802)).toBe('.NET Framework 4.6.2 (Release 394802)');
    expect(dotnetVersion(528449)).toBe('.NET Framework 4.8 (Release 528449)');
  });
});

describeWindows('preconditions facts from a lab guest', { sshd: true }, () => {
  let sshd: SshdHandle;
  beforeAll(async () => { sshd = await startSshd(); });
  afterAll(async () => { await sshd?.stop(); });

  it('the facts read .NET\'s Release and the vendor device', async () => {
    const g = createWindowsLabGuest(mkdtempSync(join(tmpdir(), 'pvrun-pre-')), PWSH!, { ...seedWindowsState(), dotnetRelease: 394254 });
    const host = windowsHost(sshd, 'ssh-powershell', 'pre');
    const c = createSshPowerShell(host, { resolveSecret: (): Result<string, string> => ({ ok: false, error: 'none' }), executable: g.executable, mode: 'check' });
    if (!c.ok) throw new Error(c.error);
    try {
      const f = await windowsFacts(stepContext(host, c.value.connector, { check: true }));
      expect(f.ok && { dotnet: f.value.dotnetRelease, vendor: f.value.pv.vendorDevice }).toEqual({ dotnet: 394254, vendor: true });
      expect(f.ok && preconditionProblems(f.value, f.value.pv.vendorDevice, { vendor_device: 'refuse' }).problems.length).toBe(2);
    } finally {
      await c.value.connector.close();
    }
  });
});
