/**
 * Issue 19 item 2: check mode runs nothing user-written on a guest. A `--check` run of a playbook
 * full of `unless:` guards and `command:` predicates that would all write files (as root too)
 * leaves every guest byte-identical, and the steps show as "unknown (not run in check mode)".
 * The opt-in (`check_mode_safe: true`) does run, and the output says so.
 *
 * Real parts: the lab's container guests over real SSH, the XAPI simulator over HTTP, the real CLI.
 */
import { describeUnless } from '../harness/require.js';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprints, labSkipReason, pvrun, recapOutcomes, startLab, type StartedLab } from '../e2e/harness.js';
import { sshExec } from '../lab/helpers.js';
import type { Lab } from '../../src/lab/lab.js';
import type { Connector, ExecOptions } from '../../src/connectors/types.js';
import { builtinRegistry } from '../../src/steps/registry.js';
import type { StepContext } from '../../src/steps/types.js';
import { ok } from '../../src/util/result.js';

describe('command predicates over the PowerShell transports obey the same rule', () => {
  /** records what would run; a PowerShell connector as a Windows host has (no transport needed to see the decision) */
  function psHost(check: boolean): { ctx: StepContext; calls: { cmd: string; opts: ExecOptions }[] } {
    const calls: { cmd: string; opts: ExecOptions }[] = [];
    const c = {
      kind: 'ssh-powershell', os: 'windows', host: 'win-01',
      exec: async (cmd: string, opts: ExecOptions = {}) => { calls.push({ cmd, opts }); return ok({ exitCode: 0, signal: null, stdout: '', stderr: '' }); },
    } as unknown as Connector;
    const ctx = { check, log: () => undefined, signal: new AbortController().signal, guest: async () => ok(c) } as unknown as StepContext;
    return { ctx, calls };
  }
  const check = builtinRegistry().steps.get('check')!;
  const verify = builtinRegistry().steps.get('verify')!;

  it('check mode: not run, unknown', async () => {
    const h = psHost(true);
    expect(await check.plan(h.ctx, { command: "New-Item -Path C:\\pwned -ItemType File" })).toEqual({
      kind: 'unknown', reason: 'command: unknown (not run in check mode): New-Item -Path C:\\pwned -ItemType File',
    });
    expect(await verify.plan(h.ctx, { command: { cmd: 'Remove-Item C:\\x' }, timeout: 1 })).toMatchObject({ kind: 'unknown' });
    expect(h.calls).toEqual([]);
  });

  it('check_mode_safe: runs, as a read-only command; a real run runs it as an ordinary one', async () => {
    const h = psHost(true);
    expect(await check.plan(h.ctx, { command: { cmd: 'Test-Path C:\\x', check_mode_safe: true } })).toEqual({
      kind: 'ok', summary: 'command = exit 0 [ran in check mode (check_mode_safe)]',
    });
    expect(h.calls.map((c) => [c.cmd, c.opts.mutates === false])).toEqual([['Test-Path C:\\x', true]]);
    const real = psHost(false);
    expect(await check.plan(real.ctx, { command: 'Test-Path C:\\x' })).toEqual({ kind: 'ok', summary: 'command = exit 0' });
    // not marked read-only: a check-mode connector would refuse it
    expect(real.calls.map((c) => c.opts.mutates === false)).toEqual([false]);
  });
});

const skip = labSkipReason();
if (skip) console.warn(`[skipped] check-mode guard tests: ${skip}`);

/**
 * Everything a guest can write outside /proc, /sys, /dev and /run: its root filesystem is an
 * overlay whose upper dir on the controller holds every change (fingerprinted byte by byte), and
 * /tmp is a tmpfs inside the guest (src/lab/guest/boot-scripts.ts), listed and hashed from inside.
 */
async function guestState(lab: Lab): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, digest] of Object.entries(fingerprints(lab))) {
    const g = lab.guests.info(name)!;
    const tmp = await sshExec(g, "cd /tmp && find . -printf '%p|%y|%m|%U|%G|%s|%T@|%l\\n' | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum");
    expect(tmp.code).toBe(0);
    out[name] = `${digest}\n${tmp.stdout}`;
  }
  return out;
}

const WRITES = ['/tmp/pwned-unless', '/root/pwned-unless', '/var/tmp/pwned-unless-obj', '/opt/pwned-dir', '/tmp/pwned-check',
  '/etc/pwned-check-root', '/var/pwned-verify', '/tmp/pwned-verify-2', '/root/pwned-script', '/root/pwned-script2', '/root/pwned-script3'];

const PLAYBOOK = `
- name: guards and command predicates that would all write
  hosts: all
  steps:
    - name: unless guard that writes
      run-script:
        script: "touch /root/pwned-script"
        unless: "touch /tmp/pwned-unless; touch /root/pwned-unless; false"
        become: true
    - name: unless guard with a template
      run-script:
        script: "touch /root/pwned-script2"
        unless: "echo {{ host.name }} > /var/tmp/pwned-unless-obj"
        become: true
    - name: creates is pvrun's own probe, unless is not
      run-script:
        script: "touch /root/pwned-script3"
        creates: /etc/no-such-marker
        unless: "mkdir /opt/pwned-dir"
    - name: check with a writing command
      check:
        command: "touch /tmp/pwned-check"
    - name: check command as root, with skip-host
      check:
        command: { cmd: "touch /etc/pwned-check-root; true", become: true, exit_code: 0 }
        file_exists: /etc/hostname
        otherwise: skip-host
    - name: verify with writing commands
      verify:
        command: "touch /var/pwned-verify && touch /tmp/pwned-verify-2"
        timeout: 5
`;

