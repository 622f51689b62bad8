/**
 * The XCP-ng Windows tools releases as the lab builds them, in the real release package layout.
 * Facts from the real sources (../shared/design/FIDELITY.md, "Windows guest tools"):
 * - one MSI per release: `XenDrivers-x64.msi`, product "XCP-ng Windows PV Drivers" up to v9.0.x;
 *   `XenTools-x64.msi`, product "XCP-ng Windows Guest Tools" from v9.1 (xcp-ng/win-pv-drivers
 *   `installer/XenDrivers.wixproj`, `installer/Package.en-us.wxl`);
 * - in the release package the MSI is under `package\` and XenClean at
 *   `package\XenClean\XenClean.exe` (win-pv-drivers `build-installer.ps1:60-75`);
 * - the Windows tools are not on guest-tools.iso (xcp-ng-pv-tools `README.txt`): a separate download.
 *
 * A lab MSI is a JSON document (what the emulated msiexec.exe in PvrunLab.psm1 reads); a lab
 * XenClean.exe is a script that runs the emulated XenClean of its release (PvrunLab.psm1
 * `Invoke-LabXenClean`). The zip is a plain (stored) zip of the package layout.
 */
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { crc32 } from 'node:zlib';
import { readdirSync, statSync } from 'node:fs';
import { LAB_MODULE_PATH } from './guest.js';

export interface LabRelease {
  /** the product version, e.g. 9.1.200 */
  version: string;
  /** the one MSI of the release */
  msi: 'XenDrivers-x64.msi' | 'XenTools-x64.msi';
  /** the product name the MSI registers (Add/Remove Programs, the uninstall key's DisplayName) */
  product: 'XCP-ng Windows PV Drivers' | 'XCP-ng Windows Guest Tools';
}

/** The releases the lab models (tags of win-pv-drivers read for FIDELITY.md). */
export const LAB_RELEASES = {
  '9.0': { version: '9.0.9137', msi: 'XenDrivers-x64.msi', product: 'XCP-ng Windows PV Drivers' },
  '9.1': { version: '9.1.200', msi: 'XenTools-x64.msi', product: 'XCP-ng Windows Guest Tools' },
  '9.2': { version: '9.2.350', msi: 'XenTools-x64.msi', product: 'XCP-ng Windows Guest Tools' },
} as const satisfies Record<string, LabRelease>;
export type LabReleaseName = keyof typeof LAB_RELEASES;

/**
 * One UpgradeCode for every release: Package.wxs's `<Upgrade Id="$(var.UpgradeCode)">` with
 * RemoveExistingProducts makes a newer release replace an older one, and its DOWNGRADE_DETECTED
 * launch condition refuses an older one (win-pv-drivers `installer/Package.wxs`). That the code
 * stayed the same across the v9.1 rename is assumed, not read.
 */
export const LAB_UPGRADE_CODE = '{LAB-XCPNG-WINDOWS-TOOLS-UPGRADE}';

/** What a lab MSI file holds: read by the emulated msiexec.exe. */
export interface LabMsi {
  pvrunLabMsi: 1;
  product: { name: string; version: string; publisher: string; productCode: string };
  upgradeCode: string;
  /** drivers (xenbus, xenvif, xennet, xenvbd) and the guest agent: one MSI installs both */
  pvDrivers: true;
  services: { name: string; displayName: string; status: string; startType: string }[];
}

export function labMsi(r: LabRelease): LabMsi {
  return {
    pvrunLabMsi: 1,
    product: { name: r.product, version: r.version, publisher: 'XCP-ng', productCode: `{LAB-XCPNG-${r.version}}` },
    upgradeCode: LAB_UPGRADE_CODE,
    pvDrivers: true,
    services: [
      { name: 'xenbus', displayName: 'XenBus', status: 'Running', startType: 'Boot' },
      { name: 'xenvif', displayName: 'XenVif', status: 'Running', startType: 'Boot' },
      { name: 'xennet', displayName: 'XenNet', status: 'Running', startType: 'Boot' },
      { name: 'XenSvc', displayName: 'XCP-ng Guest Agent', status: 'Running', startType: 'Automatic' },
    ],
  };
}

export interface BuiltRelease {
  release: LabRelease;
  /** the directory holding `package\` (what the release ISO holds, what the zip expands to) */
  root: string;
  msiPath: string;
  xencleanPath: string;
  zipPath: string;
  zipSha256: string;
}

/**
 * Build a release in the real layout under `dir`: `package/<msi>`, `package/XenClean/XenClean.exe`,
 * and `<dir>.zip` of the same. `pwsh` runs the lab XenClean.
 */
export function buildRelease(dir: string, release: LabRelease, pwsh: string): BuiltRelease {
  const pkg = join(dir, 'package');
  mkdirSync(join(pkg, 'XenClean'), { recursive: true });
  const msiPath = join(pkg, release.msi);
  writeFileSync(msiPath, JSON.stringify(labMsi(release), null, 2));
  // the emulated XenClean of this release, run through pwsh (args passed as they are)
  const lab = join(dir, '..', `.lab-xenclean-${release.version}.ps1`);
  const psq = (s: string) => `'${s.replace(/'/g, "''")}'`;
  writeFileSync(lab, `Import-Module ${psq(LAB_MODULE_PATH)}\nInvoke-LabXenClean -Release ${psq(release.version)} -Arguments $args\nexit $LASTEXITCODE\n`);
  const xencleanPath = join(pkg, 'XenClean', 'XenClean.exe');
  const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  writeFileSync(xencleanPath, `#!/bin/sh\n# lab XenClean.exe of release ${release.version}\nexec ${sq(pwsh)} -NoProfile -NonInteractive -File ${sq(lab)} "$@"\n`);
  chmodSync(xencleanPath, 0o755);
  const zipPath = `${dir}.zip`;
  writeFileSync(zipPath, storedZip(dir));
  return { release, root: dir, msiPath, xencleanPath, zipPath, zipSha256: createHash('sha256').update(readFileSync(zipPath)).digest('hex') };
}

/** Every file under `root`, as a zip without compression (names with `/`, as zip wants). */
export function storedZip(root: string): Buffer {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p); else files.push(p);
    }
  };
  walk(root);
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const f of files) {
    const name = Buffer.from(relative(root, f).split(sep).join('/'), 'utf8');
    const data = readFileSync(f);
    const crc = crc32(data);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0); lh.writeUInt16LE(20, 4); lh.writeUInt16LE(0x0800, 6); lh.writeUInt16LE(0, 8);
    lh.writeUInt32LE(crc, 14); lh.writeUInt32LE(data.length, 18); lh.writeUInt32LE(data.length, 22);
    lh.writeUInt16LE(name.length, 26);
    locals.push(lh, name, data);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0); ch.writeUInt16LE(20, 4); ch.writeUInt16LE(20, 6); ch.writeUInt16LE(0x0800, 8);
    ch.writeUInt32LE(crc, 16); ch.writeUInt32LE(data.length, 20); ch.writeUInt32LE(data.length, 24);
    ch.writeUInt16LE(name.length, 28);
    // unix mode in the high half of the external attributes (keeps XenClean.exe executable)
    ch.writeUInt16LE(0x0300, 4);
    ch.writeUInt32LE(((statSync(f).mode & 0o777) | 0o100000) << 16 >>> 0, 38);
    ch.writeUInt32LE(offset, 42);
    central.push(ch, name);
    offset += 30 + name.length + data.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(files.length, 8); end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}
