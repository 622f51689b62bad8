/** The lab's guest-tools.iso: a real ISO 9660 image laid out like the XCP-ng tools' Linux part. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
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
    const head = readFileSync(built.value.isoPath).subarray(32769, 32774).toString('latin1');
    expect(head).toBe('CD001');
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
    expect(contents).toContain('./lib/systemd/system/xe-linux-distribution.service');
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
});
