/**
 * The XCP-ng Windows tools releases as pvrun recognises them (pure; facts from the real sources,
 * ../shared/design/FIDELITY.md "Windows guest tools"):
 * - one MSI per release: `XenDrivers-x64.msi`, product "XCP-ng Windows PV Drivers", up to v9.0.x;
 *   `XenTools-x64.msi`, product "XCP-ng Windows Guest Tools", from v9.1 (xcp-ng/win-pv-drivers
 *   `installer/XenDrivers.wixproj`, `installer/Package.en-us.wxl`);
 * - in a release package the MSI is under `package\` and XenClean at `package\XenClean\XenClean.exe`
 *   (win-pv-drivers `build-installer.ps1:60-75`); a user-made ISO may hold the MSI at its root;
 * - XenClean's exit-code contract exists from v9.1 (XenClean `Program.cs`, `ExitCode.cs`); v9.0's
 *   has no flags and no contract.
 */
import { err, ok, type Result } from '../../util/result.js';

export interface ReleaseFamily {
  msi: 'XenDrivers-x64.msi' | 'XenTools-x64.msi';
  product: 'XCP-ng Windows PV Drivers' | 'XCP-ng Windows Guest Tools';
  /** for messages: which releases ship this MSI */
  releases: 'v9.0 or older' | 'v9.1 or newer';
  /** XenClean has the v9.1 exit-code contract (0 cleaned, 1 error, 2 cancelled, 3 reboot then run again) */
  xencleanContract: boolean;
}

export const FAMILIES: readonly ReleaseFamily[] = [
  { msi: 'XenTools-x64.msi', product: 'XCP-ng Windows Guest Tools', releases: 'v9.1 or newer', xencleanContract: true },
  { msi: 'XenDrivers-x64.msi', product: 'XCP-ng Windows PV Drivers', releases: 'v9.0 or older', xencleanContract: false },
];

/**
 * The release family a name says it is (an ISO's name label, a file name): the first version in
 * it, `9.1.200` or `v9.0`. Check mode cannot open an ISO that is not inserted (inserting it is the
 * change), so this is how it names the one MSI it would look for; undefined when the name carries
 * no version. Only a prediction: the step still looks on the inserted disc and reports what is there.
 */
export function familyFromName(name: string): { family: ReleaseFamily; version: string } | undefined {
  const m = /(?:^|[^0-9.])v?(\d{1,2})\.(\d{1,3})(?:\.(\d{1,6}))?(?![0-9])/i.exec(name);
  if (!m) return undefined;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  const version = [m[1], m[2], m[3]].filter((x) => x !== undefined).join('.');
  const family = major > 9 || (major === 9 && minor >= 1) ? FAMILIES[0]! : FAMILIES[1]!;
  return { family, version };
}

/** Both product names the XCP-ng Windows tools have registered under. */
export const TOOLS_PRODUCT_NAMES: readonly string[] = FAMILIES.map((f) => f.product);

/** The release found in a package (paths relative to its root, with `\`). */
export interface FoundRelease {
  family: ReleaseFamily;
  /** e.g. `package\XenTools-x64.msi` */
  msi: string;
  /** `package\XenClean\XenClean.exe` when the package has it */
  xenclean?: string;
}

const norm = (p: string) => p.replace(/\//g, '\\').replace(/^\\+/, '');

/**
 * Pick the one MSI of a release among a package's files (relative paths): at the root or under
 * `package\`. None, or both MSIs, is an error that says what was looked for.
 */
export function pickRelease(files: string[], where: string): Result<FoundRelease, string> {
  const byLower = new Map(files.map((f) => [norm(f).toLowerCase(), norm(f)]));
  const hits: FoundRelease[] = [];
  for (const family of FAMILIES) {
    for (const dir of ['package\\', '']) {
      const msi = byLower.get(`${dir}${family.msi}`.toLowerCase());
      if (!msi) continue;
      const xc = byLower.get(`${dir}XenClean\\XenClean.exe`.toLowerCase());
      hits.push({ family, msi, ...(xc ? { xenclean: xc } : {}) });
      break;
    }
  }
  if (hits.length === 0) {
    return err(`found no XCP-ng Windows tools MSI in ${where}: looked for XenTools-x64.msi (v9.1 or newer) and XenDrivers-x64.msi (v9.0 or older), under package\\ or at the root` +
      ' (the XCP-ng guest-tools.iso holds no Windows installers: use the Windows tools release, its ISO or its zip)');
  }
  if (hits.length > 1) return err(`found two MSIs in ${where} (${hits.map((h) => h.msi).join(', ')}): a release ships one; point pvrun at one release`);
  return ok(hits[0]!);
}

export function describeFound(f: FoundRelease, root: string): string {
  const join = (r: string) => `${root.replace(/[\\/]+$/, '')}\\${r}`;
  return `${f.family.product} (${f.family.releases}): ${join(f.msi)}${f.xenclean ? `; XenClean: ${join(f.xenclean)}` : '; no XenClean in this package'}`;
}

/** The names of the entries of a zip file (its central directory). */
export function zipEntries(buf: Buffer): Result<string[], string> {
  // the end-of-central-directory record is in the last 64 KiB + 22 bytes
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 65_557); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) return err('not a zip file (no end of central directory)');
  const count = buf.readUInt16LE(eocd + 10);
  let off = buf.readUInt32LE(eocd + 16);
  const names: string[] = [];
  for (let n = 0; n < count; n++) {
    if (off + 46 > buf.length || buf.readUInt32LE(off) !== 0x02014b50) return err('damaged zip file (central directory)');
    const nameLen = buf.readUInt16LE(off + 28);
    const extra = buf.readUInt16LE(off + 30);
    const comment = buf.readUInt16LE(off + 32);
    names.push(buf.subarray(off + 46, off + 46 + nameLen).toString('utf8'));
    off += 46 + nameLen + extra + comment;
  }
  return ok(names.filter((n) => !n.endsWith('/')));
}

/** .NET Framework 4.x `Release` values → version (Microsoft's "determine which versions are installed" table). */
const DOTNET: [number, string][] = [
  [533320, '4.8.1'], [528040, '4.8'], [461808, '4.7.2'], [461308, '4.7.1'], [460798, '4.7'],
  [394802, '4.6.2'], [394254, '4.6.1'], [393295, '4.6'], [379893, '4.5.2'], [378675, '4.5.1'], [378389, '4.5'],
];
export const DOTNET_462 = 394802;
export function dotnetVersion(release: number | null): string {
  if (release === null) return 'no .NET Framework 4.x';
  return `.NET Framework ${DOTNET.find(([r]) => release >= r)?.[1] ?? '4.x (older than 4.5)'} (Release ${release})`;
}

export const MIN_WINDOWS = '10.0.14393';
/** a.b.c version compare; non-numbers compare as 0 */
export function versionAtLeast(v: string, min: string): boolean {
  const a = v.split('.').map((x) => Number.parseInt(x, 10) || 0);
  const b = min.split('.').map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return true;
}
