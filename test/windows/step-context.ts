/**
 * A StepContext for driving Windows steps directly in tests: a real connector, in-memory state,
 * recorded intents and log lines. (The engine builds the real one; this is its plumbing only.)
 */
import type { Connector } from '../../src/connectors/types.js';
import type { HostSpec } from '../../src/model/inventory.js';
import type { ApplyResult, Intent, PlanResult, ResumedApply, StepContext, StepType } from '../../src/steps/types.js';
import { err, ok } from '../../src/util/result.js';
import { HostState } from '../../src/steps/state.js';

export interface TestContext extends StepContext {
  intents: Intent[];
  lines: string[];
}

export function stepContext(host: HostSpec, conn: Connector, o: { check?: boolean; state?: HostState; resumedApply?: ResumedApply } = {}): TestContext {
  const intents: Intent[] = [];
  const lines: string[] = [];
  return {
    host,
    check: o.check === true,
    scope: {},
    signal: new AbortController().signal,
    facts: { get: async () => err({ kind: 'step', message: 'no fact cache in this test' }), invalidate: () => {} },
    state: o.state ?? new HostState(),
    guest: async () => ok(conn),
    vm: async () => err({ kind: 'config', message: 'no VM in this test' }),
    log: (l) => { lines.push(l); },
    intent: async (i) => { intents.push(i); },
    intents,
    lines,
    ...(o.resumedApply ? { resumedApply: o.resumedApply } : {}),
  };
}

/** plan, then apply when a change is planned (what the engine does outside check mode) */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function runStep<A>(step: StepType<A>, ctx: StepContext, args: A): Promise<{ plan: PlanResult; apply?: ApplyResult }> {
  const plan = await step.plan(ctx, args);
  if (plan.kind !== 'change' || ctx.check) return { plan };
  return { plan, apply: await step.apply(ctx, args, plan) };
}
