/**
 * What every guest step does the same way: get the connector and the facts, run a command,
 * turn failures into plan/apply results with the right `unreachable` flag.
 */
import { isUnreachable, type Connector, type ExecOptions, type ExecResult } from '../../connectors/types.js';
import { asGuestFacts, type GuestFacts } from '../../facts/linux.js';
import { err, ok, type Result } from '../../util/result.js';
import type { ApplyResult, PlanResult, StepContext, StepFailure } from '../types.js';

// the one failure formatter (src/report/failure-text.ts), re-exported for the steps' imports
export { failureText } from '../../report/failure-text.js';
import { failureText } from '../../report/failure-text.js';

export function unreachableFailure(f: StepFailure): boolean {
  return f.kind === 'guest' && isUnreachable(f.failure);
}

export function planFail(f: StepFailure): Extract<PlanResult<never>, { kind: 'fail' }> {
  return unreachableFailure(f) ? { kind: 'fail', reason: failureText(f), unreachable: true } : { kind: 'fail', reason: failureText(f) };
}

export function applyFail(f: StepFailure, data?: Record<string, unknown>): Extract<ApplyResult<never>, { kind: 'failed' }> {
  const r: Extract<ApplyResult<never>, { kind: 'failed' }> = { kind: 'failed', reason: failureText(f) };
  if (unreachableFailure(f)) r.unreachable = true;
  if (data) r.data = data;
  return r;
}

export async function guestFacts(ctx: StepContext): Promise<Result<GuestFacts, StepFailure>> {
  const r = await ctx.facts.get('guest');
  return r.ok ? ok(asGuestFacts(r.value)) : r;
}

/** Run a command; connector failures become StepFailures, the exit code is the caller's business. */
export async function run(ctx: StepContext, command: string, opts: ExecOptions = {}): Promise<Result<ExecResult, StepFailure>> {
  const g = await ctx.guest();
  if (!g.ok) return g;
  return exec(g.value, ctx, command, opts);
}

export async function exec(c: Connector, ctx: StepContext, command: string, opts: ExecOptions = {}): Promise<Result<ExecResult, StepFailure>> {
  const o: ExecOptions = { ...opts };
  // -v: output of commands that change things; -vv: every command line; -vvv: probe output too
  // (a probe such as the mount table is read-only and long: 159 lines for one unmount)
  ctx.log(`$ ${command}`, 2);
  const level = opts.mutates === false ? 3 : 1;
  o.onOutput ??= (_s, chunk) => { for (const l of chunk.replace(/\n$/, '').split('\n')) ctx.log(l, level); };
  const r = await c.exec(command, o);
  return r.ok ? r : err({ kind: 'guest', failure: r.error });
}

/** A read-only probe that must exit 0; returns stdout. */
export async function probe(ctx: StepContext, command: string, opts: ExecOptions = {}): Promise<Result<string, StepFailure>> {
  const r = await run(ctx, command, { ...opts, mutates: false });
  if (!r.ok) return r;
  if (r.value.exitCode !== 0) {
    return err({ kind: 'step', message: `probe failed (exit ${r.value.exitCode ?? r.value.signal}): ${tail(r.value.stderr || r.value.stdout)}` });
  }
  return ok(r.value.stdout);
}

/** `key=value` lines → map (last wins); for multi-valued keys use lines(). */
export function kv(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) m.set(line.slice(0, i), line.slice(i + 1));
  }
  return m;
}

export function tail(s: string, max = 400): string {
  const t = s.trim();
  return t.length > max ? `…${t.slice(-max)}` : t;
}

export function commandFailed(what: string, r: ExecResult): StepFailure {
  const how = r.exitCode !== null ? `exit ${r.exitCode}` : `signal ${r.signal}`;
  return { kind: 'step', message: `${what} failed (${how}): ${tail(r.stderr || r.stdout)}` };
}

// schema parts: defined in the step catalog (loaded without the implementations, issue 17)
export { withTemplates, becomeSchema, envSchema } from '../catalog.js';

export const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
});
