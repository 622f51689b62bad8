import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverVms, formatDiscoveryInventory, formatDiscoveryTable } from '../../src/hypervisor/discovery.js';
import { PoolSessions } from '../../src/hypervisor/pool.js';
import type { VmHandle } from '../../src/hypervisor/types.js';
import { findCdDrive, findToolsIso } from '../../src/hypervisor/vm-cd.js';
import { readVmFacts } from '../../src/hypervisor/vm-facts.js';
import { versionSatisfies } from '../../src/util/version.js';
import { rebootVm, shutdownVm, startVm } from '../../src/hypervisor/vm-power.js';
import { resolveVm } from '../../src/hypervisor/vm-resolve.js';
import { MARK, destroySnapshot, listPvrunSnapshots, revertToSnapshot, takeSnapshot } from '../../src/hypervisor/vm-snapshot.js';
import { parseXapiDate } from '../../src/hypervisor/xapi-date.js';
import { callAsync } from '../../src/hypervisor/xapi/index.js';
import type { XapiClient } from '../../src/hypervisor/xapi/index.js';
import type { XapiSimulator } from '../../src/lab/xapi-sim/index.js';
import { parse } from 'yaml';
import { client, must, startSim } from './helpers.js';

let sim: XapiSimulator;
let c: XapiClient;
beforeAll(async () => {
  sim = await startSim();
  c = client(sim.url);
});
afterAll(async () => {
  await c.close();
  await sim.stop();
});

async function handle(name: string): Promise<VmHandle> {
  const r = must(await resolveVm(c, { pool: 'p', name_label: name }));
  return { pool: 'p', ...r, xapi: c };
}

describe('VM resolution', () => {
  it('by name, excluding snapshots and templates', async () => {
    const h = await handle('lin-2');
    const snap = must(await takeSnapshot(h, 'lin-2', { [MARK.run]: 'r' }));
    const again = must(await resolveVm(c, { pool: 'p', name_label: 'lin-2' }));
    expect(again.ref).toBe(h.ref);
    must(await destroySnapshot(c, snap.ref));
    expect(await resolveVm(c, { pool: 'p', name_label: 'Debian Bookworm 12' })).toMatchObject({ ok: false, error: { kind: 'vm-not-found' } });
  });

  it('an ambiguous name lists the candidates with uuids', async () => {
    const r = await resolveVm(c, { pool: 'p', name_label: 'dup' });
    expect(r.ok).toBe(false);
    if (r.ok || r.error.kind !== 'vm-ambiguous') throw new Error('expected vm-ambiguous');
    expect(r.error.candidates).toHaveLength(2);
    expect(r.error.message).toContain(r.error.candidates[0]!.uuid);
  });

  it('by uuid; unknown uuid is not-found', async () => {
    const uuid = String(sim.vm('lin-1').rec.uuid);
    expect(must(await resolveVm(c, { pool: 'p', uuid })).nameLabel).toBe('lin-1');
    expect(await resolveVm(c, { pool: 'p', uuid: '11111111-1111-1111-1111-111111111111' })).toMatchObject({ ok: false, error: { kind: 'vm-not-found' } });
  });
});

