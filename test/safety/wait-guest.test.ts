/**
 * The one wait for a guest (src/runtime/wait-guest.ts), with a scripted connector (failures on
 * cue; the real sshd starting late is test/safety/rollback-reconnect.test.ts). What is retried (refused, reset, "not up yet") and what is final (auth failure, host key
 * mismatch) is the contract every caller (revert, reboot, windows-reboot, settle, the test rig)
 * relies on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XapiSimulator } from '../../src/lab/xapi-sim/index.js';
import { vmSettingStep } from '../../src/steps/vm/vm-setting.js';
import { makeCtx } from '../steps/vm/ctx.js';
import type { Connector, ConnectorFailure } from '../../src/connectors/types.js';
import type { StepFailure } from '../../src/steps/types.js';
import { err, ok, type Result } from '../../src/util/result.js';
import { retryTransient, waitForGuest } from '../../src/runtime/wait-guest.js';

/** a connector whose connect/reconnect answers follow a script (then succeed) */
function scripted(answers: (ConnectorFailure | 'ok')[]): Connector & { calls: number } {
  const c = {
    kind: 'ssh' as const, os: 'linux' as const, host: 'g', calls: 0,
    async connect(): Promise<Result<void, ConnectorFailure>> { return this.reconnect(); },
    async reconnect(): Promise<Result<void, ConnectorFailure>> {
      const a = answers[c.calls++] ?? 'ok';
      return a === 'ok' ? ok(undefined) : err(a);
    },
    async exec() { return ok({ exitCode: 0, signal: null, stdout: '', stderr: '' }); },
    async put() { return ok(undefined); },
    async close() {},
  };
  return c;
}

const refused: ConnectorFailure = { kind: 'unreachable', message: '127.0.0.1:2222: connect ECONNREFUSED' };
const reset: ConnectorFailure = { kind: 'connection-lost', message: 'read ECONNRESET' };
const handshake: ConnectorFailure = { kind: 'timeout', message: 'handshake timed out' };

describe('waitForGuest', () => {
  it('retries refusals, resets and handshake timeouts with capped backoff until the guest answers', async () => {
    const c = scripted([refused, reset, handshake, refused]);
    const t = Date.now();
    const w = await waitForGuest(async () => ok(c), { deadline: Date.now() + 10_000, firstDelayMs: 20, maxDelayMs: 40 });
    expect(w.ok).toBe(true);
    expect(w.ok && w.value.attempts).toBe(5);
    // waits 20, 40, 40, 40 (capped)
    expect(Date.now() - t).toBeGreaterThanOrEqual(140);
  });

  it('an authentication failure or a host key mismatch is final: no second attempt', async () => {
    for (const f of [
      { kind: 'auth-failed', message: 'root@g: All configured authentication methods failed' },
      { kind: 'host-key-mismatch', message: 'host key changed', host: 'g', actual: 'SHA256:x' },
    ] as ConnectorFailure[]) {
      const c = scripted([refused, f]);
      const w = await waitForGuest(async () => ok(c), { deadline: Date.now() + 10_000, firstDelayMs: 5 });
      expect(w.ok).toBe(false);
      expect(!w.ok && w.error.kind).toBe('final');
      expect(c.calls).toBe(2);
    }
  });

  it('a fresh process (no cached connection): failed opens are retried, the first good one is used as is', async () => {
    let opens = 0;
    const c = scripted([]);
    const get = async (): Promise<Result<Connector, StepFailure>> => (++opens < 4 ? err({ kind: 'guest', failure: refused }) : ok(c));
    const w = await waitForGuest(get, { deadline: Date.now() + 10_000, firstDelayMs: 5 });
    expect(w.ok).toBe(true);
    expect(opens).toBe(4);
    // opened just now: not reconnected again
    expect(c.calls).toBe(0);
  });

  it('gives up at the deadline with the last reason', async () => {
    const c = scripted(Array(1000).fill(refused));
    const t = Date.now();
    const w = await waitForGuest(async () => ok(c), { deadline: Date.now() + 300, firstDelayMs: 20, maxDelayMs: 50 });
    expect(w.ok).toBe(false);
    expect(!w.ok && w.error.kind).toBe('deadline');
    expect(!w.ok && w.error.kind === 'deadline' && w.error.last).toContain('ECONNREFUSED');
    expect(Date.now() - t).toBeLessThan(2000);
  });
});

describe('retryTransient (the rollback against a pool outage)', () => {
  it('retries transport errors until the pool answers; an XAPI error is final', async () => {
    let n = 0;
    const r = await retryTransient(async () => (++n < 3 ? err({ kind: 'transport' as const, message: 'other side closed' }) : ok('done')), { deadline: Date.now() + 10_000, firstDelayMs: 5 });
    expect(r).toEqual({ ok: true, value: 'done' });
    expect(n).toBe(3);
    let m = 0;
    const f = await retryTransient(async () => { m++; return err({ kind: 'xapi' as const, code: 'HANDLE_INVALID', params: [], message: 'gone' }); }, { deadline: Date.now() + 10_000, firstDelayMs: 5 });
    expect(f.ok).toBe(false);
    expect(m).toBe(1);
  });
});

describe('power on (vm-setting restarts the VM): the next guest step finds the guest answering', () => {
  let sim: XapiSimulator;
  beforeAll(async () => {
    sim = new XapiSimulator({ definition: { pool: 'lab', username: 'root', password: 'pw', vms: [{ name: 'win-1', os: 'Windows Server 2022', power: 'Running', tools: 'none', hasVendorDevice: true }] } });
    await sim.start();
  });
  afterAll(async () => { await sim?.stop(); });

  it('waits for the guest after the start (refused three times, then up) instead of leaving a dead connection', async () => {
    const guest = scripted([]);
    let opens = 0;
    const c0 = makeCtx(sim, 'win-1');
    const c = {
      ...c0,
      host: { ...c0.host, connection: { type: 'ssh' as const, address: '127.0.0.1', port: 22 } },
      // after the VM started: refused while its transport starts, then up
      guest: async (): Promise<Result<Connector, StepFailure>> => (++opens <= 3 ? err({ kind: 'guest', failure: refused }) : ok(guest)),
    };
    const p = await vmSettingStep.plan(c, { windows_update_drivers: false });
    expect(p.kind).toBe('change');
    if (p.kind !== 'change') return;
    const a = await vmSettingStep.apply(c, { windows_update_drivers: false }, p);
    expect(a.kind).toBe('changed');
    expect(a.kind === 'changed' && a.summary).toContain('guest answers');
    expect(opens).toBe(4);
  });
});
