/**
 * Issue 15: playbooks/linux-tools.yml on real Debian 12 VMs (QEMU, TCG without usable KVM)
 * behind the XAPI simulator, with the real CLI: the rehearsal changes nothing (the disk file's
 * checksum is identical), the rollout mounts the lab's real ISO 9660 tools image as /dev/cdrom,
 * runs its install.sh (dpkg -i), reboots the real kernel (a new boot_id) and verifies the service
 * under real systemd and the agent through XAPI's guest metrics; a failing install is reverted
 * to the snapshot and leaves no trace (inside the booted guest, by file checksum).
 */
import { createHash } from 'node:crypto';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeUnless } from '../harness/require.js';
import { qemuSkipReason, waitFor } from './helpers.js';
import { sshExec } from '../lab/helpers.js';
import { LINUX_TOOLS, pvrun, recapOutcomes } from '../e2e/harness.js';
import { Lab } from '../../src/lab/lab.js';
import { INSTALL_FAULT_FILE, INSTALL_FAULT_LEFTOVER } from '../../src/lab/iso/tools-scripts.js';
import { agentDetected } from '../../src/hypervisor/vm-facts.js';
import type { GuestMetricsRecord } from '../../src/hypervisor/records.js';

const GOOD = 'qemu-deb12-1';
const BAD = 'qemu-deb12-2';

