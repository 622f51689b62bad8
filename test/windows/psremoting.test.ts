import { afterAll, beforeAll, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SshdHandle } from '../../src/lab/sshd.js';
import { createPsRemoting } from '../../src/connectors/powershell/create.js';
import { execJson } from '../../src/connectors/powershell/exec-json.js';
import { PwshPool } from '../../src/connectors/powershell/pool.js';
import type { PsRemotingConnector } from '../../src/connectors/powershell/psremoting.js';
import type { ConnectionSpec } from '../../src/model/inventory.js';
import { ok, type Result } from '../../src/util/result.js';
import { quotePs } from '../../src/util/ps-quote.js';
import { describeWindows, HOSTILE, PWSH, startPwshSshd, windowsHost } from './harness.js';

const noSecrets = (): Result<string, string> => ({ ok: false, error: 'no secrets in this test' });

describeWindows('psremoting connector (SSH transport) against a real sshd with the powershell subsystem', { sshd: true }, () => {
  let sshd: SshdHandle;
  let pool: PwshPool;
  const made: PsRemotingConnector[] = [];

  function make(name = 'win1', conn: Partial<ConnectionSpec> = {}, checkMode = false): PsRemotingConnector {
    const r = createPsRemoting(windowsHost(sshd, 'psremoting', name, conn), {
      resolveSecret: noSecrets, pool, ...(checkMode ? { mode: 'check' as const } : {}),
    });
    if (!r.ok) throw new Error(r.error);
    made.push(r.value.connector);
    return r.value.connector;
  }

  beforeAll(async () => {
    sshd = await startPwshSshd();
    pool = new PwshPool({ executable: PWSH!, maxWorkers: 8 });
  });
  afterAll(async () => {
    await Promise.all(made.map((c) => c.close()));
    await pool?.close();
    await sshd?.stop();
  });

  it('exec semantics: output, exit N, terminating errors, native exit codes, stderr apart', async () => {
    const c = make();
    expect(await c.connect()).toEqual(ok(undefined));
    expect(await c.exec("'hello'; 1 + 2")).toEqual(ok({ exitCode: 0, signal: null, stdout: 'hello\n3\n', stderr: '' }));
    const exit = await c.exec("'before'; if ($true) { exit 42 }; 'after'");
    expect(exit.ok && exit.value).toMatchObject({ exitCode: 42, stdout: 'before\n' });
    // the session survives `exit` (it would close if the script ran as a scriptblock)
    const thrown = await c.exec(`'a'; throw ${quotePs('boom ‘x’')}; 'b'`);
    expect(thrown.ok && thrown.value).toMatchObject({ exitCode: 1, stdout: 'a\n', stderr: 'boom ‘x’\n' });
    const parse = await c.exec('$x = {');
    expect(parse.ok && parse.value.exitCode).toBe(1);
    const native = await c.exec(`sh -c 'echo out; echo err >&2; exit 3'`);
    expect(native.ok && native.value).toMatchObject({ exitCode: 3, stdout: 'out\n', stderr: 'err\n' });
    const soft = await c.exec("Write-Error 'soft'; Write-Warning 'careful'; Write-Host 'shown'; 'went on'");
    expect(soft.ok && soft.value).toMatchObject({ exitCode: 0, stdout: 'shown\nwent on\n', stderr: 'soft\nWARNING: careful\n' });
  });

  it('hostile strings round-trip exactly; env values too', async () => {
    const c = make('win-quote');
    const r = await c.exec(`(${HOSTILE.map(quotePs).join(',')}) -join [char]0`);
    // Out-String ends the text with one newline
    expect(r.ok && r.value.stdout.replace(/\r?\n$/, '').split('\0')).toEqual(HOSTILE);
    const env = await c.exec('$env:PVRUN_T', { env: { PVRUN_T: HOSTILE[5]! } });
    expect(env.ok && env.value.stdout).toBe(`${HOSTILE[5]}\n`);
  });

  it('structured output through execJson', async () => {
    const c = make('win-json');
    const r = await execJson(c, `[pscustomobject]@{ name = ${quotePs("a'b ‘c’")}; n = 3010; list = @(1,2) }`);
    expect(r.ok && r.value.value).toEqual({ name: "a'b ‘c’", n: 3010, list: [1, 2] });
  });

  it('timeouts stop the remote command and leave the session usable', async () => {
    const c = make('win-timeout');
    const r = await c.exec('Start-Sleep -Seconds 30; "never"', { timeoutMs: 300 });
    expect(!r.ok && r.error.kind).toBe('timeout');
    expect(await c.exec("'still here'")).toMatchObject({ ok: true, value: { stdout: 'still here\n' } });
  });

  it('put() writes bytes exactly', async () => {
    const c = make('win-put');
    const data = Buffer.from(Array.from({ length: 600_000 }, (_, i) => (i * 13) % 256));
    const path = join(mkdtempSync(join(tmpdir(), 'pvrun-put-')), 'tools ‘x’.msi');
    expect(await c.put(data, path)).toEqual(ok(undefined));
    const sha = execFileSync('sha256sum', [path], { encoding: 'utf8' }).split(' ')[0];
    const { createHash } = await import('node:crypto');
    expect(sha).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('check mode refuses anything not marked readOnly, and put()', async () => {
    const c = make('win-check', {}, true);
    const marker = join(mkdtempSync(join(tmpdir(), 'pvrun-chk-')), 'x');
    const r = await c.exec(`New-Item -ItemType File -Path ${quotePs(marker)}`);
    expect(!r.ok && r.error.kind).toBe('check-mode-refused');
    expect((await c.put(Buffer.from('x'), marker)).ok).toBe(false);
    expect(await c.exec(`Test-Path -LiteralPath ${quotePs(marker)}`, { mutates: false }))
      .toMatchObject({ ok: true, value: { stdout: 'False\n' } });
  });

  it('typed failures: unreachable, auth-failed', async () => {
    const closed = make('win-closed', { port: 1 });
    const u = await closed.connect();
    expect(!u.ok && u.error.kind).toBe('unreachable');
    const stranger = make('win-stranger', { known_hosts: join(mkdtempSync(join(tmpdir(), 'pvrun-kh0-')), 'empty') });
    const h = await stranger.connect();
    expect(!h.ok && h.error.kind).toBe('host-key-mismatch');
    const keyDir = mkdtempSync(join(tmpdir(), 'pvrun-key-'));
    execFileSync('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keyDir, 'k')]);
    const wrongKey = make('win-wrongkey', { key: join(keyDir, 'k') });
    const a = await wrongKey.connect();
    expect(!a.ok && a.error.kind).toBe('auth-failed');
    expect(!a.ok && a.error.message).toMatch(/Permission denied/);
  });

  it('WinRM: the password comes from the secret resolver, never shows in failures', async () => {
    const secret = 'S3cr3t-‘pw’-$x';
    const host = windowsHost(sshd, 'psremoting', 'win-winrm', { transport: 'wsman', https: false, port: 1, user: 'Administrator', password: { env: 'WIN_PW' } });
    const missing = createPsRemoting(host, { resolveSecret: noSecrets, pool });
    if (!missing.ok) throw new Error(missing.error);
    made.push(missing.value.connector);
    const m = await missing.value.connector.connect();
    expect(!m.ok && m.error).toMatchObject({ kind: 'auth-failed', message: expect.stringContaining('password') });
    const withPw = createPsRemoting(host, { resolveSecret: (ref) => ('env' in ref && ref.env === 'WIN_PW' ? ok(secret) : noSecrets()), pool });
    if (!withPw.ok) throw new Error(withPw.error);
    made.push(withPw.value.connector);
    expect(withPw.value.warnings.join()).toMatch(/WinRM over HTTP/);
    // no WinRM endpoint (and on Linux usually no WSMan client library) here: a typed failure
    const r = await withPw.value.connector.connect();
    expect(r.ok).toBe(false);
    // pwsh on Linux ships no WSMan client (CI installs pwsh 7.6.9 as a dotnet tool, like here):
    // New-PSSession -ComputerName says so, and that is an unreachable host, typed
    expect(r).toEqual({ ok: false, error: { kind: 'unreachable', message: expect.stringMatching(/^win-winrm: This parameter set requires WSMan, and no supported WSMan client library was found/) } });
    expect(JSON.stringify(r)).not.toContain('S3cr3t');
    // the options built for New-PSSession are valid on this PowerShell (Linux has fewer of them)
    expect(!r.ok && r.error.message).not.toMatch(/parameter cannot be found/i);
  });

  it('a dropped connection is reported, and reconnect() opens a new session', async () => {
    const c = make('win-reboot');
    expect((await c.exec('$global:marker = 1; $PID')).ok).toBe(true);
    await sshd.killConnections();
    // if the session is already seen Broken at submit, the command was never sent and goes out
    // again on a new session (ok); if the break is noticed only after dispatch, it may have run,
    // so it is reported as connection-lost and not repeated
    const after = await c.exec("'x'");
    if (after.ok) expect(after.value.stdout).toBe('x\n');
    else expect(after.error.kind).toBe('connection-lost');
    expect(await c.reconnect()).toEqual(ok(undefined));
    // a new session: state from before is gone
    expect(await c.exec('[bool]$global:marker')).toMatchObject({ ok: true, value: { stdout: 'False\n' } });
  });

  it('a connection dropped while a command runs ends that command with connection-lost, not a hang', async () => {
    const c = make('win-drop-running');
    const marker = join(mkdtempSync(join(tmpdir(), 'pvrun-run-')), 'started');
    const running = c.exec(`New-Item -ItemType File -Path ${quotePs(marker)} | Out-Null; Start-Sleep -Seconds 120; 'late'`);
    const { existsSync } = await import('node:fs');
    // wait (bounded) until the command is really running on the far side
    for (let i = 0; i < 600 && !existsSync(marker); i++) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(marker)).toBe(true);
    await sshd.killConnections();
    const r = await running;
    expect(!r.ok && r.error.kind).toBe('connection-lost');
    // and the host is usable again: the next exec opens a new session by itself
    expect(await c.exec("'back'")).toMatchObject({ ok: true, value: { stdout: 'back\n' } });
  });

  it('a local worker pwsh that dies is replaced; its hosts open new sessions', async () => {
    const c = make('win-worker-crash');
    expect((await c.exec("'up'")).ok).toBe(true);
    const { descendants } = await import('../../src/lab/sshd.js');
    const { readFileSync } = await import('node:fs');
    // the pool's workers: pwsh processes started by this test process with node-powershell's -NoExit
    const workers = (await descendants(process.pid)).filter((pid) => {
      try { const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8'); return cmd.includes('pwsh') && cmd.includes('-NoExit'); } catch { return false; }
    });
    expect(workers.length).toBeGreaterThan(0);
    for (const pid of workers) process.kill(pid, 'SIGKILL');
    // depending on when the death is noticed: a new session at once, or one connection-lost first
    const first = await c.exec("'x'");
    if (!first.ok) expect(first.error.kind).toBe('connection-lost');
    expect(await c.exec("'again'")).toMatchObject({ ok: true, value: { stdout: 'again\n' } });
  });

  // No retry: the stall seen here was node-powershell's command framing never finishing after a
  // child's stray output (fixed in src/connectors/powershell/local-pwsh.ts, reproduced in
  // local-pwsh.test.ts). Opens are bounded by connect_timeout: 120 s here, not windowsHost's 20 s —
  // CI run 9-1, on a machine at load 24, lost one of the 50 opens to "SSH connection attempt
  // failed after time out: 20 seconds"; what this test checks is that no result is lost or crossed.
  it('50 targets in parallel through one pool of at most 8 local pwsh: no result lost or crossed', { timeout: 400_000 }, async () => {
    const hosts = Array.from({ length: 50 }, (_, i) => make(`win-par-${i}`, { connect_timeout: 120 }));
    const started = Date.now();
    const results = await Promise.all(hosts.map(async (c, i) => {
      const first = await c.exec(`Start-Sleep -Milliseconds ${(i % 5) * 40}; "${i}:" + (${i} * 3)`);
      const second = await execJson(c, `[pscustomobject]@{ host = ${quotePs(c.host)}; sum = ${i} + 1000 }`);
      return { first, second };
    }));
    const ms = Date.now() - started;
    console.log(`50 psremoting hosts, 2 commands each, ${pool.size} local pwsh: ${ms} ms`);
    expect(pool.size).toBe(8);
    results.forEach(({ first, second }, i) => {
      expect(first).toEqual(ok({ exitCode: 0, signal: null, stdout: `${i}:${i * 3}\n`, stderr: '' }));
      expect(second.ok && second.value.value).toEqual({ host: `win-par-${i}`, sum: i + 1000 });
    });
    await Promise.all(hosts.map((c) => c.close()));
  });
});
