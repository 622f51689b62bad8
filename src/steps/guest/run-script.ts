/**
 * run-script: an inline script or a local file, uploaded and run by an interpreter. `creates` and
 * `unless` make it idempotent and let check mode predict it (both are read-only probes).
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { quoteArgs, quoteShell } from '../../util/shell-quote.js';
import { ok, type Result } from '../../util/result.js';
import { defineStep, type ApplyResult, type StepContext, type StepFailure } from '../types.js';
import { applyFail, becomeSchema, envSchema, exec, planFail, run, tail } from './common.js';

/** interpreters that take `-c SCRIPT NAME ARGS…` the POSIX way */
const SHELLS = /^(\/(usr\/)?bin\/)?(sh|bash|dash|ksh|zsh)$/;
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
  /** a read-only command: when it exits 0, the script is not needed */
  unless?: string;
  /**
   * directory on the guest an uploaded script goes to (and is removed from); default /tmp.
   * Inline shell scripts are not uploaded: they run as `sh -c`. Files, other interpreters and
   * inline scripts over 32 KiB are.
   */
  remote_tmp?: string;
}

/** Why the script does not need to run (a string), or null when it does. */
async function guard(ctx: StepContext, a: RunScriptArgs): Promise<Result<string | null, StepFailure>> {
  if (a.creates !== undefined) {
    const r = await run(ctx, `test -e ${quoteShell(a.creates)}`, { readOnly: true, become: a.become === true });
    if (!r.ok) return r;
    if (r.value.exitCode === 0) return ok(`${a.creates} exists`);
  }
  if (a.unless !== undefined) {
    const r = await run(ctx, a.unless, { readOnly: true, become: a.become === true, timeoutMs: 60_000 });
    if (!r.ok) return r;
    if (r.value.exitCode === 0) return ok(`'unless' command succeeded`);
  }
  return ok(null);
}

export const runScriptStep = defineStep<RunScriptArgs>({
  type: 'run-script',
  description: 'Run an inline script or an uploaded local file on the guest',
  needs: 'guest',
  schema: {
    type: 'object',
    additionalProperties: false,
    oneOf: [{ required: ['script'] }, { required: ['file'] }],
    properties: {
      script: { type: 'string' },
      file: { type: 'string' },
      interpreter: { type: 'string', default: '/bin/sh' },
      args: { type: 'array', items: { type: 'string' } },
      env: envSchema,
      become: becomeSchema,
      timeout: { type: 'number', exclusiveMinimum: 0 },
      ok_codes: { type: 'array', items: { type: 'integer' }, default: [0] },
      creates: { type: 'string' },
      unless: { type: 'string' },
      remote_tmp: { type: 'string', pattern: '^/' },
    },
  },
  shorthand: (v) => ({ script: String(v) }),

  async plan(ctx, a) {
    const g = await guard(ctx, a);
    if (!g.ok) return planFail(g.error);
    if (g.value !== null) return { kind: 'ok', summary: `not needed: ${g.value}` };
    const what = a.file !== undefined ? `script file ${a.file}` : 'inline script';
    // --diff: exactly what would run, so a reviewer of a check-mode run can read it
    const body = a.file !== undefined ? `(contents of ${a.file})` : a.script ?? '';
    const diff = [`interpreter: ${a.interpreter ?? '/bin/sh'}${a.become ? ' (as root)' : ''}`,
      ...(a.args?.length ? [`args: ${a.args.join(' ')}`] : []),
      ...(a.env ? [`env: ${Object.keys(a.env).join(', ')}`] : []),
      ...body.split('\n').map((l) => `+ ${l}`)].join('\n');
    return { kind: 'change', summary: `would run ${what}${a.become ? ' as root' : ''}`, diff };
  },

  async apply(ctx, a): Promise<ApplyResult> {
    // plan() and apply() may be far apart (or apply called alone): check the guards again
    const g = await guard(ctx, a);
    if (!g.ok) return applyFail(g.error);
    if (g.value !== null) return { kind: 'ok', summary: `not needed: ${g.value}` };

    let body: Buffer;
    if (a.file !== undefined) {
      try {
        body = await readFile(a.file);
      } catch (e) {
        return { kind: 'failed', reason: `cannot read ${a.file}: ${(e as Error).message}` };
      }
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
      r = await exec(c, ctx, `${interp} -c ${quoteShell(body.toString('utf8'))} pvrun-script${argv}`, opts);
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
    return { kind: 'changed', summary: `script ran (exit ${r.value.exitCode})`, data };
  },
});
