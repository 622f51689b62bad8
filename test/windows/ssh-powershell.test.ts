import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SshdHandle } from '../../src/lab/sshd.js';
import { createSshPowerShell } from '../../src/connectors/powershell/create.js';
import { execJson } from '../../src/connectors/powershell/exec-json.js';
import type { SshPowerShellConnector } from '../../src/connectors/powershell/ssh-powershell.js';
import { ok, type Result } from '../../src/util/result.js';
import { quotePs } from '../../src/util/ps-quote.js';
import { describeWindows, HOSTILE, PWSH, startPwshSshd, windowsHost } from './harness.js';

const noSecrets = (): Result<string, string> => ({ ok: false, error: 'no secrets in this test' });

function make(sshd: SshdHandle, checkMode = false): SshPowerShellConnector {
  const r = createSshPowerShell(windowsHost(sshd, 'ssh-powershell'), {
    resolveSecret: noSecrets, executable: PWSH!, ...(checkMode ? { mode: 'check' as const } : {}),
  });
  if (!r.ok) throw new Error(r.error);
  return r.value.connector;
}

describeWindows('ssh-powershell connector against a real sshd running pwsh', { sshd: true }, () => {
  let sshd: SshdHandle;
  let conn: SshPowerShellConnector;
  beforeAll(async () => {
    sshd = await startPwshSshd();
    conn = make(sshd);
    expect(await conn.connect()).toEqual(ok(undefined));
  });
  afterAll(async () => {
    await conn?.close();
    await sshd?.stop();
  });

  it('output, success', async () => {
    const r = await conn.exec("'hello'; 1 + 2", { mutates: false });
    expect(r).toEqual(ok({ exitCode: 0, signal: null, stdout: 'hello\n3\n', stderr: '' }));
  });

  it('exit N anywhere ends the script with N, also beyond 8 bits (msiexec 3010)', async () => {
    const r = await conn.exec("'before'; if ($true) { exit 42 }; 'after'");
    expect(r.ok && r.value).toMatchObject({ exitCode: 42, stdout: 'before\n', stderr: '' });
    const big = await conn.exec('exit 3010');
    expect(big.ok && big.value).toMatchObject({ exitCode: 3010, stderr: '' });
  });

  it('a terminating error is exit 1 with its message on stderr', async () => {
    const r = await conn.exec(`'a'; throw ${quotePs('boom ‘x’')}; 'b'`);
    expect(r.ok && r.value).toMatchObject({ exitCode: 1, stdout: 'a\n', stderr: 'boom ‘x’\n' });
    const stop = await conn.exec("Get-Item -LiteralPath '/no/such/path' -ErrorAction Stop");
    expect(stop.ok && stop.value.exitCode).toBe(1);
    expect(stop.ok && stop.value.stderr).toMatch(/Cannot find path/);
  });

  it('a parse error is exit 1, not a hang or a crash', async () => {
    const r = await conn.exec('$x = {');
    expect(r.ok && r.value.exitCode).toBe(1);
    expect(r.ok && r.value.stderr).toMatch(/Missing closing/);
  });

  it('$LASTEXITCODE of the last native command is the exit code; stderr kept apart', async () => {
    const r = await conn.exec(`sh -c 'echo out; echo err >&2; exit 3'`);
    expect(r.ok && r.value).toMatchObject({ exitCode: 3, stdout: 'out\n', stderr: 'err\n' });
    const later = await conn.exec(`sh -c 'exit 3'; sh -c 'exit 0'; 'fine'`);
    expect(later.ok && later.value).toMatchObject({ exitCode: 0, stdout: 'fine\n' });
  });

  it('non-terminating errors go to stderr and keep exit 0', async () => {
    const r = await conn.exec("Write-Error 'soft'; 'went on'");
    expect(r.ok && r.value).toMatchObject({ exitCode: 0, stdout: 'went on\n', stderr: 'soft\n' });
  });

  it('hostile strings round-trip exactly (script text, env, stdin)', async () => {
    // one exec for the table (each exec starts a pwsh): values joined by NUL on the far side
    const r = await conn.exec(`[Console]::Out.Write((${HOSTILE.map(quotePs).join(',')}) -join [char]0)`);
    expect(r.ok && r.value.stdout.split('\0')).toEqual(HOSTILE);
    const env = await conn.exec('[Console]::Out.Write($env:PVRUN_T)', { env: { PVRUN_T: HOSTILE[4]! } });
    expect(env.ok && env.value.stdout).toBe(HOSTILE[4]);
    const stdin = await conn.exec('[Console]::Out.Write([Console]::In.ReadToEnd())', { stdin: 'ü\n‘q’' });
    expect(stdin.ok && stdin.value.stdout).toBe('ü\n‘q’');
  });

  it('a script too long for a command line goes through stdin, same semantics', async () => {
    const long = `$s = ${quotePs('x'.repeat(20_000))}\n$s.Length\n[Console]::Out.Write([Console]::In.ReadToEnd())\nexit 7`;
    const r = await conn.exec(long, { stdin: 'tail' });
    expect(r.ok && r.value).toMatchObject({ exitCode: 7, stdout: '20000\ntail' });
  });

  it('structured output through execJson', async () => {
    const r = await execJson(conn, `[pscustomobject]@{ name = ${quotePs("a'b ‘c’")}; n = 3010; list = @(1,2); nested = @{ ok = $true } }`);
    expect(r.ok && r.value.value).toEqual({ name: "a'b ‘c’", n: 3010, list: [1, 2], nested: { ok: true } });
    const many = await execJson(conn, '1; 2; 3');
    expect(many.ok && many.value.value).toEqual([1, 2, 3]);
    const none = await execJson(conn, '$null = 1');
    expect(none.ok && none.value.value).toBeNull();
    const bad = await execJson(conn, "Write-Error 'nope'");
    expect(bad.ok && bad.value.exitCode).toBe(1);
  });

  it('put() writes bytes exactly', async () => {
    const data = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256));
    const path = `${sshd.dir}/upload ‘q’.bin`;
    expect(await conn.put(data, path)).toEqual(ok(undefined));
    const r = await conn.exec(`(Get-FileHash -LiteralPath ${quotePs(path)} -Algorithm SHA256).Hash.ToLower()`);
    const { createHash } = await import('node:crypto');
    expect(r.ok && r.value.stdout.trim()).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('check mode refuses anything not marked readOnly, and put()', async () => {
    const check = make(sshd, true);
    try {
      const marker = `${sshd.dir}/should-not-exist`;
      const r = await check.exec(`New-Item -ItemType File -Path ${quotePs(marker)}`);
      expect(r.ok).toBe(false);
      expect(!r.ok && r.error.kind).toBe('check-mode-refused');
      expect((await check.put(Buffer.from('x'), marker)).ok).toBe(false);
      const ro = await check.exec(`Test-Path -LiteralPath ${quotePs(marker)}`, { mutates: false });
      expect(ro.ok && ro.value.stdout).toBe('False\n');
    } finally {
      await check.close();
    }
  });
});
