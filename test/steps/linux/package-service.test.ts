import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithSshd } from '../../harness/sshd.js';
import { packageStep } from '../../../src/steps/linux/package.js';
import { serviceStep } from '../../../src/steps/linux/service.js';
import { linuxPredicates } from '../../../src/steps/linux/predicates.js';
import { installCommand, namesFor, queryCommand, enableEpelCommand } from '../../../src/steps/linux/package-manager.js';
import { serviceActions, serviceCommand } from '../../../src/steps/linux/services.js';
import { asGuestFacts } from '../../../src/facts/linux.js';
import { makeCtx, runStep } from './ctx.js';
import { startGuest, type TestGuest } from './guest.js';

const pred = (key: string) => linuxPredicates.find((p) => p.key === key)!;

describe('package and service commands (pure)', () => {
  it('names per family, quoted into every manager', () => {
    const names = { redhat: 'xe-guest-utilities-latest', debian: 'xe-guest-utilities' };
    expect(namesFor(names, 'redhat')).toEqual(['xe-guest-utilities-latest']);
    expect(namesFor(names, 'suse')).toBeUndefined();
    expect(namesFor({ default: ['a', 'b'] }, 'alpine')).toEqual(['a', 'b']);
    expect(installCommand('dnf', ['x y'])).toBe("dnf install -y -- 'x y'");
    expect(installCommand('apt', ['p'], { updateCache: true })).toBe('export DEBIAN_FRONTEND=noninteractive; apt-get update -q && apt-get install -y -q -- p');
    expect(installCommand('zypper', ['p'])).toBe('zypper --non-interactive install -- p');
    expect(installCommand('apk', ['p'])).toBe('apk add -- p');
    expect(queryCommand('yum', ["it's"])).toContain(`for p in 'it'\\''s'; do`);
    expect(enableEpelCommand('yum', '7')).toBe('yum install -y epel-release || yum install -y https://dl.fedoraproject.org/pub/epel/epel-release-latest-7.noarch.rpm');
  });
  it('service actions and commands', () => {
    expect(serviceActions({ name: 's', init: 'systemd', active: false, enabled: false }, { enabled: true, state: 'started' })).toEqual(['enable', 'start']);
    expect(serviceActions({ name: 's', init: 'systemd', active: true, enabled: true }, { enabled: true, state: 'started' })).toEqual([]);
    expect(serviceActions({ name: 's', init: 'systemd', active: true, enabled: true }, { state: 'stopped', enabled: false })).toEqual(['disable', 'stop']);
    expect(serviceCommand('systemd', 'xe-linux-distribution', 'enable')).toBe('systemctl enable -- xe-linux-distribution.service');
    expect(serviceCommand('sysv', 'xe-daemon', 'start')).toBe('/etc/init.d/xe-daemon start');
  });
});

/** apt-get and dpkg-query stand-ins: packages are files in a state dir; every call is logged. */
function fakeApt(dir: string): { bin: string; state: string; log: string } {
  const bin = join(dir, 'fakebin');
  const state = join(dir, 'dpkg-state');
  const log = join(dir, 'apt.log');
  mkdirSync(bin);
  mkdirSync(state);
  writeFileSync(log, '');
  writeFileSync(join(bin, 'apt-get'), `#!/bin/sh
echo "apt-get $*" >> ${log}
cmd=; names=
for a; do case "$a" in -*) ;; install|remove|update) cmd=$a ;; *) [ -n "$cmd" ] && names="$names $a" ;; esac; done
case "$cmd" in
  install) for n in $names; do echo 7.30.0-1 > ${state}/$n; done ;;
  remove) for n in $names; do rm -f ${state}/$n; done ;;
esac
`);
  writeFileSync(join(bin, 'dpkg-query'), `#!/bin/sh
fmt='\${Package}\\t\${Version}\\n'; pkg=
for a; do case "$a" in -f=*) fmt=\${a#-f=} ;; -*) ;; *) pkg=$a ;; esac; done
[ -f "${state}/$pkg" ] || { echo "dpkg-query: no packages found matching $pkg" >&2; exit 1; }
v=$(cat "${state}/$pkg")
printf "$(printf '%s' "$fmt" | sed -e "s/\\\${Package}/$pkg/g" -e "s/\\\${Version}/$v/g" -e 's/\\\${db:Status-Abbrev}/ii /g')"
`);
  chmodSync(join(bin, 'apt-get'), 0o755);
  chmodSync(join(bin, 'dpkg-query'), 0o755);
  return { bin, state, log };
}

