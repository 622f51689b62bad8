/**
 * windows-tools-source: where the XCP-ng Windows tools come from, and which release it is.
 *
 * - `iso`: the release's ISO in an ISO SR (its name or uuid): inserted into the VM's CD drive the
 *   way `attach-iso: { iso: … }` does it (that step's own plan/apply/undo: rollback ejects it),
 *   unless it is there already, then the guest's CD drives are searched.
 * - `file`: a release zip or an MSI on the controller, copied to the guest (default folder: the
 *   guest's temp folder `pvrun-windows-tools`), its SHA-256 checked on the guest against the local
 *   file (and against `sha256` when given) before use; a zip is expanded there.
 *
 * Either way the one MSI of the release is found (tools-release.ts: XenDrivers-x64.msi up to
 * v9.0, XenTools-x64.msi from v9.1, under `package\` or at the root) and kept in the host's step
 * state for `msi-install: { release: true }` and `citrix-cleanup` (XenClean at
 * `package\XenClean\XenClean.exe`). Finding none, or two, fails with what was looked for.
 */
import { windowsToolsSourceInfo } from '../catalog.js';
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { quotePs, quotePsArray } from '../../util/ps-quote.js';
import { err, ok, type Result } from '../../util/result.js';
import { defineStep, type ApplyResult, type StepContext, type StepFailure } from '../types.js';
import { applyFail, planFail, ps, psJson, tail } from './common.js';
import { attachIsoStep, isAttachIsoToken, type AttachIsoPlanned, type AttachIsoToken } from '../vm/attach-iso.js';
import { shape } from '../../util/shape.js';
import { describeFound, FAMILIES, familyFromName, pickRelease, zipEntries, type FoundRelease, type ReleaseFamily } from './tools-release.js';
import { stateKey } from '../state.js';

export interface ToolsSourceArgs {
  /** the release's ISO name (inserted by attach-iso before this step); '' = not this source */
  iso?: string;
  /** a release zip or MSI on the controller (absolute, or relative to the working directory); '' = not this source */
  file?: string;
  /** the expected SHA-256 of `file` (hex); '' = only the copy is checked against the local file */
  sha256?: string;
  /** folder on the guest the file is copied to; default <guest temp folder>\pvrun-windows-tools */
  dest?: string;
}

/** What the later steps use: guest paths. */
export interface ToolsRelease {
  family: ReleaseFamily;
  msi: string;
  xenclean?: string;
  /** for messages: where it was found */
  where: string;
}

export const TOOLS_STATE_KEY = stateKey<ToolsRelease>('windows_tools');

export interface ToolsSourceToken {
  /** attach-iso's undo token when this step inserted the ISO */
  iso?: AttachIsoToken;
}

const isToolsSourceToken = shape<ToolsSourceToken>({ iso: { optional: isAttachIsoToken } });

export function toolsRelease(ctx: StepContext): ToolsRelease | undefined {
  return ctx.state.get(TOOLS_STATE_KEY);
}

const CANDIDATES = FAMILIES.flatMap((f) => [`package\\${f.msi}`, f.msi]).concat(['package\\XenClean\\XenClean.exe', 'XenClean\\XenClean.exe']);

/** PowerShell: join with the guest's separator (Windows: `\`) */
const JOIN = "function J([string]$a, [string]$b) { $s = [IO.Path]::DirectorySeparatorChar; $a.TrimEnd('\\', '/') + $s + ($b -replace '[\\\\/]', $s) }";

/** Which candidate files each root holds; without roots: every CD drive. */
function searchScript(roots: string[] | undefined): string {
  return [
    "$ErrorActionPreference = 'Stop'",
    JOIN,
    `$cands = ${quotePsArray(CANDIDATES)}`,
    roots
      ? `$roots = @(${quotePsArray(roots)} | ForEach-Object { [pscustomobject]@{ root = $_; label = '' } })`
      : "$roots = @(Get-CimInstance -ClassName Win32_LogicalDisk | Where-Object { $_.DriveType -eq 5 } | ForEach-Object { [pscustomobject]@{ root = [string]$_.DeviceID; label = [string]$_.VolumeName } })",
    'foreach ($r in $roots) {',
    '  $files = @($cands | Where-Object { Test-Path -LiteralPath (J $r.root $_) -PathType Leaf })',
    "  [ordered]@{ root = $r.root; label = $r.label; sep = [string][IO.Path]::DirectorySeparatorChar; files = $files }",
    '}',
  ].join('\n');
}

interface Searched { root: string; label: string; sep: string; files: string[] }
const asList = (v: unknown): Searched[] => (v === null ? [] : Array.isArray(v) ? v : [v]) as Searched[];

