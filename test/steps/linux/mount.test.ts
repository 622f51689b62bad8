import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithSshd } from '../../harness/sshd.js';
import { describeUnless, firstReason, requireBinary, requireRoot } from '../../harness/require.js';
import { decideMount, mountStep } from '../../../src/steps/linux/mount.js';
import { unmountStep } from '../../../src/steps/linux/unmount.js';
import { parseMountProbe } from '../../../src/steps/linux/mounts.js';
import { makeCtx, runStep } from './ctx.js';
import { startGuest, type TestGuest } from './guest.js';

describe('mount decisions (pure)', () => {
  const probe = (lines: string[]) => parseMountProbe(lines.join('\n'), '/mnt');
  it.each([
    [['device=/dev/cdrom', 'device_real=/dev/sr0', 'point_exists=1', 'point_dir=1', 'point_empty=1'], 'change'],
    [['device=/dev/cdrom', 'device_real=/dev/sr0', 'point_exists=1', 'point_dir=1', 'point_empty=1', 'mount=/dev/sr0 /mnt', 'real=/dev/sr0 /dev/sr0'], 'ok'],
    [['device=/dev/cdrom', 'device_real=/dev/sr0', 'point_exists=1', 'point_dir=1', 'mount=/dev/cdrom /mnt/', 'real=/dev/cdrom /dev/sr0'], 'ok'],
    [['device=/dev/cdrom', 'device_real=/dev/sr0', 'point_exists=1', 'point_dir=1', 'mount=/dev/vdb1 /mnt', 'real=/dev/vdb1 /dev/vdb1'], 'fail'],
    [['device=/dev/cdrom', 'device_real=/dev/sr0', 'point_exists=1', 'point_dir=1'], 'fail'],
    [['device=/dev/cdrom', 'point_exists=1', 'point_dir=1', 'point_empty=1'], 'fail'],
    [['device=/dev/sr0', 'device_real=/dev/sr0'], 'change'],
  ])('%j → %s', (lines, kind) => {
    expect(decideMount(probe(lines), '/mnt').kind).toBe(kind);
  });
  it('decodes octal escapes of /proc/mounts', () => {
    const p = parseMountProbe('device=/dev/sr0\ndevice_real=/dev/sr0\nmount=/dev/sr0 /media/my\\040cd', '/media/my cd');
    expect(p.mountedSource).toBe('/dev/sr0');
  });
});

let loop: string | undefined;
const why = firstReason(
  requireBinary('losetup', 'util-linux'), requireBinary('mkfs.ext4', 'e2fsprogs'), requireBinary('unshare', 'util-linux'),
  requireRoot('loop devices and mounts'),
);

describeWithSshd('mount and unmount steps (loop device in a private mount namespace)', () => {
  describeUnless(why)('on a guest', () => {
    let g: TestGuest;
    let dev: string;
    let mp: string;
    beforeAll(async () => {
      g = await startGuest();
      const img = join(g.sshd.dir, 'cd.img');
      execFileSync('truncate', ['-s', '8M', img]);
      execFileSync('mkfs.ext4', ['-q', '-F', img]);
      loop = execFileSync('losetup', ['-f', '--show', img], { encoding: 'utf8' }).trim();
      // stands in for /dev/cdrom -> /dev/sr0: a link to the block device
      dev = join(g.sshd.dir, 'cdrom');
      symlinkSync(loop, dev);
      mp = join(g.sshd.dir, 'mnt');
      mkdirSync(mp);
    });
    afterAll(async () => {
      await g?.stop();
      if (loop) execFileSync('losetup', ['-d', loop]);
    });

    const mounted = async () => {
      const r = await g.connector.exec(`awk '$2 == "${mp}" {print $1}' /proc/self/mounts`);
      return r.ok ? r.value.stdout.trim() : `error ${JSON.stringify(r)}`;
    };

    it('check mode predicts the mount and changes nothing', async () => {
      const ctx = makeCtx(g.host, g.checkConnector, { check: true });
      const { plan } = await runStep(mountStep, ctx, { device: dev, path: mp });
      expect(plan).toEqual({ kind: 'change', summary: `would mount ${dev} on ${mp} (read-only)` });
      expect(await mounted()).toBe('');
    });

    it('mounts read-only, is ok on a second run, and undo unmounts', async () => {
      const ctx = makeCtx(g.host, g.connector);
      const first = await runStep(mountStep, ctx, { device: dev, path: mp });
      expect(first.apply).toMatchObject({ kind: 'changed', undo: { path: mp } });
      expect(await mounted()).toBe(loop);
      // the command ran (ok) and the kernel refused the write: not a transport error
      const ro = await g.connector.exec(`touch ${mp}/x`);
      expect(ro).toMatchObject({ ok: true, value: { exitCode: 1, stderr: expect.stringMatching(/Read-only file system/) } });
      const second = await runStep(mountStep, ctx, { device: dev, path: mp });
      expect(second.plan.kind).toBe('ok');
      // check mode agrees
      expect((await runStep(mountStep, makeCtx(g.host, g.checkConnector, { check: true }), { device: dev, path: mp })).plan.kind).toBe('ok');
      const u = await mountStep.undo!(ctx, { device: dev, path: mp }, first.apply?.kind === 'changed' ? first.apply.undo : undefined);
      expect(u).toEqual({ ok: true, summary: `unmounted ${mp}` });
      expect(await mounted()).toBe('');
    });

    it('refuses a mount point that is not empty', async () => {
      const full = join(g.sshd.dir, 'full');
      mkdirSync(full);
      writeFileSync(join(full, 'keep'), 'x');
      const { plan } = await runStep(mountStep, makeCtx(g.host, g.connector), { device: dev, path: full });
      expect(plan.kind === 'fail' && plan.reason).toMatch(/not empty/);
    });

    it('refuses a mount point used by another filesystem', async () => {
      const busy = join(g.sshd.dir, 'busy');
      mkdirSync(busy);
      const t = await g.connector.exec(`mount -t tmpfs tmpfs ${busy}`);
      expect(t.ok && t.value.exitCode).toBe(0);
      const { plan } = await runStep(mountStep, makeCtx(g.host, g.connector), { device: dev, path: busy });
      expect(plan.kind === 'fail' && plan.reason).toMatch(/in use: tmpfs/);
      await g.connector.exec(`umount ${busy}`);
    });

    it('a missing device fails in plan', async () => {
      const { plan } = await runStep(mountStep, makeCtx(g.host, g.connector), { device: '/dev/pvrun-no-such', path: mp });
      expect(plan.kind === 'fail' && plan.reason).toMatch(/does not exist/);
    });

    it('unmount: change when mounted, ok when not', async () => {
      const ctx = makeCtx(g.host, g.connector);
      await runStep(mountStep, ctx, { device: dev, path: mp });
      expect(await mounted()).toBe(loop);
      const check = await runStep(unmountStep, makeCtx(g.host, g.checkConnector, { check: true }), { path: mp });
      expect(check.plan.kind).toBe('change');
      expect(await mounted()).toBe(loop);
      const u = await runStep(unmountStep, ctx, { path: mp });
      expect(u.apply).toEqual({ kind: 'changed', summary: `unmounted ${mp}` });
      expect((await runStep(unmountStep, ctx, { path: mp })).plan.kind).toBe('ok');
    });
  });
});
