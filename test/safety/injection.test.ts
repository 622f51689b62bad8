/**
 * Issue 19 item 4: injection. Templates in shell contexts (run-script `script:` and `unless:`, the
 * `command:` predicate) are quoted by default (`| raw` opts out); package and service names are
 * validated (located exit-5 errors at load for literal names, a step failure for names from
 * run-time templates) and passed after `--`.
 *
 * Real parts: the loader and CLI on real files; a real run against the lab's container guests
 * (real SSH, become) for what reaches a guest.
 */
import { describeUnless } from '../harness/require.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LINUX_TOOLS, labSkipReason, pvrun, recapOutcomes, startLab, type StartedLab } from '../e2e/harness.js';
import { sshExec } from '../lab/helpers.js';
import { loadProject } from '../../src/load/project.js';
import { quotingContexts, render } from '../../src/load/template.js';
import { builtinRegistry } from '../../src/steps/registry.js';
import { installCommand, queryCommand, removeCommand } from '../../src/steps/linux/package-manager.js';
import { serviceCommand, serviceProbeCommand } from '../../src/steps/linux/services.js';

const HOSTILE = `a b'; touch /tmp/injected; echo '$(touch /tmp/injected2)`;

describe('templates in shell contexts are quoted', () => {
  const scope = { vars: { x: HOSTILE, n: 5 }, host: { name: 'web-1', connection: 'ssh' } };
  const runScript = builtinRegistry().steps.get('run-script');
  const check = builtinRegistry().steps.get('check');

  it('run-script script and unless: quoted for a POSIX shell; | raw pastes; other fields untouched', () => {
    const args = { script: 'echo {{ vars.x }} {{ vars.n }} {{ vars.x | raw }}', unless: 'test -e {{ vars.x }}', creates: '/x/{{ vars.x }}' };
    const r = render(args, scope, { contexts: quotingContexts(runScript, args, 'ssh') });
    expect(r.errors).toEqual([]);
    const q = `'a b'\\''; touch /tmp/injected; echo '\\''$(touch /tmp/injected2)'`;
    expect(r.value).toEqual({ script: `echo ${q} 5 ${HOSTILE}`, unless: `test -e ${q}`, creates: `/x/${HOSTILE}` });
  });

  it('a whole-string template in a shell context is one quoted word too', () => {
    const args = { script: '{{ vars.x }}' };
    expect(render(args, scope, { contexts: quotingContexts(runScript, args, 'ssh') }).value).toEqual({ script: `'a b'\\''; touch /tmp/injected; echo '\\''$(touch /tmp/injected2)'` });
  });

  it('deferred references keep the quoting for run time', () => {
    const args = { script: 'echo {{ registered.probe.stdout }} {{ facts.os.family | raw }}' };
    const r = render(args, scope, { defer: ['facts', 'registered'], contexts: quotingContexts(runScript, args, 'ssh') });
    expect(r.value).toEqual({ script: 'echo {{ registered.probe.stdout | shell_quote }} {{ facts.os.family | raw }}' });
    const later = render(r.value, { registered: { probe: { stdout: '$(reboot)' } }, facts: { os: { family: 'debian' } } });
    expect(later.value).toEqual({ script: `echo '$(reboot)' debian` });
  });

  it('command predicates: POSIX quoting over ssh, PowerShell quoting over the PowerShell transports', () => {
    const args = { command: { cmd: 'Test-Path {{ vars.x }}' }, otherwise: 'skip-host' };
    const sh = render(args, scope, { contexts: quotingContexts(check, args, 'ssh') }).value as { command: { cmd: string } };
    expect(sh.command.cmd).toBe(`Test-Path 'a b'\\''; touch /tmp/injected; echo '\\''$(touch /tmp/injected2)'`);
    const ps = render(args, scope, { contexts: quotingContexts(check, args, 'ssh-powershell') }).value as { command: { cmd: string } };
    expect(ps.command.cmd).toBe(`Test-Path 'a b''; touch /tmp/injected; echo ''$(touch /tmp/injected2)'`);
    const str = { command: 'test -n {{ vars.x }}' };
    expect(render(str, scope, { contexts: quotingContexts(check, str, 'psremoting') }).value).toEqual({ command: `test -n 'a b''; touch /tmp/injected; echo ''$(touch /tmp/injected2)'` });
  });

  it("reboot's test_command and reboot_command are shell contexts too", () => {
    const reboot = builtinRegistry().steps.get('reboot');
    const args = { test_command: 'test -e {{ vars.x }}', reboot_command: 'shutdown -r now {{ vars.x }}', via: 'guest' };
    expect(render(args, scope, { contexts: quotingContexts(reboot, args, 'ssh') }).value).toEqual({
      test_command: `test -e 'a b'\\''; touch /tmp/injected; echo '\\''$(touch /tmp/injected2)'`,
      reboot_command: `shutdown -r now 'a b'\\''; touch /tmp/injected; echo '\\''$(touch /tmp/injected2)'`,
      via: 'guest',
    });
  });

  it('a script for another interpreter takes only | raw templates (no shell quoting into Python)', () => {
    const args = { script: 'print({{ vars.x }})', interpreter: 'python3' };
    const r = render(args, scope, { contexts: quotingContexts(runScript, args, 'ssh') });
    expect(r.errors.map((e) => e.message)).toEqual([
      "templates in a script run by python3 are not quoted automatically: pass the value through 'env:' or 'args:', or write '{{ vars.x | raw }}' to paste it as code",
    ]);
  });

  it('the shipped linux-tools.yml: a hostile mount_point reaches the installer command as one quoted word', () => {
    process.env['PVRUN_TEST_XAPI_PASSWORD'] ??= 'unused';
    const r = loadProject({
      playbook: LINUX_TOOLS, inventories: [join(import.meta.dirname, '..', 'fixtures', 'valid', 'minimal-inventory.yml')],
      extraVars: [JSON.stringify({ mount_point: '/mnt/a b;touch /tmp/pwned' })], registry: builtinRegistry(),
    });
    if (!r.ok) throw new Error(r.error.map((d) => d.message).join('\n'));
    const play = r.value.plays[0]!;
    const i = play.spec.steps.findIndex((s) => s.type === 'run-script');
    expect((play.plans.get('web-1')!.steps[i] as { script: string }).script).toBe(`'/mnt/a b;touch /tmp/pwned'/Linux/install.sh -n`);
  });
});

