/**
 * Pinning across the pool (issue 13): each host of the simulated pool serves its OWN certificate,
 * as real XAPI hosts do (each has its xapi-ssl.pem). A HOST_IS_SLAVE redirect or a failover lands
 * on a host whose certificate is not the pinned one: pvrun trusts it only when the pool vouches
 * for it — the pinned member's thumbprint header on redirect, or the pool's host certificates
 * read over the already verified session — and refuses anything else (tls error, exit 4).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { XapiSimulator, selfSignedCert } from '../../src/lab/xapi-sim/index.js';
import type { SelfSignedCert } from '../../src/lab/xapi-sim/index.js';
import { runCli } from '../harness/cli.js';
import { POOL, client, must } from './helpers.js';

const REPO = join(import.meta.dirname, '..', '..');
let masterCert: SelfSignedCert;
let memberCert: SelfSignedCert;
let rogueCert: SelfSignedCert;
const started: XapiSimulator[] = [];

async function sim(extra: Partial<ConstructorParameters<typeof XapiSimulator>[0]> = {}): Promise<XapiSimulator> {
  const s = new XapiSimulator({ definition: POOL, tls: masterCert, memberTls: memberCert, ...extra });
  await s.start();
  started.push(s);
  return s;
}

beforeAll(() => {
  masterCert = selfSignedCert();
  memberCert = selfSignedCert();
  rogueCert = selfSignedCert();
});
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.stop()));
});

describe('the simulated pool has one certificate per host', () => {
  it('the member does not serve the master\'s certificate; Certificate records list both', async () => {
    const s = await sim();
    expect(s.fingerprints).toEqual([masterCert.fingerprint256, memberCert.fingerprint256]);
    expect(masterCert.fingerprint256).not.toBe(memberCert.fingerprint256);
    // pinned to the master's certificate, the member is refused: it presents its own
    const c = client(s.memberUrl, { tls: { fingerprint: masterCert.fingerprint256 }, retries: 0 });
    const r = await c.login();
    expect(r).toMatchObject({ ok: false, error: { kind: 'tls' } });
    expect(!r.ok && r.error.message).toContain(memberCert.fingerprint256.replace(/:/g, ''));
    await c.close();
  });
});

describe('HOST_IS_SLAVE at login', () => {
  it('a pinned member vouches for the master by the thumbprint header: login lands on the master', async () => {
    const s = await sim();
    const c = client(s.memberUrl, { tls: { fingerprint: memberCert.fingerprint256 } });
    must(await c.login());
    expect(c.url).toBe(s.url);
    expect(c.warnings.join('\n')).toContain('its certificate as the member vouched for it');
    must(await c.call('VM.get_all', []));
    await c.close();
  });

  it('a member that sends no thumbprint (older XAPI): refused with what to do, nothing sent to the master', async () => {
    const s = await sim({ thumbprintHeader: false });
    const c = client(s.memberUrl, { tls: { fingerprint: memberCert.fingerprint256 }, retries: 0 });
    const r = await c.login();
    expect(r).toMatchObject({ ok: false, error: { kind: 'tls' } });
    const msg = !r.ok ? r.error.message : '';
    expect(msg).toContain(`named ${s.url} as the master`);
    expect(msg).toContain('did not vouch for the master\'s certificate');
    expect(msg).toContain('pin the master\'s certificate');
    expect(s.calls.filter((x) => x.host === 'master')).toEqual([]);
    await c.close();
  });
});

describe('pool failover mid-run (the master moves)', () => {
  it('the new master is one of the pool\'s hosts, whose certificate was read over the verified session: the run goes on', async () => {
    const s = await sim();
    const c = client(s.url, { tls: { fingerprint: masterCert.fingerprint256 } });
    const before = must(await c.call<string[]>('VM.get_all', []));
    const oldMaster = s.url;
    s.failover();
    expect(s.url).not.toBe(oldMaster);
    const after = must(await c.call<string[]>('VM.get_all', []));
    expect(after.sort()).toEqual(before.sort());
    expect(c.url).toBe(s.url);
    // the pool's certificates came from the Certificate records (one read per login)
    expect(s.calls.filter((x) => x.method === 'Certificate.get_all_records').length).toBeGreaterThanOrEqual(1);
    await c.close();
  });

  it('an older pool without Certificate records: host.get_server_certificate gives the same trust', async () => {
    const s = await sim();
    s.addFault({ method: 'Certificate.get_all_records', code: 'MESSAGE_METHOD_UNKNOWN', params: ['Certificate.get_all_records'] });
    const c = client(s.url, { tls: { fingerprint: masterCert.fingerprint256 } });
    must(await c.login());
    s.failover();
    must(await c.call('VM.get_all', []));
    expect(c.url).toBe(s.url);
    // two hosts, read at each login: the first one and the one at the new master
    expect(s.calls.filter((x) => x.method === 'host.get_server_certificate').length).toBe(4);
    await c.close();
  });

  it('a redirect to a host the pool does not vouch for is refused before anything is sent to it', async () => {
    const s = await sim();
    const rogue = await sim({ tls: rogueCert, memberTls: selfSignedCert() });
    const c = client(s.url, { tls: { fingerprint: masterCert.fingerprint256 }, retries: 0 });
    must(await c.login());
    s.addFault({ method: 'VM.get_all', code: 'HOST_IS_SLAVE', params: [new URL(rogue.url).host] });
    const r = await c.call('VM.get_all', []);
    expect(r).toMatchObject({ ok: false, error: { kind: 'tls' } });
    const msg = !r.ok ? r.error.message : '';
    expect(msg).toContain(`the pool master moved to ${rogue.url}`);
    expect(msg).toContain('not one the pool vouched for');
    expect(msg).toContain(rogueCert.fingerprint256.replace(/:/g, ''));
    expect(rogue.calls).toEqual([]);
    await c.close();
  });

  it('without pinning (CA verification) nothing is learnt: no Certificate read', async () => {
    const s = await sim();
    const dir = mkdtempSync(join(tmpdir(), 'pvrun-ca-'));
    writeFileSync(join(dir, 'ca.pem'), masterCert.cert);
    const c = client(s.url, { tls: { ca: join(dir, 'ca.pem') } });
    must(await c.login());
    expect(s.calls.map((x) => x.method)).not.toContain('Certificate.get_all_records');
    await c.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('the CLI: pvrun inventory --from-pool through a pinned member', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pvrun-tlsfo-'));
    writeFileSync(join(dir, 'pw'), 'pw\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const inventory = (url: string, fp: string) => {
    const p = join(dir, `inv-${Math.random().toString(36).slice(2)}.yml`);
    writeFileSync(p, `hypervisors:\n  p1:\n    url: ${url}\n    username: root\n    password: { file: ${join(dir, 'pw')} }\n    tls: { fingerprint: "${fp}" }\n`);
    return p;
  };

  it('the member vouches for the master: the listing works (exit 0)', async () => {
    const s = await sim();
    const r = await runCli(['inventory', '-i', inventory(s.memberUrl, memberCert.fingerprint256), '--from-pool', 'p1'], { cwd: REPO });
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('lin-1');
  });

  it('the member does not vouch: exit 4, a clear message, no stack trace', async () => {
    const s = await sim({ thumbprintHeader: false });
    const r = await runCli(['inventory', '-i', inventory(s.memberUrl, memberCert.fingerprint256), '--from-pool', 'p1'], { cwd: REPO });
    expect(r.code).toBe(4);
    expect(r.err).toContain('did not vouch for the master\'s certificate');
    expect(r.err).not.toMatch(/\n\s+at /);
  });
});
