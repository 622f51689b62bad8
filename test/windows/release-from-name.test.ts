/**
 * Issue 14: check mode names the one MSI a release ISO holds before the ISO is inserted (reading
 * the disc needs it in the drive, which is the change a rehearsal must not make): by the version
 * in its name. Pure table; the lab run is in test/e2e/windows-releases.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { familyFromName } from '../../src/steps/windows/tools-release.js';

describe('the release family a name says', () => {
  it.each([
    ['XCP-ng Windows tools 9.1.200.iso', '9.1.200', 'XenTools-x64.msi'],
    ['XCP-ng Windows tools 9.0.9137.iso', '9.0.9137', 'XenDrivers-x64.msi'],
    ['win-pv-tools-v9.2.iso', '9.2', 'XenTools-x64.msi'],
    ['xcp-ng-windows-tools-8.2.2.200.iso', '8.2.2', 'XenDrivers-x64.msi'],
    ['XenTools 10.0', '10.0', 'XenTools-x64.msi'],
  ])('%s: release %s, %s', (name, version, msi) => {
    const f = familyFromName(name);
    expect(f?.version).toBe(version);
    expect(f?.family.msi).toBe(msi);
  });

  it.each(['tools.iso', 'XCP-ng Windows tools.iso', 'guest-tools-x64'])('%s: no version, no guess', (name) => {
    expect(familyFromName(name)).toBeUndefined();
  });
});
