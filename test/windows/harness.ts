/**
 * Test harness for the Windows connectors: finds a real pwsh, starts a real OpenSSH sshd on
 * 127.0.0.1 (src/lab/sshd.ts) with the PowerShell remoting subsystem, and skips suites — with the
 * reason printed — where pwsh or sshd is missing (failing instead under CI).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeUnless } from '../harness/require.js';
import { hasSshd, startSshd, type SshdHandle } from '../../src/lab/sshd.js';
import type { ConnectionSpec, HostSpec } from '../../src/model/inventory.js';
import { encodeCommand } from '../../src/util/ps-quote.js';

/** pwsh on PATH, or where `dotnet tool install --global PowerShell` puts it. */
export function findPwsh(): string | undefined {
  const candidates = [join(homedir(), '.dotnet', 'tools', 'pwsh'), '/usr/bin/pwsh', '/usr/local/bin/pwsh'];
  for (const dir of (process.env['PATH'] ?? '').split(':')) if (dir) candidates.unshift(join(dir, 'pwsh'));
  return candidates.find((p) => existsSync(p));
}

export const PWSH = findPwsh();

/** `describe` skipped, with a printed reason, unless pwsh (and sshd when asked) is installed. */
export function describeWindows(name: string, needs: { sshd: boolean }, fn: () => void): void {
  const missing = [
    ...(PWSH ? [] : ['pwsh (dotnet tool install --global PowerShell --version 7.6.9)']),
    ...(needs.sshd && !hasSshd() ? ['/usr/sbin/sshd (openssh-server)'] : []),
    ...(needs.sshd && !existsSync('/usr/bin/ssh') ? ['/usr/bin/ssh (openssh-client, used by New-PSSession -HostName)'] : []),
  ];
  // real pwsh starts take seconds each on a busy 2-core machine: generous limits, no timed assertions
  describeUnless(missing.length ? `missing ${missing.join(', ')}` : undefined)(name, { timeout: 300_000 }, fn);
}

/** A real sshd whose `powershell` subsystem is pwsh in server mode (what New-PSSession -HostName uses). */
export async function startPwshSshd(opts: { maxSessions?: number } = {}): Promise<SshdHandle> {
  if (!PWSH) throw new Error('pwsh not found');
  return startSshd({
    maxSessions: opts.maxSessions ?? 10,
    // The server pwsh stands in for a Windows guest's: on a real pool its CPU is the guest's, here
    // every one shares the controller's 2 cores. .NET's tiered compilation counts calls and
    // recompiles hot methods in the background in each of them; with 50 sessions open that was
    // ~40 % of the CPU of test/windows/psremoting.test.ts's 50-target test (16 sessions, measured:
    // 90 core-s with it, 52 without), which then ran past its limit on a loaded CI machine. Without
    // call counting the server keeps its ReadyToRun/tier-0 code; what crosses the wire (PSRP over
    // SSH) is the same. TieredPGO goes with it (its instrumentation is part of the same tiering).
    extraConfig: [`Subsystem powershell /usr/bin/env DOTNET_TC_CallCounting=0 DOTNET_TieredPGO=0 ${PWSH} -sshs -NoLogo -NoProfile`],
  });
}

export function knownHostsFor(sshd: SshdHandle): string {
  const dir = mkdtempSync(join(tmpdir(), 'pvrun-kh-'));
  const path = join(dir, 'known_hosts');
  writeFileSync(path, sshd.knownHostsLine() + '\n');
  return path;
}

export function windowsHost(
  sshd: SshdHandle, type: 'ssh-powershell' | 'psremoting', name = 'win1', conn: Partial<ConnectionSpec> = {},
): HostSpec {
  return {
    name,
    vars: {},
    connection: {
      type, address: '127.0.0.1', port: sshd.port, user: sshd.user, key: sshd.clientKeyPath, agent: false,
      host_key_checking: 'strict', known_hosts: knownHostsFor(sshd), connect_timeout: 20,
      ...(type === 'psremoting' ? { transport: 'ssh' as const } : {}),
      ...conn,
    },
    groups: ['all'],
    pos: { file: 'test', line: 1, col: 1 },
  };
}

/** Run a script in a local pwsh and return its stdout (used to check quoting round-trips). */
export function pwshLocal(script: string): string {
  if (!PWSH) throw new Error('pwsh not found');
  return execFileSync(PWSH, ['-NoProfile', '-NonInteractive', '-OutputFormat', 'Text', '-EncodedCommand', encodeCommand(script)], {
    encoding: 'utf8', env: { ...process.env, TERM: 'dumb', NO_COLOR: '1' },
  });
}

/** Strings that break naive quoting: every PowerShell quote variant, expansions, escapes, newlines. */
export const HOSTILE: readonly string[] = [
  '',
  'plain',
  "it's",
  "''",
  "'; Remove-Item -Recurse C:\\ ; '",
  '‘smart’ quotes ‚low‛ reversed',
  "mixed ' ‘ ’ ‚ ‛ all",
  '$env:PATH $(Get-Date) ${x} @splat',
  '`n`t backtick `$',
  '"double" ""quotes""',
  'line1\nline2\r\nline3',
  'tab\there',
  'unicode ü 日本語 🚀',
  '\\\\server\\share\\a b\\c.msi',
  '# not a comment',
  '<# block #>',
  '; & | > < ( ) { } [ ]',
  '-EncodedCommand',
  ' leading and trailing spaces ',
  '\u00a0nbsp \u2028 line sep',
  '–en-dash — em-dash',
  '“smart double” „low‟',
];