describeWithSshd('package step (apt stand-in on a Debian guest)', () => {
  let g: TestGuest;
  let apt: ReturnType<typeof fakeApt>;
  const names = { redhat: 'xe-guest-utilities-latest', debian: 'xe-guest-utilities' };
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvrun-apt-'));
    apt = fakeApt(dir);
    g = await startGuest({ env: { PATH: `${apt.bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` } });
    const os = await g.connector.exec('. /etc/os-release; echo $ID $ID_LIKE');
    if (!(os.ok && /debian|ubuntu/.test(os.value.stdout))) throw new Error('these tests expect a Debian-family test machine');
  });
  afterAll(async () => { await g?.stop(); });

  it('check mode: queries only and predicts the install', async () => {
    const ctx = makeCtx(g.host, g.checkConnector, { check: true });
    const { plan } = await runStep(packageStep, ctx, { name: names, enable_repo: 'epel' });
    expect(plan).toEqual({ kind: 'change', summary: 'would install xe-guest-utilities with apt' });
    expect(readFileSync(apt.log, 'utf8')).toBe('');
  });

  it('installs through the detected manager, refreshes facts, then is ok; undo removes', async () => {
    const ctx = makeCtx(g.host, g.connector);
    const before = await ctx.facts.get('guest');
    // facts must load (a failed fact load is not "not installed")
    if (!before.ok) throw new Error(`guest facts failed: ${JSON.stringify(before.error)}`);
    expect(asGuestFacts(before.value).tools).toMatchObject({ installed: false });
    const first = await runStep(packageStep, ctx, { name: names });
    expect(first.apply).toMatchObject({ kind: 'changed', summary: 'installed xe-guest-utilities', undo: { remove: ['xe-guest-utilities'], manager: 'apt' } });
    expect(readFileSync(apt.log, 'utf8')).toBe('apt-get install -y -q -- xe-guest-utilities\n');
    const after = await ctx.facts.get('guest');
    expect(after.ok && asGuestFacts(after.value).tools).toMatchObject({ installed: true, package: 'xe-guest-utilities', version: '7.30.0-1' });

    const second = await runStep(packageStep, ctx, { name: names });
    expect(second.plan.kind).toBe('ok');
    expect(second.apply).toBeUndefined();

    const p = pred('package_installed');
    expect((await p.evaluate(ctx, 'xe-guest-utilities >= 7.20', { fresh: false }))).toMatchObject({ ok: true, value: { pass: true } });
    expect((await p.evaluate(ctx, { name: names, version: '>= 8' }, { fresh: false }))).toMatchObject({ ok: true, value: { pass: false, actual: 'xe-guest-utilities 7.30.0-1' } });

    const u = await packageStep.undo!(ctx, { name: names }, first.apply?.kind === 'changed' ? first.apply.undo : undefined);
    expect(u).toEqual({ ok: true, summary: 'removed xe-guest-utilities' });
    expect(existsSync(join(apt.state, 'xe-guest-utilities'))).toBe(false);
    expect((await p.evaluate(ctx, 'xe-guest-utilities', { fresh: false }))).toMatchObject({ ok: true, value: { pass: false } });
  });

  it('state: absent removes only what is installed', async () => {
    writeFileSync(join(apt.state, 'pkg-a'), '1.0\n');
    const ctx = makeCtx(g.host, g.connector);
    const r = await runStep(packageStep, ctx, { name: ['pkg-a', 'pkg-b'], state: 'absent' });
    expect(r.apply).toMatchObject({ kind: 'changed', summary: 'removed pkg-a' });
    expect((await runStep(packageStep, ctx, { name: ['pkg-a', 'pkg-b'], state: 'absent' })).plan.kind).toBe('ok');
  });

  it('a name map without this OS family is a configuration failure', async () => {
    const { plan } = await runStep(packageStep, makeCtx(g.host, g.connector), { name: { redhat: 'x' } });
    expect(plan.kind === 'fail' && plan.reason).toMatch(/no package name given for OS family 'debian'/);
  });
});

const INIT_DIRS = ['/etc/init.d', ...['0', '1', '2', '3', '4', '5', '6', 'S'].map((r) => `/etc/rc${r}.d`)];

