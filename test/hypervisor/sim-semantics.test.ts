import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callAsync } from '../../src/hypervisor/xapi/index.js';
import type { XapiClient } from '../../src/hypervisor/xapi/index.js';
import type { PowerOp } from '../../src/lab/sim-hooks.js';
import type { XapiSimulator } from '../../src/lab/xapi-sim/index.js';
import { client, must, startSim } from './helpers.js';

type Rec = Record<string, unknown>;
let sim: XapiSimulator;
let c: XapiClient;
const hookLog: string[] = [];

beforeAll(async () => {
  sim = await startSim({
    autoGuestReports: true,
    hooks: {
      onPowerOp: async (vm: string, op: PowerOp) => { hookLog.push(`power:${op}:${vm}`); },
      onCdChange: async (vm, iso) => { hookLog.push(`cd:${iso?.nameLabel ?? 'eject'}:${vm}`); },
      onSnapshot: async (vm, snap) => { hookLog.push(`snapshot:${vm}:${snap}`); },
      onRevert: async (vm, snap) => { hookLog.push(`revert:${vm}:${snap}`); },
      onSnapshotDestroy: async (vm, snap) => { hookLog.push(`destroy:${vm}:${snap}`); },
    },
  });
  c = client(sim.url);
});
afterAll(async () => {
  await c.close();
  await sim.stop();
});

const get = async (cls: string, ref: string) => must(await c.call<Rec>(`${cls}.get_record`, [ref]));
async function cdVbd(vm: string): Promise<{ ref: string; rec: Rec }> {
  for (const v of must(await c.call<string[]>('VM.get_VBDs', [vm]))) {
    const rec = await get('VBD', v);
    if (rec.type === 'CD') return { ref: v, rec };
  }
  throw new Error('no CD');
}

describe('simulator semantics as real XAPI', () => {
  it('get_by_name_label also returns snapshots and templates', async () => {
    const { ref, rec } = sim.vm('lin-2');
    const snap = must(await callAsync(c, 'VM.snapshot', [ref, 'lin-2', []]));
    const refs = must(await c.call<string[]>('VM.get_by_name_label', ['lin-2']));
    expect(refs.sort()).toEqual([ref, snap].sort());
    const snapUuid = String((await get('VM', snap)).uuid);
    must(await callAsync(c, 'VM.destroy', [snap]));
    expect(hookLog).toContain(`destroy:${String(rec.uuid)}:${snapUuid}`);
  });

  it('revert: Halted, CD VBDs rebuilt with new refs, has_vendor_device restored, guest metrics stale', async () => {
    const { ref: vm, rec } = sim.vm('win-1');
    const uuid = String(rec.uuid);
    const iso = must(await c.call<string[]>('VDI.get_by_name_label', ['guest-tools.iso']))[0]!;
    sim.writeDisk('win-1', 'before');
    const snap = must(await callAsync(c, 'VM.snapshot', [vm, 'pre', []]));
    const snapRec = await get('VM', snap);
    expect(snapRec.power_state).toBe('Halted');
    expect(hookLog).toContain(`snapshot:${uuid}:${String(snapRec.uuid)}`);

    // after the snapshot: insert the ISO, write the disk, change the vendor device, reboot with drivers
    const cd1 = await cdVbd(vm);
    must(await callAsync(c, 'VBD.insert', [cd1.ref, iso]));
    sim.writeDisk('win-1', 'after');
    must(await callAsync(c, 'VM.hard_shutdown', [vm]));
    must(await callAsync(c, 'VM.set_has_vendor_device', [vm, false]));
    must(await callAsync(c, 'VM.start', [vm, false, false]));
    sim.setGuestReport(uuid, { pvDriversDetected: true, agentVersion: { major: 9, minor: 4, micro: 0, build: 1 } });
    const gmBefore = String((await get('VM', vm)).guest_metrics);

    must(await callAsync(c, 'VM.revert', [snap]));
    const after = await get('VM', vm);
    expect(after.power_state).toBe('Halted');
    expect(after.has_vendor_device).toBe(true);
    const cd2 = await cdVbd(vm);
    expect(cd2.ref).not.toBe(cd1.ref);
    expect(cd2.rec.empty).toBe(true);
    expect(sim.record('VBD', cd1.ref)).toBeUndefined();
    expect(sim.diskContent('win-1')).toBe('before');
    // guest metrics: the snapshot's copy (win-1 had none), not the current boot's
    expect(after.guest_metrics).not.toBe(gmBefore);
    expect(hookLog).toContain(`power:hard_shutdown:${uuid}`);
    expect(hookLog).toContain(`revert:${uuid}:${String(snapRec.uuid)}`);
    expect(hookLog).toContain(`cd:guest-tools.iso:${uuid}`);
    // restore the fixture
    must(await callAsync(c, 'VM.start', [vm, false, false]));
    must(await callAsync(c, 'VM.destroy', [snap]));
  });

  it('guest metrics after revert are stale for the next boot until the guest reports', async () => {
    const { ref: vm } = sim.vm('lin-2');
    sim.setBootTiming(String(sim.vm('lin-2').rec.uuid), { guestReportDelayMs: 60_000 });
    const snap = must(await callAsync(c, 'VM.snapshot', [vm, 'pre', []]));
    must(await callAsync(c, 'VM.revert', [snap]));
    must(await callAsync(c, 'VM.start', [vm, false, false]));
    const r = await get('VM', vm);
    const m = await get('VM_metrics', String(r.metrics));
    // XAPI makes new, empty guest metrics at each boot (XA xapi_xenops.ml:2379-2388): nothing
    // the snapshot's metrics said survives the boot, and nothing is reported after start_time yet
    const gm = await get('VM_guest_metrics', String(r.guest_metrics));
    expect(String(gm.last_updated) > String(m.start_time)).toBe(false);
    expect(gm.PV_drivers_detected).toBe(false);
    expect(gm.PV_drivers_version).toEqual({});
    expect(r.allowed_operations).not.toContain('clean_reboot');
    sim.setGuestReport(String(r.uuid), { pvDriversDetected: true, agentVersion: { major: 9, minor: 4, micro: 0, build: 1 } });
    const gm2 = await get('VM_guest_metrics', String((await get('VM', vm)).guest_metrics));
    expect(String(gm2.last_updated) > String(m.start_time)).toBe(true);
    expect((await get('VM', vm)).allowed_operations).toContain('clean_reboot');
    sim.setBootTiming(String(r.uuid), { guestReportDelayMs: 10 });
    must(await callAsync(c, 'VM.destroy', [snap]));
  });

  it('VM.destroy of a snapshot keeps its VDIs; VDI.destroy refuses the tools ISO', async () => {
    const { ref: vm } = sim.vm('lin-1');
    const vdisBefore = sim.model.store.table('VDI').size;
    const snap = must(await callAsync(c, 'VM.snapshot', [vm, 's', []]));
    expect(sim.model.store.table('VDI').size).toBe(vdisBefore + 1);
    must(await callAsync(c, 'VM.destroy', [snap]));
    expect(sim.model.store.table('VDI').size).toBe(vdisBefore + 1);
    const iso = must(await c.call<string[]>('VDI.get_by_name_label', ['guest-tools.iso']))[0]!;
    expect(await callAsync(c, 'VDI.destroy', [iso])).toMatchObject({ ok: false, error: { code: 'OPERATION_NOT_ALLOWED' } });
  });

  it('power operations check power state and clean-operation support', async () => {
    const { ref } = sim.vm('off-1');
    // every allowed state, ", "-joined (XA xapi_vm_lifecycle.ml:286-295)
    expect(await c.call('VM.hard_shutdown', [ref])).toMatchObject({ ok: false, error: { code: 'VM_BAD_POWER_STATE', params: [ref, 'running, paused', 'halted'] } });
    expect((await get('VM', ref)).allowed_operations).toContain('start');
    const tmpl = must(await c.call<string[]>('VM.get_by_name_label', ['Debian Bookworm 12']))[0]!;
    expect(await c.call('VM.start', [tmpl, false, false])).toMatchObject({ ok: false, error: { code: 'VM_IS_TEMPLATE' } });
  });

  it('add_to_other_config refuses a duplicate key', async () => {
    const { ref } = sim.vm('off-1');
    must(await c.call('VM.add_to_other_config', [ref, 'k', 'v']));
    expect(await c.call('VM.add_to_other_config', [ref, 'k', 'v'])).toMatchObject({ ok: false, error: { code: 'MAP_DUPLICATE_KEY' } });
    must(await c.call('VM.remove_from_other_config', [ref, 'k']));
  });

  it('records every call with a read-only flag', () => {
    const starts = sim.calls.filter((x) => x.method === 'Async.VM.start');
    expect(starts.length).toBeGreaterThan(0);
    expect(starts.every((x) => !x.readOnly)).toBe(true);
    expect(sim.calls.filter((x) => x.method === 'VM.get_record').every((x) => x.readOnly)).toBe(true);
  });
});

