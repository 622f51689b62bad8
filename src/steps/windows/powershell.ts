/**
 * powershell: a PowerShell script on a Windows guest, inline or a controller file (Ansible's
 * `win_shell`), for what a procedure needs beyond the typed steps. Like run-script
 * (src/steps/linux/run-script.ts):
 * - `creates`: a path on the guest; when it exists the script is not needed (pvrun's own
 *   `Test-Path` probe, also run in check mode);
 * - `unless`: PowerShell; when it exits 0 the script is not needed. It is the user's code, so
 *   check mode does not run it (the step is `unknown`) unless it is `{ cmd, check_mode_safe: true }`;
 * - `ok_codes` (default [0]), `register` gets stdout, stderr, exit_code;
 * - check mode does not run the script (`would run …`), unless it is marked `read_only: true`:
 *   then check mode runs it (the connector still refuses anything not marked read-only below
 *   us), and a real run reports it `ok`, not changed.
 * A `file` is a controller file inside the playbook's directory (relative to it; its real path,
 * symlinks resolved, must stay inside): checked when the step runs. Its contents are named by path
 * and SHA-256, never shown.
 */
import { powershellInfo } from '../catalog.js';
import { createHash } from 'node:crypto';
import { readFile, realpath, stat } from 'node:fs/promises';
import { isAbsolute, resolve, sep } from 'node:path';
import { quotePs } from '../../util/ps-quote.js';
import { err, ok, type Result } from '../../util/result.js';
import { defineStep, type ApplyResult, type StepContext, type StepFailure } from '../types.js';
import { applyFail, planFail, ps, tail } from './common.js';

export interface PowerShellArgs {
  script?: string;
  /** a controller file (resolved by the loader) */
  file?: string;
  creates?: string;
  unless?: string | { cmd: string; check_mode_safe?: boolean };
  ok_codes?: number[];
  /** seconds; default 1800 */
  timeout?: number;
  /** the script changes nothing: check mode runs it, a real run reports it ok */
  read_only?: boolean;
}

export const NOT_RUN_IN_CHECK = 'unknown (not run in check mode)';
export const RAN_IN_CHECK = 'ran in check mode (check_mode_safe)';

type Guard = { kind: 'run'; checkedSafe?: boolean } | { kind: 'not-needed'; why: string } | { kind: 'unknown'; why: string };

const short = (cmd: string) => {
  const one = cmd.trim().replace(/\s*\n\s*/g, '; ');
  return one.length > 80 ? `${one.slice(0, 77)}...` : one;
};

async function guard(ctx: StepContext, a: PowerShellArgs): Promise<Result<Guard, StepFailure>> {
  if (a.creates !== undefined) {
    const r = await ps(ctx, `if (Test-Path -LiteralPath ${quotePs(a.creates)}) { exit 0 } else { exit 1 }`, { mutates: false, timeoutMs: 60_000 });
    if (!r.ok) return r;
    if (r.value.exitCode === 0) return ok({ kind: 'not-needed', why: `${a.creates} exists` });
  }
  const u = typeof a.unless === 'string' ? { cmd: a.unless } : a.unless;
  if (u !== undefined) {
    const safe = u.check_mode_safe === true;
    if (ctx.check && !safe) return ok({ kind: 'unknown', why: `'unless' guard ${NOT_RUN_IN_CHECK}: ${short(u.cmd)}` });
    if (ctx.check) ctx.log(`'unless' guard ${RAN_IN_CHECK}: ${short(u.cmd)}`);
    // mutates: false only when the user vouched for it: the check-mode connector refuses anything else
    const r = await ps(ctx, u.cmd, { mutates: !safe, timeoutMs: 60_000 });
    if (!r.ok) return r;
    const note = ctx.check ? ` (${RAN_IN_CHECK})` : '';
    if (r.value.exitCode === 0) return ok({ kind: 'not-needed', why: `'unless' command succeeded${note}` });
    if (note) return ok({ kind: 'run', checkedSafe: true });
  }
  return ok({ kind: 'run' });
}

