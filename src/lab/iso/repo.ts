/**
 * The lab's package repositories for the online install path (the manual's "network reachable"
 * procedure), bound read-only into every guest at /run/pvrun-lab-repo — the lab's stand-in for
 * the network:
 *   apt/            a flat apt repository (Packages index) with xe-guest-utilities (real .deb);
 *                   Debian-family guests' sources.list points at it
 *   rpm/base/       epel-release (emulated rpm): installing it enables the epel repository
 *   rpm/epel/       xe-guest-utilities-latest (emulated rpm), as EPEL ships it: it does not
 *                   enable or start the service (the manual does that as a separate step)
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describeFailure, run } from '../guest/exec.js';
import { err, ok, type Result } from '../../util/result.js';
import { buildDeb, buildEmulatedRpm, payload } from './packages.js';
import { preRemove, type ToolsVersion } from './tools-scripts.js';

export const GUEST_APT_SOURCE = 'deb [trusted=yes] file:/run/pvrun-lab-repo/apt ./';

export async function buildRepo(dir: string, v: ToolsVersion, debArch: string): Promise<Result<string, string>> {
  rmSync(dir, { recursive: true, force: true });
  const apt = join(dir, 'apt');
  const base = join(dir, 'rpm', 'base');
  const epel = join(dir, 'rpm', 'epel');
  const work = join(dir, '.work');
  for (const d of [apt, base, epel, work]) mkdirSync(d, { recursive: true });

  const deb = await buildDeb(v, debArch, work, apt);
  if (!deb.ok) return deb;
  const index = await packagesStanza(deb.value);
  if (!index.ok) return index;
  writeFileSync(join(apt, 'Packages'), index.value);

  const major = '9';
  const epelRelease = await buildEmulatedRpm(
    { version: major, release: '8' }, 'epel-release',
    [{ path: '/etc/yum.repos.d/epel.repo', content: '[epel]\nname=Extra Packages for Enterprise Linux (pvrun lab)\nbaseurl=file:///run/pvrun-lab-repo/rpm/epel\nenabled=1\ngpgcheck=0\n', mode: 0o644 }],
    work, join(base, `epel-release-${major}-8.noarch.rpm`), {}, 'noarch',
  );
  if (!epelRelease.ok) return epelRelease;
  const latest = await buildEmulatedRpm(
    v, 'xe-guest-utilities-latest', payload(v), work,
    join(epel, `xe-guest-utilities-latest-${v.version}-${v.release}.x86_64.rpm`), { preun: preRemove() },
  );
  if (!latest.ok) return latest;
  rmSync(work, { recursive: true, force: true });
  return ok(dir);
}

/** One Packages stanza for a .deb: its control fields plus Filename, Size and digests. */
async function packagesStanza(debPath: string): Promise<Result<string, string>> {
  const r = await run('dpkg-deb', ['-f', debPath]);
  if (r.code !== 0) return err(describeFailure('dpkg-deb -f', r));
  const bytes = readFileSync(debPath);
  const digest = (alg: string): string => createHash(alg).update(bytes).digest('hex');
  return ok(`${r.stdout.trimEnd()}\nFilename: ./${basename(debPath)}\nSize: ${statSync(debPath).size}\nMD5sum: ${digest('md5')}\nSHA256: ${digest('sha256')}\n\n`);
}
