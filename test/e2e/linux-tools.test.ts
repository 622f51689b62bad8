/**
 * playbooks/linux-tools.yml end to end in the lab: real SSH to container guests, the XAPI
 * simulator over HTTP, the real CLI. Needs root, sshd and xorriso (CI installs them).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeUnless } from '../harness/require.js';
import { INSTALL_FAULT_LEFTOVER } from '../../src/lab/iso/tools-scripts.js';
import {
  LINUX_TOOLS, fingerprints, labSkipReason, mutatingCalls, playbookVariant, pvrun, pvrunSnapshots, recapOutcomes, startLab,
  type StartedLab,
} from './harness.js';
import { sshAnswers } from '../lab/helpers.js';

const skip = labSkipReason();

describeUnless(skip)('linux-tools.yml in the lab: the demo scenario', () => {
  let l: StartedLab;
  let before: Record<string, string>;
  let marker: string;
  let first: Awaited<ReturnType<typeof pvrun>>;

  beforeAll(async () => {
    l = await startLab([
      { name: 'web-01', distro: 'ubuntu', version: '22.04' },
      { name: 'db-01', distro: 'rocky', version: '9' },
      { name: 'db-02', distro: 'alma', version: '9', toolsInstalled: true },
      { name: 'app-01', distro: 'debian', version: '12' },
      { name: 'legacy-01', distro: 'centos', version: '7', faults: { installFails: true } },
    ], 'demo');
    before = fingerprints(l.lab);
    marker = join(l.dir, 'started-marker');
    writeFileSync(marker, '');
    first = await pvrun([LINUX_TOOLS, '-i', l.inventory, '--state-dir', join(l.dir, 'pvrun')]);
  }, 300_000);
  afterAll(async () => {
    await l?.lab.stop();
    if (l) rmSync(l.dir, { recursive: true, force: true });
  });

  it('ends with the exact recap and exit code 2', () => {
    expect(recapOutcomes(first.out)).toEqual({
      'web-01': 'changed', 'db-01': 'changed', 'db-02': 'skipped', 'app-01': 'changed', 'legacy-01': 'rolled-back',
    });
    expect(first.code).toBe(2);
  });

  it('the failed VM is back at its snapshot: disk identical, what its install wrote is gone, running', async () => {
    const g = l.lab.guests.info('legacy-01')!;
    expect(existsSync(join(g.upperDir, INSTALL_FAULT_LEFTOVER))).toBe(false);
    expect(fingerprints(l.lab)['legacy-01']).toBe(before['legacy-01']);
    expect(l.lab.sim.vm('legacy-01').rec['power_state']).toBe('Running');
    expect(await sshAnswers(g)).toBe(true);
  });

  it('the others report PV drivers and the agent in XAPI', () => {
    for (const name of ['web-01', 'db-01', 'app-01']) {
      const vm = l.lab.sim.vm(name).rec;
      const gm = l.lab.sim.record('VM_guest_metrics', String(vm['guest_metrics']));
      expect(gm?.['PV_drivers_detected'], name).toBe(true);
    }
  });

  it('nothing was written on the controller outside the lab state directory', () => {
    // where a guest's package install would land if it escaped its overlay
    const out = execFileSync('find', ['/usr', '/opt', '/srv', '/var/lib/dpkg', '/etc/systemd', '-xdev', '-newer', marker, '-print'], { encoding: 'utf8' });
    expect(out.trim()).toBe('');
  });

  it('a re-run skips every host that is done and takes no new snapshot', async () => {
    const snaps = pvrunSnapshots(l.lab).length;
    const r = await pvrun([LINUX_TOOLS, '-i', l.inventory, '--limit', 'all:!legacy-01', '--state-dir', join(l.dir, 'pvrun')]);
    expect(recapOutcomes(r.out)).toEqual({ 'web-01': 'skipped', 'db-01': 'skipped', 'db-02': 'skipped', 'app-01': 'skipped' });
    expect(r.code).toBe(0);
    expect(pvrunSnapshots(l.lab).length).toBe(snaps);
  }, 120_000);
});

describeUnless(skip)('linux-tools.yml in the lab: check mode', () => {
  let l: StartedLab;
  beforeAll(async () => {
    l = await startLab([
      { name: 'web-01', distro: 'ubuntu', version: '24.04' },
      { name: 'db-01', distro: 'rhel', version: '9' },
      { name: 'db-02', distro: 'debian', version: '12', toolsInstalled: true },
    ], 'check');
  }, 120_000);
  afterAll(async () => {
    await l?.lab.stop();
    if (l) rmSync(l.dir, { recursive: true, force: true });
  });

  it('makes no mutating XAPI call, leaves every disk byte-identical, and lists the predicted changes', async () => {
    const before = fingerprints(l.lab);
    l.lab.sim.calls.length = 0;
    const r = await pvrun([LINUX_TOOLS, '-i', l.inventory, '--check', '--diff', '--state-dir', join(l.dir, 'pvrun')]);
    expect(mutatingCalls(l.lab)).toEqual([]);
    // --diff: what exactly would run and change
    expect(r.out).toMatch(/web-01 \[run the installer\] would-change: would run inline script as root .*\n.*interpreter: \/bin\/sh \(as root\)\n.*\+ \/mnt\/Linux\/install\.sh -n/);
    expect(r.out).toMatch(/CD drive: \(empty\) -> guest-tools\.iso/);
    expect(l.lab.sim.calls.length).toBeGreaterThan(0);
    expect(fingerprints(l.lab)).toEqual(before);
    expect(r.out).toMatch(/web-01 \[snapshot before the drivers change\] would-change/);
    expect(r.out).toMatch(/web-01 \[insert the guest tools ISO\] would-change/);
    expect(recapOutcomes(r.out)).toEqual({ 'web-01': 'changed', 'db-01': 'changed', 'db-02': 'skipped' });
    expect(r.code).toBe(0);
  }, 180_000);
});

describeUnless(skip)('linux-tools.yml in the lab: failures', () => {
  it('a reboot that never returns: that VM is reverted and running, the others are unaffected', async () => {
    const l = await startLab([
      { name: 'ok-01', distro: 'ubuntu', version: '22.04' },
      { name: 'ok-02', distro: 'debian', version: '12' },
      { name: 'hang-01', distro: 'rocky', version: '9', faults: { rebootNeverReturns: true } },
    ], 'hang');
    try {
      const before = fingerprints(l.lab);
      const r = await pvrun([LINUX_TOOLS, '-i', l.inventory, '-e', 'reboot_timeout=20', '--state-dir', join(l.dir, 'pvrun')]);
      expect(recapOutcomes(r.out)).toEqual({ 'ok-01': 'changed', 'hang-01': 'rolled-back', 'ok-02': 'changed' });
      expect(r.code).toBe(2);
      expect(fingerprints(l.lab)['hang-01']).toBe(before['hang-01']);
      expect(l.lab.sim.vm('hang-01').rec['power_state']).toBe('Running');
    } finally {
      await l.lab.stop();
      rmSync(l.dir, { recursive: true, force: true });
    }
  }, 300_000);

  it('a failing canary with serial [1, "50%"] and max_fail_percentage 0: no other VM is touched', async () => {
    const l = await startLab([
      { name: 'canary', distro: 'rocky', version: '9', faults: { installFails: true } },
      { name: 'vm-02', distro: 'ubuntu', version: '22.04' },
      { name: 'vm-03', distro: 'debian', version: '12' },
    ], 'canary');
    try {
      const before = fingerprints(l.lab);
      const pb = playbookVariant(LINUX_TOOLS, l.dir, [['max_fail_percentage: 25', 'max_fail_percentage: 0']]);
      l.lab.sim.calls.length = 0;
      const r = await pvrun([pb, '-i', l.inventory, '--state-dir', join(l.dir, 'pvrun')]);
      expect(recapOutcomes(r.out)).toEqual({ canary: 'rolled-back' });
      expect(r.code).toBe(2);
      const others = ['vm-02', 'vm-03'].map((n) => l.lab.sim.vm(n).ref);
      const touched = l.lab.sim.calls.filter((c) => !c.readOnly && JSON.stringify(c.params).match(new RegExp(others.join('|'))));
      expect(touched).toEqual([]);
      expect(fingerprints(l.lab)['vm-02']).toBe(before['vm-02']);
      expect(fingerprints(l.lab)['vm-03']).toBe(before['vm-03']);
    } finally {
      await l.lab.stop();
      rmSync(l.dir, { recursive: true, force: true });
    }
  }, 300_000);
});
