import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callAsync, decodeTaskResult, waitUntil } from '../../src/hypervisor/xapi/index.js';
import type { XapiSimulator } from '../../src/lab/xapi-sim/index.js';
import { client, must, startSim } from './helpers.js';

let sim: XapiSimulator;
beforeAll(async () => {
  sim = await startSim();
});
afterAll(async () => {
  await sim.stop();
});

describe('XAPI client over real HTTP against the simulator', () => {
  it('logs in, reads, logs out', async () => {
    const c = client(sim.url);
    const before = sim.sessions.live;
    const vms = must(await c.call<Record<string, { name_label: string }>>('VM.get_all_records', []));
    expect(Object.values(vms).map((v) => v.name_label)).toContain('lin-1');
    expect(sim.sessions.live).toBe(before + 1);
    await c.close();
    expect(sim.sessions.live).toBe(before);
    expect(sim.calls.some((x) => x.method === 'session.logout')).toBe(true);
  });

  it('reports wrong credentials as SESSION_AUTHENTICATION_FAILED', async () => {
    const c = client(sim.url, { password: 'nope' });
    const r = await c.login();
    expect(r.ok).toBe(false);
    if (!r.ok && r.error.kind === 'xapi') {
      expect(r.error.code).toBe('SESSION_AUTHENTICATION_FAILED');
      expect(r.error.message).toContain('user=root');
    } else throw new Error('expected xapi error');
    await c.close();
  });

  it('follows HOST_IS_SLAVE to the master', async () => {
    const c = client(sim.memberUrl);
    must(await c.login());
    expect(c.url).toBe(sim.url);
    expect(c.warnings.join()).toContain('pool member');
    const memberCalls = sim.calls.filter((x) => x.host === 'member');
    expect(memberCalls.at(-1)?.error).toBe('HOST_IS_SLAVE');
    must(await c.call('pool.get_all', []));
    await c.close();
  });

  it('logs in again once when the session expired', async () => {
    const c = client(sim.url);
    must(await c.login());
    const logins = sim.sessions.logins;
    sim.expireSessions();
    const pools = must(await c.call<string[]>('pool.get_all', []));
    expect(pools).toHaveLength(1);
    expect(sim.sessions.logins).toBe(logins + 1);
    await c.close();
  });

  it('logs in again only once: a session that stays invalid is an error', async () => {
    const c = client(sim.url);
    must(await c.login());
    const logins = sim.sessions.logins;
    sim.addFault({ method: 'host.get_all', code: 'SESSION_INVALID', params: ['x'] });
    const r = await c.call('host.get_all', []);
    sim.clearFaults();
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error.kind === 'xapi' && r.error.code).toBe('SESSION_INVALID');
    expect(sim.sessions.logins).toBe(logins + 1);
    await c.close();
  });

  it('returns typed errors with their parameters explained', async () => {
    const c = client(sim.url);
    const { ref: lin1 } = sim.vm('lin-1');
    const start = await c.call('VM.start', [lin1, false, false]);
    expect(start).toMatchObject({ ok: false, error: { kind: 'xapi', code: 'VM_BAD_POWER_STATE', params: [lin1, 'halted', 'running'] } });
    expect(!start.ok && start.error.message).toContain('expected=halted, actual=running');

    const bad = await c.call('VM.get_record', ['OpaqueRef:nope']);
    expect(bad).toMatchObject({ ok: false, error: { code: 'HANDLE_INVALID', params: ['VM', 'OpaqueRef:nope'] } });
    const uuid = await c.call('VM.get_by_uuid', ['00000000-0000-0000-0000-000000000000']);
    expect(uuid).toMatchObject({ ok: false, error: { code: 'UUID_INVALID' } });
    const vendor = await c.call('VM.set_has_vendor_device', [lin1, false]);
    expect(vendor).toMatchObject({ ok: false, error: { code: 'VM_BAD_POWER_STATE', params: [lin1, 'halted', 'running'] } });

    const vbds = must(await c.call<string[]>('VM.get_VBDs', [lin1]));
    const recs = await Promise.all(vbds.map(async (v) => ({ v, r: must(await c.call<{ type: string }>('VBD.get_record', [v])) })));
    const cd = recs.find((x) => x.r.type === 'CD')!.v;
    const disk = recs.find((x) => x.r.type === 'Disk')!.v;
    expect(await c.call('VBD.eject', [cd])).toMatchObject({ ok: false, error: { code: 'VBD_IS_EMPTY', params: [cd] } });
    const iso = must(await c.call<string[]>('VDI.get_by_name_label', ['debian-12.iso']))[0]!;
    must(await c.call('VBD.insert', [cd, iso]));
    expect(await c.call('VBD.insert', [cd, iso])).toMatchObject({ ok: false, error: { code: 'VBD_NOT_EMPTY' } });
    expect(await c.call('VBD.insert', [disk, iso])).toMatchObject({ ok: false, error: { code: 'VBD_NOT_REMOVABLE_MEDIA' } });
    must(await c.call('VBD.eject', [cd]));
    const clean = await c.call('VM.clean_reboot', [sim.vm('win-1').ref]);
    expect(clean).toMatchObject({ ok: false, error: { code: 'VM_LACKS_FEATURE' } });
    await c.close();
  });

  it('refuses unknown methods and wrong parameter counts without sending them (a bug: thrown)', async () => {
    const c = client(sim.url);
    const n = sim.calls.length;
    await expect(c.call('VM.frobnicate', [])).rejects.toThrow(/method table/);
    await expect(c.call('VM.start', ['OpaqueRef:x'])).rejects.toThrow(/takes 3 parameters/);
    await expect(c.call('Async.VM.get_record', ['OpaqueRef:x'])).rejects.toThrow(/method table/);
    expect(sim.calls.length).toBe(n);
    await c.close();
  });

  it('read-only mode refuses every mutating method inside the client', async () => {
    const c = client(sim.url, { mode: 'check' });
    sim.clearCallLog();
    const { ref } = sim.vm('lin-1');
    const r = await c.call('VM.hard_reboot', [ref]);
    expect(r).toMatchObject({ ok: false, error: { kind: 'read-only', method: 'VM.hard_reboot' } });
    expect(await c.call('Async.VM.snapshot', [ref, 'x', []])).toMatchObject({ ok: false, error: { kind: 'read-only' } });
    expect(await c.call('VM.add_to_other_config', [ref, 'k', 'v'])).toMatchObject({ ok: false, error: { kind: 'read-only' } });
    must(await c.call('VM.get_record', [ref]));
    must(await c.call('event.from', [[`vm/${ref}`], '', 0]));
    await c.close();
    expect(sim.calls.map((x) => x.method)).not.toContain('VM.hard_reboot');
    expect(sim.mutatingCalls).toEqual([]);
  });

  it('retries reads after a dropped connection, never writes', async () => {
    const c = client(sim.url, { retryDelayMs: 10 });
    must(await c.login());
    sim.addFault({ method: 'VM.get_all', drop: true, times: 1 });
    must(await c.call('VM.get_all', []));
    expect(sim.calls.filter((x) => x.method === 'VM.get_all')).toHaveLength(2);
    sim.clearFaults();

    sim.addFault({ method: 'VM.add_to_other_config', drop: true, times: 1 });
    const before = sim.calls.filter((x) => x.method === 'VM.add_to_other_config').length;
    const w = await c.call('VM.add_to_other_config', [sim.vm('lin-1').ref, 'retry-test', '1']);
    sim.clearFaults();
    expect(w).toMatchObject({ ok: false, error: { kind: 'transport' } });
    expect(sim.calls.filter((x) => x.method === 'VM.add_to_other_config').length).toBe(before + 1);
    await c.close();
  });

  it('times out a slow call', async () => {
    const c = client(sim.url, { callTimeoutMs: 150, retries: 0 });
    must(await c.login());
    sim.addFault({ method: 'pool.get_all', latencyMs: 1500, times: 1 });
    const r = await c.call('pool.get_all', []);
    sim.clearFaults();
    expect(r).toMatchObject({ ok: false, error: { kind: 'timeout' } });
    await c.close();
  });

  it('fails a call after N successful ones (fault injection)', async () => {
    const c = client(sim.url);
    sim.addFault({ method: 'host.get_all', afterCalls: 2, code: 'INTERNAL_ERROR', params: ['boom'], times: 1 });
    must(await c.call('host.get_all', []));
    must(await c.call('host.get_all', []));
    expect(await c.call('host.get_all', [])).toMatchObject({ ok: false, error: { code: 'INTERNAL_ERROR', params: ['boom'] } });
    must(await c.call('host.get_all', []));
    sim.clearFaults();
    await c.close();
  });

  it('runs Async calls as tasks: result decoded, task destroyed, failures from error_info', async () => {
    const c = client(sim.url);
    const { ref } = sim.vm('lin-2');
    const snap = must(await callAsync(c, 'VM.snapshot', [ref, 'async-test', []]));
    expect(snap).toMatch(/^OpaqueRef:/);
    const rec = must(await c.call<{ is_a_snapshot: boolean; snapshot_of: string; power_state: string }>('VM.get_record', [snap]));
    expect(rec).toMatchObject({ is_a_snapshot: true, snapshot_of: ref, power_state: 'Halted' });
    expect(sim.model.store.table('task').size).toBe(0);
    const fail = await callAsync(c, 'VM.start', [ref, false, false]);
    expect(fail).toMatchObject({ ok: false, error: { kind: 'xapi', code: 'VM_BAD_POWER_STATE', params: [ref, 'halted', 'running'] } });
    expect(sim.model.store.table('task').size).toBe(0);
    // task status is waited for with event.from, not polled with get_status
    expect(sim.calls.some((x) => x.method === 'task.get_status')).toBe(false);
    must(await callAsync(c, 'VM.destroy', [snap]));
    await c.close();
  });

  it('event.from blocks until a change and hands out the change', async () => {
    const c = client(sim.url);
    const { ref } = sim.vm('off-1');
    const first = must(await c.call<{ token: string; events: unknown[] }>('event.from', [[`vm/${ref}`], '', 0]));
    expect(first.events).toHaveLength(1);
    setTimeout(() => void sim.model.store.mod('VM', ref, { name_description: 'changed' }), 100);
    const next = must(await c.call<{ token: string; events: { ref: string; snapshot: { name_description: string } }[] }>(
      'event.from', [[`vm/${ref}`], first.token, 30]));
    expect(next.events.map((e) => e.snapshot.name_description)).toEqual(['changed']);
    expect(next.token > first.token).toBe(true);
    await c.close();
  });

  it('waitUntil waits on events for a power state', async () => {
    const c = client(sim.url);
    const { ref } = sim.vm('off-1');
    setTimeout(() => void sim.model.powerOp(ref, 'start'), 150);
    const n = sim.calls.length;
    const got = await waitUntil(c, async () => {
      const p = await c.call<string>('VM.get_power_state', [ref]);
      if (!p.ok) return p;
      return { ok: true, value: { value: p.value === 'Running' ? p.value : undefined, watch: [`vm/${ref}`] } };
    }, { timeoutMs: 20_000, what: 'off-1 running' });
    expect(got).toEqual({ ok: true, value: 'Running' });
    // no tight polling: a handful of calls, not hundreds
    expect(sim.calls.length - n).toBeLessThan(20);
    await sim.model.powerOp(ref, 'hard_shutdown');
    const t = await waitUntil(c, async () => ({ ok: true, value: { watch: [`vm/${ref}`] } }), { timeoutMs: 300, what: 'nothing' });
    expect(t).toMatchObject({ ok: false, error: { kind: 'timeout' } });
    await c.close();
  });
});

