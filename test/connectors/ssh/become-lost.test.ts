import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithSshd, startSshd, type SshdHandle } from '../../harness/sshd.js';
import { describeUnless } from '../../harness/require.js';
import {
  NOPASSWD_USER, PASSWORD_USER, PASSWORD_USER_PASSWORD, ensureTestUsers, removeTestUsers, testUsersSkipReason,
} from '../../harness/users.js';
import { connectorFor } from './helpers.js';

const USER = PASSWORD_USER;
const PASSWORD = PASSWORD_USER_PASSWORD;

describeWithSshd('ssh connector: become', () => {
  // real unprivileged users with real sudoers rules (test/harness/users.ts): become must really
  // change the uid, so a become that does nothing cannot pass
  describeUnless(testUsersSkipReason())('with sudo, as unprivileged users', () => {
    let rootSshd: SshdHandle;
    let userSshd: SshdHandle;
    let nopwSshd: SshdHandle;
    let uid = 0;
    let nopwUid = 0;
    beforeAll(async () => {
      const users = ensureTestUsers();
      uid = users.password.uid;
      nopwUid = users.nopasswd.uid;
      rootSshd = await startSshd();
      userSshd = await startSshd({ user: USER });
      nopwSshd = await startSshd({ user: NOPASSWD_USER });
    });
    afterAll(async () => {
      await rootSshd?.stop();
      await userSshd?.stop();
      await nopwSshd?.stop();
      removeTestUsers();
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

    it('a NOPASSWD user: become runs as root through sudo -n, without become it does not', async () => {
      const c = connectorFor(nopwSshd);
      const plain = await c.exec('id -u');
      expect(plain).toMatchObject({ ok: true, value: { exitCode: 0, stdout: `${nopwUid}\n` } });
      expect(nopwUid).not.toBe(0);
      const r = await c.exec("id -u; tr '\\0' ' ' < /proc/$PPID/cmdline", { become: true });
      // root, and the parent of the become shell is `sudo -n …`: no password path was taken
      expect(r).toMatchObject({ ok: true, value: { exitCode: 0, stdout: expect.stringMatching(/^0\nsudo -n -- \/bin\/sh -c /) } });
      await c.close();
    });

    it('without a become password, a user that needs one fails with sudo -n\'s message (no prompt, no hang)', async () => {
      const c = connectorFor(userSshd);
      const who = await c.exec('id -un; id -u');
      expect(who).toMatchObject({ ok: true, value: { exitCode: 0, stdout: `${USER}\n${uid}\n` } });
      const r = await c.exec('id -u', { become: true });
      // the command ran (ok) and sudo refused it: exit 1, sudo -n's own words, nothing on stdout
      expect(r).toMatchObject({ ok: true, value: { exitCode: 1, stdout: '', stderr: expect.stringMatching(/a password is required/) } });
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
      // the command ran (ok) and sudo refused the password: exit 1, no uid printed
      expect(r).toMatchObject({ ok: true, value: { exitCode: 1, stdout: '' } });
      expect(r.ok && r.value.stderr).toMatch(/incorrect password|Sorry, try again/);
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
