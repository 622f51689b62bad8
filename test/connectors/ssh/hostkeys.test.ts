import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithSshd, startSshd, type SshdHandle } from '../../harness/sshd.js';
import { createConnector } from '../../../src/connectors/factory.js';
import { connectorFor, hostFor, secretsFrom } from './helpers.js';

function emptyKnownHosts(): string {
  const p = join(mkdtempSync(join(tmpdir(), 'pvrun-kh-')), 'known_hosts');
  writeFileSync(p, '');
  return p;
}

describeWithSshd('ssh connector: host keys and auth', () => {
  let sshd: SshdHandle;
  beforeAll(async () => { sshd = await startSshd(); });
  afterAll(async () => { await sshd?.stop(); });

  it('refuses an unknown host key under strict (the default), naming host and fingerprint', async () => {
    const c = connectorFor(sshd, { known_hosts: emptyKnownHosts(), host_key_checking: undefined });
    const r = await c.connect();
    expect(r.ok).toBe(false);
    if (r.ok || r.error.kind !== 'host-key-mismatch') throw new Error(JSON.stringify(r));
    expect(r.error.host).toBe(`[127.0.0.1]:${sshd.port}`);
    expect(r.error.actual).toBe(sshd.hostKeyFingerprint());
    expect(r.error.expected).toBeUndefined();
  });

  it('accepts a hashed known_hosts entry', async () => {
    const kh = emptyKnownHosts();
    writeFileSync(kh, sshd.knownHostsLine() + '\n');
    execFileSync('ssh-keygen', ['-H', '-f', kh], { stdio: 'ignore' });
    expect(readFileSync(kh, 'utf8')).toMatch(/^\|1\|/);
    const c = connectorFor(sshd, { known_hosts: kh });
    expect(await c.connect()).toEqual({ ok: true, value: undefined });
    await c.close();
  });

  it('records an unknown key under accept-new, then trusts it under strict', async () => {
    const kh = emptyKnownHosts();
    const c = connectorFor(sshd, { known_hosts: kh, host_key_checking: 'accept-new' });
    expect((await c.connect()).ok).toBe(true);
    await c.close();
    expect(readFileSync(kh, 'utf8')).toContain(`[127.0.0.1]:${sshd.port} ssh-ed25519 `);
    const s = connectorFor(sshd, { known_hosts: kh });
    expect((await s.connect()).ok).toBe(true);
    await s.close();
  });

  it('with checking off, connects and returns a warning for the caller', async () => {
    const r = createConnector(hostFor(sshd, { known_hosts: emptyKnownHosts(), host_key_checking: 'off' }),
      { resolveSecret: secretsFrom({}) });
    if (!r.ok) throw new Error(r.error);
    expect(r.value.warnings.join('\n')).toMatch(/host key checking is OFF/);
    expect((await r.value.connector.connect()).ok).toBe(true);
    await r.value.connector.close();
  });

  it('fails with auth-failed for a key the server does not accept', async () => {
    const other = join(mkdtempSync(join(tmpdir(), 'pvrun-key-')), 'k');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const c = connectorFor(sshd, { key: other });
    const r = await c.connect();
    expect(!r.ok && r.error.kind).toBe('auth-failed');
  });

  it('reports an encrypted key without passphrase as a configuration error, and uses the passphrase secret', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvrun-key-'));
    const enc = join(dir, 'k');
    execFileSync('cp', [sshd.clientKeyPath, enc]);
    execFileSync('ssh-keygen', ['-q', '-p', '-N', 'sekrit', '-f', enc]);
    const bad = createConnector(hostFor(sshd, { key: enc }), { resolveSecret: secretsFrom({}) });
    expect(!bad.ok && bad.error).toMatch(/passphrase/);
    const good = createConnector(hostFor(sshd, { key: enc, passphrase: { env: 'PP' } }),
      { resolveSecret: secretsFrom({ PP: 'sekrit' }) });
    if (!good.ok) throw new Error(good.error);
    expect((await good.value.connector.connect()).ok).toBe(true);
    await good.value.connector.close();
  });

  it('fails with unreachable for a port nobody listens on', async () => {
    const c = connectorFor(sshd, { port: 1 });
    const r = await c.connect();
    expect(!r.ok && r.error.kind).toBe('unreachable');
  });

  // last: it changes the server's key
  it('refuses a changed host key under strict and accept-new, naming both fingerprints', async () => {
    const kh = emptyKnownHosts();
    writeFileSync(kh, sshd.knownHostsLine() + '\n');
    const oldFp = sshd.hostKeyFingerprint();
    await sshd.restart({ newHostKey: true });
    const newFp = sshd.hostKeyFingerprint();
    expect(newFp).not.toBe(oldFp);
    for (const policy of ['strict', 'accept-new'] as const) {
      const c = connectorFor(sshd, { known_hosts: kh, host_key_checking: policy });
      const r = await c.connect();
      if (r.ok || r.error.kind !== 'host-key-mismatch') throw new Error(`${policy}: ${JSON.stringify(r)}`);
      expect(r.error.expected).toBe(oldFp);
      expect(r.error.actual).toBe(newFp);
      expect(r.error.message).toContain(oldFp);
      expect(r.error.message).toContain(newFp);
    }
    // accept-new did not overwrite the recorded key
    expect(readFileSync(kh, 'utf8').trim().split('\n')).toHaveLength(1);
  });
});

describeWithSshd('ssh connector: proxy_jump', () => {
  let jump: SshdHandle;
  let target: SshdHandle;
  beforeAll(async () => {
    jump = await startSshd({ allowTcpForwarding: true });
    target = await startSshd({ clientKeyPath: jump.clientKeyPath });
  });
  afterAll(async () => { await target?.stop(); await jump?.stop(); });

  it('reaches the target through the jump host, checking both host keys', async () => {
    const kh = join(mkdtempSync(join(tmpdir(), 'pvrun-kh-')), 'known_hosts');
    writeFileSync(kh, `${jump.knownHostsLine()}\n${target.knownHostsLine()}\n`);
    const c = connectorFor(target, { known_hosts: kh, proxy_jump: `${jump.user}@127.0.0.1:${jump.port}` });
    const r = await c.exec('echo via-jump');
    expect(r.ok && r.value.stdout).toBe('via-jump\n');
    await c.close();
    // unknown jump host key: refused
    writeFileSync(kh, `${target.knownHostsLine()}\n`);
    const d = connectorFor(target, { known_hosts: kh, proxy_jump: `127.0.0.1:${jump.port}` });
    const f = await d.connect();
    expect(!f.ok && f.error.kind).toBe('host-key-mismatch');
  });
});
