/**
 * citrix-cleanup: remove Citrix / XenServer VM Tools and drivers with the vendor's clean-up tool
 * before installing the XCP-ng tools. XenClean's exit codes: 0 cleaned, 1 error, 2 cancelled,
 * 3 reboot pending, 64 ready, 65 already clean, 66 refused. Cleaning (0) and "reboot pending" (3)
 * set `reboot_required`: the drivers leave at the next boot, so a reboot step must follow.
 */
import { quotePs } from '../../util/ps-quote.js';
import { defineStep, type ApplyResult } from '../types.js';
import { applyFail, planFail, ps, REBOOT_REQUIRED, tail, windowsFacts } from './common.js';

export interface CitrixCleanupArgs {
  /** XenClean.exe on the guest (from the XCP-ng tools ISO); default: found on PATH */
  path?: string;
  /** seconds; default 900 */
  timeout?: number;
}

export type XenCleanOutcome =
  | { kind: 'changed'; summary: string; reboot: boolean }
  | { kind: 'ok'; summary: string }
  | { kind: 'failed'; reason: string };

/** Pure: XenClean's exit code → what it means for the step. */
export function xenCleanOutcome(code: number | null): XenCleanOutcome {
  switch (code) {
    case 0: return { kind: 'changed', summary: 'Citrix tools removed; reboot to finish', reboot: true };
    case 3: return { kind: 'changed', summary: 'XenClean: a reboot is pending before the clean-up completes', reboot: true };
    case 64: return { kind: 'ok', summary: 'XenClean: ready (nothing left to remove)' };
    case 65: return { kind: 'ok', summary: 'XenClean: already clean' };
    case 66: return { kind: 'failed', reason: 'XenClean refused to run (exit 66): the guest is not in a state it can clean (e.g. a previous clean-up awaiting reboot, or unsupported tools)' };
    case 1: return { kind: 'failed', reason: 'XenClean failed (exit 1: error)' };
    case 2: return { kind: 'failed', reason: 'XenClean was cancelled (exit 2)' };
    default: return { kind: 'failed', reason: `XenClean ended with unexpected exit ${code}` };
  }
}

const CITRIX = /citrix|xenserver/i;

export const citrixCleanupStep = defineStep<CitrixCleanupArgs>({
  type: 'citrix-cleanup',
  description: 'Remove Citrix/XenServer VM Tools and PV drivers with XenClean (-noConfirm -noReboot)',
  needs: 'guest',
  touchesGuest: true,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: { path: { type: 'string', minLength: 1 }, timeout: { type: 'number', exclusiveMinimum: 0 } },
  },
  shorthand: (v) => (v === null || v === true ? {} : { path: String(v) }),

  async plan(ctx) {
    const f = await windowsFacts(ctx);
    if (!f.ok) return planFail(f.error);
    const found = f.value.products.filter((p) => CITRIX.test(p.publisher) || CITRIX.test(p.name));
    if (!found.length) return { kind: 'ok', summary: 'no Citrix/XenServer tools installed' };
    return { kind: 'change', summary: `would remove ${found.map((p) => `${p.name} ${p.version}`).join(', ')} with XenClean` };
  },

  async apply(ctx, a): Promise<ApplyResult> {
    const script = [
      `$exe = ${quotePs(a.path ?? 'XenClean.exe')}`,
      '& $exe -noConfirm -noReboot',
      'exit $LASTEXITCODE',
    ].join('\n');
    const r = await ps(ctx, script, { timeoutMs: (a.timeout ?? 900) * 1000 });
    if (!r.ok) return applyFail(r.error);
    const o = xenCleanOutcome(r.value.exitCode);
    const data = { exit_code: r.value.exitCode, output: tail(r.value.stdout) };
    switch (o.kind) {
      case 'changed':
        if (o.reboot) ctx.state.set(REBOOT_REQUIRED, true);
        return { kind: 'changed', summary: o.summary, data: { ...data, reboot_required: o.reboot } };
      case 'ok':
        return { kind: 'ok', summary: o.summary, data };
      case 'failed':
        return { kind: 'failed', reason: `${o.reason}${r.value.stderr ? `: ${tail(r.value.stderr)}` : ''}`, data };
    }
  },
});
