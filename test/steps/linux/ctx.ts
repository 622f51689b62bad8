/**
 * A hand-built StepContext for guest step tests: a real connector to a real sshd, facts gathered
 * through gatherGuestFacts and cached like the engine does, a state map, logs and intents kept.
 */
import type { Connector } from '../../../src/connectors/types.js';
import { gatherGuestFacts } from '../../../src/facts/linux.js';
import type { HostSpec } from '../../../src/model/inventory.js';
import type { VmHandle } from '../../../src/hypervisor/types.js';
import { err, ok, type Result } from '../../../src/util/result.js';
import type { ApplyResult, Intent, PlanResult, ResumedApply, StepContext, StepFailure, StepType } from '../../../src/steps/types.js';
import { HostState } from '../../../src/steps/state.js';

export interface TestCtx extends StepContext {
  logs: string[];
  intents: Intent[];
  factGathers: number;
}

export function makeCtx(host: HostSpec, connector: Connector, opts: { check?: boolean; vm?: VmHandle; resumedApply?: ResumedApply } = {}): TestCtx {
  const cache = new Map<string, Promise<Result<Record<string, unknown>, StepFailure>>>();
  const ctx: TestCtx = {
    host,
    check: opts.check === true,
    scope: {},
    signal: new AbortController().signal,
    state: new HostState(),
    logs: [],
    intents: [],
    factGathers: 0,
    facts: {
      get(ns) {
        if (ns !== 'guest') return Promise.resolve(err({ kind: 'step', message: `no facts namespace ${ns} in tests` }));
        let p = cache.get(ns);
        if (!p) {
          ctx.factGathers++;
          p = gatherGuestFacts(connector, host).then((r) => (r.ok ? ok(r.value as unknown as Record<string, unknown>) : r));
          cache.set(ns, p);
        }
        return p;
      },
      invalidate(ns) {
        if (ns === undefined) cache.clear();
        else cache.delete(ns);
      },
    },
    guest: async () => ok(connector),
    vm: async () => (opts.vm ? ok(opts.vm) : err({ kind: 'config', message: 'this test host has no VM' })),
    log: (line) => { ctx.logs.push(line); },
    intent: async (i) => { ctx.intents.push(i); },
    ...(opts.resumedApply ? { resumedApply: opts.resumedApply } : {}),
  };
  return ctx;
}

/** What the engine does for one step: plan, and apply when a change is planned (not in check mode). */
export async function runStep<A, P, U>(step: StepType<A, P, U>, ctx: StepContext, args: A): Promise<{ plan: PlanResult<P>; apply?: ApplyResult<U> }> {
  const plan = await step.plan(ctx, args);
  if (plan.kind !== 'change' || ctx.check) return { plan };
  return { plan, apply: await step.apply(ctx, args, plan) };
}
