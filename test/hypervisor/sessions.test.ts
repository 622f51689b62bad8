import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VmHandle } from '../../src/hypervisor/types.js';
import { rebootVm } from '../../src/hypervisor/vm-power.js';
import { resolveVm } from '../../src/hypervisor/vm-resolve.js';
import type { XapiSimulator } from '../../src/lab/xapi-sim/index.js';
import { client, must, startSim } from './helpers.js';

let sim: XapiSimulator;
beforeAll(async () => {
  sim = await startSim({ sessionTtlMs: 200 });
});
afterAll(async () => {
  await sim.stop();
});

describe('sessions and pool changes', () => {
  it('an idle session expires (TTL); the client logs in again on its own', async () => {
    const c = client(sim.url);
    must(await c.login());
    const first = c.sessionRef;
    await new Promise((r) => setTimeout(r, 400));
    must(await c.call('pool.get_all', []));
    expect(c.sessionRef).not.toBe(first);
    expect(sim.calls.filter((x) => x.error === 'SESSION_INVALID').length).toBeGreaterThan(0);
    await c.close();
  });

  it('follows the master when a call answers HOST_IS_SLAVE (pool failover)', async () => {
    const c = client(sim.url);
    must(await c.login());
    const master = new URL(sim.url).host;
    sim.addFault({ method: 'host.get_all', code: 'HOST_IS_SLAVE', params: [master], times: 1 });
    const hosts = must(await c.call<string[]>('host.get_all', []));
    sim.clearFaults();
    expect(hosts).toHaveLength(2);
    expect(c.url).toBe(sim.url);
    await c.close();
  });

  it('a slow boot is waited for, not mistaken for a failure', async () => {
    const c = client(sim.url, { callTimeoutMs: 10_000 });
    const r = must(await resolveVm(c, { pool: 'p', name_label: 'lin-2' }));
    const h: VmHandle = { pool: 'p', ...r, xapi: c };
    sim.setBootTiming(r.uuid, { bootDelayMs: 400, guestReportDelayMs: 400 });
    const rb = must(await rebootVm(h, { mode: 'hard' }, 20_000));
    expect(rb.facts.metrics_fresh).toBe(true);
    sim.setBootTiming(r.uuid, { bootDelayMs: 0, guestReportDelayMs: 10 });
    // fresh metrics required: a guest slower than the timeout is a timeout, with what was awaited
    sim.setBootTiming(r.uuid, { guestReportDelayMs: 60_000 });
    const slow = await rebootVm(h, { mode: 'hard', freshMetrics: true }, 500);
    expect(slow).toMatchObject({ ok: false, error: { kind: 'timeout' } });
    expect(!slow.ok && slow.error.message).toMatch(/fresh guest metrics/);
    // by default ('prefer') the reboot succeeds once running and says the metrics are not fresh
    const pref = must(await rebootVm(h, { mode: 'hard', freshGraceMs: 300 }, 20_000));
    expect(pref.facts).toMatchObject({ power_state: 'Running', metrics_fresh: false });
    sim.setBootTiming(r.uuid, { guestReportDelayMs: 10 });
    await c.close();
  });
});
