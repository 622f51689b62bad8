/**
 * msi-install: `msiexec /i X /qn /norestart /log F` with installer exit codes. 3010 and 1641 are
 * successes that need a reboot: they set `reboot_required`, which `windows-reboot` (and `reboot`
 * with when_required) honour. `product` makes the step idempotent and predictable in check mode.
 *
 * `release: true` installs the one MSI of the XCP-ng Windows tools release that
 * `windows-tools-source` found, idempotent on both product names the tools have had
 * ("XCP-ng Windows PV Drivers" up to v9.0, "XCP-ng Windows Guest Tools" from v9.1): the release's
 * own product installed → nothing to do (with `version`, only when it meets the constraint); the
 * older name installed under a v9.1+ release → upgrade (the MSI's RemoveExistingProducts replaces
 * it); the newer name installed under a v9.0 release → nothing to do (the MSI refuses downgrades).
 */
import { DEFAULT_OK_CODES, msiInstallInfo } from '../catalog.js';
import { quotePs, quotePsArray } from '../../util/ps-quote.js';
import { parseConstraint, satisfies } from '../../util/version.js';
import { defineStep, type ApplyResult, type StepContext } from '../types.js';
import { applyFail, MSI_CODES, planFail, ps, REBOOT_REQUIRED, tail, windowsFacts } from './common.js';
import type { ToolsProduct } from '../../facts/windows.js';
import { err, ok, type Result } from '../../util/result.js';
import type { StepFailure } from '../types.js';
import { toolsRelease, type ToolsRelease } from './tools-source.js';
import { TOOLS_PRODUCT_NAMES } from './tools-release.js';

export interface MsiInstallArgs {
  /** the .msi on the guest (e.g. on the release ISO: D:\package\XenTools-x64.msi); with release: unset */
  path?: string;
  /** the MSI of the XCP-ng Windows tools release windows-tools-source found */
  release?: boolean;
  /** PROPERTY=value pairs, e.g. { ALLOWDRIVERINSTALL: 'YES' } */
  properties?: Record<string, string>;
  /** verbose log on the guest; default %TEMP%\pvrun-<msi name>.log */
  log?: string;
  ok_codes?: number[];
  /** installed-products name (substring, case-insensitive), or several: when one is present, nothing to do */
  product?: string | string[];
  /** with product: a version constraint the installed one must meet, e.g. ">= 9.0" */
  version?: string;
  /** seconds; default 1800 */
  timeout?: number;
}

// installer exit codes that mean success: defined in the step catalog (issue 17)
export { DEFAULT_OK_CODES };

export function findProduct(products: ToolsProduct[], name: string | readonly string[], version?: string): ToolsProduct | undefined {
  const c = version ? parseConstraint(version) : undefined;
  const names = (typeof name === 'string' ? [name] : name).map((n) => n.toLowerCase());
  return products.find((p) => names.some((n) => p.name.toLowerCase().includes(n)) && (!c || satisfies(p.version, c)));
}

/** Pure: with a release, whether what is installed already is it (or newer), and why. */
export function releaseInstalled(products: ToolsProduct[], r: Pick<ToolsRelease, 'family'>, version?: string): { done: boolean; why: string } {
  const tools = products.filter((p) => TOOLS_PRODUCT_NAMES.some((n) => p.name.toLowerCase() === n.toLowerCase()));
  const own = tools.find((p) => p.name.toLowerCase() === r.family.product.toLowerCase());
  const c = version ? parseConstraint(version) : undefined;
  if (own) {
    if (!c || satisfies(own.version, c)) return { done: true, why: `${own.name} ${own.version} is installed` };
    return { done: false, why: `${own.name} ${own.version} is installed, not ${version}: would upgrade it` };
  }
  const other = tools[0];
  if (!other) return { done: false, why: 'no XCP-ng Windows tools installed' };
  if (r.family.xencleanContract) return { done: false, why: `${other.name} ${other.version} is installed: would upgrade it to the ${r.family.product} release` };
  return { done: true, why: `${other.name} ${other.version} (newer than a ${r.family.releases} release) is installed: not downgrading` };
}

/** The install script: pure text, every value quoted. */
export function msiScript(a: MsiInstallArgs & { path: string }): string {
  const name = a.path.split(/[\\/]/).pop() ?? 'package.msi';
  const props = Object.entries(a.properties ?? {}).map(([k, v]) => `${k}=${v}`);
  return [
    `$msi = ${quotePs(a.path)}`,
    a.log !== undefined
      ? `$log = ${quotePs(a.log)}`
      : `$log = Join-Path ([IO.Path]::GetTempPath()) ${quotePs(`pvrun-${name}.log`)}`,
    `$props = ${quotePsArray(props)}`,
    // msiexec is a GUI program: piping its output makes PowerShell wait for it and set $LASTEXITCODE
    '& msiexec.exe /i $msi /qn /norestart /log $log @props | Out-Null',
    '$code = $LASTEXITCODE',
    "Write-Output ('log=' + $log)",
    'exit $code',
  ].join('\n');
}

