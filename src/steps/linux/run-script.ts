/**
 * run-script: an inline script or a local file, uploaded and run by an interpreter. `creates` and
 * `unless` make it idempotent. Check mode runs no user-written command: `creates` is pvrun's own
 * `test -e`, but an `unless` guard is the user's shell code (as root with become), so check mode
 * reports the step `unknown` instead of running it, unless the guard is marked
 * `check_mode_safe: true` (then it runs, and the step's summary says so).
 *
 * A script `file` is a controller file: the loader resolves it inside the playbook's directory
 * (or a play's `script_roots`) to its real path (src/load/playbook.ts); here it is read only if it
 * is still that real path, and its contents are never shown: output and journal name the path
 * and its sha256.
 */
import { runScriptInfo, SHELLS } from '../catalog.js';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, realpath, stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { quoteArgs, quoteShell } from '../../util/shell-quote.js';
import { err, ok, type Result } from '../../util/result.js';
import { defineStep, type ApplyResult, type StepContext, type StepFailure } from '../types.js';
import { applyFail, exec, planFail, run, tail } from './common.js';

/** larger inline scripts are uploaded (command lines have limits) */
const INLINE_MAX = 32 * 1024;

export interface RunScriptArgs {
  script?: string;
  /** local path, uploaded to the guest */
  file?: string;
  interpreter?: string;
  args?: string[];
  env?: Record<string, string>;
  become?: boolean;
  /** seconds; the remote process group is killed when it runs out */
  timeout?: number;
  ok_codes?: number[];
  /** a path: when it exists, the script has already done its work */
  creates?: string;
  /**
   * a command: when it exits 0, the script is not needed. Not run in check mode unless given as
   * { cmd, check_mode_safe: true }.
   */
  unless?: string | UnlessGuard;
  /**
   * directory on the guest an uploaded script goes to (and is removed from); default /tmp.
   * Inline shell scripts are not uploaded: they run as `sh -c`. Files, other interpreters and
   * inline scripts over 32 KiB are.
   */
  remote_tmp?: string;
}

export interface UnlessGuard {
  cmd: string;
  /** the user vouches that the command changes nothing: check mode runs it (and says so) */
  check_mode_safe?: boolean;
}

// interpreters whose scripts are shell code: defined in the step catalog (issue 17)
export { isShellInterpreter } from '../catalog.js';

type Guard =
  /** `checkedSafe`: a check_mode_safe guard ran in check mode (and failed) */
  | { kind: 'run'; checkedSafe?: boolean }
  | { kind: 'not-needed'; why: string }
  /** check mode: the answer needs the user's `unless` command, which check mode does not run */
  | { kind: 'unknown'; why: string };

export const NOT_RUN_IN_CHECK = 'unknown (not run in check mode)';
/** what a step summary carries when a check_mode_safe command ran in check mode */
export const RAN_IN_CHECK = 'ran in check mode (check_mode_safe)';

function unlessOf(a: RunScriptArgs): UnlessGuard | undefined {
  return typeof a.unless === 'string' ? { cmd: a.unless } : a.unless;
}

/** Whether the script needs to run. */
async function guard(ctx: StepContext, a: RunScriptArgs): Promise<Result<Guard, StepFailure>> {
  if (a.creates !== undefined) {
    // pvrun's own probe with a quoted path: safe in check mode
    const r = await run(ctx, `test -e ${quoteShell(a.creates)}`, { mutates: false, become: a.become === true });
    if (!r.ok) return r;
    if (r.value.exitCode === 0) return ok({ kind: 'not-needed', why: `${a.creates} exists` });
  }
  const u = unlessOf(a);
  if (u !== undefined) {
    const safe = u.check_mode_safe === true;
    if (ctx.check && !safe) return ok({ kind: 'unknown', why: `'unless' guard ${NOT_RUN_IN_CHECK}: ${short(u.cmd)}` });
    if (ctx.check) ctx.log(`'unless' guard ${RAN_IN_CHECK}: ${short(u.cmd)}`);
    // mutates: false only when the user vouched for it: the check-mode connector refuses anything else
    const r = await run(ctx, u.cmd, { mutates: !safe, become: a.become === true, timeoutMs: 60_000 });
    if (!r.ok) return r;
    const note = ctx.check ? ` (${RAN_IN_CHECK})` : '';
    if (r.value.exitCode === 0) return ok({ kind: 'not-needed', why: `'unless' command succeeded${note}` });
    if (note) return ok({ kind: 'run', checkedSafe: true });
  }
  return ok({ kind: 'run' });
}

function short(cmd: string): string {
  const one = cmd.trim().replace(/\s*\n\s*/g, '; ');
  return one.length > 80 ? `${one.slice(0, 77)}...` : one;
}

/**
 * A script file as the loader resolved it: an absolute real path (no symlink on the way, no
 * `..`), a regular file. Anything else is refused rather than read: a path that changed since
 * loading, or arguments that did not come through the loader.
 */
