import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithSshd, startSshd, type SshdHandle } from '../harness/sshd.js';
import { connectorFor } from './helpers.js';

const USER = 'pvrunbecome';
const PASSWORD = 'Pv-become-S3cret!';
const SUDOERS = '/etc/sudoers.d/pvrun-test';
const haveSudo = existsSync('/usr/bin/sudo');
const isRoot = userInfo().uid === 0;

describeWithSshd('ssh connector: become', () => {
  if (!haveSudo || !isRoot) {
    console.warn(`skipping become tests: ${!haveSudo ? 'sudo is not installed' : 'not running as root (needed to create the test user)'}`);
  }
  describe.skipIf(!haveSudo || !isRoot)('with sudo', () => {
    let rootSshd: SshdHandle;
    let userSshd: SshdHandle;
    beforeAll(async () => {
      try { execFileSync('id', [USER], { stdio: 'ignore' }); } catch {
        execFileSync('useradd', ['-m', '-s', '/bin/bash', USER]);
      }
      execFileSync('chpasswd', { input: `${USER}:${PASSWORD}\n` });
      writeFileSync(SUDOERS, `${USER} ALL=(ALL) ALL\n`, { mode: 0o440 });
      rootSshd = await startSshd();
      userSshd = await startSshd({ user: USER });
      // the user's session reads the key from the sshd dir: let it
      execFileSync('chmod', ['755', userSshd.dir]);
    });
    afterAll(async () => {
      await rootSshd?.stop();
      await userSshd?.stop();
      rmSync(SUDOERS, { force: true });
      // -f: a just-closed session of the user may still be exiting
      try { execFileSync('userdel', ['-f', '-r', USER], { stdio: 'ignore' }); } catch { /* already gone */ }
    });

    // (keyboard-interactive is not tested: without PAM, sshd offers no keyboard-interactive device)
    it('logs in with a password from a secret', async () => {
      const pw = await startSshd({ user: USER, passwordAuthentication: true });
      const secrets = (ref: { env: string } | { file: string }) =>
        ('env' in ref && ref.env === 'PW' ? { ok: true as const, value: PASSWORD } : { ok: false as const, error: 'no' });
      const c = connectorFor(pw, { key: undefined, password: { env: 'PW' } }, { resolveSecret: secrets });
      const r = await c.exec('id -un');
      expect(r.ok && r.value.stdout).toBe(`${USER}\n`);
      await c.close();
      const bad = connectorFor(pw, { key: undefined, password: { env: 'PW' } }, { resolveSecret: () => ({ ok: true, value: 'nope-nope' }) });
      const f = await bad.connect();
      expect(!f.ok && f.error.kind).toBe('auth-failed');
      await pw.stop();
    });

    it('uses sudo -n when no password is needed', async () => {
      const c = connectorFor(rootSshd);
      const r = await c.exec('id -u', { become: true });
      expect(r.ok && r.value.stdout).toBe('0\n');
      await c.close();
    });

    it('without a become password, a user that needs one fails with sudo\'s message', async () => {
      const c = connectorFor(userSshd);
      const who = await c.exec('id -un');
      expect(who.ok && who.value.stdout).toBe(`${USER}\n`);
      const r = await c.exec('id -u', { become: true });
      expect(r.ok && r.value.exitCode).not.toBe(0);
      expect(r.ok && r.value.stderr).toMatch(/password/i);
      await c.close();
    });

    it('feeds the become password on stdin; it never appears in output, stdin of the command, or ps', async () => {
      const seen: string[] = [];
      const c = connectorFor(userSshd, { become_password: { env: 'BP' } },
        { resolveSecret: (ref) => ('env' in ref && ref.env === 'BP' ? { ok: true, value: PASSWORD } : { ok: false, error: 'no' }) });
      const onOutput = (_s: string, d: string) => { seen.push(d); };
      const r = await c.exec('id -u; cat', { become: true, stdin: 'payload\n', onOutput });
      expect(r.ok && r.value.exitCode).toBe(0);
      expect(r.ok && r.value.stdout).toBe('0\npayload\n');
      // while a become command runs, its command line is visible to everyone: look at it
      const running = c.exec(`sleep 2`, { become: true, onOutput });
      // every process's command line, without needing procps
      const ps = await c.exec("sleep 0.5; for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done 2>/dev/null", { onOutput });
      await running;
      const all = [JSON.stringify(r), JSON.stringify(ps), seen.join(''), rootSshd.log(), userSshd.log()].join('\n');
      expect(ps.ok && ps.value.stdout).toContain('sleep 2');
      expect(all).not.toContain(PASSWORD);
      await c.close();
    });

    it('a wrong become password fails without leaking it', async () => {
      const c = connectorFor(userSshd, { become_password: { env: 'BP' } },
        { resolveSecret: () => ({ ok: true, value: 'wrong-Pa55' }) });
      const r = await c.exec('id -u', { become: true });
      expect(r.ok && r.value.exitCode).not.toBe(0);
      expect(JSON.stringify(r)).not.toContain('wrong-Pa55');
      await c.close();
    });

    it('timeout kills a become command (running as root)', async () => {
      const c = connectorFor(userSshd, { become_password: { env: 'BP' } },
        { resolveSecret: () => ({ ok: true, value: PASSWORD }) });
      const pidFile = `${userSshd.dir}/become.pid`;
      const r = await c.exec(`echo $$ > ${pidFile}; sleep 60`, { become: true, timeoutMs: 1500 });
      expect(!r.ok && r.error.kind).toBe('timeout');
      const pid = Number(readFileSync(pidFile, 'utf8'));
      let dead = false;
      for (let i = 0; i < 100 && !dead; i++) {
        dead = !existsSync(`/proc/${pid}`) || /\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
        if (!dead) await new Promise((res) => setTimeout(res, 100));
      }
      expect(dead).toBe(true);
      await c.close();
    });
  });
});

describeWithSshd('ssh connector: connection lost', () => {
  let sshd: SshdHandle;
  beforeAll(async () => { sshd = await startSshd(); });
  afterAll(async () => { await sshd?.stop(); });

  it('a connection killed mid-command gives connection-lost, then the connector reconnects', async () => {
    const c = connectorFor(sshd);
    const marker = `${sshd.dir}/started`;
    const running = c.exec(`touch ${marker}; sleep 30`);
    for (let i = 0; i < 100 && !existsSync(marker); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(marker)).toBe(true);
    expect(await sshd.killConnections()).toBeGreaterThan(0);
    const r = await running;
    expect(!r.ok && r.error.kind).toBe('connection-lost');
    const again = await c.reconnect();
    expect(again.ok).toBe(true);
    const e = await c.exec('echo back');
    expect(e.ok && e.value.stdout).toBe('back\n');
    await c.close();
  });
});