describe('VM facts', () => {
  it('reads facts in three calls', async () => {
    const h = await handle('lin-2');
    const n = sim.calls.length;
    const f = must(await readVmFacts(c, h.ref));
    expect(sim.calls.length - n).toBe(3);
    expect(f).toMatchObject({
      power_state: 'Running', virtualization_mode: 'PVHVM', pv_drivers_detected: true, management_agent_detected: true,
      pv_drivers_version: '9.4.0.12', os_name: 'Rocky Linux 9', metrics_fresh: true, ips: ['10.0.0.10'],
    });
  });

  it('HVM without tools; drivers without agent', async () => {
    const w = must(await readVmFacts(c, (await handle('win-1')).ref));
    expect(w).toMatchObject({ virtualization_mode: 'HVM', pv_drivers_detected: false, management_agent_detected: false, has_vendor_device: true, has_guest_metrics: false });
    const l = must(await readVmFacts(c, (await handle('lin-1')).ref));
    expect(l).toMatchObject({ virtualization_mode: 'PVHVM', pv_drivers_detected: true, management_agent_detected: false, pv_drivers_version: null });
  });

  it('versions and dates', () => {
    expect(versionSatisfies('9.4.0.12', '>= 9.0')).toBe(true);
    expect(versionSatisfies('8.2.1', '>= 9.0')).toBe(false);
    expect(versionSatisfies('9.0', '9')).toBe(true);
    expect(versionSatisfies('9.0', 'banana')).toBeUndefined();
    expect(parseXapiDate('20260126T11:51:32Z')).toBe(Date.UTC(2026, 0, 26, 11, 51, 32));
    expect(parseXapiDate('2026-01-26T11:51:32.250Z')).toBe(Date.UTC(2026, 0, 26, 11, 51, 32, 250));
    expect(parseXapiDate('garbage')).toBeUndefined();
  });
});

describe('power', () => {
  it('reboot auto: hard when clean is not allowed (no tools), then running again', async () => {
    const h = await handle('win-1');
    const before = must(await readVmFacts(c, h.ref));
    const r = must(await rebootVm(h, { mode: 'auto' }, 30_000));
    expect(r.method).toBe('hard_reboot');
    expect(r.fallback).toMatch(/allowed_operations/);
    expect(r.facts.power_state).toBe('Running');
    expect(parseXapiDate(r.facts.start_time)! > parseXapiDate(before.start_time)!).toBe(true);
    expect(sim.calls.some((x) => x.method === 'Async.VM.clean_reboot')).toBe(false);
  });

  it('reboot auto: clean with tools, waits for fresh metrics', async () => {
    const h = await handle('lin-2');
    sim.setBootTiming(h.uuid, { guestReportDelayMs: 300 });
    const r = must(await rebootVm(h, { mode: 'auto' }, 30_000));
    expect(r.method).toBe('clean_reboot');
    expect(r.facts.metrics_fresh).toBe(true);
    sim.setBootTiming(h.uuid, { guestReportDelayMs: 10 });
  });

  it('reboot clean on a VM that cannot: the XAPI error', async () => {
    const h = await handle('win-1');
    expect(await rebootVm(h, { mode: 'clean' }, 10_000)).toMatchObject({ ok: false, error: { code: 'VM_LACKS_FEATURE' } });
  });

  it('reboot auto falls back to hard when clean is refused at call time', async () => {
    const h = await handle('lin-2');
    sim.addFault({ method: 'Async.VM.clean_reboot', code: 'VM_LACKS_FEATURE', params: [h.ref], times: 1 });
    const r = must(await rebootVm(h, { mode: 'auto' }, 30_000));
    sim.clearFaults();
    expect(r.method).toBe('hard_reboot');
    expect(r.fallback).toMatch(/refused/);
  });

  it('shutdown clean then start', async () => {
    const h = await handle('lin-2');
    expect(must(await shutdownVm(h, 5000, 10_000)).method).toBe('clean_shutdown');
    expect(must(await startVm(h, 10_000, { freshMetrics: true })).metrics_fresh).toBe(true);
    const w = await handle('win-1');
    expect(must(await shutdownVm(w, 5000, 10_000))).toMatchObject({ method: 'hard_shutdown' });
    must(await startVm(w, 10_000));
  });
});

