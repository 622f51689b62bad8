/**
 * Building the xe-guest-utilities packages the lab's tools ISO carries.
 * - deb: a real Debian package built with dpkg-deb; guests install it with the controller's dpkg.
 * - rpm: the controller has no rpm, so the ".rpm" is the lab's own format (a gzipped tar with
 *   PKGINFO, scripts/ and files/) understood only by the emulated rpm in RHEL-family guests.
 * - tgz: the plain payload, as the real ISO ships for other distributions.
 */
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describeFailure, run } from '../guest/exec.js';
import { err, ok, type Result } from '../../util/result.js';
import {
  PACKAGE_NAME, debFileName, postInstall, preRemove, rpmFileName, serviceUnit, tgzFileName,
  sysvInitScript, xeDaemon, xeLinuxDistribution, type ToolsVersion,
} from './tools-scripts.js';

export interface PayloadFile { path: string; content: string; mode: number }

/**
 * Files the package installs (absolute paths in the guest). The rpm ships a systemd unit, the deb
 * a SysV init script, /etc/init.d/xe-linux-distribution (FIDELITY.md "Linux guest tools": "the
 * deb ships a SysV init script (/etc/init.d/), the rpm a systemd unit"; XGU
 * mk/xe-linux-distribution.init, mk/xe-linux-distribution-rhel.service).
 */
export function payload(v: ToolsVersion, kind: 'rpm' | 'deb' = 'rpm'): PayloadFile[] {
  return [
    { path: '/usr/sbin/xe-daemon', content: xeDaemon(v), mode: 0o755 },
    { path: '/usr/sbin/xe-linux-distribution', content: xeLinuxDistribution(), mode: 0o755 },
    kind === 'rpm'
      ? { path: '/lib/systemd/system/xe-linux-distribution.service', content: serviceUnit(), mode: 0o644 }
      : { path: '/etc/init.d/xe-linux-distribution', content: sysvInitScript(), mode: 0o755 },
    {
      path: '/usr/share/doc/xe-guest-utilities/README.pvrun-lab',
      content: 'Built by the pvrun lab: an emulated agent, see docs/lab.md in pvrun.\n',
      mode: 0o644,
    },
  ];
}

function writeTree(root: string, files: PayloadFile[]): void {
  for (const f of files) {
    const p = join(root, f.path);
    mkdirSync(dirname(p), { recursive: true, mode: 0o755 });
    writeFileSync(p, f.content);
    chmodSync(p, f.mode);
  }
}

export async function hostDebArch(): Promise<string> {
  const out = await run('dpkg', ['--print-architecture']);
  return out.code === 0 && out.stdout.trim() ? out.stdout.trim() : 'amd64';
}

export async function buildDeb(v: ToolsVersion, arch: string, workDir: string, outDir: string): Promise<Result<string, string>> {
  const root = join(workDir, 'deb-root');
  rmSync(root, { recursive: true, force: true });
  writeTree(root, payload(v, 'deb'));
  mkdirSync(join(root, 'DEBIAN'), { recursive: true });
  writeFileSync(join(root, 'DEBIAN/control'), [
    `Package: ${PACKAGE_NAME}`,
    `Version: ${v.version}-${v.release}`,
    `Architecture: ${arch}`,
    'Maintainer: pvrun lab <lab@pvrun.invalid>',
    'Section: admin',
    'Priority: optional',
    'Description: XCP-ng / XenServer guest agent (pvrun lab build)',
    ' Emulated xe-daemon and the xe-linux-distribution service, for the pvrun lab.',
    '',
  ].join('\n'));
  writeFileSync(join(root, 'DEBIAN/postinst'), postInstall());
  writeFileSync(join(root, 'DEBIAN/prerm'), preRemove());
  chmodSync(join(root, 'DEBIAN/postinst'), 0o755);
  chmodSync(join(root, 'DEBIAN/prerm'), 0o755);
  const out = join(outDir, debFileName(v, arch));
  const r = await run('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', root, out]);
  rmSync(root, { recursive: true, force: true });
  return r.code === 0 ? ok(out) : err(describeFailure('dpkg-deb --build', r));
}

export async function buildEmulatedRpm(
  v: ToolsVersion, name: string, files: PayloadFile[], workDir: string, outPath: string,
  scripts: { post?: string; preun?: string } = { post: postInstall(), preun: preRemove() },
  arch = 'x86_64',
): Promise<Result<string, string>> {
  const root = join(workDir, `rpm-root-${name}`);
  rmSync(root, { recursive: true, force: true });
  writeTree(join(root, 'files'), files);
  mkdirSync(join(root, 'scripts'), { recursive: true });
  // sourced by the emulated rpm: every value single-quoted
  const info: Record<string, string> = {
    NAME: name, VERSION: v.version, RELEASE: v.release, ARCH: arch, SUMMARY: `${name} (pvrun lab emulated rpm)`,
  };
  writeFileSync(join(root, 'PKGINFO'),
    Object.entries(info).map(([k, val]) => `${k}='${val.replace(/'/g, `'\\''`)}'`).join('\n') + '\n');
  if (scripts.post) writeFileSync(join(root, 'scripts/post'), scripts.post);
  if (scripts.preun) writeFileSync(join(root, 'scripts/preun'), scripts.preun);
  const r = await run('tar', ['-czf', outPath, '--owner=0', '--group=0', '--numeric-owner', '-C', root, '.']);
  rmSync(root, { recursive: true, force: true });
  return r.code === 0 ? ok(outPath) : err(describeFailure('tar (emulated rpm)', r));
}

export async function buildRpm(v: ToolsVersion, workDir: string, outDir: string): Promise<Result<string, string>> {
  return buildEmulatedRpm(v, PACKAGE_NAME, payload(v), workDir, join(outDir, rpmFileName(v)));
}

export async function buildTgz(v: ToolsVersion, workDir: string, outDir: string): Promise<Result<string, string>> {
  const root = join(workDir, 'tgz-root');
  rmSync(root, { recursive: true, force: true });
  writeTree(root, payload(v));
  const out = join(outDir, tgzFileName(v));
  const r = await run('tar', ['-czf', out, '--owner=0', '--group=0', '--numeric-owner', '-C', root, '.']);
  rmSync(root, { recursive: true, force: true });
  return r.code === 0 ? ok(out) : err(describeFailure('tar', r));
}