/** What to install: the path given, or the release's MSI. */
function target(ctx: StepContext, a: MsiInstallArgs): Result<{ path: string; release?: ToolsRelease }, StepFailure> {
  if (a.release) {
    const r = toolsRelease(ctx);
    if (!r) return err({ kind: 'step', message: 'no XCP-ng Windows tools release found: a windows-tools-source step must come first' });
    return ok({ path: r.msi, release: r });
  }
  if (!a.path) return err({ kind: 'config', message: 'msi-install: give path, or release: true' });
  return ok({ path: a.path });
}

/** Nothing to do, and why; or undefined. */
async function alreadyInstalled(ctx: StepContext, a: MsiInstallArgs, release?: ToolsRelease): Promise<Result<string | undefined, StepFailure>> {
  if (!a.product && !release) return ok(undefined);
  const f = await windowsFacts(ctx);
  if (!f.ok) return f;
  if (release) {
    const r = releaseInstalled(f.value.products, release, a.version);
    if (r.done) return ok(r.why);
    ctx.log(r.why);
    return ok(undefined);
  }
  const p = findProduct(f.value.products, a.product!, a.version);
  return ok(p ? `${p.name} ${p.version} is installed` : undefined);
}

export const msiInstallStep = defineStep<MsiInstallArgs>({
  ...msiInstallInfo, // type, description, schema, shorthand, flags: src/steps/catalog.ts

  async plan(ctx, a) {
    const t = target(ctx, a);
    if (!t.ok) return planFail(t.error);
    const have = await alreadyInstalled(ctx, a, t.value.release);
    if (!have.ok) return planFail(have.error);
    if (have.value) return { kind: 'ok', summary: have.value };
    const props = Object.entries(a.properties ?? {}).map(([k, v]) => ` ${k}=${v}`).join('');
    const what = t.value.release ? ` (${t.value.release.family.product}, ${t.value.release.family.releases})` : '';
    return {
      kind: 'change', summary: `would install ${t.value.path}${what}${a.properties ? ` (${Object.keys(a.properties).join(', ')})` : ''}`,
      diff: `+ msiexec /i ${t.value.path} /qn /norestart${a.log ? ` /log ${a.log}` : ''}${props}`,
    };
  },

  async apply(ctx, a): Promise<ApplyResult> {
    const t = target(ctx, a);
    if (!t.ok) return applyFail(t.error);
    const have = await alreadyInstalled(ctx, a, t.value.release);
    if (!have.ok) return applyFail(have.error);
    if (have.value) return { kind: 'ok', summary: have.value };
    const r = await ps(ctx, msiScript({ ...a, path: t.value.path }), { timeoutMs: (a.timeout ?? 1800) * 1000 });
    if (!r.ok) return applyFail(r.error);
    const code = r.value.exitCode;
    const log = /^log=(.*)$/m.exec(r.value.stdout)?.[1]?.trim();
    const data = { exit_code: code, log, meaning: code !== null ? MSI_CODES[code] : undefined };
    const okCodes = a.ok_codes ?? DEFAULT_OK_CODES;
    if (code === null || !okCodes.includes(code)) {
      const why = code !== null && MSI_CODES[code] ? ` (${MSI_CODES[code]})` : '';
      // the log's last lines say which launch condition or custom action refused
      let logTail = '';
      if (log) {
        const l = await ps(ctx, `Get-Content -LiteralPath ${quotePs(log)} -Tail 4 -ErrorAction SilentlyContinue`, { mutates: false, timeoutMs: 60_000, onOutput: () => {} });
        if (l.ok && l.value.stdout.trim()) logTail = `; log says: ${l.value.stdout.trim().split(/\r?\n/).join(' | ')}`;
      }
      const hint = t.value.release && code === 1603
        ? ' (the XCP-ng tools MSI ends 1603 when the vendor device is present, Citrix drivers are left, Windows is older than 10.0.14393 or .NET older than 4.6.2: windows-tools-preconditions checks these first)'
        : '';
      return { kind: 'failed', reason: `msiexec exit ${code}${why}${hint}; log: ${log ?? '?'}${logTail}${r.value.stderr ? `: ${tail(r.value.stderr)}` : ''}`, data };
    }
    const reboot = code === 3010 || code === 1641;
    if (reboot) ctx.state.set(REBOOT_REQUIRED, true);
    return { kind: 'changed', summary: `installed ${t.value.path} (exit ${code}${reboot ? ', reboot required' : ''})`, data: { ...data, reboot_required: reboot } };
  },
});
