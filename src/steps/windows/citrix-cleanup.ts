/**
 * citrix-cleanup: remove the Citrix/XenServer (and any other Xen) PV drivers and agents with the
 * XenClean of the XCP-ng Windows tools release, found in the release package by
 * `windows-tools-source` (`package\XenClean\XenClean.exe`), before the XCP-ng tools are installed.
 *
 * XenClean's contract (v9.1 and newer; win-pv-drivers XenClean `Program.cs:62-85,107,162`,
 * `ExitCode.cs`), run as `XenClean.exe -noConfirm -noReboot`:
 * - without `-onboard` it removes every Xen/Citrix/XCP-ng PV product (XCP-ng's own too) and
 *   returns 0: a reboot finishes the removal (`reboot_required` is set for windows-reboot);
 * - 3: the clean-up did not run yet: this step reboots the guest and runs it again (once);
 * - 1 error (its log is copied to the system drive, `C:\xenclean_<time>.log`), 2 cancelled: failed;
 * - 64/65/66 exist only with `-onboard`, which pvrun does not pass: unexpected, failed.
 * v9.0's XenClean has no flags and no exit-code contract: refused in plan (use a v9.1+ release).
 */
import { citrixCleanupInfo } from '../catalog.js';
import { quotePs } from '../../util/ps-quote.js';
import { defineStep, type ApplyResult, type StepContext } from '../types.js';
import { applyFail, connector, planFail, ps, REBOOT_REQUIRED, tail, windowsFacts } from './common.js';
import { toolsRelease } from './tools-source.js';
import { rebootOnce } from './windows-reboot.js';
import { err, ok, type Result } from '../../util/result.js';

export interface CitrixCleanupArgs {
  /** XenClean.exe on the guest; default: the one of the release windows-tools-source found */
  path?: string;
  /** seconds for each XenClean run; default 900 */
  timeout?: number;
  /** seconds for the reboot after exit 3; default 1800 */
  reboot_timeout?: number;
}

export type XenCleanOutcome =
  | { kind: 'cleaned'; summary: string }
  | { kind: 'reboot-then-again'; summary: string }
  | { kind: 'failed'; reason: string };

/** Pure: the exit code of `XenClean.exe -noConfirm -noReboot` (v9.1+) → what it means. */
export function xenCleanOutcome(code: number | null): XenCleanOutcome {
  switch (code) {
    case 0: return { kind: 'cleaned', summary: 'XenClean removed the PV drivers and agents (exit 0); a reboot finishes the removal' };
    case 3: return { kind: 'reboot-then-again', summary: 'XenClean did not run yet (exit 3): reboot, then run it again' };
    case 1: return { kind: 'failed', reason: 'XenClean failed (exit 1: error); its log is copied to the system drive (C:\\xenclean_<date>.log)' };
    case 2: return { kind: 'failed', reason: 'XenClean was cancelled (exit 2)' };
    case 64: case 65: case 66:
      return { kind: 'failed', reason: `XenClean ended with exit ${code}, which only exists with -onboard (not passed): unexpected` };
    case null: return { kind: 'failed', reason: 'XenClean ended without an exit code (killed by a signal)' };
    default: return { kind: 'failed', reason: `XenClean ended with unexpected exit ${code}` };
  }
}

const PV = /citrix|xenserver|xcp-ng|^xen /i;

/** The XenClean to run, or why there is none. */
function xenclean(ctx: StepContext, a: CitrixCleanupArgs): Result<string, string> {
  if (a.path) return ok(a.path);
  const t = toolsRelease(ctx);
  if (!t) return err('no XenClean: a windows-tools-source step must find the release first (XenClean is package\\XenClean\\XenClean.exe of the release package), or give path');
  if (!t.family.xencleanContract) {
    return err(`the tools release in ${t.where} is ${t.family.releases} (${t.family.msi}): its XenClean has no flags and no exit-code contract, so pvrun cannot tell whether it worked. Use a v9.1 or newer release (XenTools-x64.msi) for the Citrix migration`);
  }
  if (!t.xenclean) return err(`the tools release in ${t.where} has no package\\XenClean\\XenClean.exe (a bare MSI?): use the release package (its zip or ISO)`);
  return ok(t.xenclean);
}

async function runXenClean(ctx: StepContext, exe: string, a: CitrixCleanupArgs) {
  // Get-Item: the path as the file system knows it (also what a mapped drive resolves to)
  const script = [
    `$exe = (Get-Item -LiteralPath ${quotePs(exe)} -ErrorAction Stop).FullName`,
    '& $exe -noConfirm -noReboot',
    'exit $LASTEXITCODE',
  ].join('\n');
  await ctx.intent({ action: 'xenclean', detail: { exe } });
  return ps(ctx, script, { timeoutMs: (a.timeout ?? 900) * 1000 });
}

export const citrixCleanupStep = defineStep<CitrixCleanupArgs>({
  ...citrixCleanupInfo, // type, description, schema, shorthand, flags: src/steps/catalog.ts

  async plan(ctx, a) {
    const f = await windowsFacts(ctx);
    if (!f.ok) return planFail(f.error);
    const found = f.value.products.filter((p) => PV.test(p.publisher) || PV.test(p.name));
    const drivers = f.value.pv.xenbus || f.value.pv.xenvif || f.value.pv.xenvbd;
    if (!found.length && !drivers) return { kind: 'ok', summary: 'no Xen/Citrix PV products or drivers installed' };
    const exe = xenclean(ctx, a);
    if (!exe.ok) return { kind: 'fail', reason: exe.error };
    return { kind: 'change', summary: `would run ${exe.value} -noConfirm -noReboot (removes every Xen PV product: ${found.map((p) => `${p.name} ${p.version}`).join(', ') || 'drivers only'})` };
  },

  async apply(ctx, a): Promise<ApplyResult> {
    const exe = xenclean(ctx, a);
    if (!exe.ok) return { kind: 'failed', reason: exe.error };
    let rebooted = false;
    for (;;) {
      const r = await runXenClean(ctx, exe.value, a);
      if (!r.ok) return applyFail(r.error);
      const o = xenCleanOutcome(r.value.exitCode);
      const data = { exit_code: r.value.exitCode, output: tail(r.value.stdout), rebooted_first: rebooted };
      if (o.kind === 'cleaned') {
        ctx.state.set(REBOOT_REQUIRED, true);
        return { kind: 'changed', summary: `${o.summary}${rebooted ? ' (after the reboot it asked for)' : ''}`, data: { ...data, reboot_required: true } };
      }
      if (o.kind === 'failed') return { kind: 'failed', reason: `${o.reason}${r.value.stderr ? `: ${tail(r.value.stderr)}` : ''}`, data };
      if (rebooted) return { kind: 'failed', reason: 'XenClean still answers 3 (did not run) after a reboot', data };
      ctx.log(o.summary);
      const c = await connector(ctx);
      if (!c.ok) return applyFail(c.error);
      const b = await rebootOnce(c.value, ctx, { reboot_timeout: a.reboot_timeout ?? 1800 });
      if (!b.ok) return applyFail(b.error, data);
      ctx.facts.invalidate();
      rebooted = true;
    }
  },
});
