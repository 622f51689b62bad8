/**
 * Issue 15: a real Debian 12 VM under QEMU (TCG without usable KVM), driven through QMP: the
 * image built from Debian's packages (or taken from the cache), a boot to SSH with the guest's
 * own host key, the boot id over the xenstore channel, a real iso9660 mount of the lab's tools
 * ISO through /dev/cdrom, a live internal snapshot, a clean ACPI shutdown, a revert that leaves
 * no trace, and a reboot from inside the guest seen as a QMP SHUTDOWN (guest-reset).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeUnless } from '../harness/require.js';
import { qemuSkipReason, waitFor } from './helpers.js';
import { sshExec } from '../lab/helpers.js';
import { ensureImage, type GuestImage } from '../../src/lab/qemu/image.js';
import { QemuVm } from '../../src/lab/qemu/vm.js';
import { buildToolsIso } from '../../src/lab/iso/build.js';
import { freePort } from '../../src/lab/sshd.js';
import type { GuestInfo } from '../../src/lab/guest/index.js';

const BOOT_MS = 600_000;

describeUnless(qemuSkipReason())('a QEMU guest driven through QMP', () => {
  let dir: string;
  let image: GuestImage;
  let vm: QemuVm;
  let info: GuestInfo;
  let iso: string;
  const guestEvents: string[] = [];
  const sh = async (cmd: string) => {
    const r = await sshExec(info, cmd, 120_000);
    return { code: r.code, out: r.stdout.trim(), err: r.stderr.trim() };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pvrun-qemu-vm-'));
    const img = await ensureImage({ log: (l) => console.log(`image: ${l}`) });
    if (!img.ok) throw new Error(img.error);
    image = img.value;
    const t = await buildToolsIso(join(dir, 'iso'));
    if (!t.ok) throw new Error(t.error);
    iso = t.value.isoPath;
    for (const k of ['client', 'host']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, k)]);
    const port = await freePort();
    const v = await QemuVm.create({
      name: 'qvm', dir: join(dir, 'vm'), image, sshPort: port, authorizedKeyFile: join(dir, 'client.pub'), hostKeyFile: join(dir, 'host'),
      onGuestReboot: () => guestEvents.push('reboot'), onGuestShutdown: () => guestEvents.push('poweroff'),
    });
    if (!v.ok) throw new Error(v.error);
    vm = v.value;
    const pub = readFileSync(join(dir, 'host.pub'), 'utf8').trim().split(/\s+/);
    info = {
      name: 'qvm', uuid: '', distro: 'debian', version: '12', prettyName: '', packageFamily: 'deb', host: '127.0.0.1', port, user: 'root',
      privateKeyPath: join(dir, 'client'), knownHostsLine: `[127.0.0.1]:${port} ${pub[0]} ${pub[1]}`, powerState: 'running', bootId: undefined,
      cd: null, toolsInstalled: false, faults: { installFails: false, rebootNeverReturns: false, slowBootMs: 0, sshDown: false }, upperDir: vm.disk,
    };
    const s = await vm.start();
    if (!s.ok) throw new Error(s.error);
    const up = await vm.waitSsh(BOOT_MS);
    if (!up.ok) throw new Error(up.error);
  }, 3 * BOOT_MS);

  afterAll(async () => {
    await vm?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('boots the image\'s own kernel; SSH answers with the host key QEMU seeded (fw_cfg)', async () => {
    const r = await sh('uname -r; cat /etc/debian_version; systemctl is-system-running --wait || true');
    expect(r.code).toBe(0);
    const [kernel, debian, state] = r.out.split('\n');
    expect(image.versions[`linux-image-${kernel}`]).toBeDefined();
    expect(debian).toMatch(/^12\./);
    // no failed unit in the real systemd
    expect(state).toBe('running');
  }, 300_000);

  it('reports the boot id over the xenstore channel (virtio-serial), the one the kernel has', async () => {
    await waitFor('the xenstore bridge to report', () => vm.bootId !== '', 120_000);
    const r = await sh('cat /proc/sys/kernel/random/boot_id');
    expect(r.out).toBe(vm.bootId);
  }, 200_000);

  it('the tools ISO inserted through QMP is a real iso9660 /dev/cdrom (sr0) in the guest; eject empties it', async () => {
    expect(await vm.cdInserted()).toEqual({ ok: true, value: null });
    expect(await vm.setCd(iso)).toEqual({ ok: true, value: undefined });
    expect(await vm.cdInserted()).toEqual({ ok: true, value: iso });
    // the medium change reaches the guest kernel asynchronously: retry the mount a while
    let m = { code: 1 as number | null, out: '', err: '' };
    await waitFor('the guest to mount /dev/cdrom', async () => {
      m = await sh('mount -o ro /dev/cdrom /mnt 2>&1 && grep " /mnt " /proc/mounts && sha256sum /mnt/Linux/install.sh');
      return m.code === 0;
    }, 120_000);
    expect(m.out).toMatch(/^\/dev\/sr0 \/mnt iso9660 ro/m);
    const hostSum = execFileSync('sh', ['-c', `xorriso -osirrox on -indev ${iso} -extract /Linux/install.sh ${join(dir, 'install.sh')} >/dev/null 2>&1; sha256sum ${join(dir, 'install.sh')}`], { encoding: 'utf8' }).split(' ')[0];
    expect(m.out).toContain(hostSum);
    expect((await sh('umount /mnt')).code).toBe(0);
    expect(await vm.setCd(null)).toEqual({ ok: true, value: undefined });
    expect(await vm.cdInserted()).toEqual({ ok: true, value: null });
    await waitFor('the guest to see the empty drive', async () => (await sh('mount -o ro /dev/cdrom /mnt')).code !== 0, 60_000);
  }, 400_000);

  it('a live snapshot, a change, a clean shutdown (ACPI), a revert: the change is gone, the VM boots again', async () => {
    const before = (await sh('sha256sum /etc/passwd')).out;
    expect(await vm.snapshot('snap-1')).toEqual({ ok: true, value: undefined });
    expect(await vm.listSnapshots()).toEqual({ ok: true, value: ['snap-1'] });
    expect((await sh('echo changed > /root/trace && useradd -M trace-user && sync')).code).toBe(0);
    expect((await sh('sha256sum /etc/passwd')).out).not.toBe(before);
    const oldBoot = vm.bootId;
    expect(await vm.powerdown(BOOT_MS)).toEqual({ ok: true, value: undefined });
    expect(vm.running).toBe(false);
    expect(vm.events.map((e) => e.event)).toContain('POWERDOWN');
    // a shutdown we asked for is not a guest-initiated one
    expect(guestEvents).toEqual([]);
    expect(await vm.revert('snap-1')).toEqual({ ok: true, value: undefined });
    expect((await vm.start()).ok).toBe(true);
    expect((await vm.waitSsh(BOOT_MS)).ok).toBe(true);
    const after = await sh('ls /root/trace 2>&1; id trace-user 2>&1; sha256sum /etc/passwd; cat /proc/sys/kernel/random/boot_id');
    expect(after.out).toMatch(/No such file/);
    expect(after.out).toMatch(/no such user/);
    expect(after.out).toContain(before);
    expect(after.out.split('\n').pop()).not.toBe(oldBoot);
    // the snapshot is still there (revert does not consume it), and can be deleted while running
    expect(await vm.listSnapshots()).toEqual({ ok: true, value: ['snap-1'] });
    expect(await vm.deleteSnapshot('snap-1')).toEqual({ ok: true, value: undefined });
    expect(await vm.listSnapshots()).toEqual({ ok: true, value: [] });
  }, 3 * BOOT_MS);

  it('a reboot from inside the guest ends the QEMU process with SHUTDOWN guest-reset: a guest-initiated reboot', async () => {
    await sh('systemctl reboot').catch(() => undefined);
    await waitFor('QEMU to exit', () => !vm.running, 300_000);
    expect(guestEvents).toEqual(['reboot']);
    const shut = vm.events.filter((e) => e.event === 'SHUTDOWN').pop();
    expect(shut?.data).toMatchObject({ guest: true, reason: 'guest-reset' });
  }, 400_000);
});