describeUnless(skip)('check mode and user-written guest commands (lab)', () => {
  let l: StartedLab;
  let dir: string;
  beforeAll(async () => {
    l = await startLab([
      { name: 'deb-01', distro: 'debian', version: '12' },
      { name: 'rpm-01', distro: 'rocky', version: '9' },
    ], 'guards');
    dir = mkdtempSync(join(tmpdir(), 'pvrun-guards-'));
  }, 180_000);
  afterAll(async () => {
    await l?.lab.stop();
    if (l) rmSync(l.dir, { recursive: true, force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a --check run of guards and command predicates leaves every guest byte-identical; they show as unknown', async () => {
    const pb = join(dir, 'guards.yml');
    writeFileSync(pb, PLAYBOOK);
    const before = await guestState(l.lab);
    const r = await pvrun([pb, '-i', l.inventory, '--check', '--state-dir', join(l.dir, 'pvrun')]);
    const after = await guestState(l.lab);
    expect(after).toEqual(before);
    for (const g of ['deb-01', 'rpm-01']) {
      const ls = await sshExec(l.lab.guests.info(g)!, `ls -d ${WRITES.join(' ')} 2>/dev/null; true`);
      expect(ls.stdout).toBe('');
      for (const step of ['unless guard that writes', 'unless guard with a template', "creates is pvrun's own probe, unless is not",
        'check with a writing command', 'check command as root, with skip-host', 'verify with writing commands']) {
        const line = r.out.split('\n').find((x) => x.includes(`${g} [${step}]`) && !x.includes('start'));
        expect(line, `${g} [${step}] in\n${r.out}`).toMatch(/\] unknown: .*unknown \(not run in check mode\)/);
      }
    }
    expect(recapOutcomes(r.out)).toEqual({ 'deb-01': 'ok', 'rpm-01': 'ok' });
    expect(r.code).toBe(0);
  }, 240_000);

  it('check_mode_safe: the marked command runs in check mode, and the output and journal say so', async () => {
    const pb = join(dir, 'safe.yml');
    writeFileSync(pb, `
- name: opt-in
  hosts: deb-01
  steps:
    - name: a read-only guard, marked safe
      run-script:
        script: "touch /root/never"
        unless: { cmd: "grep -q . /etc/hostname", check_mode_safe: true }
    - name: the object form without the mark is not run
      run-script:
        script: "touch /root/never"
        unless: { cmd: "touch /tmp/object-form-ran" }
    - name: "a command the user vouches for (it writes; the word of the user is taken)"
      check:
        command: { cmd: "touch /tmp/optin-ran", check_mode_safe: true }
`);
    const state = join(l.dir, 'pvrun-safe');
    const r = await pvrun([pb, '-i', l.inventory, '--check', '--state-dir', state]);
    expect(r.out).toMatch(/deb-01 \[a read-only guard, marked safe\] ok: not needed: 'unless' command succeeded \(ran in check mode \(check_mode_safe\)\)/);
    expect(r.out).toMatch(/deb-01 \[a command the user vouches for[^\]]*\] ok: command = exit 0 \[ran in check mode \(check_mode_safe\)\]/);
    const g = l.lab.guests.info('deb-01')!;
    expect(r.out).toMatch(/deb-01 \[the object form without the mark is not run\] unknown: 'unless' guard unknown \(not run in check mode\)/);
    expect((await sshExec(g, 'test -e /tmp/optin-ran')).code).toBe(0);
    expect((await sshExec(g, 'test -e /tmp/object-form-ran')).code).toBe(1);
    expect((await sshExec(g, 'test -e /root/never')).code).toBe(1);
    const journal = readdirSync(join(state, 'runs')).filter((f) => f.endsWith('.jsonl'));
    expect(journal).toHaveLength(1);
    expect(readFileSync(join(state, 'runs', journal[0]!), 'utf8')).toContain('ran in check mode (check_mode_safe)');
    expect(r.code).toBe(0);
  }, 180_000);

  it('a step with check_mode: true in a real run does not run its guard either', async () => {
    const pb = join(dir, 'step-check.yml');
    writeFileSync(pb, `
- hosts: deb-01
  steps:
    - name: rehearsed only
      check_mode: true
      run-script:
        script: "touch /root/step-check-script"
        unless: "touch /tmp/step-check-guard"
    - name: rehearsed check
      check_mode: true
      check:
        command: "touch /tmp/step-check-command"
`);
    const r = await pvrun([pb, '-i', l.inventory, '--state-dir', join(l.dir, 'pvrun-step')]);
    expect(r.out).toMatch(/deb-01 \[rehearsed only\] unknown: 'unless' guard unknown \(not run in check mode\)/);
    expect(r.out).toMatch(/deb-01 \[rehearsed check\] unknown: command: unknown \(not run in check mode\)/);
    const ls = await sshExec(l.lab.guests.info('deb-01')!, 'ls /root/step-check-script /tmp/step-check-guard /tmp/step-check-command 2>/dev/null; true');
    expect(ls.stdout).toBe('');
    expect(r.code).toBe(0);
  }, 120_000);
});
