import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRecords } from '../../src/hypervisor/read-records.js';
import type { VbdRecord } from '../../src/hypervisor/records.js';
import { findCdDrive, readCdDrive } from '../../src/hypervisor/vm-cd.js';
import { resolveVm } from '../../src/hypervisor/vm-resolve.js';
import { VmWatch } from '../../src/hypervisor/vm-watch.js';
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

const methods = (from: number) => sim.calls.slice(from).map((x) => x.method);

describe('tasks are waited for on their event.from record', () => {
  it('no task.get_record: status, result and error_info come with the event', async () => {
    const c = client(sim.url);
    const { ref } = sim.vm('lin-2');
    const n = sim.calls.length;
    const snap = must(await callAsync(c, 'VM.snapshot', [ref, 'economy', []]));
    expect(snap).toMatch(/^OpaqueRef:/);
    const m = methods(n).filter((x) => x !== 'session.login_with_password');
    expect(m[0]).toBe('Async.VM.snapshot');
    expect(m.at(-1)).toBe('task.destroy');
    expect(m.filter((x) => x === 'event.from').length).toBeGreaterThanOrEqual(1);
    expect(m.filter((x) => x.startsWith('task.get_'))).toEqual([]);
    expect(m.length).toBeLessThanOrEqual(5);
    // a failure: error_info from the event snapshot
    const k = sim.calls.length;
    expect(await callAsync(c, 'VM.start', [ref, false, false])).toMatchObject({ ok: false, error: { code: 'VM_BAD_POWER_STATE', params: [ref, 'halted', 'running'] } });
    expect(methods(k).filter((x) => x.startsWith('task.get_'))).toEqual([]);
    expect(sim.model.store.table('task').size).toBe(0);
    must(await callAsync(c, 'VM.destroy', [snap]));
    await c.close();
  });

  it('a long task is woken by its event, not polled', async () => {
    const c = client(sim.url);
    const r = must(await resolveVm(c, { pool: 'p', name_label: 'lin-2' }));
    sim.setBootTiming(r.uuid, { bootDelayMs: 1500 });
    const n = sim.calls.length;
    const t0 = Date.now();
    must(await callAsync(c, 'VM.hard_reboot', [r.ref]));
    sim.setBootTiming(r.uuid, { bootDelayMs: 0 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
    const waits = sim.calls.slice(n).filter((x) => x.method === 'event.from');
    // the first read (empty token), then one blocking wait (or two if an event came early)
    expect(waits.length).toBeLessThanOrEqual(3);
    expect(waits.slice(1).every((x) => Number(x.params[2]) > 0)).toBe(true);
    expect(methods(n).filter((x) => x.startsWith('task.get_'))).toEqual([]);
    await c.close();
  });
});

describe('reading several records in one call', () => {
  it('readRecords: one event.from for many refs, get_record for one, vanished refs left out', async () => {
    const c = client(sim.url);
    const { ref } = sim.vm('lin-1');
    const vbds = must(await c.call<string[]>('VM.get_VBDs', [ref]));
    expect(vbds.length).toBeGreaterThan(1);
    let n = sim.calls.length;
    const all = must(await readRecords<VbdRecord>(c, 'VBD', [...vbds, 'OpaqueRef:00000000-dead-beef-0000-000000000000']));
    expect(methods(n)).toEqual(['event.from']);
    expect([...all.keys()].sort()).toEqual([...vbds].sort());
    expect([...all.values()].every((v) => v.VM === ref)).toBe(true);
    n = sim.calls.length;
    const one = must(await readRecords<VbdRecord>(c, 'VBD', [vbds[0]!]));
    expect(methods(n)).toEqual(['VBD.get_record']);
    expect(one.get(vbds[0]!)?.VM).toBe(ref);
    // a pool refusing event.from: get_record each
    sim.addFault({ method: 'event.from', code: 'MESSAGE_METHOD_UNKNOWN', params: ['event.from'] });
    n = sim.calls.length;
    const again = must(await readRecords<VbdRecord>(c, 'VBD', vbds));
    sim.clearFaults();
    expect(again.size).toBe(vbds.length);
    expect(methods(n).filter((x) => x === 'VBD.get_record')).toHaveLength(vbds.length);
    await c.close();
  });

  it('the CD drive by ref: one VBD.get_record; a ref that is gone says so', async () => {
    const c = client(sim.url);
    const { ref } = sim.vm('lin-1');
    const cd = must(await findCdDrive(c, ref))!;
    const n = sim.calls.length;
    expect(must(await readCdDrive(c, ref, cd.ref))).toEqual(cd);
    expect(methods(n)).toEqual(['VBD.get_record']);
    expect(must(await readCdDrive(c, ref, 'OpaqueRef:00000000-dead-beef-0000-000000000000'))).toBeUndefined();
    const other = sim.vm('lin-2').ref;
    expect(must(await readCdDrive(c, other, cd.ref))).toBeUndefined();
    await c.close();
  });
});

describe('VmWatch opening', () => {
  it('with the metrics hint from resolution: one event.from for all three records', async () => {
    const c = client(sim.url);
    const r = must(await resolveVm(c, { pool: 'p', name_label: 'lin-1' }));
    const n = sim.calls.length;
    const w = must(await VmWatch.open(c, r.ref, r.metrics));
    expect(methods(n)).toEqual(['event.from']);
    expect(w.facts).toMatchObject({ power_state: 'Running', pv_drivers_detected: true, metrics_fresh: true });
    // without a hint, or with a stale one: the metrics are loaded by a second call
    const k = sim.calls.length;
    const w2 = must(await VmWatch.open(c, r.ref, { metrics: r.metrics.metrics, guestMetrics: 'OpaqueRef:00000000-dead-beef-0000-000000000000' }));
    expect(methods(k)).toEqual(['event.from', 'event.from']);
    expect(w2.facts).toEqual(w.facts);
    await c.close();
  });
});
