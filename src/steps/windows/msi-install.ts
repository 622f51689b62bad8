/**
 * msi-install: `msiexec /i X /qn /norestart /log F` with installer exit codes. 3010 and 1641 are
 * successes that need a reboot: they set `reboot_required`, which `windows-reboot` (and `reboot`
 * with when_required) honour. `product` makes the step idempotent and predictable in check mode.
 */
import { quotePs, quotePsArray } from '../../util/ps-quote.js';
import { parseConstraint, satisfies } from '../../util/version.js';
import { defineStep, type ApplyResult, type StepContext } from '../types.js';
import { applyFail, MSI_CODES, planFail, ps, REBOOT_REQUIRED, tail, windowsFacts } from './common.js';
import type { ToolsProduct } from '../../connectors/windows-facts.js';
import { ok, type Result } from '../../util/result.js';
import type { StepFailure } from '../types.js';

export interface MsiInstallArgs {
  /** the .msi on the guest (e.g. on the tools CD: D:\XenDrivers-x64.msi) */
  path: string;
  /** PROPERTY=value pairs, e.g. { ALLOWDRIVERINSTALL: 'YES' } */
  properties?: Record<string, string>;
  /** verbose log on the guest; default %TEMP%\pvrun-<msi name>.log */
  log?: string;
  ok_codes?: number[];
  /** installed-products name (substring, case-insensitive): when present, nothing to do */
  product?: string;
  /** with product: a version constraint the installed one must meet, e.g. ">= 9.0" */
  version?: string;
  /** seconds; default 1800 */
  timeout?: number;
}

export const DEFAULT_OK_CODES = [0, 3010, 1641];

export function findProduct(products: ToolsProduct[], name: string, version?: string): ToolsProduct | undefined {
  const c = version ? parseConstraint(version) : undefined;
  const n = name.toLowerCase();
  return products.find((p) => p.name.toLowerCase().includes(n) && (!c || satisfies(p.version, c)));
}

/** The install script: pure text, every value quoted. */
export function msiScript(a: MsiInstallArgs): string {
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

async function alreadyInstalled(ctx: StepContext, a: MsiInstallArgs): Promise<Result<ToolsProduct | undefined, StepFailure>> {
  if (!a.product) return ok(undefined);
  const f = await windowsFacts(ctx);
  if (!f.ok) return f;
  return ok(findProduct(f.value.products, a.product, a.version));
}

export const msiInstallStep = defineStep<MsiInstallArgs>({
  type: 'msi-install',
  description: 'Install a Windows Installer package silently (msiexec /qn /norestart) with installer exit codes',
  needs: 'guest',
  touchesGuest: true,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['path'],
    properties: {
      path: { type: 'string', minLength: 1 },
      properties: { type: 'object', propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_.]*$' }, additionalProperties: { type: 'string' } },
      log: { type: 'string' },
      ok_codes: { type: 'array', items: { type: 'integer' }, default: DEFAULT_OK_CODES },
      product: { type: 'string' },
      version: { type: 'string' },
      timeout: { type: 'number', exclusiveMinimum: 0 },
    },
  },
  shorthand: (v) => ({ path: String(v) }),

  async plan(ctx, a) {
    const have = await alreadyInstalled(ctx, a);
    if (!have.ok) return planFail(have.error);
    if (have.value) return { kind: 'ok', summary: `${have.value.name} ${have.value.version} is installed` };
    const props = Object.entries(a.properties ?? {}).map(([k, v]) => ` ${k}=${v}`).join('');
    return {
      kind: 'change', summary: `would install ${a.path}${a.properties ? ` (${Object.keys(a.properties).join(', ')})` : ''}`,
      diff: `+ msiexec /i ${a.path} /qn /norestart${a.log ? ` /log ${a.log}` : ''}${props}`,
    };
  },

  async apply(ctx, a): Promise<ApplyResult> {
    const have = await alreadyInstalled(ctx, a);
    if (!have.ok) return applyFail(have.error);
    if (have.value) return { kind: 'ok', summary: `${have.value.name} ${have.value.version} is installed` };
    const r = await ps(ctx, msiScript(a), { timeoutMs: (a.timeout ?? 1800) * 1000 });
    if (!r.ok) return applyFail(r.error);
    const code = r.value.exitCode;
    const log = /^log=(.*)$/m.exec(r.value.stdout)?.[1]?.trim();
    const data = { exit_code: code, log, meaning: code !== null ? MSI_CODES[code] : undefined };
    const okCodes = a.ok_codes ?? DEFAULT_OK_CODES;
    if (code === null || !okCodes.includes(code)) {
      const why = code !== null && MSI_CODES[code] ? ` (${MSI_CODES[code]})` : '';
      return { kind: 'failed', reason: `msiexec exit ${code}${why}; log: ${log ?? '?'}${r.value.stderr ? `: ${tail(r.value.stderr)}` : ''}`, data };
    }
    const reboot = code === 3010 || code === 1641;
    if (reboot) ctx.state.set(REBOOT_REQUIRED, true);
    return { kind: 'changed', summary: `installed ${a.path} (exit ${code}${reboot ? ', reboot required' : ''})`, data: { ...data, reboot_required: reboot } };
  },
});