function guestPath(root: string, sep: string, rel: string): string {
  return `${root.replace(/[\\/]+$/, '')}${sep}${rel.replace(/[\\/]/g, sep)}`;
}

function toRelease(found: FoundRelease, root: string, sep: string, where: string): ToolsRelease {
  return {
    family: found.family, msi: guestPath(root, sep, found.msi), where,
    ...(found.xenclean ? { xenclean: guestPath(root, sep, found.xenclean) } : {}),
  };
}

const releaseData = (r: ToolsRelease): Record<string, unknown> => ({
  msi: r.msi, product: r.family.product, releases: r.family.releases, xenclean: r.xenclean ?? null, where: r.where,
});
const describe = (r: ToolsRelease): string =>
  `${r.family.product} (${r.family.releases}) in ${r.where}: ${r.msi}${r.xenclean ? `; XenClean: ${r.xenclean}` : '; no XenClean'}`;

// ---- ISO ------------------------------------------------------------------------------------

/** After an insert the guest may take a moment to show the disc: look again for a while. */
async function fromCdWaiting(ctx: StepContext, iso: string, ms: number): Promise<Result<ToolsRelease, StepFailure>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await fromCd(ctx, iso);
    if (r.ok || Date.now() > deadline || ctx.signal.aborted) return r;
    await new Promise((res) => setTimeout(res, 2000));
  }
}

async function fromCd(ctx: StepContext, iso: string): Promise<Result<ToolsRelease, StepFailure>> {
  const r = await psJson(ctx, 'looking for the Windows tools on the CD drive', searchScript(undefined), { mutates: false, timeoutMs: 120_000 });
  if (!r.ok) return r;
  const drives = asList(r.value);
  if (drives.length === 0) {
    return err({ kind: 'step', message: `no CD drive with a disc in the guest: insert the release's ISO '${iso}' first (attach-iso: { iso: ... })` });
  }
  const problems: string[] = [];
  for (const d of drives) {
    const where = `${d.root} (ISO '${iso}')`;
    const p = pickRelease(d.files, where);
    if (p.ok) return ok(toRelease(p.value, d.root, d.sep, where));
    problems.push(p.error);
  }
  return err({ kind: 'step', message: problems.join('; ') });
}

// ---- local file -------------------------------------------------------------------------------

interface LocalFile { path: string; name: string; sha256: string; size: number; zip: boolean; found: FoundRelease }