describe('package and service names never reach a tool as options', () => {
  it('names go after --, for every manager and for systemctl', () => {
    expect(installCommand('apt', ['p'])).toBe('export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q -- p');
    expect(installCommand('dnf', ['p'])).toBe('dnf install -y -- p');
    expect(installCommand('yum', ['p'])).toBe('yum install -y -- p');
    expect(installCommand('zypper', ['p'])).toBe('zypper --non-interactive install -- p');
    expect(installCommand('apk', ['p'], { updateCache: true })).toBe('apk add --update-cache -- p');
    expect(removeCommand('apt', ['p'])).toBe('export DEBIAN_FRONTEND=noninteractive; apt-get remove -y -q -- p');
    expect(removeCommand('dnf', ['p'])).toBe('dnf remove -y -- p');
    expect(queryCommand('apt', ['p'])).toContain(`dpkg-query -W -f='\${db:Status-Abbrev}|\${Version}' -- "$p"`);
    expect(queryCommand('dnf', ['p'])).toContain(`rpm -q --qf '%{VERSION}-%{RELEASE}' -- "$p"`);
    expect(serviceCommand('systemd', 'sshd', 'start')).toBe('systemctl start -- sshd.service');
    expect(serviceProbeCommand(['sshd'])).toContain('systemctl is-active --quiet -- "$s.service"');
  });
});