describeWithSshd('service step (SysV init script in a private mount namespace)', () => {
  let g: TestGuest;
  let stateFile: string;
  beforeAll(async () => {
    // tmpfs over the init dirs inside the guest's namespace: nothing lands on this machine's /etc
    g = await startGuest({ tmpfs: INIT_DIRS });
    stateFile = join(g.sshd.dir, 'agent.running');
    const script = `#!/bin/sh
### BEGIN INIT INFO
# Provides:          pvrun-agent
# Required-Start:
# Required-Stop:
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: test agent
### END INIT INFO
case "$1" in
  start|restart) touch ${stateFile} ;;
  stop) rm -f ${stateFile} ;;
  status) [ -f ${stateFile} ] ;;
esac
`;
    const put = await g.connector.put(Buffer.from(script), '/etc/init.d/pvrun-agent', 0o755);
    if (!put.ok) throw new Error(JSON.stringify(put));
    const sd = await g.connector.exec('test -d /run/systemd/system');
    // the probe must have run (exit 1: no systemd); a transport error is a failure, not "no systemd"
    if (!sd.ok || sd.value.exitCode !== 1) throw new Error(`this test expects a machine without systemd as PID 1: ${JSON.stringify(sd)}`);
  });
  afterAll(async () => { await g?.stop(); });

  const args = { name: ['xe-linux-distribution', 'pvrun-agent'], enabled: true, state: 'started' as const };

  it('check mode predicts enable + start of the first existing candidate', async () => {
    const { plan } = await runStep(serviceStep, makeCtx(g.host, g.checkConnector, { check: true }), args);
    expect(plan).toEqual({
      kind: 'change', summary: 'would enable + start pvrun-agent',
      planned: { init: 'sysv', info: { name: 'pvrun-agent', init: 'sysv', enabled: false, active: false } },
    });
    expect(existsSync(stateFile)).toBe(false);
  });

  it('enables and starts, is ok on a second run, and service_active agrees; undo reverses', async () => {
    const ctx = makeCtx(g.host, g.connector);
    const first = await runStep(serviceStep, ctx, args);
    expect(first.apply).toMatchObject({ kind: 'changed', summary: 'enable + start pvrun-agent' });
    expect(existsSync(stateFile)).toBe(true);
    const links = await g.connector.exec('ls /etc/rc2.d');
    expect(links.ok && links.value.stdout).toMatch(/^S\d\dpvrun-agent$/m);
    expect((await runStep(serviceStep, ctx, args)).plan.kind).toBe('ok');
    const active = await pred('service_active').evaluate(ctx, ['xe-daemon', 'pvrun-agent'], { fresh: true });
    expect(active).toEqual({ ok: true, value: { pass: true, actual: 'pvrun-agent is active', expected: 'pvrun-agent active' } });

    const u = await serviceStep.undo!(ctx, args, first.apply?.kind === 'changed' ? first.apply.undo : undefined);
    expect(u).toEqual({ ok: true, summary: 'stop + disable pvrun-agent' });
    expect(existsSync(stateFile)).toBe(false);
  });

  it('none of the candidates: fails when applying, predicted in check mode', async () => {
    const none = { name: ['xe-linux-distribution', 'xe-daemon'], state: 'started' as const };
    const real = await runStep(serviceStep, makeCtx(g.host, g.connector), none);
    expect(real.plan.kind === 'fail' && real.plan.reason).toMatch(/none of xe-linux-distribution, xe-daemon exists/);
    const check = await runStep(serviceStep, makeCtx(g.host, g.checkConnector, { check: true }), none);
    expect(check.plan.kind).toBe('change');
  });

  it('command and file_exists predicates', async () => {
    const ctx = makeCtx(g.host, g.checkConnector, { check: true });
    const cmd = pred('command');
    // check mode runs a user-written command only when it is marked check_mode_safe (issue 19.2)
    expect(await cmd.evaluate(ctx, { cmd: 'echo xen-ok', stdout: 'xen', check_mode_safe: true }, { fresh: false })).toMatchObject({ ok: true, value: { pass: true, ranInCheck: true } });
    expect(await cmd.evaluate(ctx, { cmd: 'echo abc; exit 2', exit_code: 2, stdout_regex: '^a.c$', check_mode_safe: true }, { fresh: false })).toMatchObject({ ok: true, value: { pass: true } });
    expect(await cmd.evaluate(ctx, { cmd: 'false', check_mode_safe: true }, { fresh: false })).toMatchObject({ ok: true, value: { pass: false, actual: 'exit 1' } });
    expect(await cmd.evaluate(ctx, 'echo xen-ok', { fresh: false })).toMatchObject({ ok: true, value: { pass: false, unknown: 'unknown (not run in check mode): echo xen-ok' } });
    const fe = pred('file_exists');
    expect(await fe.evaluate(ctx, '/etc/init.d/pvrun-agent', { fresh: false })).toMatchObject({ ok: true, value: { pass: true } });
    expect(await fe.evaluate(ctx, { path: '/nope', exists: false }, { fresh: false })).toMatchObject({ ok: true, value: { pass: true } });
  });
});
