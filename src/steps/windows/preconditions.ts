/**
 * windows-tools-preconditions: what the XCP-ng Windows tools MSI requires, checked in plan (so
 * check mode shows it, and a real run stops here before anything is changed). The MSI itself ends
 * with 1603 on each of these (win-pv-drivers `installer/Package.wxs`: XenMinSupportedVersion
 * 10.0.14393 / XenCheckWindowsVersion, WIX_IS_NETFRAMEWORK_462_OR_LATER_INSTALLED,
 * CITRIX_DRIVERS_X64_DETECTED; `InstCA.wxs` / `XenDeviceInfo.cs`: XenCheckIncompatibleDevices for
 * the vendor device PCI\VEN_5853&DEV_C000):
 * - Windows 10.0.14393 (Windows 10 1607 / Server 2016) or newer;
 * - .NET Framework 4.6.2 or newer;
 * - no vendor device: the VM's has_vendor_device ("Manage Citrix PV drivers via Windows Update",
 *   on by default for new VMs from xapi 24.14.0) off, or `vendor_device: fix` when a later
 *   `vm-setting` step turns it off (the VM halted, as XAPI requires);
 * - no Citrix drivers left (`citrix: refuse`), or `citrix: migrate` when a later XenClean step
 *   removes them.
 * Each failure says the reason and the fix; all of them are listed at once.
 */
import { windowsPreconditionsInfo } from '../catalog.js';
import { defineStep } from '../types.js';
import { failureText, vmFacts, vmOf } from '../vm/common.js';
import { planFail, windowsFacts } from './common.js';
import { DOTNET_462, dotnetVersion, MIN_WINDOWS, versionAtLeast } from './tools-release.js';
import type { WindowsFacts } from '../../facts/windows.js';

export interface PreconditionsArgs {
  /** the vendor device on: 'fix' (a later vm-setting step turns it off; default) or 'refuse' */
  vendor_device?: 'fix' | 'refuse' | boolean;
  /** Citrix drivers present: 'refuse' (default) or 'migrate' (a later citrix-cleanup removes them) */
  citrix?: 'refuse' | 'migrate';
}

const CITRIX = /citrix|xenserver/i;

/** Pure: the problems, each with its reason and fix. */
export function preconditionProblems(f: WindowsFacts, vendorOn: boolean, a: PreconditionsArgs): { problems: string[]; notes: string[] } {
  const problems: string[] = [];
  const notes: string[] = [];
  if (!f.os.version) problems.push('the Windows version could not be read');
  else if (!versionAtLeast(f.os.version, MIN_WINDOWS)) {
    problems.push(`Windows ${f.os.version} (${f.os.caption}) is older than ${MIN_WINDOWS} (Windows 10 1607 / Server 2016): the XCP-ng Windows tools refuse to install on it (msiexec 1603). Fix: upgrade Windows, or keep this VM on its current drivers`);
  }
  if (f.dotnetRelease === null || f.dotnetRelease < DOTNET_462) {
    problems.push(`${dotnetVersion(f.dotnetRelease)} is installed: the XCP-ng Windows tools need .NET Framework 4.6.2 or newer (msiexec 1603 otherwise). Fix: install .NET Framework 4.8 (or at least 4.6.2) first`);
  }
  const fix = a.vendor_device === undefined || a.vendor_device === 'fix' || a.vendor_device === true;
  if (vendorOn) {
    if (fix) notes.push('vendor device on: the vm-setting step turns it off (the VM is halted and started)');
    else {
      problems.push('the vendor device PCI\\VEN_5853&DEV_C000 is present ("Manage Citrix PV drivers via Windows Update" is on, the default for new VMs): the MSI refuses to install with it (msiexec 1603), and Windows Update would bring Citrix drivers back. ' +
        'Fix: run with switch_off_windows_update_drivers=true (pvrun halts the VM, turns it off, starts it), or turn it off yourself with the VM halted (xe vm-param-set uuid=<vm> has-vendor-device=false)');
    }
  }
  const citrix = f.products.filter((p) => CITRIX.test(p.publisher) || CITRIX.test(p.name));
  if (citrix.length > 0) {
    const list = citrix.map((p) => `${p.name} ${p.version}`).join(', ');
    if (a.citrix === 'migrate') notes.push(`Citrix drivers (${list}): XenClean removes them`);
    else problems.push(`Citrix drivers are installed (${list}): the MSI refuses to install next to them (msiexec 1603). Fix: migrate the VM with playbooks/windows-citrix-migrate.yml (XenClean from the release package)`);
  }
  return { problems, notes };
}

export const windowsPreconditionsStep = defineStep<PreconditionsArgs>({
  ...windowsPreconditionsInfo, // type, description, schema, shorthand, flags: src/steps/catalog.ts

  async plan(ctx, a) {
    const f = await windowsFacts(ctx);
    if (!f.ok) return planFail(f.error);
    const h = await vmOf(ctx);
    if (!h.ok) return { kind: 'fail', reason: h.error };
    const v = await vmFacts(ctx, h.value);
    if (!v.ok) return { kind: 'fail', reason: failureText(v.error) };
    const vendorOn = v.value.has_vendor_device || f.value.pv.vendorDevice;
    const { problems, notes } = preconditionProblems(f.value, vendorOn, a);
    if (problems.length > 0) {
      return { kind: 'fail', reason: `the XCP-ng Windows tools cannot be installed: ${problems.map((p, i) => `(${i + 1}) ${p}`).join('; ')}` };
    }
    const vendor = notes.find((n) => n.startsWith('vendor device')) ?? 'no vendor device';
    const citrix = notes.find((n) => n.startsWith('Citrix')) ?? 'no Citrix drivers';
    return { kind: 'ok', summary: `Windows ${f.value.os.version}, ${dotnetVersion(f.value.dotnetRelease)}, ${vendor}, ${citrix}` };
  },

  async apply() {
    // plan() only returns ok or fail: nothing to apply
    return { kind: 'ok', summary: 'preconditions met' };
  },
});