describe('XML-RPC task results', () => {
  it('decodes refs, strings and arrays', () => {
    expect(decodeTaskResult('<value>OpaqueRef:abc</value>')).toBe('OpaqueRef:abc');
    expect(decodeTaskResult('<value><string>a &amp; b</string></value>')).toBe('a & b');
    expect(decodeTaskResult('<value><array><data><value>OpaqueRef:1</value><value>OpaqueRef:2</value></data></array></value>'))
      .toEqual(['OpaqueRef:1', 'OpaqueRef:2']);
    expect(decodeTaskResult('')).toBe('');
  });
});

describe('unreachable pools', () => {
  it('connection refused is a transport failure after the retries', async () => {
    const { createServer } = await import('node:net');
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const c = client(`http://127.0.0.1:${port}`, { retryDelayMs: 5 });
    const r = await c.call('pool.get_all', []);
    expect(r).toMatchObject({ ok: false, error: { kind: 'transport' } });
    expect(!r.ok && r.error.message).toMatch(/ECONNREFUSED|connect/);
    await c.close();
  });

  it('a dropped login is retried', async () => {
    sim.addFault({ method: 'session.login_with_password', drop: true, times: 1 });
    const c = client(sim.url, { retryDelayMs: 5 });
    must(await c.login());
    sim.clearFaults();
    await c.close();
  });
});

describe('configuration', () => {
  it('rejects a non-URL and warns about plain HTTP off loopback', async () => {
    const { XapiClient } = await import('../../src/hypervisor/xapi/index.js');
    expect(XapiClient.create({ url: 'xcp1', username: 'u', password: 'p' })).toMatchObject({ ok: false });
    expect(XapiClient.create({ url: 'ftp://x', username: 'u', password: 'p' })).toMatchObject({ ok: false });
    const plain = XapiClient.create({ url: 'http://192.0.2.1', username: 'u', password: 'p' });
    expect(plain.ok && plain.value.warnings.join()).toMatch(/plain HTTP/);
    const local = XapiClient.create({ url: 'http://127.0.0.1:1', username: 'u', password: 'p' });
    expect(local.ok && local.value.warnings).toEqual([]);
  });
});
