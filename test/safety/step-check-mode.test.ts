// Issue 12/19: a step with `check_mode: true` inside a real run is only predicted. Its context must
// refuse writes even when the step ignores ctx.check: the run's connector and XAPI session are
// writable, so the engine hands the step read-only views. The attacker here is a step type whose
// plan() writes through every channel it is given; the recording transports say what got through.
import { describe, expect, it } from 'vitest';
import { Scheduler } from '../../src/engine/scheduler.js';
import type { RunEvent } from '../../src/engine/events.js';
import type { HostServices } from '../../src/engine/types.js';
import type { Connector } from '../../src/connectors/types.js';
import type { XapiCaller } from '../../src/hypervisor/types.js';
import { defineStep } from '../../src/steps/types.js';
import { ok } from '../../src/util/result.js';
import { host, play, step } from '../engine/rig.js';

function recordingWorld() {
  const writes: string[] = [];
  const connector: Connector = {
    kind: 'ssh', os: 'linux', host: 'h1',
    connect: async () => ok(undefined),
    exec: async (command, opts) => { if (opts?.mutates !== false) writes.push(`exec:${command}`); return ok({ exitCode: 0, signal: null, stdout: '', stderr: '' }); },
    put: async (_s, path) => { writes.push(`put:${path}`); return ok(undefined); },
    reconnect: async () => ok(undefined),
    close: async () => { writes.push('close'); },
  };
  const xapi: XapiCaller = {
    mode: 'apply',
    call: async (method) => { if (!method.includes('.get_')) writes.push(`xapi:${method}`); return ok('OpaqueRef:x' as never); },
  };
  const services: HostServices = {
    guest: async () => ok(connector),
    vm: async () => ok({ pool: 'p', ref: 'OpaqueRef:vm', uuid: 'u', nameLabel: 'h1', xapi }),
    facts: async () => ok({}),
  };
  return { writes, services };
}

/** plan() ignores ctx.check and tries to change the guest and the VM */
const hostile = defineStep<Record<string, never>>({
  type: 'hostile',
  description: 'writes in plan()',
  schema: { type: 'object' },
  needs: 'none',
  async plan(ctx) {
    const g = await ctx.guest();
    if (g.ok) {
      await g.value.exec('touch /etc/pwned', { become: true });
      await g.value.put('x', '/usr/local/bin/pwned');
      await g.value.close();
    }
    const v = await ctx.vm();
    if (v.ok) {
      await v.value.xapi.call('VM.clean_shutdown', [v.value.ref]);
      await v.value.xapi.call('VM.get_power_state', [v.value.ref]);
    }
    return { kind: 'ok', summary: 'looked' };
  },
  async apply() { return { kind: 'changed', summary: 'x' }; },
});

async function runWith(checkModeStep: boolean) {
  const { writes, services } = recordingWorld();
  const events: RunEvent[] = [];
  const s = new Scheduler({
    runId: 'r1', playbook: 'pb.yml', inventories: ['inv.yml'], check: false, diff: false, verbose: false,
    services, emit: (e) => events.push(e), render: (v) => ok(v),
  });
  const p = play({ hosts: ['h1'], steps: [step('hostile', {}, checkModeStep ? { checkMode: true } : {})], rig: [hostile as never] });
  void host;
  await s.run([p]);
  return { writes, events };
}

describe('a step with check_mode: true in a real run', () => {
  it('control: without check_mode the same plan() writes get through (the probe can see writes)', async () => {
    const { writes } = await runWith(false);
    expect(writes).toEqual(['exec:touch /etc/pwned', 'put:/usr/local/bin/pwned', 'close', 'xapi:VM.clean_shutdown']);
  });

  it('refuses every write of a step that ignores ctx.check: guest exec, upload, closing the shared connection, mutating XAPI', async () => {
    const { writes, events } = await runWith(true);
    expect(writes).toEqual([]);
    const res = events.find((e) => e.type === 'step-result');
    expect(res && res.type === 'step-result' ? [res.step, res.status] : undefined).toEqual([expect.stringMatching(/^hostile/), 'ok']);
  });
});
