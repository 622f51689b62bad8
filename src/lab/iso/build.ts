/**
 * The lab's own guest-tools.iso: a real ISO 9660 image (Rock Ridge + Joliet) written by xorriso,
 * laid out like the XCP-ng tools ISO's Linux part (FIDELITY.md "Linux guest tools", PVT spec):
 * volume "XCP-ng Tools", Linux/install.sh, Linux/xe-linux-distribution, Linux/versions.{rpm,deb,tgz}
 * and the packages xe-guest-utilities_V-R_amd64.deb, xe-guest-utilities-V-R.x86_64.rpm. Also: extracting an ISO without mounting it,
 * for kernels without iso9660 (this sandbox's), and detecting whether the kernel has it.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describeFailure, run } from '../guest/exec.js';
import { err, ok, type Result } from '../../util/result.js';
import { buildDeb, buildRpm, buildTgz, hostDebArch } from './packages.js';
import {
  DEFAULT_TOOLS_VERSION, debFileName, installSh, rpmFileName, versionsFile, xeLinuxDistribution, type ToolsVersion,
} from './tools-scripts.js';

export const TOOLS_ISO_NAME = 'guest-tools.iso';
export const TOOLS_ISO_VOLUME = 'XCP-ng Tools';

export interface BuiltToolsIso {
  isoPath: string;
  version: ToolsVersion;
  debArch: string;
  /** files on the ISO, relative to its root */
  files: string[];
}

/** Build (or reuse, when the same version was built before) `<outDir>/guest-tools.iso`. */
export async function buildToolsIso(
  outDir: string, version: ToolsVersion = DEFAULT_TOOLS_VERSION,
): Promise<Result<BuiltToolsIso, string>> {
  mkdirSync(outDir, { recursive: true });
  const debArch = await hostDebArch();
  const isoPath = join(outDir, TOOLS_ISO_NAME);
  const stage = join(outDir, 'tools-iso-stage');
  const linux = join(stage, 'Linux');
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(linux, { recursive: true });
  const work = join(outDir, 'tools-iso-work');
  mkdirSync(work, { recursive: true });

  writeFileSync(join(linux, 'install.sh'), installSh(version, debArch));
  chmodSync(join(linux, 'install.sh'), 0o755);
  writeFileSync(join(linux, 'xe-linux-distribution'), xeLinuxDistribution());
  chmodSync(join(linux, 'xe-linux-distribution'), 0o755);
  const full = `${version.version}-${version.release}`;
  // XE_GUEST_UTILITIES_PKG_FILE_<arch>='…' lines that install.sh sources (FIDELITY.md "Linux guest tools")
  for (const kind of ['deb', 'rpm', 'tgz'] as const) {
    writeFileSync(join(linux, `versions.${kind}`), versionsFile(kind, version, debArch));
  }

  for (const step of [buildDeb(version, debArch, work, linux), buildRpm(version, work, linux), buildTgz(version, work, linux)]) {
    const r = await step;
    if (!r.ok) return err(r.error);
  }
  rmSync(work, { recursive: true, force: true });

  const tmpIso = `${isoPath}.tmp`;
  const r = await run('xorriso', [
    '-as', 'mkisofs', '-quiet', '-R', '-J', '-V', TOOLS_ISO_VOLUME, '-o', tmpIso, stage,
  ]);
  if (r.code !== 0) return err(describeFailure('xorriso -as mkisofs', r));
  renameSync(tmpIso, isoPath);
  rmSync(stage, { recursive: true, force: true });
  return ok({
    isoPath, version, debArch,
    files: ['Linux/install.sh', 'Linux/xe-linux-distribution', 'Linux/versions.deb', 'Linux/versions.rpm', 'Linux/versions.tgz',
      `Linux/${debFileName(version, debArch)}`, `Linux/${rpmFileName(version)}`, `Linux/xe-guest-utilities_${full}_x86_64.tgz`],
  });
}

/** Whether this kernel can mount iso9660 itself (then the lab loop-mounts the real image). */
export function kernelHasIso9660(): boolean {
  try {
    return /\biso9660\b/.test(readFileSync('/proc/filesystems', 'utf8'));
  } catch {
    return false;
  }
}

/**
 * Extract an ISO once into `<cacheDir>/<sha256 of the image>/` (xorriso, no mount needed) and
 * return that directory; later calls with the same image reuse it.
 */
export async function extractIsoCached(isoPath: string, cacheDir: string): Promise<Result<string, string>> {
  if (!existsSync(isoPath)) return err(`ISO not found: ${isoPath}`);
  const digest = createHash('sha256').update(readFileSync(isoPath)).digest('hex').slice(0, 24);
  const dir = join(cacheDir, digest);
  if (existsSync(join(dir, '.extracted'))) return ok(join(dir, 'root'));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'root'), { recursive: true });
  const r = await run('xorriso', ['-osirrox', 'on', '-indev', isoPath, '-extract', '/', join(dir, 'root')]);
  if (r.code !== 0) return err(describeFailure(`xorriso -extract ${isoPath}`, r));
  writeFileSync(join(dir, '.extracted'), `${isoPath}\n`);
  return ok(join(dir, 'root'));
}
