/**
 * Issue 20, CI outputs: a canary failure in an 4-host play. The JUnit report lists every planned
 * host (the three never started as `<skipped message="not started: …">`) and a case per step;
 * the GitHub annotation leads with the root cause (the failed main step, not the cleanup step
 * that failed after it) at its playbook file= and line=; invalid input (exit 5) is annotated too.
 * Real parts: the XAPI simulator over HTTP with the production client, a real sshd as the
 * guests, the real CLI in-process.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { XapiSimulator } from '../../src/lab/xapi-sim/index.js';
import { describeWithSshd, startSshd, type SshdHandle } from '../harness/sshd.js';
import { runCli } from '../harness/cli.js';
import { parseXml, validateJunit, type XmlEl } from './junit-schema.js';

const HOSTS = ['host-1', 'host-2', 'host-3', 'host-4'];

const PLAYBOOK = `- name: canary play
  hosts: all
  serial: [1, 3]
  on_failure: rollback
  steps:
    - name: snapshot first
      snapshot: { name: "ci {{ host.name }}" }

    - name: the installer
      run-script: { script: "echo boom >&2; exit 7" }

    - name: never reached
      run-script: { script: "true" }
  cleanup:
    - name: a cleanup that fails too
      run-script: { script: "exit 3" }
`;

const lineOf = (text: string, needle: string): number => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

describeWithSshd('CI outputs for a canary failure', () => {
  let dir: string;
  let sim: XapiSimulator;
  let sshd: SshdHandle;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pvrun-ci-out-'));
    sim = new XapiSimulator({ definition: { pool: 'ci', username: 'root', password: 'ci-secret', vms: HOSTS.map((h) => ({ name: h, power: 'Running' as const, tools: 'agent' as const })) } });
    await sim.start();
    sshd = await startSshd();
    writeFileSync(join(dir, 'pw'), 'ci-secret\n');
    writeFileSync(join(dir, 'known_hosts'), sshd.knownHostsLine().trim() + '\n');
    writeFileSync(join(dir, 'inv.yml'), [
      'hypervisors:',
      `  ci: { url: "${sim.url}", username: root, password: { file: pw }, tls: {} }`,
      'groups:',
      '  ci_hosts:',
      `    hosts: [${HOSTS.join(', ')}]`,
      `    connection: { type: ssh, address: 127.0.0.1, port: ${sshd.port}, user: ${sshd.user}, key: ${sshd.clientKeyPath}, known_hosts: known_hosts, host_key_checking: strict }`,
      'hosts:',
      ...HOSTS.map((h) => `  ${h}: { vm: { pool: ci, name_label: ${h} } }`),
      '',
    ].join('\n'));
    writeFileSync(join(dir, 'pb.yml'), PLAYBOOK);
  }, 60_000);

  afterAll(async () => {
    await sim?.stop();
    await sshd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('JUnit: every planned host, the never-started ones skipped with the reason, a case per step; annotations at the playbook line, cause first', async () => {
    const junit = join(dir, 'junit.xml');
    const r = await runCli([join(dir, 'pb.yml'), '-i', join(dir, 'inv.yml'), '--junit', junit, '--state-dir', join(dir, 'state')],
      { cwd: dir, env: { PATH: process.env['PATH'], GITHUB_ACTIONS: 'true' } });
    expect(r.code, r.out + r.err).toBe(2);

    const xml = readFileSync(junit, 'utf8');
    expect(validateJunit(xml)).toEqual([]);
    const root = parseXml(xml);
    const [hostsSuite, stepsSuite] = root.children as [XmlEl, XmlEl];
    expect(hostsSuite.attrs).toMatchObject({ name: 'canary play', tests: '4', failures: '1', skipped: '3' });
    const byHost: Record<string, XmlEl> = Object.fromEntries(hostsSuite.children.map((c) => [c.attrs['name'], c]));
    expect(Object.keys(byHost).sort()).toEqual(HOSTS);
    const fail = byHost['host-1']!.children.find((c) => c.name === 'failure')!;
    // the cause, not the cleanup step that failed after it
    expect(fail.attrs['message']).toMatch(/^the installer: script exit 7/);
    expect(fail.text).toContain(`the installer (run-script) [pb.yml:${lineOf(PLAYBOOK, '- name: the installer')}]`);
    expect(fail.text).toContain('cleanup: a cleanup that fails too (run-script)');
    for (const h of ['host-2', 'host-3', 'host-4']) {
      const sk = byHost[h]!.children.find((c) => c.name === 'skipped')!;
      expect(sk.attrs['message']).toBe('not started: the play stopped after batch 1: 1 of 1 host(s) failed (every host of the batch failed)');
    }
    expect(stepsSuite.attrs).toMatchObject({ name: 'canary play · steps', tests: '3', failures: '2' });
    const steps: Record<string, XmlEl> = Object.fromEntries(stepsSuite.children.map((c) => [c.attrs['name'], c]));
    expect(Object.keys(steps)).toEqual(['snapshot first', 'the installer', 'cleanup: a cleanup that fails too']);
    expect(steps['the installer']!.children[0]!.attrs['message']).toMatch(new RegExp(`^failed on host-1 \\[pb\\.yml:${lineOf(PLAYBOOK, '- name: the installer')}\\]: script exit 7`));
    expect(steps['snapshot first']!.children.map((c) => c.name)).toEqual(['system-out']);

    const errors = r.out.split('\n').filter((l) => l.startsWith('::error'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(new RegExp(`^::error file=pb\\.yml,line=${lineOf(PLAYBOOK, '- name: the installer')},title=pvrun%3A host-1 rolled-back::the installer: script exit 7`));
    expect(errors[0]).toContain("%0Athen cleanup 'a cleanup that fails too' failed: ");
  }, 180_000);

  it('invalid input under GitHub Actions: exit 5 and an annotation at the file, line and column', async () => {
    const bad = join(dir, 'bad.yml');
    writeFileSync(bad, PLAYBOOK.replace('      run-script: { script: "true" }', '      run-scrpt: { script: "true" }'));
    const r = await runCli([bad, '-i', join(dir, 'inv.yml')], { cwd: dir, env: { PATH: process.env['PATH'], GITHUB_ACTIONS: 'true' } });
    expect(r.code, r.out + r.err).toBe(5);
    const line = lineOf(PLAYBOOK, 'run-script: { script: "true" }');
    expect(r.out).toMatch(new RegExp(`^::error file=\\S*bad\\.yml,line=${line},col=\\d+,title=pvrun%3A invalid input::.*run-scrpt`, 'm'));
  }, 60_000);
});