async function readScriptFile(file: string): Promise<Result<{ body: Buffer; sha256: string }, StepFailure>> {
  const refuse = (why: string) => err<StepFailure>({ kind: 'config', message: `script file ${file}: ${why}` });
  if (!isAbsolute(file)) return refuse('not resolved by the playbook loader (expected an absolute path inside the playbook directory or a script root)');
  let real: string;
  try { real = await realpath(file); } catch (e) { return refuse(`cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`); }
  if (real !== file) return refuse(`now resolves to another path (a symlink changed since the playbook was loaded); not reading it`);
  try {
    if (!(await stat(real)).isFile()) return refuse('not a regular file');
    const body = await readFile(real);
    return ok({ body, sha256: createHash('sha256').update(body).digest('hex') });
  } catch (e) {
    return refuse(`cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export const runScriptStep = defineStep<RunScriptArgs>({
  ...runScriptInfo, // type, description, schema, shorthand, flags: src/steps/catalog.ts

  async plan(ctx, a) {
    const g = await guard(ctx, a);
    if (!g.ok) return planFail(g.error);
    if (g.value.kind === 'not-needed') return { kind: 'ok', summary: `not needed: ${g.value.why}` };
    let what = 'inline script';
    let body = a.script ?? '';
    if (a.file !== undefined) {
      // a controller file: named by its path and hash, never shown
      const f = await readScriptFile(a.file);
      if (!f.ok) return planFail(f.error);
      what = `script file ${a.file} (sha256 ${f.value.sha256})`;
      body = `(file ${a.file}, ${f.value.body.length} bytes, sha256 ${f.value.sha256})`;
    }
    if (g.value.kind === 'unknown') {
      return { kind: 'unknown', reason: `${g.value.why}; the ${what} runs${a.become ? ' as root' : ''} if it fails` };
    }
    const note = g.value.checkedSafe ? ` (the 'unless' guard ${RAN_IN_CHECK} and failed)` : '';
    // --diff: exactly what would run, so a reviewer of a check-mode run can read it
    const diff = [`interpreter: ${a.interpreter ?? '/bin/sh'}${a.become ? ' (as root)' : ''}`,
      ...(a.args?.length ? [`args: ${a.args.join(' ')}`] : []),
      ...(a.env ? [`env: ${Object.keys(a.env).join(', ')}`] : []),
      ...body.split('\n').map((l) => `+ ${l}`)].join('\n');
    return { kind: 'change', summary: `would run ${what}${a.become ? ' as root' : ''}${note}`, diff };
  },

  async apply(ctx, a): Promise<ApplyResult> {
    // plan() and apply() may be far apart (or apply called alone): check the guards again
    const g = await guard(ctx, a);
    if (!g.ok) return applyFail(g.error);
    if (g.value.kind === 'not-needed') return { kind: 'ok', summary: `not needed: ${g.value.why}` };
    if (g.value.kind === 'unknown') return { kind: 'failed', reason: g.value.why };

    let body: Buffer;
    let fileNote = '';
    if (a.file !== undefined) {
      const f = await readScriptFile(a.file);
      if (!f.ok) return applyFail(f.error);
      body = f.value.body;
      fileNote = `, file ${a.file} sha256 ${f.value.sha256}`;
    } else {
      body = Buffer.from(a.script ?? '');
    }
    const conn = await ctx.guest();
    if (!conn.ok) return applyFail(conn.error);
    const c = conn.value;
    const interp = a.interpreter ?? '/bin/sh';
    const opts = {
      become: a.become === true,
      ...(a.env ? { env: a.env } : {}),
      ...(a.timeout !== undefined ? { timeoutMs: a.timeout * 1000 } : {}),
    };
    const argv = a.args?.length ? ` ${quoteArgs(a.args)}` : '';
    let r;
    if (a.file === undefined && SHELLS.test(interp) && body.length <= INLINE_MAX) {
      // An inline shell script runs as one command (`sh -c SCRIPT pvrun-script ARGS`): one
      // round trip instead of upload + run + remove (BENCHMARKS.md: 2.4–2.7× the floor's time).
      // Over ssh the connector runs it in the shell it starts anyway (one remote shell, issue 17).
      r = c.kind === 'ssh'
        ? await exec(c, ctx, body.toString('utf8'), { ...opts, shell: { path: interp, name: 'pvrun-script', args: a.args ?? [] } })
        : await exec(c, ctx, `${interp} -c ${quoteShell(body.toString('utf8'))} pvrun-script${argv}`, opts);
    } else {
      const remote = `${(a.remote_tmp ?? '/tmp').replace(/\/+$/, '')}/pvrun-script-${randomBytes(8).toString('hex')}`;
      const up = await c.put(body, remote, 0o700);
      if (!up.ok) return applyFail({ kind: 'guest', failure: up.error });
      // the interpreter is a command line of its own (e.g. "python3 -u"), the args are values
      r = await exec(c, ctx, `${interp} ${quoteShell(remote)}${argv}`, opts);
      // the upload belongs to the login user, so it can be removed without sudo
      await c.exec(`rm -f ${quoteShell(remote)}`);
    }
    if (!r.ok) return applyFail(r.error);
    const data = { stdout: r.value.stdout, stderr: r.value.stderr, exit_code: r.value.exitCode, signal: r.value.signal };
    const okCodes = a.ok_codes ?? [0];
    if (r.value.exitCode === null || !okCodes.includes(r.value.exitCode)) {
      const how = r.value.exitCode === null ? `killed by ${r.value.signal}` : `exit ${r.value.exitCode}`;
      return { kind: 'failed', reason: `script ${how} (ok: ${okCodes.join(', ')}): ${tail(r.value.stderr || r.value.stdout)}`, data };
    }
    return { kind: 'changed', summary: `script ran (exit ${r.value.exitCode}${fileNote})`, data };
  },
});