async function readLocal(a: ToolsSourceArgs): Promise<Result<LocalFile, StepFailure>> {
  const path = resolve(a.file!);
  const bad = (m: string) => err<StepFailure>({ kind: 'config', message: `windows tools file ${path}: ${m}` });
  let body: Buffer;
  try {
    if (!(await stat(path)).isFile()) return bad('not a regular file');
    body = await readFile(path);
  } catch (e) {
    return bad(`cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const sha256 = createHash('sha256').update(body).digest('hex');
  if (a.sha256 && a.sha256.toLowerCase() !== sha256) {
    return bad(`SHA-256 is ${sha256}, not the expected ${a.sha256.toLowerCase()}: not using it (a different or damaged download?)`);
  }
  const name = basename(path);
  const zip = /\.zip$/i.test(name);
  let found: Result<FoundRelease, string>;
  if (zip) {
    const entries = zipEntries(body);
    if (!entries.ok) return bad(entries.error);
    found = pickRelease(entries.value, name);
  } else {
    found = pickRelease([name], name);
    if (!found.ok) found = err(`${name} is neither a release zip (.zip) nor one of the release MSIs (XenTools-x64.msi, XenDrivers-x64.msi)`);
  }
  if (!found.ok) return bad(found.error);
  return ok({ path, name, sha256, size: body.length, zip, found: found.value });
}

interface GuestCopy { dest: string; sep: string; hash: string | null; expanded: string[] }

/** Where the copy goes on the guest, whether it is there already (its hash), what is expanded. */
function probeScript(a: ToolsSourceArgs, f: LocalFile): string {
  return [
    "$ErrorActionPreference = 'Stop'",
    JOIN,
    a.dest ? `$dest = ${quotePs(a.dest)}` : "$dest = J ([IO.Path]::GetTempPath()) 'pvrun-windows-tools'",
    `$file = J $dest ${quotePs(f.name)}`,
    '$hash = $null',
    "if (Test-Path -LiteralPath $file -PathType Leaf) { $hash = (Get-FileHash -LiteralPath $file -Algorithm SHA256).Hash.ToLowerInvariant() }",
    `$x = J $dest ${quotePs(f.name.replace(/\.zip$/i, ''))}`,
    `$cands = ${quotePsArray(CANDIDATES)}`,
    '$expanded = @()',
    `if (${f.zip ? '$true' : '$false'}) { $expanded = @($cands | Where-Object { Test-Path -LiteralPath (J $x $_) -PathType Leaf }) }`,
    "[ordered]@{ dest = $dest; sep = [string][IO.Path]::DirectorySeparatorChar; hash = $hash; expanded = $expanded }",
  ].join('\n');
}

async function probe(ctx: StepContext, a: ToolsSourceArgs, f: LocalFile): Promise<Result<GuestCopy, StepFailure>> {
  const r = await psJson(ctx, 'looking for the copied Windows tools', probeScript(a, f), { mutates: false, timeoutMs: 120_000 });
  if (!r.ok) return r;
  const v = r.value as GuestCopy;
  return ok({ ...v, expanded: asList(v.expanded as unknown) as unknown as string[] });
}

function fileRelease(f: LocalFile, g: GuestCopy): ToolsRelease {
  const root = f.zip ? guestPath(g.dest, g.sep, f.name.replace(/\.zip$/i, '')) : g.dest;
  return toRelease(f.found, root, g.sep, `${f.name} (sha256 ${f.sha256.slice(0, 12)}…) copied to ${g.dest}`);
}

const inPlace = (f: LocalFile, g: GuestCopy) => g.hash === f.sha256 && (!f.zip || g.expanded.some((e) => e.toLowerCase() === f.found.msi.toLowerCase()));

function validate(a: ToolsSourceArgs): Result<'iso' | 'file', StepFailure> {
  const iso = !!a.iso;
  const file = !!a.file;
  if (iso === file) {
    return err({
      kind: 'config',
      message: iso
        ? 'windows tools source: give either iso (the release ISO) or file (a release zip or MSI), not both'
        : 'no Windows tools source: set windows_tools_iso (the release\'s ISO in an SR) or windows_tools_file (the release zip or MSI on the controller, with windows_tools_sha256) in the inventory or with -e',
    });
  }
  if (a.sha256 && !/^[0-9a-fA-F]{64}$/.test(a.sha256)) return err({ kind: 'config', message: `windows tools sha256 '${a.sha256}' is not 64 hex digits` });
  return ok(iso ? 'iso' : 'file');
}

export const windowsToolsSourceStep = defineStep<ToolsSourceArgs, AttachIsoPlanned, ToolsSourceToken>({
  ...windowsToolsSourceInfo, // type, description, schema, shorthand, flags: src/steps/catalog.ts
  undoToken: isToolsSourceToken,

  async plan(ctx, a) {
    const kind = validate(a);
    if (!kind.ok) return planFail(kind.error);
    if (kind.value === 'iso') {
      const ins = await attachIsoStep.plan(ctx, { iso: a.iso! });
      if (ins.kind === 'fail') return ins;
      if (ins.kind === 'change') {
        // the disc cannot be read before it is inserted: its name is the best a rehearsal knows
        const named = familyFromName(a.iso!);
        const what = named
          ? `by its name release ${named.version}: its one MSI is ${named.family.msi} (${named.family.product}, ${named.family.releases}); the inserted disc is searched for it`
          : `its name gives no version: the release's one MSI (XenTools-x64.msi: v9.1 or newer; XenDrivers-x64.msi: v9.0 or older) is known once the disc is inserted`;
        return { kind: 'change', summary: `would ${ins.summary}; ${what}`, ...(ins.planned ? { planned: ins.planned } : {}) };
      }
      const r = await fromCd(ctx, a.iso!);
      if (!r.ok) return planFail(r.error);
      ctx.state.set(TOOLS_STATE_KEY, r.value);
      return { kind: 'ok', summary: `found ${describe(r.value)}` };
    }
    const f = await readLocal(a);
    if (!f.ok) return planFail(f.error);
    const g = await probe(ctx, a, f.value);
    if (!g.ok) return planFail(g.error);
    const rel = fileRelease(f.value, g.value);
    // check mode: the later steps predict with the path the copy will have
    ctx.state.set(TOOLS_STATE_KEY, rel);
    if (inPlace(f.value, g.value)) return { kind: 'ok', summary: `found ${describe(rel)} (already copied, SHA-256 matches)` };
    return {
      kind: 'change',
      summary: `would copy ${f.value.name} (${f.value.size} bytes, sha256 ${f.value.sha256}) to ${g.value.dest}${f.value.zip ? ' and expand it' : ''}; release: ${describeFound(f.value.found, g.value.dest)}`,
    };
  },

  async apply(ctx, a, plan): Promise<ApplyResult<ToolsSourceToken>> {
    const kind = validate(a);
    if (!kind.ok) return applyFail(kind.error);
    if (kind.value === 'iso') {
      const ins = await attachIsoStep.apply(ctx, { iso: a.iso! }, plan);
      if (ins.kind === 'failed' || ins.kind === 'skip-host') return ins;
      const token: ToolsSourceToken = ins.kind === 'changed' ? { iso: ins.undo } : {};
      const r = await fromCdWaiting(ctx, a.iso!, 60_000);
      // (an ISO inserted here stays for the play's cleanup detach-iso, or the rollback's revert)
      if (!r.ok) return applyFail(r.error);
      ctx.state.set(TOOLS_STATE_KEY, r.value);
      return { kind: ins.kind, summary: `${ins.kind === 'changed' ? `${ins.summary}; ` : ''}found ${describe(r.value)}`, data: releaseData(r.value), ...(token.iso !== undefined ? { undo: token } : {}) };
    }
    const f = await readLocal(a);
    if (!f.ok) return applyFail(f.error);
    const g = await probe(ctx, a, f.value);
    if (!g.ok) return applyFail(g.error);
    const rel = fileRelease(f.value, g.value);
    if (inPlace(f.value, g.value)) {
      ctx.state.set(TOOLS_STATE_KEY, rel);
      return { kind: 'ok', summary: `found ${describe(rel)} (already copied, SHA-256 matches)`, data: releaseData(rel) };
    }
    const c = await ctx.guest();
    if (!c.ok) return applyFail(c.error);
    const dest = g.value.dest;
    const remote = guestPath(dest, g.value.sep, f.value.name);
    await ctx.intent({ action: 'windows-tools-copy', detail: { file: f.value.path, sha256: f.value.sha256, to: remote } });
    const mk = await ps(ctx, `$ErrorActionPreference = 'Stop'\n$null = [IO.Directory]::CreateDirectory(${quotePs(dest)})`);
    if (!mk.ok) return applyFail(mk.error);
    if (mk.value.exitCode !== 0) return { kind: 'failed', reason: `cannot create ${dest} on the guest: ${tail(mk.value.stderr)}` };
    const up = await c.value.put(f.value.path, remote);
    if (!up.ok) return applyFail({ kind: 'guest', failure: up.error });
    // the copy is used only when its SHA-256 on the guest is the local file's
    const x = guestPath(dest, g.value.sep, f.value.name.replace(/\.zip$/i, ''));
    const check = await ps(ctx, [
      "$ErrorActionPreference = 'Stop'",
      `$file = ${quotePs(remote)}`,
      '$h = (Get-FileHash -LiteralPath $file -Algorithm SHA256).Hash.ToLowerInvariant()',
      `if ($h -ne ${quotePs(f.value.sha256)}) { Remove-Item -LiteralPath $file -Force; Write-Output "sha256=$h"; exit 2 }`,
      ...(f.value.zip ? [
        `$x = ${quotePs(x)}`,
        "if (Test-Path -LiteralPath $x) { Remove-Item -LiteralPath $x -Recurse -Force }",
        'Add-Type -AssemblyName System.IO.Compression.FileSystem',
        '[IO.Compression.ZipFile]::ExtractToDirectory($file, $x)',
      ] : []),
    ].join('\n'), { timeoutMs: 600_000 });
    if (!check.ok) return applyFail(check.error);
    if (check.value.exitCode === 2) {
      return { kind: 'failed', reason: `the copy on the guest has SHA-256 ${/sha256=(\w+)/.exec(check.value.stdout)?.[1] ?? '?'}, not ${f.value.sha256}: removed, not used` };
    }
    if (check.value.exitCode !== 0) return { kind: 'failed', reason: `expanding ${remote} failed: ${tail(check.value.stderr || check.value.stdout)}` };
    const after = await probe(ctx, a, f.value);
    if (!after.ok) return applyFail(after.error);
    if (!inPlace(f.value, after.value)) return { kind: 'failed', reason: `after the copy, ${f.value.found.msi} is not in ${x}` };
    ctx.state.set(TOOLS_STATE_KEY, rel);
    return { kind: 'changed', summary: `copied ${f.value.name} (SHA-256 checked on the guest); found ${describe(rel)}`, data: releaseData(rel) };
  },

  async undo(ctx, a, token) {
    // the ISO this step inserted is ejected (attach-iso's undo); a copied file stays in the temp folder
    const t = token ?? {};
    if (a.iso && t.iso !== undefined) return attachIsoStep.undo!(ctx, { iso: a.iso }, t.iso);
    return { ok: true, summary: 'nothing to undo' };
  },
});