describe('literal names are refused at load (validate: located, exit 5)', () => {
  let dir: string;
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'pvrun-inj-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['package', '- hosts: all\n  steps:\n    - package: { name: "-oDPkg::Pre-Invoke::=touch /tmp/pwned" }\n', 3, 24,
      "'name' must be a package name (a letter, digit or _ first, then letters, digits and . _ + -), got '-oDPkg::Pre-Invoke::=touch /tmp/pwned'"],
    ['package list', '- hosts: all\n  steps:\n    - package:\n        name: [curl, "--force-yes"]\n', 4, 22,
      "item 2 of 'name' must be a package name (a letter, digit or _ first, then letters, digits and . _ + -), got '--force-yes'"],
    ['service', '- hosts: all\n  steps:\n    - service: { name: "../../tmp/evil", state: started }\n', 3, 24,
      "'name' must be a service name (letters, digits and _ @ : . -, not starting with . or -), got '../../tmp/evil'"],
    ['a name from -e', '- hosts: all\n  vars: { p: "-oAPT::Foo=1" }\n  steps:\n    - package: { name: "{{ vars.p }}" }\n', 4, 24,
      "'name' must be a package name (a letter, digit or _ first, then letters, digits and . _ + -), got '-oAPT::Foo=1' (after rendering templates)"],
  ])('%s', async (name, text, line, col, message) => {
    const pb = join(dir, `${name.replace(/\W/g, '_')}.yml`);
    writeFileSync(pb, text);
    const inv = join(import.meta.dirname, '..', 'fixtures', 'valid', 'minimal-inventory.yml');
    const r = await pvrun(['validate', pb, '-i', inv]);
    expect(r.code).toBe(5);
    expect(r.err).toContain(`${pb}:${line}:${col}: ${message}`);
    expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
  });
});

const skip = labSkipReason();
if (skip) console.warn(`[skipped] injection lab tests: ${skip}`);

describeUnless(skip)('a real run in the lab', () => {
  let l: StartedLab;
  let dir: string;
  beforeAll(async () => {
    l = await startLab([{ name: 'deb-01', distro: 'debian', version: '12' }], 'inject');
    dir = mkdtempSync(join(tmpdir(), 'pvrun-inj-lab-'));
  }, 180_000);
  afterAll(async () => {
    await l?.lab.stop();
    if (l) rmSync(l.dir, { recursive: true, force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('values from -e and from registered output arrive as data, as root too; names from templates fail the step', async () => {
    const pb = join(dir, 'inject.yml');
    writeFileSync(pb, `
- hosts: all
  steps:
    - name: echo a variable
      run-script:
        script: "echo {{ vars.x }} > /root/echoed"
        unless: "test -e {{ vars.x }}"
        become: true
    - name: a command predicate
      check:
        command: "test -n {{ vars.x }}"
    - name: produce hostile output
      run-script:
        script: 'printf "%s" "$1"'
        args: ["$(touch /tmp/injected-reg)"]
      register: evil
    - name: echo the registered output
      run-script:
        script: "echo {{ registered.evil.stdout }} > /root/echoed-reg"
        become: true
    - name: produce a hostile package name
      run-script:
        script: 'printf "%s" "-oDPkg::Pre-Invoke::=touch /tmp/pwned-apt"'
      register: pkg
    - name: install it
      package: { name: "{{ registered.pkg.stdout }}", become: true }
      ignore_errors: true
    - name: a hostile service name
      service: { name: "{{ registered.evil.stdout }}", state: started, become: true }
      ignore_errors: true
`);
    const r = await pvrun([pb, '-i', l.inventory, '-e', JSON.stringify({ x: HOSTILE }), '--state-dir', join(l.dir, 'pvrun')]);
    const g = l.lab.guests.info('deb-01')!;
    const files = await sshExec(g, 'cat /root/echoed /root/echoed-reg; ls /tmp/injected /tmp/injected2 /tmp/injected-reg /tmp/pwned-apt 2>&1; true');
    expect(files.stdout.split('\n').slice(0, 2)).toEqual([HOSTILE, '$(touch /tmp/injected-reg)']);
    for (const f of ['/tmp/injected', '/tmp/injected2', '/tmp/injected-reg', '/tmp/pwned-apt']) {
      expect(files.stdout).toContain(`ls: cannot access '${f}': No such file or directory`);
    }
    expect(r.out).toMatch(/deb-01 \[a command predicate\] ok: command = exit 0/);
    expect(r.out).toMatch(/deb-01 \[install it\] failed.*invalid package name "-oDPkg::Pre-Invoke::=touch \/tmp\/pwned-apt"/);
    expect(r.out).toMatch(/deb-01 \[a hostile service name\] failed.*invalid service name "\$\(touch \/tmp\/injected-reg\)"/);
    expect(recapOutcomes(r.out)).toEqual({ 'deb-01': 'changed' });
  }, 240_000);
});
