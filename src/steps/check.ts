import type { CheckPredicate } from './predicate-types.js';
import { checkStepInfo, verifyStepInfo, type CheckArgs } from './catalog.js';
import { defineStep, type PlanResult, type StepContext, type StepType } from './types.js';

const CONTROL_KEYS = ['otherwise', 'timeout', 'interval'];
const RAN_NOTE = 'ran in check mode (check_mode_safe)';

interface Evaluation {
  pass: boolean;
  stale: boolean;
  text: string;
  error?: { reason: string; unreachable: boolean };
  /** check mode: no predicate failed, but some could not be evaluated without running user commands */
  unknown?: string;
}

async function evaluateAll(ctx: StepContext, preds: Map<string, CheckPredicate>, args: CheckArgs, fresh: boolean): Promise<Evaluation> {
  const failed: string[] = [];
  const passed: string[] = [];
  const unknown: string[] = [];
  let stale = false;
  for (const [key, expected] of Object.entries(args)) {
    if (CONTROL_KEYS.includes(key)) continue;
    const p = preds.get(key);
    if (!p) return { pass: false, stale: false, text: '', error: { reason: `unknown predicate '${key}'`, unreachable: false } };
    const r = await p.evaluate(ctx, expected, { fresh });
    if (!r.ok) {
      const f = r.error;
      const unreachable = f.kind === 'guest' && ['unreachable', 'auth-failed', 'host-key-mismatch', 'connection-lost'].includes(f.failure.kind);
      const reason = f.kind === 'guest' ? `${f.failure.kind}: ${f.failure.message}` : f.kind === 'hypervisor' ? f.failure.message : f.message;
      return { pass: false, stale: false, text: '', error: { reason: `${key}: ${reason}`, unreachable } };
    }
    if (r.value.unknown !== undefined) { unknown.push(`${key}: ${r.value.unknown}`); continue; }
    if (r.value.stale) stale = true;
    const note = r.value.ranInCheck ? ` [${RAN_NOTE}]` : '';
    (r.value.pass ? passed : failed).push(r.value.pass ? `${key} = ${r.value.actual}${note}` : `${key} is ${r.value.actual}, expected ${r.value.expected}${r.value.stale ? ' (data not fresh since boot)' : ''}${note}`);
  }
  // a predicate that fails decides (all must hold); otherwise an unknown one leaves it open
  if (failed.length > 0) return { pass: false, stale, text: failed.join('; ') };
  if (unknown.length > 0) return { pass: false, stale, text: [...unknown, ...passed].join('; '), unknown: unknown.join('; ') };
  return { pass: true, stale, text: passed.join(', ') };
}

/** `check:` — read-only predicates before acting; a failure fails the host or skips it. */
export function makeCheckStep(predicates: CheckPredicate[]): StepType<CheckArgs> {
  const preds = new Map(predicates.map((p) => [p.key, p]));
  return defineStep<CheckArgs>({
    ...checkStepInfo(predicates),
    async plan(ctx, args): Promise<PlanResult> {
      const e = await evaluateAll(ctx, preds, args, false);
      if (e.error) return { kind: 'fail', reason: e.error.reason, unreachable: e.error.unreachable };
      if (e.unknown !== undefined) return { kind: 'unknown', reason: e.text };
      if (e.pass) return { kind: 'ok', summary: e.text };
      if (args.otherwise === 'skip-host') return { kind: 'skip-host', reason: `skipped: ${e.text}` };
      return { kind: 'fail', reason: e.text };
    },
    async apply() {
      // plan() never asks for a change, so the engine never calls this.
      return { kind: 'ok', summary: 'nothing to do' };
    },
  });
}

/**
 * `verify:` — predicates after the change. Only data produced since the current boot counts
 * (guest metrics survive a halt), and verify waits for the predicates up to `timeout`.
 */
export function makeVerifyStep(predicates: CheckPredicate[]): StepType<CheckArgs> {
  const preds = new Map(predicates.map((p) => [p.key, p]));
  return defineStep<CheckArgs>({
    ...verifyStepInfo(predicates),
    async plan(ctx, args): Promise<PlanResult> {
      const timeoutMs = (args.timeout ?? 300) * 1000;
      const intervalMs = Math.max(1, args.interval ?? 2) * 1000;
      const deadline = Date.now() + timeoutMs;
      let last: Evaluation;
      for (;;) {
        last = await evaluateAll(ctx, preds, args, true);
        // only check mode leaves predicates unknown, and check mode does not wait
        if (last.unknown !== undefined) return { kind: 'unknown', reason: last.text };
        if (last.pass) return { kind: 'ok', summary: `verified: ${last.text}` };
        // In check mode nothing waits: the prediction is what is seen now.
        if (ctx.check || last.error?.unreachable || Date.now() + intervalMs > deadline || ctx.signal.aborted) break;
        await new Promise((r) => setTimeout(r, intervalMs));
        ctx.facts.invalidate();
      }
      if (last.error) return { kind: 'fail', reason: last.error.reason, unreachable: last.error.unreachable };
      return { kind: 'fail', reason: `not verified after ${timeoutMs / 1000}s: ${last.text}` };
    },
    async apply() {
      return { kind: 'ok', summary: 'nothing to do' };
    },
  });
}
