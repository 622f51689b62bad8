/**
 * A pinned pool whose master changes in the middle of a real `pvrun` run (issue 13): the CLI runs a
 * check-mode playbook of two plays against the XAPI simulator over TLS, pinned to the master's
 * certificate; while the second play's VM is being read, the pool fails over (the member becomes
 * the master, with its OWN certificate, as each real host has its xapi-ssl.pem). The run must go
 * on at the new master, trusted because the pool's host certificates were read over the verified
 * session at login — never by trusting an unverified host.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { XapiSimulator, selfSignedCert } from '../../src/lab/xapi-sim/index.js';
import { runCli } from '../harness/cli.js';
import { POOL } from './helpers.js';

const REPO = join(import.meta.dirname, '..', '..');
const masterCert = selfSignedCert();
const memberCert = selfSignedCert();
let dir: string;
const started: XapiSimulator[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pvrun-fo-run-'));
  writeFileSync(join(dir, 'pw'), 'pw\n');
});
afterEach(async () => {
  await Promise.all(started.splice(0).map((x) => x.stop()));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function sim(): Promise<XapiSimulator> {
  const s = new XapiSimulator({ definition: POOL, tls: masterCert, memberTls: memberCert });
  await s.start();
  started.push(s);
  return s;
}

/** an inventory pinned to the master's certificate, and a check-mode playbook of two plays */
function files(s: XapiSimulator): { inv: string; pb: string } {
  const inv = join(dir, `inv-${started.length}.yml`);
  writeFileSync(inv, [
    'hypervisors:',
    '  p1:',
    `    url: ${s.url}`,
    '    username: root',
    `    password: { file: ${join(dir, 'pw')} }`,
    `    tls: { fingerprint: "${masterCert.fingerprint256}" }`,
    'hosts:',
    '  h1:',
    '    vm: { pool: p1, name_label: lin-1 }',
    '    connection: { type: ssh, address: 127.0.0.1, user: nobody }',
    '  h2:',
    '    vm: { pool: p1, name_label: lin-2 }',
    '    connection: { type: ssh, address: 127.0.0.1, user: nobody }',
    '',
  ].join('\n'));
  const pb = join(dir, 'pb.yml');
  writeFileSync(pb, [
    '- name: first', '  hosts: h1', '  steps:',
    '    - name: h1 runs', '      check: { power_state: Running }',
    '- name: second', '  hosts: h2', '  steps:',
    '    - name: h2 runs', '      check: { power_state: Running }',
    '    - name: h2 still runs', '      check: { power_state: Running }',
    '',
  ].join('\n'));
  return { inv, pb };
}

/**
 * Preflight logs in and looks both VMs up (2 VM.get_by_name_label), then the run logs in again.
 * The run's first lookup is held 400 ms and the pool fails over while it is held: the calls after
 * it reach the old master, now a member, on a session opened before the move.
 */
async function runWithFailover(s: XapiSimulator): Promise<{ code: number; out: string; err: string; moved: boolean }> {
  const { inv, pb } = files(s);
  s.clearCallLog();
  s.addFault({ method: 'VM.get_by_name_label', afterCalls: 2, times: 1, latencyMs: 400 });
  let moved = false;
  const watcher = setInterval(() => {
    if (!moved && s.calls.filter((c) => c.method === 'VM.get_by_name_label').length >= 3) { s.failover(); moved = true; }
  }, 5);
  try {
    const r = await runCli([pb, '-i', inv, '--check', '--state-dir', join(dir, `state-${started.length}`)], { cwd: REPO, env: { ...process.env, CI: 'true' } });
    return { ...r, moved };
  } finally {
    clearInterval(watcher);
  }
}

describe('pvrun run, pinned, the pool master moves mid-run', () => {
  it('the pool vouches for the new master (its host certificates read at login): the run goes on, exit 0', async () => {
    const s = await sim();
    const oldMaster = s.url;
    const lin2 = s.vm('lin-2').ref;
    const r = await runWithFailover(s);
    expect(r.moved).toBe(true);
    expect(s.url).not.toBe(oldMaster);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/h1 \[h1 runs\] ok/);
    expect(r.out).toMatch(/h2 \[h2 still runs\] ok/);
    // after the move the old master (now a member) refused with HOST_IS_SLAVE, on a call of the
    // run's session, and the rest was answered by the new master
    const i = s.calls.findIndex((c) => c.error === 'HOST_IS_SLAVE');
    expect(i).toBeGreaterThan(0);
    expect(s.calls[i]!.method).not.toBe('session.login_with_password');
    expect(s.calls.slice(i).some((c) => c.host === 'master' && c.error === undefined && c.params.includes(lin2))).toBe(true);
    expect(s.mutatingCalls).toEqual([]);
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it('the pool cannot vouch (no Certificate records, no host.get_server_certificate): the run stops, a clear tls error, the new master is sent nothing', async () => {
    const s = await sim();
    s.addFault({ method: 'Certificate.get_all_records', code: 'MESSAGE_METHOD_UNKNOWN', params: ['Certificate.get_all_records'] });
    s.addFault({ method: 'host.get_server_certificate', code: 'MESSAGE_METHOD_UNKNOWN', params: ['host.get_server_certificate'] });
    const r = await runWithFailover(s);
    expect(r.moved).toBe(true);
    // each host's step fails (exit 2: in this rehearsal, nothing was changed to roll back), and
    // both say why: the master moved to a host whose certificate the pool did not vouch for
    expect(r.code, r.out + r.err).toBe(2);
    expect(r.out).toMatch(/h1 \[h1 runs\] would-fail: power_state: the pool master moved to https:\/\/127\.0\.0\.1:\d+ \(failover\), and its certificate is not one the pool vouched for/);
    expect(r.out).toMatch(/h2 \[h2 runs\] would-fail: power_state: the pool master moved to https:\/\/127\.0\.0\.1:\d+ \(failover\), and its certificate is not one the pool vouched for/);
    // nothing after the move was answered by the new master (the client refused its certificate)
    const i = s.calls.findIndex((c) => c.error === 'HOST_IS_SLAVE');
    expect(i).toBeGreaterThan(0);
    expect(s.calls.slice(i).filter((c) => c.host === 'master')).toEqual([]);
    expect(r.out).not.toMatch(/h2 \[h2 still runs\] ok/);
    expect(r.err).not.toMatch(/\n\s+at /);
  });
});
