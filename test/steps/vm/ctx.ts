import type { Connector } from '../../../src/connectors/types.js';
import { PoolSessions } from '../../../src/hypervisor/pool.js';
import type { HostSpec } from '../../../src/model/inventory.js';
import type { Intent, StepContext, StepFailure } from '../../../src/steps/types.js';
import type { HostServices } from '../../../src/engine/types.js';
import { makeStepContext } from '../../../src/engine/step-context.js';
import type { Result } from '../../../src/util/result.js';
import { err, ok } from '../../../src/util/result.js';
import type { XapiSimulator } from '../../../src/lab/xapi-sim/index.js';
import { HostState } from '../../../src/steps/state.js';

export interface TestCtx extends StepContext {
  intents: (Intent & { mutatingCallsBefore: number })[];
  logs: string[];
  pools: PoolSessions;
}

/** A StepContext for one VM of the simulator, built by the engine's makeStepContext (no run involved). */
export function makeCtx(sim: XapiSimulator, vmName: string, o: { check?: boolean; runId?: string; pools?: PoolSessions } = {}): TestCtx {
  const pools = o.pools ?? new PoolSessions(
    { lab: { name: 'lab', url: sim.url, username: 'root', password: { env: 'X' }, tls: {}, pos: { file: 't', line: 1, col: 1 } } },
    () => ok('pw'),
    { mode: o.check ? 'check' : 'apply' },
  );
  const host: HostSpec = {
    name: vmName, vars: {}, connection: { type: 'none' }, vm: { pool: 'lab', name_label: vmName }, groups: ['all'],
    pos: { file: 't', line: 1, col: 1 },
  };
  const intents: TestCtx['intents'] = [];
  const logs: string[] = [];
  // the engine's own context builder (src/engine/step-context.ts), with this test's services
  const services: HostServices = {
    guest: async (): Promise<Result<Connector, StepFailure>> => err({ kind: 'config', message: 'no guest connector in this test' }),
    vm: async (h) => {
      const r = await pools.vm(h.vm!);
      return r.ok ? r : err({ kind: 'hypervisor', failure: r.error });
    },
    facts: async () => ok({}),
    intent: async (_h, _s, i) => void intents.push({ ...i, mutatingCallsBefore: sim.mutatingCalls.length }),
  };
  const base = makeStepContext({
    host,
    check: o.check ?? false,
    services,
    facts: { get: async () => ok({}), invalidate: () => undefined },
    state: new HostState(),
    scope: () => ({ run: { id: o.runId ?? 'run-1', playbook: 'test.yml' }, host: { name: vmName }, vars: {} }),
    emit: (e) => { if (e.type === 'step-output') logs.push(e.text); },
    now: () => new Date().toISOString(),
  }, new AbortController().signal, 'test-step');
  const ctx: TestCtx = { ...base, intents, logs, pools };
  return ctx;
}
