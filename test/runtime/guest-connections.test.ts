/**
 * Issue 17: the preflight's open connections handed to the run (src/runtime/guest-connections.ts).
 * Real OpenSSH sshd on 127.0.0.1; the production connectors and RuntimeServices. What is attacked:
 * a handed-over connection that the guest dropped meanwhile, a rehearsal given apply-mode
 * transports, a kept connection never taken (it must not outlive the run), and the gate on the
 * preflight's own use of an apply-mode transport.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithSshd, startSshd, type SshdHandle } from '../harness/sshd.js';
import { hostFor, secretsFrom } from '../connectors/ssh/helpers.js';
import { GuestConnections } from '../../src/runtime/guest-connections.js';
import { RuntimeServices } from '../../src/runtime/host-services.js';
import { isCheckGated } from '../../src/connectors/check-gate.js';
import { KEPT_CONNECTIONS_MAX, startingHosts } from '../../src/engine/batches.js';
import type { Inventory } from '../../src/model/inventory.js';

const inventory = { hypervisors: {}, hosts: {}, groups: {} } as unknown as Inventory;
const accepted = (s: SshdHandle): number => (s.log().match(/Accepted publickey/g) ?? []).length;

/** A connection made the preflight's way: created in `mode`, connected, and kept for the run. */
async function keptConnection(sshd: SshdHandle, name: string, mode: 'apply' | 'check' = 'apply') {
  const host = hostFor(sshd, {}, name);
  const conns = new GuestConnections({ mode, resolveSecret: secretsFrom({}) });
  const c = conns.create(host);
  if (!c.ok) throw new Error(c.error);
  expect((await c.value.connector.connect()).ok).toBe(true);
  await conns.keep(host.name, c.value);
  return { host, conns, kept: c.value };
}

