/**
 * Container guests end to end on this machine: real namespaces, overlay, sshd, dpkg, xorriso.
 * One lab for the file (guests are cheap but the machine is shared).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeUnless } from '../harness/require.js';
import { LabGuests, type GuestInfo } from '../../src/lab/guest/index.js';
import type { GuestReport } from '../../src/lab/sim-hooks.js';
import { eventually, labSkipReason, pidsInNamespace, sshAnswers, sshExec, treeFingerprint } from './helpers.js';

const skip = labSkipReason();

const UUID = {
  deb: '11111111-1111-4111-8111-111111111111',
  rpm: '22222222-2222-4222-8222-222222222222',
  alpine: '33333333-3333-4333-8333-333333333333',
  pre: '44444444-4444-4444-8444-444444444444',
  failing: '55555555-5555-4555-8555-555555555555',
  onlDeb: '66666666-6666-4666-8666-666666666666',
  onlRpm: '77777777-7777-4777-8777-777777777777',
};

describeUnless(skip)('lab guests', () => {
  let stateDir: string;
  let lab: LabGuests;
  const reports: { vm: string; report: GuestReport }[] = [];
  const guestReboots: string[] = [];
  const g = (name: string): GuestInfo => {
    const i = lab.info(name);
    if (!i) throw new Error(`no guest ${name}`);
    return i;
  };

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'pvrun-lab-test-'));
    const created = await LabGuests.create({
      guests: [
        { name: 'deb-01', uuid: UUID.deb, distro: 'ubuntu', version: '22.04' },
        { name: 'rpm-01', uuid: UUID.rpm, distro: 'rocky', version: '9' },
        { name: 'alp-01', uuid: UUID.alpine, distro: 'alpine', version: '3' },
        { name: 'pre-01', uuid: UUID.pre, distro: 'debian', version: '12', toolsInstalled: true },
        { name: 'bad-01', uuid: UUID.failing, distro: 'almalinux', version: '9', faults: { installFails: true } },
        { name: 'onl-deb', uuid: UUID.onlDeb, distro: 'debian', version: '12' },
        { name: 'onl-rpm', uuid: UUID.onlRpm, distro: 'rhel', version: '8' },
      ],
    }, {
      stateDir,
      rebootDelayMs: 100,
      onGuestReport: (vm, report) => reports.push({ vm, report }),
      // as the orchestrator does: the guest's own reboot becomes the hypervisor's power operation
      onGuestInitiatedReboot: (vm) => { guestReboots.push(vm); void lab.onPowerOp(vm, 'clean_reboot'); },
    });
    if (!created.ok) throw new Error(`lab: ${created.error.message}`);
    lab = created.value;
    const started = await lab.startAll();
    if (!started.ok) throw new Error(started.error.message);
    for (const i of lab.list()) {
      const ready = await lab.waitReady(i.name, 30_000);
      if (!ready.ok) throw new Error(ready.error.message);
    }
  });

  afterAll(async () => {
    await lab?.stopAll();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it('answers over SSH with its own hostname, os-release and PID namespace', async () => {
    const r = await sshExec(g('deb-01'), 'hostname; . /etc/os-release; echo "$ID $VERSION_ID"; echo $$; cat /sys/hypervisor/type; ls -A /mnt | wc -l');
    expect(r.code).toBe(0);
    const [hostname, os, , hyp, mntEntries] = r.stdout.trim().split('\n');
    expect(mntEntries).toBe('0'); // a fresh VM's /mnt is empty, whatever the controller has there
    expect(hostname).toBe('deb-01');
    expect(os).toBe('ubuntu 22.04');
    expect(hyp).toBe('xen');
    const rpm = await sshExec(g('rpm-01'), 'hostname; . /etc/os-release; echo "$ID $VERSION_ID"; cat /etc/redhat-release; command -v dpkg || echo no-dpkg; ps -e -o pid= | wc -l');
    const lines = rpm.stdout.trim().split('\n');
    expect(lines.slice(0, 4)).toEqual(['rpm-01', 'rocky 9.4', 'Rocky Linux release 9.4', 'no-dpkg']);
    // the guest sees only its own processes (init, sshd, the session…), not the controller's
    expect(Number(lines[4])).toBeLessThan(20);
  });

  it("starts only the guest's own services, not the controller's", async () => {
    const r = await sshExec(g('deb-01'), 'ls /etc/systemd/system/multi-user.target.wants/ | wc -l; ls /run/pvrun-lab-systemd/ | wc -l');
    expect(r.stdout.trim().split('\n')).toEqual(['0', '0']);
    const pre = await sshExec(g('pre-01'), "systemctl list-units | sed -n 's/ .*//p' | tail -n +2");
    expect(pre.stdout.trim()).toBe('xe-linux-distribution.service');
  });

  it('a running guest with its agent does not change its disk while it is only read', async () => {
    const pre = g('pre-01');
    const hbFile = join(stateDir, 'guests', 'pre-01', 'control', 'xenstore', 'heartbeat');
    const hbTime = (): string | undefined => { try { return /time=(\d+)/.exec(readFileSync(hbFile, 'utf8'))?.[1]; } catch { return undefined; } };
    expect(await eventually(hbTime)).toBeDefined();
    const before = treeFingerprint(pre.upperDir);
    const first = hbTime();
    const r = await sshExec(pre, 'cat /etc/os-release >/dev/null; dpkg -s xe-guest-utilities >/dev/null; systemctl is-active xe-linux-distribution; systemctl status xe-linux-distribution >/dev/null; ls / /mnt /root >/dev/null; cat /proc/sys/kernel/random/boot_id');
    expect(r.code).toBe(0);
    // the agent has published at least once more in the meantime
    expect(await eventually(() => (hbTime() !== first ? true : undefined))).toBe(true);
    expect(treeFingerprint(pre.upperDir)).toEqual(before);
  });

  it('writes land in the upper dir, never on the controller', async () => {
    const name = `pvrun-lab-probe-${process.pid}-${Date.now()}`;
    const r = await sshExec(g('deb-01'), `echo written-in-guest > /etc/${name} && echo also > /root/${name} && cat /etc/${name}`);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('written-in-guest');
    const upper = g('deb-01').upperDir;
    expect(readFileSync(join(upper, 'etc', name), 'utf8')).toBe('written-in-guest\n');
    expect(existsSync(join(upper, 'root', name))).toBe(true);
    expect(existsSync(`/etc/${name}`)).toBe(false);
    expect(existsSync(`/root/${name}`)).toBe(false);
  });

  it('changes its boot id across a reboot (hypervisor-initiated and guest-initiated)', async () => {
    const read = async (): Promise<string> => (await sshExec(g('deb-01'), 'cat /proc/sys/kernel/random/boot_id')).stdout.trim();
    const before = await read();
    expect(before).toBe(lab.bootId(UUID.deb));
    await lab.onPowerOp(UUID.deb, 'clean_reboot');
    expect((await lab.waitReady(UUID.deb)).ok).toBe(true);
    const afterHv = await read();
    expect(afterHv).not.toBe(before);
    expect(afterHv).toBe(lab.bootId(UUID.deb));

    // the guest may go down before the exit status arrives: a dropped connection is expected
    const r = await sshExec(g('deb-01'), 'reboot');
    expect([0, null]).toContain(r.code);
    const changed = await eventually(() => (lab.bootId(UUID.deb) && lab.bootId(UUID.deb) !== afterHv ? true : undefined));
    expect(changed).toBe(true);
    expect((await lab.waitReady(UUID.deb)).ok).toBe(true);
    expect(await read()).toBe(lab.bootId(UUID.deb));
    expect(guestReboots).toContain(UUID.deb);
    // the console log tells the boots apart, and says what unshare's message at a power-off is
    const consoleLog = readFileSync(join(stateDir, 'guests', 'deb-01', 'console.log'), 'utf8');
    for (const id of [before, afterHv, lab.bootId(UUID.deb)!]) expect(consoleLog).toContain(` boot ${id} ===`);
    expect(consoleLog.match(/ powered off: the lab SIGKILLed the guest's init/g)?.length).toBeGreaterThanOrEqual(2);
  });

  it('a boot that fails shows its own console lines only, not the previous power-off\'s', async () => {
    // stopped (unshare's "sigprocmask unblock failed" lands in the console), then a boot whose
    // mount point is gone: the boot script cannot assemble the guest and exits
    await lab.onPowerOp(UUID.alpine, 'hard_shutdown');
    const consoleLog = join(stateDir, 'guests', 'alp-01', 'console.log');
    expect(readFileSync(consoleLog, 'utf8')).toMatch(/powered off: the lab SIGKILLed/);
    const root = join(stateDir, 'guests', 'alp-01', 'root');
    rmSync(root, { recursive: true, force: true });
    writeFileSync(root, 'not a directory\n');
    const r = await lab.start(UUID.alpine);
    rmSync(root, { force: true });
    mkdirSync(root);
    expect(r.ok).toBe(false);
    const message = r.ok ? '' : r.error.message;
    expect(message).toMatch(/^the boot script exited/);
    expect(message).toMatch(/=== \S+ boot [0-9a-f-]{36} ===/);
    expect(message).not.toMatch(/sigprocmask|powered off/);
    // and the guest boots again once its mount point is back
    expect((await lab.start(UUID.alpine)).ok).toBe(true);
    expect((await lab.waitReady(UUID.alpine, 30_000)).ok).toBe(true);
  });

  it('presents an inserted ISO at /dev/cdrom, mountable read-only, and withdraws it on eject', async () => {
    const deb = g('deb-01');
    expect((await sshExec(deb, 'test -e /dev/cdrom')).code).not.toBe(0);
    await lab.onCdChange(UUID.deb, { vdiUuid: 'vdi-tools', nameLabel: 'guest-tools.iso' });
    const r = await sshExec(deb, [
      'readlink /dev/cdrom', 'test -b /dev/sr0 && echo block',
      'mkdir -p /mnt && mount /dev/cdrom /mnt', 'ls /mnt/Linux',
      'touch /mnt/Linux/x 2>/dev/null && echo writable || echo read-only',
      'grep " /mnt " /proc/mounts | grep -q "[ ,]ro[ ,]" && echo ro-mount',
    ].join('; '));
    const out = r.stdout.split('\n');
    expect(out[0]).toBe('sr0');
    expect(out).toContain('block');
    expect(out).toContain('install.sh');
    expect(out).toContain('read-only');
    expect(out).toContain('ro-mount');
    expect((await sshExec(deb, 'umount /mnt')).code).toBe(0);
    await lab.onCdChange(UUID.deb, null);
    expect((await sshExec(deb, 'test -e /dev/cdrom || echo gone')).stdout.trim()).toBe('gone');
    expect((await sshExec(deb, 'mount /dev/cdrom /mnt')).code).not.toBe(0);
  });

  it('install.sh -n installs the real .deb with dpkg, starts the service, and the agent reports', async () => {
    const deb = g('deb-01');
    await lab.onCdChange(UUID.deb, { vdiUuid: 'vdi-tools', nameLabel: 'guest-tools.iso' });
    const r = await sshExec(deb, 'mount /dev/cdrom /mnt && /mnt/Linux/install.sh -n; rc=$?; umount /mnt; exit $rc');
    expect(r.stderr + r.stdout).toContain('xe-guest-utilities');
    expect(r.code).toBe(0);
    await lab.onCdChange(UUID.deb, null);
    const s = await sshExec(deb, "dpkg -s xe-guest-utilities | grep -E '^(Status|Version):'; systemctl is-active xe-linux-distribution; systemctl is-enabled xe-linux-distribution; test -x /usr/sbin/xe-daemon && echo daemon");
    expect(s.stdout.trim().split('\n')).toEqual(['Status: install ok installed', 'Version: 8.4.0-1', 'active', 'enabled', 'daemon']);
    const agent = await eventually(() => reports.find((x) => x.vm === UUID.deb && x.report.agentVersion)?.report);
    expect(agent?.agentVersion).toEqual({ major: 8, minor: 4, micro: 0, build: 1 });
    expect(agent?.pvDriversDetected).toBe(true);
    expect(agent?.os).toMatchObject({ distro: 'ubuntu', major: '22', minor: '04' });
    // the service comes back by itself after a reboot (enabled), and reports again for the new boot
    const n = reports.length;
    await lab.onPowerOp(UUID.deb, 'hard_reboot');
    const again = await eventually(() => reports.slice(n).find((x) => x.vm === UUID.deb && x.report.agentVersion)?.report);
    expect(again?.agentVersion?.major).toBe(8);
  });

  it('install.sh -n installs the emulated rpm on a RHEL-family guest; rpm -q shows it', async () => {
    const rpm = g('rpm-01');
    expect((await sshExec(rpm, 'rpm -q xe-guest-utilities')).code).toBe(1);
    await lab.onCdChange(UUID.rpm, { vdiUuid: 'vdi-tools', nameLabel: 'guest-tools.iso' });
    const r = await sshExec(rpm, 'mount /dev/cdrom /mnt && /mnt/Linux/install.sh -n; rc=$?; umount /mnt; exit $rc');
    expect(r.code).toBe(0);
    const q = await sshExec(rpm, 'rpm -q xe-guest-utilities; rpm -qa | grep xe-guest; systemctl is-active xe-linux-distribution');
    expect(q.stdout.trim().split('\n')).toEqual(['xe-guest-utilities-8.4.0-1.x86_64', 'xe-guest-utilities-8.4.0-1.x86_64', 'active']);
    // a second run fails like the real one: install.sh has no "already installed" check and runs
    // `rpm -Uvh` under `set -e`, which refuses the same version (FIDELITY.md, XGU install.sh:483-487, 669)
    const again = await sshExec(rpm, 'mount /dev/cdrom /mnt && /mnt/Linux/install.sh -n; rc=$?; umount /mnt; exit $rc');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('package xe-guest-utilities-8.4.0-1.x86_64 is already installed');
    await lab.onCdChange(UUID.rpm, null);
  });

  it('install.sh: exit 1 on an unsupported distribution and on -d without -m; a preinstalled Debian guest reinstalls (dpkg -i)', async () => {
    await lab.onCdChange(UUID.alpine, { vdiUuid: 'vdi-tools', nameLabel: 'guest-tools.iso' });
    const alp = await sshExec(g('alp-01'), 'mount /dev/cdrom /mnt && /mnt/Linux/install.sh -n; rc=$?; umount /mnt; exit $rc');
    expect(alp.code).toBe(1);
    expect(alp.stdout).toContain('Unable to install guest packages for distribution');
    const usage = await sshExec(g('alp-01'), 'mount /dev/cdrom /mnt && /mnt/Linux/install.sh -n -d ubuntu; rc=$?; umount /mnt; exit $rc');
    expect(usage.code).toBe(1);
    await lab.onCdChange(UUID.alpine, null);

    await lab.onCdChange(UUID.pre, { vdiUuid: 'vdi-tools', nameLabel: 'guest-tools.iso' });
    const pre = await sshExec(g('pre-01'), 'dpkg -s xe-guest-utilities >/dev/null && echo pkg; systemctl is-active xe-linux-distribution; mount /dev/cdrom /mnt && /mnt/Linux/install.sh -n; rc=$?; umount /mnt; exit $rc');
    expect(pre.code).toBe(0);
    expect(pre.stdout).toMatch(/^pkg\nactive\n/);
    // no "already installed" check in the real install.sh: dpkg -i unpacks the same version again
    expect(pre.stdout).not.toContain('already installed');
    expect(pre.stdout).toMatch(/Unpacking xe-guest-utilities .* over \(/);
    await lab.onCdChange(UUID.pre, null);
  });

  it('fault install_fails: install.sh writes a file then exits non-zero; a revert removes the file', async () => {
    const bad = g('bad-01');
    const before = treeFingerprint(bad.upperDir);
    await lab.onSnapshot(UUID.failing, 'snap-before-install');
    await lab.onCdChange(UUID.failing, { vdiUuid: 'vdi-tools', nameLabel: 'guest-tools.iso' });
    const r = await sshExec(bad, 'mount /dev/cdrom /mnt && /mnt/Linux/install.sh -n; rc=$?; umount /mnt; exit $rc');
    expect(r.code).toBe(1);
    expect(existsSync(join(bad.upperDir, 'var/lib/xe-guest-utilities/partial-install'))).toBe(true);
    expect((await sshExec(bad, 'rpm -q xe-guest-utilities')).code).toBe(1);
    await lab.onCdChange(UUID.failing, null);
    await lab.onRevert(UUID.failing, 'snap-before-install');
    expect(g('bad-01').powerState).toBe('halted');
    expect(existsSync(join(bad.upperDir, 'var/lib/xe-guest-utilities/partial-install'))).toBe(false);
    expect(treeFingerprint(bad.upperDir)).toEqual(before);
    await lab.onPowerOp(UUID.failing, 'start');
    expect((await lab.waitReady(UUID.failing)).ok).toBe(true);
  });

  it('snapshot → change → revert restores the disk byte for byte; destroy removes the copy', async () => {
    const rpm = g('rpm-01');
    // settle anything the boot wrote, then fingerprint and snapshot
    const before = treeFingerprint(rpm.upperDir);
    await lab.onSnapshot(UUID.rpm, 'snap-1');
    const changes = await sshExec(rpm, [
      'echo changed >> /etc/os-release', 'rm -f /usr/bin/yum', 'mkdir -p /opt/new && echo x > /opt/new/file',
      'rpm -e xe-guest-utilities', 'chmod 600 /etc/hostname',
    ].join(' && '));
    expect(changes.code).toBe(0);
    expect(treeFingerprint(rpm.upperDir).digest).not.toBe(before.digest);
    await lab.onRevert(UUID.rpm, 'snap-1');
    expect(treeFingerprint(rpm.upperDir)).toEqual(before);
    await lab.onPowerOp(UUID.rpm, 'start');
    expect((await lab.waitReady(UUID.rpm)).ok).toBe(true);
    const q = await sshExec(rpm, 'rpm -q xe-guest-utilities; test -e /usr/bin/yum && echo yum; test -e /opt/new || echo no-opt');
    expect(q.stdout.trim().split('\n')).toEqual(['xe-guest-utilities-8.4.0-1.x86_64', 'yum', 'no-opt']);
    const snapDir = join(stateDir, 'guests', 'rpm-01', 'snapshots', 'snap-1');
    expect(existsSync(snapDir)).toBe(true);
    await lab.onSnapshotDestroy(UUID.rpm, 'snap-1');
    expect(existsSync(snapDir)).toBe(false);
  });

  it('online path: apt from the lab repository; EPEL then dnf/yum on RHEL', async () => {
    // apt's own output goes to a log in the guest, shown when a step fails (CI run 15-1 failed
    // here once with nothing to read: apt-get's output had gone to /dev/null)
    const quiet = (cmd: string) => `{ ${cmd} >/tmp/apt.log 2>&1 || { cat /tmp/apt.log >&2; false; }; }`;
    const deb = await sshExec(g('onl-deb'), [
      quiet('apt-get update'), quiet('DEBIAN_FRONTEND=noninteractive apt-get install -y xe-guest-utilities'),
      'dpkg -s xe-guest-utilities | grep ^Status', 'systemctl is-active xe-linux-distribution',
    ].join(' && '));
    expect(deb.stdout.trim().split('\n'), `exit ${deb.code}; stderr:\n${deb.stderr}`).toEqual(['Status: install ok installed', 'active']);

    const rhel = g('onl-rpm');
    const noEpel = await sshExec(rhel, 'yum install -y xe-guest-utilities-latest');
    expect(noEpel.code).toBe(1);
    expect(noEpel.stderr).toContain('Unable to find a match');
    const r = await sshExec(rhel, [
      'yum install -y epel-release >/dev/null', 'yum install -y xe-guest-utilities-latest >/dev/null',
      'rpm -q xe-guest-utilities-latest', 'systemctl is-active xe-linux-distribution || true',
      'systemctl enable --now xe-linux-distribution 2>/dev/null', 'systemctl is-active xe-linux-distribution',
      'systemctl is-enabled xe-linux-distribution',
    ].join(' && '));
    expect(r.stdout.trim().split('\n')).toEqual(['xe-guest-utilities-latest-8.4.0-1.x86_64', 'inactive', 'active', 'enabled']);
  });

  it('an ISO inserted while halted is there at boot; ejecting withdraws what the guest mounted', async () => {
    await lab.onPowerOp(UUID.alpine, 'hard_shutdown');
    await lab.onCdChange(UUID.alpine, { vdiUuid: 'vdi-tools', nameLabel: 'guest-tools.iso' });
    expect(lab.info(UUID.alpine)?.cd).toBe('guest-tools.iso');
    await lab.onPowerOp(UUID.alpine, 'start');
    expect((await lab.waitReady(UUID.alpine)).ok).toBe(true);
    const alp = g('alp-01');
    const r = await sshExec(alp, 'readlink /dev/cdrom && mount /dev/cdrom /mnt && test -f /mnt/Linux/install.sh && echo mounted');
    expect(r.stdout.trim().split('\n')).toEqual(['sr0', 'mounted']);
    await lab.onCdChange(UUID.alpine, null);
    const after = await sshExec(alp, 'test -e /mnt/Linux/install.sh && echo still || echo withdrawn; test -e /dev/sr0 || echo no-sr0');
    expect(after.stdout.trim().split('\n')).toEqual(['withdrawn', 'no-sr0']);
  });

  it('stopAll leaves no process and no mount behind', async () => {
    const namespaces = lab.list().flatMap((i) => {
      const rt = JSON.parse(readFileSync(join(stateDir, 'guests', i.name, 'runtime.json'), 'utf8')) as { initPid: number; unsharePid: number };
      return [{ ns: readlinkSync(`/proc/${rt.initPid}/ns/pid`), unshare: rt.unsharePid }];
    });
    expect(namespaces.length).toBe(7);
    for (const n of namespaces) expect(pidsInNamespace(n.ns).length).toBeGreaterThan(1);
    const deb = g('deb-01');
    await lab.stopAll();
    for (const n of namespaces) {
      expect(pidsInNamespace(n.ns)).toEqual([]);
      expect(existsSync(`/proc/${n.unshare}`)).toBe(false);
    }
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(stateDir);
    expect(await sshAnswers(deb)).toBe(false);
    expect(lab.list().every((i) => i.powerState === 'halted')).toBe(true);
  });
});
