/**
 * Issue 20: the preflight before batch 1 (and `pvrun preflight`). Real parts: the XAPI simulator
 * over HTTP with the production client, a real OpenSSH sshd on 127.0.0.1 as both hosts' guest,
 * the real CLI in-process. Each broken thing (an unreachable pool, a missing key, a wrong host
 * key, a VM that does not exist) is reported, located, before anything changes: no mutating XAPI
 * call reaches the pool (so no snapshot), no journal; 4 for unreachable, 5 for bad input.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { XapiSimulator } from '../../src/lab/xapi-sim/index.js';
import { freePort } from '../../src/lab/sshd.js';
import { describeWithSshd, startSshd, type SshdHandle } from '../harness/sshd.js';
import { runCli } from '../harness/cli.js';
import { validateJunit } from '../ci/junit-schema.js';

const UUID_A = '0a0a0a0a-1111-4111-8111-000000000001';
const UUID_B = '0b0b0b0b-2222-4222-8222-000000000002';
const UUID_NONE = '0c0c0c0c-3333-4333-8333-000000000003';

const PLAYBOOK = `- name: preflight play
  hosts: all
  serial: 1
  on_failure: rollback
  steps:
    - name: snapshot first
      snapshot: { name: "pf {{ host.name }}" }
    - name: touch the guest
      run-script: { script: "true" }
`;

interface Over { poolB?: string; keyA?: string; knownHosts?: string; uuidA?: string; uuidB?: string }

describeWithSshd('preflight: every pool, VM, key and guest before anything changes', () => {
  let dir: string;
  let sim: XapiSimulator;
  let sshd: SshdHandle;
  let closedPort: number;
  let wrongKnownHosts: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pvrun-preflight-'));
    sim = new XapiSimulator({
      definition: { pool: 'pf', username: 'root', password: 'pf-secret', vms: [
        { name: 'vm-a', uuid: UUID_A, power: 'Running', tools: 'agent' },
        { name: 'vm-b', uuid: UUID_B, power: 'Running', tools: 'agent' },
      ] },
    });
    await sim.start();
    sshd = await startSshd();
    closedPort = await freePort(); // nothing listens there
    writeFileSync(join(dir, 'pw'), 'pf-secret\n', { mode: 0o600 });
    writeFileSync(join(dir, 'known_hosts'), sshd.knownHostsLine().trim() + '\n');
    // another key for the same address: an impostor or a re-keyed guest
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'other_host_key')]);
    const other = readFileSync(join(dir, 'other_host_key.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
    wrongKnownHosts = join(dir, 'wrong_known_hosts');
    writeFileSync(wrongKnownHosts, `[127.0.0.1]:${sshd.port} ${other}\n`);
    writeFileSync(join(dir, 'pb.yml'), PLAYBOOK);
  }, 60_000);

  afterAll(async () => {
    await sim?.stop();
    await sshd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** an inventory in its own file; returns its path and the line where each host / pool is defined */
  function inventory(name: string, o: Over = {}): { path: string; line: Record<string, number> } {
    const conn = (key: string) => `{ type: ssh, address: 127.0.0.1, port: ${sshd.port}, user: ${sshd.user}, key: ${key}, known_hosts: ${o.knownHosts ?? join(dir, 'known_hosts')}, host_key_checking: strict }`;
    const text = [
      'hypervisors:',
      `  pf: { url: "${sim.url}", username: root, password: { file: pw }, tls: {} }`,
      `  pb: { url: "${o.poolB ?? sim.url}", username: root, password: { file: pw }, tls: {} }`,
      'hosts:',
      `  host-a:`,
      `    connection: ${conn(o.keyA ?? sshd.clientKeyPath)}`,
      `    vm: { pool: pf, uuid: ${o.uuidA ?? UUID_A} }`,
      `  host-b:`,
      `    connection: ${conn(sshd.clientKeyPath)}`,
      `    vm: { pool: pb, uuid: ${o.uuidB ?? UUID_B} }`,
      '',
    ].join('\n');
    const path = join(dir, `${name}.yml`);
    writeFileSync(path, text);
    const lines = text.split('\n');
    const line: Record<string, number> = {};
    for (const k of ['pf', 'pb', 'host-a', 'host-b']) line[k] = lines.findIndex((l) => l.startsWith(`  ${k}:`)) + 1;
    return { path, line };
  }

  const snapshots = (): number => [UUID_A, UUID_B].reduce((n, u) => {
    const ref = sim.model.store.byUuid('VM', u)!;
    return n + ((sim.model.store.get('VM', ref) as Record<string, unknown>)['snapshots'] as string[]).length;
  }, 0);

  async function run(inv: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}) {
    const state = mkdtempSync(join(dir, 'state-'));
    const since = sim.calls.length;
    const r = await runCli([join(dir, 'pb.yml'), '-i', inv, '--state-dir', state, ...extra], { env: { PATH: process.env['PATH'], ...env } });
    const runs = existsSync(join(state, 'runs')) ? readdirSync(join(state, 'runs')).filter((f) => f.endsWith('.jsonl')) : [];
    return { ...r, text: r.out + r.err, mutating: sim.calls.slice(since).filter((c) => !c.readOnly).map((c) => c.method), runs };
  }

  it('all reachable: `pvrun preflight` exits 0, and a run goes on to change things', async () => {
    const inv = inventory('good');
    const p = await runCli(['preflight', join(dir, 'pb.yml'), '-i', inv.path], { env: { PATH: process.env['PATH'] } });
    expect(p.code, p.out + p.err).toBe(0);
    expect(p.out).toMatch(/preflight ok: 2 pool\(s\), 2 VM\(s\), 2 guest handshake\(s\), 2 host\(s\)/);
    const r = await run(inv.path);
    expect(r.code, r.text).toBe(0);
    expect(r.mutating.filter((m) => m.endsWith('VM.snapshot'))).toHaveLength(2);
    expect(r.runs).toHaveLength(1);
  }, 120_000);

  it('an unreachable pool: exit 4, the pool located, its hosts named, no host touched', async () => {
    const inv = inventory('pool-down', { poolB: `http://127.0.0.1:${closedPort}` });
    const before = snapshots();
    const r = await run(inv.path);
    expect(r.code, r.text).toBe(4);
    expect(r.err).toContain(`pool pb (${inv.path}:${inv.line['pb']}:3): login:`);
    expect(r.err).toMatch(/ECONNREFUSED|refused/);
    expect(r.err).toMatch(/hosts: host-b/);
    expect(r.err).toMatch(/nothing was started or changed/);
    // host-a (on the good pool) was not started either: no snapshot, nothing journaled
    expect(r.mutating).toEqual([]);
    expect(snapshots()).toBe(before);
    expect(r.runs).toEqual([]);
    expect(r.out).not.toMatch(/ROLLBACK|RECAP/);
  }, 120_000);

  it('a missing key file: exit 5, the host located, nothing changed', async () => {
    const inv = inventory('no-key', { keyA: join(dir, 'no-such-key') });
    const before = snapshots();
    const r = await run(inv.path);
    expect(r.code, r.text).toBe(5);
    expect(r.err).toContain(`host host-a (${inv.path}:${inv.line['host-a']}:3): config:`);
    expect(r.err).toContain('cannot read private key');
    expect(r.mutating).toEqual([]);
    expect(snapshots()).toBe(before);
    expect(r.runs).toEqual([]);
  }, 120_000);

  it('a known_hosts file that is not there (strict): exit 5, bad input rather than an unknown key', async () => {
    const inv = inventory('no-kh', { knownHosts: join(dir, 'no_such_known_hosts') });
    const r = await run(inv.path);
    expect(r.code, r.text).toBe(5);
    expect(r.err).toContain(`host host-a (${inv.path}:${inv.line['host-a']}:3): config: known_hosts file ${join(dir, 'no_such_known_hosts')}: no such file`);
    expect(r.mutating).toEqual([]);
  }, 120_000);

  it('a wrong host key: exit 4, HOST KEY CHANGED for the host, nothing changed', async () => {
    const inv = inventory('wrong-hk', { knownHosts: wrongKnownHosts });
    const before = snapshots();
    const r = await run(inv.path);
    expect(r.code, r.text).toBe(4);
    expect(r.err).toContain(`host host-a (${inv.path}:${inv.line['host-a']}:3): guest: host-key-mismatch: HOST KEY CHANGED`);
    expect(r.err).toContain(`host host-b (${inv.path}:${inv.line['host-b']}:3): guest: host-key-mismatch`);
    expect(r.mutating).toEqual([]);
    expect(snapshots()).toBe(before);
  }, 120_000);

  it('a VM that does not exist: exit 5, the host located, the other host untouched', async () => {
    const inv = inventory('no-vm', { uuidA: UUID_NONE });
    const before = snapshots();
    const r = await run(inv.path);
    expect(r.code, r.text).toBe(5);
    expect(r.err).toContain(`host host-a (${inv.path}:${inv.line['host-a']}:3): vm: no VM with uuid ${UUID_NONE} on pool pf`);
    expect(r.mutating).toEqual([]);
    expect(snapshots()).toBe(before);
  }, 120_000);

  it('--skip-preflight: the run starts, and the good host is changed (the engine fails the other)', async () => {
    // the canary (host-a) is fine, host-b's VM is missing: without preflight the canary is changed
    const inv = inventory('no-vm-skip', { uuidB: UUID_NONE });
    const r = await run(inv.path, ['--skip-preflight']);
    expect(r.text).not.toMatch(/preflight failed/);
    expect(r.code, r.text).toBe(2);
    expect(r.mutating.some((m) => m.endsWith('VM.snapshot'))).toBe(true);
    expect(r.runs).toHaveLength(1);
  }, 120_000);

  it('under GitHub Actions a preflight failure is annotated at the inventory line, and --junit lists every host', async () => {
    const inv = inventory('gh', { poolB: `http://127.0.0.1:${closedPort}` });
    const junit = join(dir, 'pf-junit.xml');
    const r = await run(inv.path, ['--junit', junit], { GITHUB_ACTIONS: 'true' });
    expect(r.code, r.text).toBe(4);
    expect(r.out).toContain(`::error file=${inv.path},line=${inv.line['pb']},col=3,title=pvrun preflight%3A pool pb unreachable::login: `);
    const xml = readFileSync(junit, 'utf8');
    expect(validateJunit(xml)).toEqual([]);
    expect(xml).toMatch(/<testcase name="host-b"[^>]*>\s*<failure message="preflight: pool pb/);
    expect(xml).toMatch(/<testcase name="host-a"[^>]*>\s*<skipped message="not started: preflight found 1 problem/);
  }, 120_000);

  /** logins sshd accepted while `f` ran (LogLevel INFO: one "Accepted publickey" per SSH connection) */
  async function logins<T>(f: () => Promise<T>): Promise<{ n: number; value: T }> {
    const before = (sshd.log().match(/Accepted publickey/g) ?? []).length;
    const value = await f();
    // sshd writes the line before it answers the login; nothing is left in flight once the run ended
    return { n: (sshd.log().match(/Accepted publickey/g) ?? []).length - before, value };
  }

  it('issue 17: the hosts a run starts first are handshaken once — the preflight hands its connection to the run', async () => {
    const inv = inventory('warm');
    // no serial, forks 5: both hosts start at once, so both keep the preflight's connection
    writeFileSync(join(dir, 'pb-all.yml'), PLAYBOOK.replace('  serial: 1\n', ''));
    const all = await logins(() => runCli([join(dir, 'pb-all.yml'), '-i', inv.path, '--state-dir', mkdtempSync(join(dir, 'state-'))], { env: { PATH: process.env['PATH'] } }));
    expect(all.value.code, all.value.out + all.value.err).toBe(0);
    expect(all.n).toBe(2);
    // serial: 1 — batch 1 is host-a alone: host-b's preflight connection is closed, not held
    // idle through batch 1, and its batch connects again (3 logins; before issue 17's handover, 4)
    const serial = await logins(() => run(inv.path));
    expect(serial.value.code, serial.value.text).toBe(0);
    expect(serial.n).toBe(3);
    // the figure to compare with: no preflight, one connection per host
    const skip = await logins(() => run(inv.path, ['--skip-preflight']));
    expect(skip.value.code, skip.value.text).toBe(0);
    expect(skip.n).toBe(2);
  }, 180_000);

  it('a rehearsal takes over the preflight connection behind the check gate: its run-script is not run', async () => {
    const inv = inventory('warm-check');
    const marker = join(dir, 'warm-check-ran');
    writeFileSync(join(dir, 'pb-touch.yml'), PLAYBOOK.replace('  serial: 1\n', '').replace('script: "true"', `script: "touch ${marker}", unless: { cmd: "test -e ${marker}", check_mode_safe: true }`));
    const r = await logins(() => runCli([join(dir, 'pb-touch.yml'), '-i', inv.path, '--check', '--state-dir', mkdtempSync(join(dir, 'state-'))], { env: { PATH: process.env['PATH'] } }));
    expect(r.value.code, r.value.out + r.value.err).toBe(0);
    // the guard ran on the guest (so the run used a guest connection), and the connections it
    // used were the preflight's: 2 logins for 2 hosts (4 before the handover)
    expect(r.value.out + r.value.err).toMatch(/run-script|touch/);
    expect(r.n).toBe(2);
    expect(existsSync(marker)).toBe(false);
  }, 120_000);
});
