/**
 * How a user's PowerShell script is wrapped so that both Windows connectors give it the same
 * exec semantics. Pure string building, table-testable.
 *
 * Exit code:
 * - `exit N` anywhere in the script → N;
 * - a terminating error (throw, -ErrorAction Stop, a parse error) → 1, its message on stderr;
 * - otherwise `$LASTEXITCODE` of the last native command (0 when none ran).
 * Non-terminating errors (Write-Error, a missing path) go to stderr, one message per line, and do
 * not change the exit code — as in PowerShell itself; scripts that want them fatal set
 * `$ErrorActionPreference = 'Stop'`.
 *
 * Written for Windows PowerShell 5.1 as well as pwsh 7: no `??`, `?.` or ternaries.
 */
import { encodeCommand, quotePs } from '../../util/ps-quote.js';

/** Shared preamble: no progress records (they turn into CLIXML noise on a redirected stderr),
 *  no ANSI colours in error text, UTF-8 on the byte streams. */
const PREAMBLE = [
  "$ProgressPreference = 'SilentlyContinue'",
  "try { if ($PSStyle) { $PSStyle.OutputRendering = 'PlainText' } } catch { }",
  'try { $OutputEncoding = [Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false } catch { }',
].join('\n');

/** Error records and native stderr lines → stderr text; everything else stays output. */
const SPLIT_STREAMS =
  'ForEach-Object { if ($_ -is [System.Management.Automation.ErrorRecord]) { [Console]::Error.WriteLine($_.ToString()) } else { $_ } }';

/** ASCII record separator + tag: how the wrapper reports the full exit code on stderr. */
export const EXIT_MARKER = '\u001epvrun-exit ';

/**
 * ssh-powershell: one powershell process per exec. The user's script is written to a temporary
 * .ps1 and called, exactly as the psremoting wrapper does, so `exit N` ends only that script and
 * both connectors share one set of semantics. The exit code also travels in-band (EXIT_MARKER on
 * stderr): Windows exit codes are 32-bit (msiexec's 3010), a POSIX process status keeps 8 bits.
 */
export function processWrapper(userScript: string): string {
  return [
    PREAMBLE,
    'try { Set-ExecutionPolicy -Scope Process -ExecutionPolicy Bypass -Force -ErrorAction Stop } catch { }',
    '$global:LASTEXITCODE = 0',
    '$pvrunCode = 0',
    "$pvrunPath = Join-Path ([IO.Path]::GetTempPath()) ('pvrun-' + [guid]::NewGuid().ToString('N') + '.ps1')",
    'try {',
    `  [IO.File]::WriteAllText($pvrunPath, ${quotePs(userScript)}, (New-Object System.Text.UTF8Encoding $true))`,
    `  & $pvrunPath 2>&1 | ${SPLIT_STREAMS}`,
    '  if ($global:LASTEXITCODE -is [int]) { $pvrunCode = $global:LASTEXITCODE }',
    '} catch {',
    '  [Console]::Error.WriteLine($_.ToString())',
    '  $pvrunCode = 1',
    '} finally {',
    '  Remove-Item -LiteralPath $pvrunPath -Force -ErrorAction SilentlyContinue',
    '}',
    '[Console]::Out.Flush()',
    "[Console]::Error.Write([string][char]30 + 'pvrun-exit ' + $pvrunCode + [char]10)",
    'exit $pvrunCode',
  ].join('\n');
}

/** Take the in-band exit code out of stderr; null when the wrapper did not get to print it. */
export function takeExitMarker(stderr: string): { stderr: string; exitCode: number | null } {
  // eslint-disable-next-line no-control-regex -- the marker starts with the record separator (\x1e) on purpose, a character ordinary text output does not carry
  const re = /\u001epvrun-exit (-?\d+)\n?/g;
  let code: number | null = null;
  const rest = stderr.replace(re, (_m, n: string) => { code = Number(n); return ''; });
  return { stderr: rest, exitCode: code };
}

/** Windows' CreateProcess limit is 32767 characters and cmd.exe (OpenSSH's default shell) 8191. */
export const MAX_COMMAND_CHARS = 8000;

/**
 * The command line for one exec. Small scripts travel in -EncodedCommand; larger ones would pass
 * cmd.exe's limit, so a fixed bootstrap reads the script (base64 of UTF-8, one line) from stdin
 * and whatever stdin the caller gave follows that line.
 */
