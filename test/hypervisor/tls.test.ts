import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selfSignedCert } from '../../src/lab/xapi-sim/index.js';
import type { SelfSignedCert, XapiSimulator } from '../../src/lab/xapi-sim/index.js';
import { client, must, startSim } from './helpers.js';

let sim: XapiSimulator;
let cert: SelfSignedCert;
let other: SelfSignedCert;
beforeAll(async () => {
  cert = selfSignedCert();
  other = selfSignedCert();
  sim = await startSim({ tls: cert });
});
afterAll(async () => {
  await sim.stop();
});

describe('TLS to the pool', () => {
  it('serves https', () => {
    expect(sim.url.startsWith('https://127.0.0.1:')).toBe(true);
  });

  it('refuses a self-signed certificate by default', async () => {
    const c = client(sim.url, { retries: 0 });
    const r = await c.login();
    expect(r).toMatchObject({ ok: false, error: { kind: 'tls' } });
    await c.close();
  });

  it('accepts the right SHA-256 pin (colons or not, any case)', async () => {
    for (const fp of [cert.fingerprint256, cert.fingerprint256.replace(/:/g, '').toLowerCase()]) {
      const c = client(sim.url, { tls: { fingerprint: fp } });
      must(await c.login());
      expect(c.warnings).toEqual([]);
      await c.close();
    }
  });

  it('refuses a wrong pin before sending anything', async () => {
    const n = sim.calls.length;
    const c = client(sim.url, { tls: { fingerprint: other.fingerprint256 }, retries: 0 });
    const r = await c.login();
    expect(r).toMatchObject({ ok: false, error: { kind: 'tls' } });
    expect(!r.ok && r.error.message).toContain('fingerprint mismatch');
    expect(sim.calls.length).toBe(n);
    await c.close();
  });

  it('refuses a malformed pin at configuration time', () => {
    expect(() => client(sim.url, { tls: { fingerprint: 'AB:CD' } })).toThrow(/64 hex/);
  });

  it('verifies against a CA file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvrun-ca-'));
    writeFileSync(join(dir, 'good.pem'), cert.cert);
    writeFileSync(join(dir, 'bad.pem'), other.cert);
    const good = client(sim.url, { tls: { ca: join(dir, 'good.pem') } });
    must(await good.login());
    await good.close();
    const bad = client(sim.url, { tls: { ca: join(dir, 'bad.pem') }, retries: 0 });
    expect(await bad.login()).toMatchObject({ ok: false, error: { kind: 'tls' } });
    await bad.close();
  });

  it('insecure: true works but always carries a warning', async () => {
    const c = client(sim.url, { tls: { insecure: true } });
    must(await c.login());
    expect(c.warnings.join()).toMatch(/TLS verification is OFF/);
    await c.close();
  });

  it('follows HOST_IS_SLAVE over https with the pin (the member has its own certificate; it vouches for the master: tls-failover.test.ts)', async () => {
    const c = client(sim.memberUrl, { tls: { fingerprint: sim.fingerprints[1]! } });
    must(await c.login());
    expect(c.url).toBe(sim.url);
    await c.close();
  });
});
