/**
 * The one check gate (src/connectors/check-gate.ts), attacked as a careless or hostile step would:
 * a command with no declaration, one declared `mutates: true`, a put(), a method pulled off the
 * connector and called later, the connection closed by a predicted step. The transport behind it
 * is a scripted recorder, so "refused" means the transport never saw the command.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkGate, isCheckGated } from '../../src/connectors/check-gate.js';
import { createConnector } from '../../src/connectors/factory.js';
import { createPsRemoting, createSshPowerShell } from '../../src/connectors/powershell/create.js';
import { PwshPool } from '../../src/connectors/powershell/pool.js';
import { SshConnector } from '../../src/connectors/ssh/connector.js';
import type { Connector, ExecOptions } from '../../src/connectors/types.js';
import type { HostSpec } from '../../src/model/inventory.js';
import { ok, type Result } from '../../src/util/result.js';

class Recorder implements Connector {
  readonly kind = 'ssh' as const;
  readonly os = 'linux' as const;
  readonly host = 'h1';
  readonly seen: string[] = [];
  closed = false;
  connect = async () => ok(undefined);
  reconnect = async () => ok(undefined);
  async exec(command: string, _o?: ExecOptions): ReturnType<Connector['exec']> { this.seen.push(`exec:${command}`); return ok({ exitCode: 0, signal: null, stdout: '', stderr: '' }); }
  async put(_s: string | Buffer, p: string): ReturnType<Connector['put']> { this.seen.push(`put:${p}`); return ok(undefined); }
  async close() { this.closed = true; }
  /** a helper of the class: still reachable through the gate */
  describe(): string { return `recorder for ${this.host}`; }
}

describe('the check gate', () => {
  it('refuses every exec not declared mutates: false, and every put; the transport sees none of them', async () => {
    const inner = new Recorder();
    const c = checkGate(inner);
    const attempts: [string, ExecOptions | undefined][] = [
      ['rm -rf /opt/x', undefined], ['rm -rf /opt/y', {}], ['rm -rf /opt/z', { mutates: true }],
      ['echo hi > /etc/motd', { become: true, timeoutMs: 5 }],
    ];
    for (const [cmd, o] of attempts) {
      const r = await c.exec(cmd, o);
      expect(r.ok).toBe(false);
      expect(r.ok ? 'ran' : r.error.kind).toBe('check-mode-refused');
    }
    const p = await c.put(Buffer.from('x'), '/etc/passwd');
    expect(p.ok ? 'ran' : p.error.kind).toBe('check-mode-refused');
    // a method taken off the connector and called later is the gated one too
    const { exec } = c;
    expect((await exec('touch /tmp/pwned')).ok).toBe(false);
    expect(inner.seen).toEqual([]);
    const probe = await c.exec('cat /etc/os-release', { mutates: false });
    expect(probe.ok).toBe(true);
    expect(inner.seen).toEqual(['exec:cat /etc/os-release']);
  });

  it('says why in the refusal, keeps the connector\'s class and helpers, and a view over a shared connection cannot close it', async () => {
    const inner = new Recorder();
    const view = checkGate(inner, { why: 'check mode (step check_mode: true)', keepOpen: true });
    const r = await view.exec('reboot');
    expect(r.ok ? '' : r.error.message).toMatch(/^check mode \(step check_mode: true\): not running a command that may change the host: reboot$/);
    expect(view).toBeInstanceOf(Recorder);
    expect(view.describe()).toBe('recorder for h1');
    await view.close();
    expect(inner.closed).toBe(false);
    await checkGate(inner).close();
    expect(inner.closed).toBe(true);
  });

  it('is applied where connectors are made: mode check → gated, apply or unset → the bare transport (ssh, ssh-powershell, psremoting)', () => {
    const keyFile = join(mkdtempSync(join(tmpdir(), 'pvrun-gate-')), 'id');
    writeFileSync(keyFile, 'not a key: nothing connects in this test\n', { mode: 0o600 });
    const noSecret = (): Result<string, string> => ok('not-a-real-password');
    const pos = { file: 't', line: 1, col: 1 };
    const ssh: HostSpec = { name: 'l1', vars: {}, groups: ['all'], pos, connection: { type: 'ssh', address: '127.0.0.1', port: 22, user: 'u', password: { env: 'PVRUN_T' }, agent: false, host_key_checking: 'off' } as HostSpec['connection'] };
    const win: HostSpec = { ...ssh, name: 'w1', connection: { ...ssh.connection, type: 'ssh-powershell' } as HostSpec['connection'] };
    const rem: HostSpec = { ...ssh, name: 'w2', connection: { ...ssh.connection, type: 'psremoting', transport: 'ssh', password: undefined, key: keyFile } as HostSpec['connection'] };
    const pool = new PwshPool({ executable: 'pwsh' });
    const made = {
      ssh: (mode?: 'check' | 'apply') => createConnector(ssh, { resolveSecret: noSecret, ...(mode ? { mode } : {}) }),
      'ssh-powershell': (mode?: 'check' | 'apply') => createSshPowerShell(win, { resolveSecret: noSecret, ...(mode ? { mode } : {}) }),
      psremoting: (mode?: 'check' | 'apply') => createPsRemoting(rem, { resolveSecret: noSecret, pool, ...(mode ? { mode } : {}) }),
    };
    for (const [kind, make] of Object.entries(made)) {
      const gated = [make('check'), make('apply'), make()].map((r) => {
        if (!r.ok) throw new Error(`${kind}: ${r.error}`);
        return isCheckGated(r.value.connector);
      });
      expect([kind, ...gated]).toEqual([kind, true, false, false]);
    }
    const bare = made.ssh();
    expect(bare.ok && bare.value.connector instanceof SshConnector).toBe(true);
  });
});