describeUnless(qemuSkipReason())('linux-tools.yml on QEMU guests (real kernel, real systemd, real iso9660)', () => {
  let dir: string;
  let lab: Lab;
  const info = (n: string) => lab.list().find((g) => g.name === n)!;
  const sh = async (n: string, cmd: string) => {
    const r = await sshExec(info(n), cmd, 120_000);
    return { code: r.code, out: r.stdout.trim() };
  };
  const diskSum = (n: string) => createHash('sha256').update(readFileSync(lab.qemu!.vm(n)!.disk)).digest('hex');
  const metrics = (n: string) => {
    const ref = String(lab.sim.vm(n).rec['guest_metrics']);
    return lab.sim.record('VM_guest_metrics', ref) as unknown as GuestMetricsRecord | undefined;
  };
  const run = (...args: string[]) => pvrun([LINUX_TOOLS, '-i', lab.inventoryPath, '--state-dir', join(dir, 'pvrun'), ...args]);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pvrun-qemu-tools-'));
    const l = await Lab.start({ stateDir: dir, definition: { guests: [] }, qemu: 2, log: (s) => console.log(`lab: ${s}`) });
    if (!l.ok) throw new Error(l.error);
    lab = l.value;
    // PV drivers seen by XAPI once the guest's xenstore bridge reports (the virtio drivers are up)
    await waitFor('PV drivers detected on both guests', () => [GOOD, BAD].every((n) => metrics(n)?.PV_drivers_detected === true), 300_000);
  }, 1_800_000);

  afterAll(async () => {
    await lab?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 300_000);

  it('check mode changes nothing: both disks byte-identical, no snapshot, no CD', async () => {
    // settle first: the boot finished (every unit started, as systemd says), then the disk files
    // quiet — the same checksum on two syncs 5 s apart (a readiness wait, not a timed assertion)
    for (const n of [GOOD, BAD]) await sh(n, 'systemctl is-system-running --wait');
    let last = '';
    await waitFor('the disks to settle after boot', async () => {
      for (const n of [GOOD, BAD]) await sh(n, 'sync');
      const now = [GOOD, BAD].map(diskSum).join(',');
      const same = now === last;
      last = now;
      if (!same) await new Promise((r) => setTimeout(r, 5000));
      return same;
    }, 300_000);
    const before = [GOOD, BAD].map(diskSum);
    const r = await run('--check');
    expect(recapOutcomes(r.out)).toEqual({ [GOOD]: 'changed', [BAD]: 'changed' });
    expect(r.code, r.out).toBe(0);
    for (const n of [GOOD, BAD]) expect((await sh(n, 'sync')).code).toBe(0);
    expect([GOOD, BAD].map(diskSum)).toEqual(before);
    for (const n of [GOOD, BAD]) {
      expect(await lab.qemu!.vm(n)!.listSnapshots()).toEqual({ ok: true, value: [] });
      expect(await lab.qemu!.vm(n)!.cdInserted()).toEqual({ ok: true, value: null });
    }
  }, 900_000);

  it('the rollout mounts the real CD, installs, reboots the real kernel, verifies under real systemd', async () => {
    const bootBefore = (await sh(GOOD, 'cat /proc/sys/kernel/random/boot_id')).out;
    const r = await run('-l', GOOD);
    expect(recapOutcomes(r.out), r.out).toEqual({ [GOOD]: 'changed' });
    expect(r.code, r.out).toBe(0);
    for (const step of ['insert the guest tools ISO', 'mount the CD', 'run the installer', 'reboot', 'verify inside the guest', 'verify from the hypervisor']) {
      expect(r.out).toMatch(new RegExp(`${GOOD} \\[${step.replace(/[()]/g, '\\$&')}[^\\]]*\\] changed|${GOOD} \\[${step}[^\\]]*\\] ok`));
    }
    const after = await sh(GOOD, 'cat /proc/sys/kernel/random/boot_id; dpkg-query -W -f=\'${Status} ${Version}\\n\' xe-guest-utilities; systemctl is-active xe-linux-distribution; systemctl show -p LoadState,SourcePath xe-linux-distribution; grep -c " /mnt " /proc/mounts || true');
    const [bootAfter, pkg, active, ...rest] = after.out.split('\n');
    expect(bootAfter).not.toBe(bootBefore);
    expect(pkg).toBe('install ok installed 8.4.0-1');
    expect(active).toBe('active');
    // the real systemd runs the deb's SysV script through systemd-sysv-generator
    expect(rest).toContain('SourcePath=/etc/init.d/xe-linux-distribution');
    expect(rest.pop()).toBe('0');
    expect(await lab.qemu!.vm(GOOD)!.cdInserted()).toEqual({ ok: true, value: null });
    // the agent's heartbeat reached XAPI over the xenstore channel, from the new boot
    await waitFor('the agent in the guest metrics', () => agentDetected(metrics(GOOD)), 120_000);
    expect(lab.qemu!.vm(GOOD)!.bootId).toBe(bootAfter);
  }, 1_200_000);

  it('a failing install is reverted: no trace on the disk, the VM runs and answers', async () => {
    expect((await sh(BAD, `mkdir -p ${INSTALL_FAULT_FILE.replace(/\/[^/]+$/, '')} && touch ${INSTALL_FAULT_FILE} && sync`)).code).toBe(0);
    const statusBefore = (await sh(BAD, 'sha256sum /var/lib/dpkg/status')).out;
    const bootBefore = (await sh(BAD, 'cat /proc/sys/kernel/random/boot_id')).out;
    const r = await run('-l', BAD);
    expect(recapOutcomes(r.out), r.out).toEqual({ [BAD]: 'rolled-back' });
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/lab fault: install fails/);
    // pvrun restored the power state after the revert; the guest boots and answers
    await waitFor('the reverted guest to answer SSH', async () => (await lab.qemu!.waitReady(BAD, 5_000)).ok, 600_000);
    const after = await sh(BAD, `cat /proc/sys/kernel/random/boot_id; sha256sum /var/lib/dpkg/status; ls ${INSTALL_FAULT_LEFTOVER} /usr/sbin/xe-daemon 2>&1; dpkg-query -W xe-guest-utilities 2>&1 || true`);
    const [bootAfter, status, ...rest] = after.out.split('\n');
    expect(bootAfter).not.toBe(bootBefore);
    expect(status).toBe(statusBefore);
    expect(rest.join('\n')).toMatch(new RegExp(`${INSTALL_FAULT_LEFTOVER}.*No such file`));
    expect(rest.join('\n')).toMatch(/\/usr\/sbin\/xe-daemon.*No such file/);
    expect(rest.join('\n')).toMatch(/no packages found matching xe-guest-utilities/);
    expect(lab.sim.vm(BAD).rec['power_state']).toBe('Running');
  }, 1_200_000);

  it('a reboot that never comes back (the boot stops in the initramfs) is detected by the timeout and reverted', async () => {
    expect((await sh(BAD, `rm -f ${INSTALL_FAULT_FILE} && sync`)).code).toBe(0);
    const statusBefore = (await sh(BAD, 'sha256sum /var/lib/dpkg/status')).out;
    const consoleLog = join(dir, 'qemu', BAD, 'console.log');
    const consoleBefore = readFileSync(consoleLog, 'utf8').length;
    // the boot after the guest's next reboot gets break=premount: initramfs-tools stops at its shell
    expect(lab.qemu!.failNextReboot(BAD)).toBe(true);
    const r = await run('-l', BAD, '-e', 'reboot_timeout=90');
    expect(recapOutcomes(r.out), r.out).toEqual({ [BAD]: 'rolled-back' });
    expect(r.code).toBe(2);
    expect(r.out).toMatch(new RegExp(`${BAD} \\[run the installer\\] changed`));
    expect(r.out).toMatch(new RegExp(`${BAD} \\[reboot\\] unreachable: ${BAD} did not come back within reboot_timeout \\(90s\\)`));
    expect(r.out).toMatch(/reverted to the snapshot \(the VM restarted from it\)/);
    // the real kernel really booted and really stopped: its initramfs said why on the serial console
    expect(readFileSync(consoleLog, 'utf8').slice(consoleBefore)).toMatch(/Spawning shell within the initramfs/);
    await waitFor('the reverted guest to answer SSH', async () => (await lab.qemu!.waitReady(BAD, 5_000)).ok, 600_000);
    const after = await sh(BAD, 'sha256sum /var/lib/dpkg/status; dpkg-query -W xe-guest-utilities 2>&1 || true');
    const [status, pkg] = after.out.split('\n');
    expect(status).toBe(statusBefore);
    expect(pkg).toMatch(/no packages found matching xe-guest-utilities/);
    expect(lab.sim.vm(BAD).rec['power_state']).toBe('Running');
  }, 1_200_000);
});
