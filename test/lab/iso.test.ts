/** The lab's guest-tools.iso: a real ISO 9660 image laid out like the XCP-ng tools' Linux part. */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeUnless } from '../harness/require.js';
import { buildToolsIso, extractIsoCached } from '../../src/lab/iso/build.js';
import { findTool } from '../../src/lab/guest/prereqs.js';

const missing = ['xorriso', 'dpkg-deb', 'tar'].filter((t) => !findTool(t));

describeUnless(missing.length ? `missing ${missing.join(', ')}` : undefined)('guest-tools.iso', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvrun-lab-iso-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is an ISO 9660 image with Linux/install.sh, xe-linux-distribution and the packages', async () => {
    const built = await buildToolsIso(join(dir, 'out'));
    expect(built.ok).toBe(true);
    if (!built.ok) return;
    // "CD001" at sector 16 + 1: the ISO 9660 primary volume descriptor
    const image = readFileSync(built.value.isoPath);
    const head = image.subarray(32769, 32774).toString('latin1');
    expect(head).toBe('CD001');
    // the volume identifier (PVD bytes 40-71, space padded): the real ISO's "XCP-ng Tools"
    expect(image.subarray(32768 + 40, 32768 + 72).toString('latin1').trimEnd()).toBe('XCP-ng Tools');
    const tree = await extractIsoCached(built.value.isoPath, join(dir, 'cache'));
    expect(tree.ok).toBe(true);
    if (!tree.ok) return;
    for (const f of built.value.files) expect(statSync(join(tree.value, f)).isFile()).toBe(true);
    expect(statSync(join(tree.value, 'Linux/install.sh')).mode & 0o111).not.toBe(0);
    // the deb is a real Debian package
    const deb = join(tree.value, built.value.files.find((f) => /xe-guest-utilities_.*\.deb$/.test(f))!);
    const fields = execFileSync('dpkg-deb', ['-f', deb, 'Package', 'Version'], { encoding: 'utf8' });
    expect(fields).toBe('Package: xe-guest-utilities\nVersion: 8.4.0-1\n');
    const contents = execFileSync('dpkg-deb', ['-c', deb], { encoding: 'utf8' });
    expect(contents).toContain('./usr/sbin/xe-daemon');
    // the deb ships a SysV init script, not a systemd unit (the rpm ships the unit)
    expect(contents).toContain('./etc/init.d/xe-linux-distribution');
    expect(contents).not.toContain('xe-linux-distribution.service');
    // versions.{rpm,deb,tgz}: XE_GUEST_UTILITIES_PKG_FILE_<arch>='<a file on the ISO>'
    const arch = built.value.debArch;
    for (const [kind, key] of [['rpm', 'x86_64'], ['deb', arch], ['tgz', 'x86_64']] as const) {
      const text = readFileSync(join(tree.value, `Linux/versions.${kind}`), 'utf8');
      const m = /^XE_GUEST_UTILITIES_PKG_FILE_([A-Za-z0-9_]+)='([^']+)'\n$/.exec(text);
      expect(m?.[1], kind).toBe(key);
      expect(statSync(join(tree.value, 'Linux', m![2]!)).isFile(), kind).toBe(true);
    }
    expect(readFileSync(join(tree.value, 'Linux/versions.rpm'), 'utf8')).toBe("XE_GUEST_UTILITIES_PKG_FILE_x86_64='xe-guest-utilities-8.4.0-1.x86_64.rpm'\n");
    // a second extraction of the same image reuses the cache
    const again = await extractIsoCached(built.value.isoPath, join(dir, 'cache'));
    expect(again).toEqual(tree);
  });

  it('install.sh parses: dash -n', async () => {
    const tree = await extractIsoCached(join(dir, 'out', 'guest-tools.iso'), join(dir, 'cache'));
    if (!tree.ok) throw new Error(tree.error);
    execFileSync('sh', ['-n', join(tree.value, 'Linux/install.sh')]);
    execFileSync('sh', ['-n', join(tree.value, 'Linux/xe-linux-distribution')]);
  });

  /**
   * install.sh's contract, run on the controller only down paths that stop before any package
   * tool, or with a stand-in `rpm` first on PATH that records its arguments: it never installs here.
   */
  describe('install.sh follows the real one', () => {
    let linux: string;
    const fakeBin = join(dir, 'fake-bin');
    const rpmLog = join(dir, 'rpm-args');
    const sh = (args: string[], env: Record<string, string> = {}) =>
      spawnSync('sh', [join(linux, 'install.sh'), ...args], { encoding: 'utf8', input: '', env: { ...process.env, ...env } });

    beforeAll(async () => {
      const built = await buildToolsIso(join(dir, 'out'));
      if (!built.ok) throw new Error(built.error);
      const tree = await extractIsoCached(built.value.isoPath, join(dir, 'cache'));
      if (!tree.ok) throw new Error(tree.error);
      linux = join(tree.value, 'Linux');
      mkdirSync(fakeBin, { recursive: true });
      writeFileSync(join(fakeBin, 'rpm'), `#!/bin/sh\necho "$*" >> ${rpmLog}\nexit \${FAKE_RPM_RC:-0}\n`);
      chmodSync(join(fakeBin, 'rpm'), 0o755);
      // and a dpkg that refuses, so that no path of these tests can install on the controller
      writeFileSync(join(fakeBin, 'dpkg'), '#!/bin/sh\necho "dpkg (test stand-in): refused" >&2\nexit 2\n');
      chmodSync(join(fakeBin, 'dpkg'), 0o755);
    });

    it('-d without -m, and -h: exit 1 with the real messages', () => {
      const r = sh(['-d', 'rocky']);
      expect(r.status).toBe(1);
      expect(r.stdout).toContain('Distribution name (-d) and major version (-m) must be specified');
      const h = sh(['-h']);
      expect(h.status).toBe(1);
      expect(h.stdout).toContain('usage: install.sh [-d <DISTRO> -m <MAJOR>] [-k]');
      expect(h.stdout).toContain('-n                Non interactive mode.');
    });

    it('the real distribution matrix: RHEL 10, Debian 5, Ubuntu 9 and Alpine are refused (exit 1)', () => {
      for (const [d, m, msg] of [
        ['rhel', '10', "Unknown RedHat Linux variant `rhel 10'."],
        ['rocky', '7', "Unknown RedHat Linux variant `rocky 7'."],
        ['debian', '5', 'This version of Debian is no longer supported by these utilities.'],
        ['ubuntu', '9', 'This version of Ubuntu is no longer supported by these utilities.'],
        ['alpine', '3', "Unknown Linux distribution `alpine'."],
      ] as const) {
        const r = sh(['-n', '-d', d, '-m', m], { PATH: `${fakeBin}:${process.env['PATH']}` });
        expect(r.status, `${d} ${m}`).toBe(1);
        expect(r.stdout, `${d} ${m}`).toContain(msg);
      }
    });

    it('auto-detection needs the versions files', () => {
      const bare = join(dir, 'bare');
      mkdirSync(bare, { recursive: true });
      for (const f of ['install.sh', 'xe-linux-distribution']) copyFileSync(join(linux, f), join(bare, f));
      const r = spawnSync('sh', [join(bare, 'install.sh'), '-n'], {
        encoding: 'utf8', input: '', env: { ...process.env, PATH: `${fakeBin}:${process.env['PATH']}` },
      });
      expect(r.status).toBe(1);
      expect(r.stdout).toContain('Fatal Error: versions.deb or versions.rpm not found in');
    });

    it('no "already installed" check: rpm -Uvh of the versions.rpm file, and its failure is the exit code (set -e)', () => {
      rmSync(rpmLog, { force: true });
      const env = { PATH: `${fakeBin}:${process.env['PATH']}` };
      const good = sh(['-n', '-d', 'rocky', '-m', '9'], env);
      expect(good.status).toBe(0);
      expect(good.stdout).toContain('You should now reboot this Virtual Machine.');
      const failed = sh(['-n', '-d', 'almalinux', '-m', '9'], { ...env, FAKE_RPM_RC: '1' });
      expect(failed.status).toBe(1);
      expect(failed.stdout).not.toContain('You should now reboot');
      expect(readFileSync(rpmLog, 'utf8')).toBe(
        `-Uvh ${linux}/xe-guest-utilities-8.4.0-1.x86_64.rpm\n`.repeat(2));
    });

    it('interactive: "n" aborts with exit 0 and installs nothing', () => {
      rmSync(rpmLog, { force: true });
      const r = spawnSync('sh', [join(linux, 'install.sh'), '-d', 'rhel', '-m', '9'], {
        encoding: 'utf8', input: 'n\n', env: { ...process.env, PATH: `${fakeBin}:${process.env['PATH']}` },
      });
      expect(r.status).toBe(0);
      expect(r.stdout).toContain('Aborting.');
      expect(() => statSync(rpmLog)).toThrow();
    });
  });
});