describe('snapshots and CD', () => {
  it('revert restores power state; destroy removes only the disk VDIs', async () => {
    const h = await handle('lin-1');
    const cd = must(await findCdDrive(c, h.ref))!;
    const tools = must(await findToolsIso(c));
    expect(tools.nameLabel).toBe('guest-tools.iso');
    sim.writeDisk('lin-1', 'v1');
    const snap = must(await takeSnapshot(h, 'pvrun test', { [MARK.run]: 'run-1', [MARK.host]: 'lin-1' }));
    must(await callAsync(c, 'VBD.insert', [cd.ref, tools.ref]));
    sim.writeDisk('lin-1', 'v2');
    const rv = must(await revertToSnapshot(h, snap.ref, { powerState: 'Running', timeoutMs: 20_000 }));
    expect(rv.restarted).toBe(true);
    expect(rv.facts.power_state).toBe('Running');
    expect(rv.cdVbds).toHaveLength(1);
    expect(rv.cdVbds[0]).not.toBe(cd.ref);
    expect(sim.diskContent('lin-1')).toBe('v1');
    expect(must(await listPvrunSnapshots(c, h.ref)).map((s) => s.uuid)).toEqual([snap.uuid]);

    const snapRec = sim.record('VM', snap.ref)!;
    const snapVbds = (snapRec.VBDs as string[]).map((v) => sim.record('VBD', v)!);
    const diskVdi = String(snapVbds.find((b) => b.type === 'Disk')!.VDI);
    const vdis = sim.model.store.table('VDI').size;
    const d = must(await destroySnapshot(c, snap.ref));
    expect(d.vdis).toEqual([diskVdi]);
    expect(sim.model.store.table('VDI').size).toBe(vdis - 1);
    expect(sim.record('VDI', tools.ref)).toBeDefined();
    expect(sim.calls.filter((x) => x.method === 'Async.VDI.destroy').map((x) => x.params[0])).not.toContain(tools.ref);
  });

  it('refuses to destroy a snapshot pvrun did not make', async () => {
    const h = await handle('lin-1');
    const s = must(await c.call<string>('VM.snapshot', [h.ref, 'manual', []]));
    expect(await destroySnapshot(c, s)).toMatchObject({ ok: false });
    expect(sim.record('VM', s)).toBeDefined();
    must(await destroySnapshot(c, s, { force: true }));
  });
});

describe('discovery', () => {
  it('lists exactly the VMs without tools', async () => {
    const rows = must(await discoverVms(c, { missingTools: true }));
    expect(rows.map((r) => r.name).sort()).toEqual(['lin-1', 'off-1', 'win-1']);
    expect(formatDiscoveryTable(rows).split('\n')).toHaveLength(4);
    const inv = parse(formatDiscoveryInventory(rows, 'lab')) as { hosts: Record<string, { vm: { uuid: string } }> };
    expect(Object.keys(inv.hosts).sort()).toEqual(['lin-1', 'off-1', 'win-1']);
    expect(must(await discoverVms(c, { name: 'lin-*' })).map((r) => r.name)).toEqual(['lin-1', 'lin-2']);
    expect(must(await discoverVms(c, { tag: 'nope' }))).toEqual([]);
  });
});

describe('PoolSessions', () => {
  it('logs into each pool once, hands out read-only handles, logs out', async () => {
    const pools = new PoolSessions(
      { lab: { name: 'lab', url: sim.memberUrl, username: 'root', password: { env: 'PW' }, tls: {}, pos: { file: 'x', line: 1, col: 1 } } },
      (ref) => ('env' in ref && ref.env === 'PW' ? { ok: true, value: 'pw' } : { ok: false, error: 'no secret' }),
      { mode: 'check', warn: () => undefined },
    );
    const logins = sim.sessions.logins;
    const [a, b] = await Promise.all([pools.vm({ pool: 'lab', name_label: 'lin-1' }), pools.vm({ pool: 'lab', name_label: 'lin-2' })]);
    const ha = must(a);
    must(b);
    expect(sim.sessions.logins).toBe(logins + 1);
    expect(ha.xapi.mode).toBe('check');
    expect(await ha.xapi.call('VM.hard_reboot', [ha.ref])).toMatchObject({ ok: false, error: { kind: 'read-only' } });
    expect(await pools.vm({ pool: 'lab', name_label: 'dup' })).toMatchObject({ ok: false, error: { kind: 'vm-ambiguous' } });
    const live = sim.sessions.live;
    await pools.closeAll();
    expect(sim.sessions.live).toBe(live - 1);
  });
});
