/**
 * The Windows playbooks end to end in the lab: Windows-like guests (real pwsh running the
 * PvrunLab emulation module) reached through the ssh-powershell connector over a real sshd,
 * tied to the XAPI simulator (driver install → PV drivers reported; Windows Update switch =
 * has_vendor_device; snapshot/revert of the guest's state).
 */
import { rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeUnless } from '../harness/require.js';
import { Lab } from '../../src/lab/lab.js';
import { findPwsh } from '../../src/lab/windows/lab-windows.js';
import type { WindowsLabState } from '../../src/lab/windows/guest.js';
import { REPO, labSkipReason, mutatingCalls, pvrun, recapOutcomes } from './harness.js';

const WINDOWS_TOOLS = join(REPO, 'playbooks', 'windows-tools.yml');
const CITRIX = join(REPO, 'playbooks', 'windows-citrix-migrate.yml');
const skip = labSkipReason() ?? (findPwsh() ? undefined : 'pwsh is not installed (dotnet tool install --global PowerShell)');

/** What a revert must restore (the boot time moves on: the VM is started again). */
const durable = (s: WindowsLabState) => ({ devices: s.devices, adapters: s.adapters, services: s.services, products: s.products });

describeUnless(skip)('Windows playbooks in the lab', () => {
  let lab: Lab;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pvrun-e2e-win-'));
    const l = await Lab.start({
      stateDir: dir, definition: { guests: [] },
      windows: [{ name: 'win-ok' }, { name: 'win-bad' }, { name: 'win-citrix', citrix: true }],
    });
    if (!l.ok) throw new Error(l.error);
    lab = l.value;
    // win-bad's install fails: another installation holds the installer (msiexec 1618), which
    // no precondition can see coming
    const g = lab.windows!.list().find((w) => w.name === 'win-bad')!;
    const { readFileSync, writeFileSync } = await import('node:fs');
    const s = JSON.parse(readFileSync(g.statePath, 'utf8')) as WindowsLabState;
    s.msiBusy = true;
    writeFileSync(g.statePath, JSON.stringify(s, null, 2));
  }, 120_000);
  afterAll(async () => {
    await lab?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('check mode: zero mutating XAPI calls, guest state untouched, changes predicted', async () => {
    const before = ['win-ok', 'win-bad'].map((n) => lab.windows!.raw(n));
    lab.sim.calls.length = 0;
    const r = await pvrun([WINDOWS_TOOLS, '-i', lab.inventoryPath, '--limit', 'win-ok:win-bad', '--check', '-e', 'switch_off_windows_update_drivers=true', '--state-dir', join(dir, 'pvrun')]);
    expect(mutatingCalls(lab)).toEqual([]);
    expect(['win-ok', 'win-bad'].map((n) => lab.windows!.raw(n))).toEqual(before);
    expect(r.out).toMatch(/win-ok \[turn Windows Update driver management off .*\] would-change/);
    expect(r.code, r.out).toBe(0);
  }, 180_000);

  it('windows-tools.yml: PVHVM with the agent, the static IP moved to the PV NIC, the ghost gone; a failed install is rolled back', async () => {
    const badBefore = durable(lab.windows!.state('win-bad')!);
    const r = await pvrun([WINDOWS_TOOLS, '-i', lab.inventoryPath, '--limit', 'win-ok:win-bad', '-e', 'switch_off_windows_update_drivers=true', '--state-dir', join(dir, 'pvrun')]);
    expect(recapOutcomes(r.out), r.out).toEqual({ 'win-ok': 'changed', 'win-bad': 'rolled-back' });
    expect(r.code).toBe(2);

    const ok = lab.windows!.state('win-ok')!;
    const nics = ok.adapters;
    expect(nics).toHaveLength(1);
    expect(nics[0]!.pnpDeviceId).toMatch(/^XENVIF\\/);
    expect(nics[0]!.addresses).toEqual([{ ip: '10.20.30.40', prefix: 24, origin: 'Manual' }]);
    expect(nics[0]!.gateways).toEqual(['10.20.30.1']);
    expect(ok.devices.filter((d) => !d.present)).toEqual([]);
    const vm = lab.sim.vm('win-ok').rec;
    expect(vm['has_vendor_device']).toBe(false);
    const gm = lab.sim.record('VM_guest_metrics', String(vm['guest_metrics']));
    expect(gm?.['PV_drivers_detected']).toBe(true);

    expect(durable(lab.windows!.state('win-bad')!)).toEqual(badBefore);
    expect(lab.sim.vm('win-bad').rec['power_state']).toBe('Running');
    expect(r.out).toMatch(/win-bad \[install the XCP-ng Windows tools .*\] failed: .*1618/);
  }, 300_000);

  it('windows-citrix-migrate.yml: Citrix tools removed, XCP-ng tools installed, NIC configuration kept', async () => {
    const r = await pvrun([CITRIX, '-i', lab.inventoryPath, '--limit', 'win-citrix', '--state-dir', join(dir, 'pvrun')]);
    expect(r.code, r.out + r.err).toBe(0);
    const s = lab.windows!.state('win-citrix')!;
    // one MSI per release: the v9.1 release the lab inventory points at registers one product
    expect(s.products.map((p) => p.name)).toEqual(['XCP-ng Windows Guest Tools']);
    expect(s.adapters[0]!.addresses[0]!.ip).toBe('10.20.30.42');
    expect(lab.sim.vm('win-citrix').rec['has_vendor_device']).toBe(false);
  }, 300_000);
});
