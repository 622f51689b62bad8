import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VmHandle } from '../../src/hypervisor/types.js';
import { rebootVm } from '../../src/hypervisor/vm-power.js';
import { resolveVm } from '../../src/hypervisor/vm-resolve.js';
import { callAsync } from '../../src/hypervisor/xapi/index.js';
import type { XapiSimulator } from '../../src/lab/xapi-sim/index.js';
import { client, must, startSim } from './helpers.js';

let sim: XapiSimulator;
beforeAll(async () => {
  sim = await startSim();
});
afterAll(async () => {
  await sim.stop();
});

describe('pools that refuse event.from', () => {
  it('tasks are then polled, at most about once a second', async () => {
    const c = client(sim.url);
    const r = must(await resolveVm(c, { pool: 'p', name_label: 'lin-2' }));
    sim.setBootTiming(r.uuid, { bootDelayMs: 2500 });
    sim.addFault({ method: 'event.from', code: 'MESSAGE_METHOD_UNKNOWN', params: ['event.from'] });
    sim.clearCallLog();
    must(await callAsync(c, 'VM.hard_reboot', [r.ref]));
    sim.clearFaults();
    sim.setBootTiming(r.uuid, { bootDelayMs: 0 });
    const polls = sim.calls.filter((x) => x.method === 'task.get_record').length;
    // 2.5 s of waiting: the first read, then one per second (not a tight loop)
    expect(polls).toBeGreaterThanOrEqual(2);
    expect(polls).toBeLessThanOrEqual(5);
    await c.close();
  });

  it('VM waits then read the facts at most about once a second', async () => {
    const c = client(sim.url);
    const r = must(await resolveVm(c, { pool: 'p', name_label: 'lin-2' }));
    const h: VmHandle = { pool: 'p', ...r, xapi: c };
    sim.setBootTiming(r.uuid, { guestReportDelayMs: 2500 });
    sim.addFault({ method: 'event.from', code: 'MESSAGE_METHOD_UNKNOWN', params: ['event.from'] });
    sim.clearCallLog();
    const rb = await rebootVm(h, { mode: 'hard', freshMetrics: true }, 20_000);
    sim.clearFaults();
    sim.setBootTiming(r.uuid, { guestReportDelayMs: 10 });
    expect(rb).toMatchObject({ ok: true, value: { facts: { metrics_fresh: true } } });
    // ~2.5 s until the guest reports: a first read, then about one per second
    const reads = sim.calls.filter((x) => x.method === 'VM.get_record').length;
    expect(reads).toBeGreaterThanOrEqual(2);
    expect(reads).toBeLessThanOrEqual(6);
    await c.close();
  });
});