export function commandLine(
  executable: string, userScript: string, stdin?: string | Buffer,
): { command: string; stdin?: Buffer } {
  const wrapped = processWrapper(userScript);
  const head = `${executable} -NoProfile -NonInteractive -OutputFormat Text -EncodedCommand `;
  const direct = head + encodeCommand(wrapped);
  if (direct.length <= MAX_COMMAND_CHARS) {
    return stdin === undefined ? { command: direct } : { command: direct, stdin: Buffer.from(stdin) };
  }
  const bootstrap =
    '$pvrunLine = [Console]::In.ReadLine(); ' +
    '& ([scriptblock]::Create([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($pvrunLine))))';
  const first = Buffer.from(`${Buffer.from(wrapped, 'utf8').toString('base64')}\n`);
  return {
    command: head + encodeCommand(bootstrap),
    stdin: stdin === undefined ? first : Buffer.concat([first, Buffer.from(stdin)]),
  };
}

/**
 * psremoting: the script runs inside a long-lived remote session, where `exit` would close the
 * session (the remote host takes it as "end this PowerShell"). Run as a script *file*, `exit N`
 * only ends that script and sets $LASTEXITCODE, so the wrapper writes the script to a temporary
 * .ps1, calls it, and returns one object describing the result.
 * Called with -ArgumentList <script>. Output objects are rendered to text on the remote side
 * (Out-String), which is what `stdout` means for the other connectors too.
 */
export const REMOTE_WRAPPER = `
param([string]$PvrunScript)
$ProgressPreference = 'SilentlyContinue'
try { if ($PSStyle) { $PSStyle.OutputRendering = 'PlainText' } } catch { }
try { Set-ExecutionPolicy -Scope Process -ExecutionPolicy Bypass -Force -ErrorAction Stop } catch { }
$global:LASTEXITCODE = 0
$pvrunPath = Join-Path ([IO.Path]::GetTempPath()) ('pvrun-' + [guid]::NewGuid().ToString('N') + '.ps1')
[IO.File]::WriteAllText($pvrunPath, $PvrunScript, (New-Object System.Text.UTF8Encoding $true))
$pvrunOut = New-Object System.Collections.Generic.List[object]
$pvrunErr = New-Object System.Text.StringBuilder
$pvrunCode = 0
$pvrunTerminated = $false
try {
  # 3: warnings → stderr; 6: Write-Host (information) → output, as a console would show it
  & $pvrunPath 2>&1 3>&1 6>&1 | ForEach-Object {
    if ($_ -is [System.Management.Automation.ErrorRecord]) { [void]$pvrunErr.AppendLine($_.ToString()) }
    elseif ($_ -is [System.Management.Automation.WarningRecord]) { [void]$pvrunErr.AppendLine('WARNING: ' + $_.Message) }
    elseif ($_ -is [System.Management.Automation.InformationRecord]) { $pvrunOut.Add([string]$_.MessageData) }
    else { $pvrunOut.Add($_) }
  }
  if ($global:LASTEXITCODE -is [int]) { $pvrunCode = $global:LASTEXITCODE }
} catch {
  $pvrunTerminated = $true
  [void]$pvrunErr.AppendLine($_.ToString())
  $pvrunCode = 1
} finally {
  Remove-Item -LiteralPath $pvrunPath -Force -ErrorAction SilentlyContinue
}
$pvrunText = ''
if ($pvrunOut.Count -gt 0) { $pvrunText = $pvrunOut | Out-String -Width 4096 }
New-Object psobject -Property @{ exitCode = [int]$pvrunCode; stdout = [string]$pvrunText; stderr = $pvrunErr.ToString(); terminated = $pvrunTerminated }
`;

/**
 * A script whose stdout is exactly one JSON document: the user script's output objects as an
 * array (ConvertTo-Json of the collected pipeline). Used by execJson on either connector.
 */
export function jsonScript(userScript: string, depth = 8): string {
  return [
    "$ErrorActionPreference = 'Stop'",
    `$pvrunItems = @(& ([scriptblock]::Create(${quotePs(userScript)})))`,
    `ConvertTo-Json -InputObject $pvrunItems -Depth ${depth} -Compress`,
  ].join('\n');
}
