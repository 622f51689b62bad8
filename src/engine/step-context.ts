/**
 * The StepContext a step gets: built here, once, for the engine and for tests that drive a step
 * type without a whole run (test/steps/vm/ctx.ts). A step sees its host, the check flag, the
 * template scope, its abort signal, the host's facts and scratch state, and its transports.
 */
import type { Connector } from '../connectors/types.js';
import type { HostSpec } from '../model/inventory.js';
import type { FactCache, StepContext, StepFailure } from '../steps/types.js';
import type { HostState } from '../steps/state.js';
import { ok, type Result } from '../util/result.js';
import type { EventSink } from './events.js';
import { readOnlyConnector, readOnlyVm } from './read-only-views.js';
import type { HostServices } from './types.js';

export interface StepContextDeps {
  host: HostSpec;
  /** the whole run is a rehearsal */
  check: boolean;
  services: HostServices;
  facts: FactCache;
  state: HostState;
  /** the template scope as it is now (registered values change from step to step) */
  scope(): Record<string, unknown>;
  emit: EventSink;
  now(): string;
  /** every answer to a step's request for the guest (HostRun tracks reachability with it) */
  onGuest?(r: Result<Connector, StepFailure>): void;
}

/**
 * `signal` may be given as a function: it is then called when the step first reads
 * `ctx.signal` (the engine's Attempt makes its AbortSignal only then).
 */
export function makeStepContext(d: StepContextDeps, signal: AbortSignal | (() => AbortSignal), stepName: string): StepContext {
  const { services, host } = d;
  // the scope is a copy made when first read (few steps read it): made once, then the same
  let scope: Record<string, unknown> | undefined;
  return {
    host,
    check: d.check,
    get scope() {
      return (scope ??= d.scope());
    },
    get signal() {
      return typeof signal === 'function' ? signal() : signal;
    },
    facts: d.facts,
    state: d.state,
    guest: async () => {
      const r = await services.guest(host);
      d.onGuest?.(r);
      return r;
    },
    vm: () => services.vm(host),
    log: (line, level) => d.emit({ type: 'step-output', host: host.name, step: stepName, stream: 'log', text: line, ...(level === 2 || level === 3 ? { level } : {}) }),
    intent: async (intent) => {
      d.emit({ type: 'intent', host: host.name, step: stepName, action: intent.action, detail: intent.detail, time: d.now() });
      await services.intent?.(host.name, stepName, intent);
    },
  };
}

/**
 * The context of a step predicted inside a real run (`check_mode: true`): check mode, and
 * read-only views of the run's writable connector and XAPI session, so a step that forgets to
 * look at ctx.check still changes nothing.
 */
export function predictOnlyContext(base: StepContext): StepContext {
  return extendContext(base, {
    check: true,
    guest: async () => {
      const r = await base.guest();
      return r.ok ? ok(readOnlyConnector(r.value)) : r;
    },
    vm: async () => {
      const r = await base.vm();
      return r.ok ? ok(readOnlyVm(r.value)) : r;
    },
  });
}

/**
 * A copy of a context with some fields replaced or added. Not a spread: a spread reads every
 * getter, and `signal` is a getter that makes the try's AbortSignal only when a step reads it.
 */
export function extendContext(base: StepContext, extra: Partial<StepContext>): StepContext {
  return Object.defineProperties({} as StepContext, { ...Object.getOwnPropertyDescriptors(base), ...Object.getOwnPropertyDescriptors(extra) });
}