async function readScriptFile(ctx: StepContext, file: string): Promise<Result<{ body: string; sha256: string }, StepFailure>> {
  const refuse = (why: string) => err<StepFailure>({ kind: 'config', message: `script file ${file}: ${why}` });
  const dir = (ctx.scope['run'] as { playbook_dir?: unknown } | undefined)?.playbook_dir;
  if (typeof dir !== 'string') return refuse('no playbook directory to resolve it in');
  try {
    const base = await realpath(dir);
    const real = await realpath(isAbsolute(file) ? file : resolve(base, file));
    if (real !== base && !real.startsWith(base + sep)) return refuse(`is outside the playbook's directory ${base} (symlinks resolved): not reading it`);
    if (!(await stat(real)).isFile()) return refuse('not a regular file');
    const body = await readFile(real);
    return ok({ body: body.toString('utf8'), sha256: createHash('sha256').update(body).digest('hex') });
  } catch (e) {
    return refuse(`cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

async function body(ctx: StepContext, a: PowerShellArgs): Promise<Result<{ text: string; what: string; shown: string[] }, StepFailure>> {
  if (a.file !== undefined) {
    const f = await readScriptFile(ctx, a.file);
    if (!f.ok) return f;
    return ok({ text: f.value.body, what: `script file ${a.file} (sha256 ${f.value.sha256})`, shown: [`(file ${a.file}, sha256 ${f.value.sha256})`] });
  }
  return ok({ text: a.script ?? '', what: 'inline PowerShell', shown: (a.script ?? '').split('\n') });
}

/** Run the script; exit codes outside ok_codes fail. */
async function runIt(ctx: StepContext, a: PowerShellArgs, text: string, readOnly: boolean) {
  const r = await ps(ctx, text, { mutates: !readOnly, timeoutMs: (a.timeout ?? 1800) * 1000 });
  if (!r.ok) return r;
  const data = { stdout: r.value.stdout, stderr: r.value.stderr, exit_code: r.value.exitCode };
  const okCodes = a.ok_codes ?? [0];
  const good = r.value.exitCode !== null && okCodes.includes(r.value.exitCode);
  return ok({ data, good, why: `PowerShell exit ${r.value.exitCode} (ok: ${okCodes.join(', ')}): ${tail(r.value.stderr || r.value.stdout)}` });
}

export const powershellStep = defineStep<PowerShellArgs>({
  ...powershellInfo, // type, description, schema, shorthand, flags: src/steps/catalog.ts

  async plan(ctx, a) {
    const g = await guard(ctx, a);
    if (!g.ok) return planFail(g.error);
    if (g.value.kind === 'not-needed') return { kind: 'ok', summary: `not needed: ${g.value.why}` };
    const b = await body(ctx, a);
    if (!b.ok) return planFail(b.error);
    if (g.value.kind === 'unknown') return { kind: 'unknown', reason: `${g.value.why}; the ${b.value.what} runs if it fails` };
    if (ctx.check && a.read_only) {
      // the user marked the script read-only: check mode runs it (still only as an exec declared `mutates: false`)
      const r = await runIt(ctx, a, b.value.text, true);
      if (!r.ok) return planFail(r.error);
      return r.value.good
        ? { kind: 'ok', summary: `ran in check mode (read_only): exit ${String(r.value.data.exit_code)}` }
        : { kind: 'fail', reason: r.value.why };
    }
    const note = g.value.checkedSafe ? ` (the 'unless' guard ${RAN_IN_CHECK} and failed)` : '';
    return { kind: 'change', summary: `would run ${b.value.what}${note}`, diff: b.value.shown.map((l) => `+ ${l}`).join('\n') };
  },

  async apply(ctx, a): Promise<ApplyResult> {
    const g = await guard(ctx, a);
    if (!g.ok) return applyFail(g.error);
    if (g.value.kind === 'not-needed') return { kind: 'ok', summary: `not needed: ${g.value.why}` };
    if (g.value.kind === 'unknown') return { kind: 'failed', reason: g.value.why };
    const b = await body(ctx, a);
    if (!b.ok) return applyFail(b.error);
    const r = await runIt(ctx, a, b.value.text, a.read_only === true);
    if (!r.ok) return applyFail(r.error);
    if (!r.value.good) return { kind: 'failed', reason: r.value.why, data: r.value.data };
    return { kind: a.read_only ? 'ok' : 'changed', summary: `${b.value.what} ran (exit ${String(r.value.data.exit_code)})`, data: r.value.data };
  },
});