describe('older pools', () => {
  it('VM.snapshot without ignore_vdis (XAPI fills the default; the client allows the shorter form)', async () => {
    const { ref } = sim.vm('off-1');
    const s = must(await c.call<string>('VM.snapshot', [ref, 'short']));
    expect((await get('VM', s)).is_a_snapshot).toBe(true);
    must(await callAsync(c, 'VM.destroy', [s]));
    await expect(c.call('VM.snapshot', [ref])).rejects.toThrow(/2\.\.3 parameters/);
  });

  it('takeSnapshot retries the short form on a pool that does not know ignore_vdis', async () => {
    const { takeSnapshot } = await import('../../src/hypervisor/vm-snapshot.js');
    const { ref, rec } = sim.vm('off-1');
    sim.addFault({ method: 'Async.VM.snapshot', code: 'MESSAGE_PARAMETER_COUNT_MISMATCH', params: ['VM.snapshot', '3', '4'], times: 1 });
    const s = must(await takeSnapshot({ pool: 'p', ref, uuid: String(rec.uuid), nameLabel: 'off-1', xapi: c }, 'legacy', { 'pvrun.run': 'x' }));
    sim.clearFaults();
    const snaps = sim.calls.filter((x) => x.method === 'Async.VM.snapshot').slice(-2);
    expect(snaps.map((x) => x.params.length)).toEqual([3, 2]);
    must(await callAsync(c, 'VM.destroy', [s.ref]));
  });
});

describe('guest-initiated power changes (the lab calls the model directly)', () => {
  it('a reboot from inside a guest without PV drivers is a new boot, though the API refuses clean_reboot', async () => {
    const { ref } = sim.vm('win-1');
    expect(await c.call('VM.clean_reboot', [ref])).toMatchObject({ ok: false, error: { code: 'VM_LACKS_FEATURE' } });
    const before = String((await get('VM_metrics', String((await get('VM', ref)).metrics))).start_time);
    await sim.model.powerOp(ref, 'clean_reboot');
    const after = String((await get('VM_metrics', String((await get('VM', ref)).metrics))).start_time);
    expect(after > before).toBe(true);
    expect(hookLog.filter((l) => l.startsWith('power:clean_reboot:')).length).toBeGreaterThan(0);
  });
});