describeWithSshd('guest connections: the preflight\'s connection taken over by the run', () => {
  let sshd: SshdHandle;
  beforeAll(async () => { sshd = await startSshd(); }, 60_000);
  afterAll(async () => { await sshd?.stop(); });

  it('a kept connection is the run\'s first: no second login, and the command runs on it', async () => {
    const { host, conns, kept } = await keptConnection(sshd, 'warm-1');
    const before = accepted(sshd);
    const services = new RuntimeServices({ inventory, check: false, resolveSecret: secretsFrom({}), warn: () => {}, connections: conns });
    const g = await services.guest(host);
    expect(g.ok && g.value).toBe(kept.connector);
    const r = g.ok ? await g.value.exec('echo warm') : undefined;
    expect(r).toMatchObject({ ok: true, value: { exitCode: 0, stdout: 'warm\n' } });
    expect(accepted(sshd)).toBe(before);
    expect(conns.kept()).toEqual([]);
    await services.closeAll();
  }, 60_000);

  it('a kept connection the guest dropped meanwhile: the run logs in again and goes on', async () => {
    const { host, conns } = await keptConnection(sshd, 'warm-2');
    // the guest ends every session (sshd's per-connection processes killed: a reboot, an idle cut)
    expect(await sshd.killConnections()).toBeGreaterThan(0);
    await new Promise((res) => setTimeout(res, 300));
    const before = accepted(sshd);
    const services = new RuntimeServices({ inventory, check: false, resolveSecret: secretsFrom({}), warn: () => {}, connections: conns });
    const g = await services.guest(host);
    expect(g.ok).toBe(true);
    const r = g.ok ? await g.value.exec('echo again') : undefined;
    expect(r).toMatchObject({ ok: true, value: { exitCode: 0, stdout: 'again\n' } });
    expect(accepted(sshd)).toBe(before + 1);
    await services.closeAll();
  }, 60_000);

  it('a rehearsal cannot be handed apply-mode transports, and its own are behind the check gate', async () => {
    const apply = new GuestConnections({ mode: 'apply', resolveSecret: secretsFrom({}) });
    expect(() => new RuntimeServices({ inventory, check: true, resolveSecret: secretsFrom({}), warn: () => {}, connections: apply }))
      .toThrow(/apply mode for a check run/);
    const { host, conns: check, kept } = await keptConnection(sshd, 'warm-3', 'check');
    expect(isCheckGated(kept.connector)).toBe(true);
    const services = new RuntimeServices({ inventory, check: true, resolveSecret: secretsFrom({}), warn: () => {}, connections: check });
    const g = await services.guest(host);
    expect(g.ok && isCheckGated(g.value)).toBe(true);
    const refused = g.ok ? await g.value.exec('touch /tmp/pvrun-never') : undefined;
    expect(refused).toMatchObject({ ok: false, error: { kind: 'check-mode-refused' } });
    await services.closeAll();
  }, 60_000);

  it('a kept connection not taken within the idle limit is closed; its host logs in again', async () => {
    const host = hostFor(sshd, {}, 'idle-limit');
    const conns = new GuestConnections({ mode: 'apply', resolveSecret: secretsFrom({}), keptIdleMs: 300 });
    const c = conns.create(host);
    if (!c.ok) throw new Error(c.error);
    expect((await c.value.connector.connect()).ok).toBe(true);
    await conns.keep(host.name, c.value);
    expect(conns.kept()).toEqual(['idle-limit']);
    for (let i = 0; i < 50 && conns.kept().length > 0; i++) await new Promise((res) => setTimeout(res, 100));
    expect(conns.kept()).toEqual([]);
    const before = accepted(sshd);
    const services = new RuntimeServices({ inventory, check: false, resolveSecret: secretsFrom({}), warn: () => {}, connections: conns });
    const g = await services.guest(host);
    expect(g.ok && g.value).not.toBe(c.value.connector); // a new transport, not the closed one
    const r = g.ok ? await g.value.exec('echo fresh') : undefined;
    expect(r).toMatchObject({ ok: true, value: { exitCode: 0, stdout: 'fresh\n' } });
    expect(accepted(sshd)).toBe(before + 1);
    await services.closeAll();
  }, 60_000);

  it('connections kept and never taken are closed with the run (the guest sees them end)', async () => {
    const conns = new GuestConnections({ mode: 'apply', resolveSecret: secretsFrom({}) });
    const made = [];
    for (const name of ['idle-1', 'idle-2']) {
      const c = conns.create(hostFor(sshd, {}, name));
      if (!c.ok) throw new Error(c.error);
      expect((await c.value.connector.connect()).ok).toBe(true);
      await conns.keep(name, c.value);
      made.push(c.value.connector);
    }
    const services = new RuntimeServices({ inventory, check: false, resolveSecret: secretsFrom({}), warn: () => {}, connections: conns });
    const disconnects = (): number => (sshd.log().match(/Received disconnect|Disconnected from user/g) ?? []).length;
    const before = disconnects();
    await services.closeAll();
    expect(conns.kept()).toEqual([]);
    // both sessions end at the server
    for (let i = 0; i < 50 && disconnects() < before + 2; i++) await new Promise((res) => setTimeout(res, 100));
    expect(disconnects()).toBeGreaterThanOrEqual(before + 2);
  }, 60_000);
});

it('startingHosts: the first play\'s first batch, in start order, up to the cap or forks if more', () => {
  const hosts = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `h${i + 1}` }));
  const names = (n: number) => hosts(n).map((h) => h.name);
  // under the cap: every host of the first batch, whatever forks is
  expect([...startingHosts([{ hosts: hosts(10), serial: [], forks: 3 }])]).toEqual(names(10));
  expect([...startingHosts([{ hosts: hosts(10), serial: [{ count: 2 }], forks: 5 }])]).toEqual(['h1', 'h2']);
  expect([...startingHosts([{ hosts: hosts(10), serial: [{ percent: 50 }], forks: 50 }])]).toEqual(names(5));
  // over the cap: the first `max` in order; forks above the cap wins (those hosts start at once)
  expect([...startingHosts([{ hosts: hosts(10), serial: [], forks: 3 }], 4)]).toEqual(names(4));
  expect([...startingHosts([{ hosts: hosts(10), serial: [], forks: 6 }], 4)]).toEqual(names(6));
  expect(startingHosts([{ hosts: hosts(KEPT_CONNECTIONS_MAX + 50), serial: [], forks: 10 }]).size).toBe(KEPT_CONNECTIONS_MAX);
  // a first play without hosts (all limited away): the first play that has some
  expect([...startingHosts([{ hosts: [], serial: [], forks: 5 }, { hosts: hosts(2), serial: [], forks: 5 }])]).toEqual(['h1', 'h2']);
  expect([...startingHosts([])]).toEqual([]);
});
