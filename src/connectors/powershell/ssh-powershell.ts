/**
 * `ssh-powershell`: Windows OpenSSH reached through the ssh2 connector. Every exec is one
 * `powershell -NoProfile -NonInteractive -OutputFormat Text -EncodedCommand <UTF-16LE base64>`
 * process, so each command starts from a clean state and its process exit code is the result
 * (see wrap.ts for how `exit`, terminating errors and $LASTEXITCODE map onto it).
 *
 * The ssh2 connector owns the connection (reuse, TCP_NODELAY, channel limits, host keys, typed
 * failures); this class only builds the command line. Check mode is enforced here as well as
 * below, so a refused command never reaches the network.
 *
 * Note: the composed SshConnector runs every command under `/bin/sh -c` (its process-group
 * marker). That holds in the lab (Linux guests running real pwsh) and on Windows hosts whose
 * OpenSSH DefaultShell is a POSIX shell; a stock Windows OpenSSH (cmd.exe) needs a raw-exec mode
 * in the ssh connector — see docs/windows.md.
 */
import { readFile } from 'node:fs/promises';
import type { Connector, ConnectorFailure, ExecOptions, ExecResult } from '../types.js';
import { err, ok, type Result } from '../../util/result.js';
import { quotePs } from '../../util/ps-quote.js';
import { commandLine, takeExitMarker } from './wrap.js';

/** The part of a transport this connector needs: SshConnector satisfies it. */
export interface RawExec {
  readonly host: string;
  connect(): Promise<Result<void, ConnectorFailure>>;
  exec(command: string, opts?: ExecOptions): Promise<Result<ExecResult, ConnectorFailure>>;
  reconnect(): Promise<Result<void, ConnectorFailure>>;
  close(): Promise<void>;
}

export interface SshPowerShellOptions {
  /** `powershell` on Windows (the default), `pwsh` for PowerShell 7 or the Linux lab guests */
  executable?: string;
}

/** put() sends the file as base64 in pieces of this many bytes (each piece is one exec). */
const PUT_CHUNK = 1024 * 1024;

export function shortScript(s: string): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > 80 ? `${one.slice(0, 77)}...` : one;
}

export class SshPowerShellConnector implements Connector {
  readonly kind = 'ssh-powershell' as const;
  readonly os = 'windows' as const;
  readonly host: string;
  private readonly executable: string;

  constructor(private readonly transport: RawExec, private readonly opts: SshPowerShellOptions = {}) {
    this.host = transport.host;
    this.executable = opts.executable ?? 'powershell';
    // the executable goes into a command line unquoted: it must be a plain program name or path
    if (!/^[A-Za-z0-9_.:\\/-]+$/.test(this.executable)) {
      throw new Error(`ssh-powershell: executable must be a plain path, got ${JSON.stringify(this.executable)}`);
    }
  }

  connect(): Promise<Result<void, ConnectorFailure>> {
    return this.transport.connect();
  }

  reconnect(): Promise<Result<void, ConnectorFailure>> {
    return this.transport.reconnect();
  }

  close(): Promise<void> {
    return this.transport.close();
  }

  /** Run a PowerShell script. `env` becomes `$env:` assignments; `become` is meaningless here
   *  (the account's rights are what the SSH login has) and is refused rather than ignored. */
  async exec(script: string, opts: ExecOptions = {}): Promise<Result<ExecResult, ConnectorFailure>> {
    if (opts.become) throw new Error('ssh-powershell: become is not supported; log in as an administrator');
    const envLines = Object.entries(opts.env ?? {}).map(([k, v]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`invalid environment variable name: ${JSON.stringify(k)}`);
      return `$env:${k} = ${quotePs(v)}\n`;
    });
    const line = commandLine(this.executable, envLines.join('') + script, opts.stdin);
    const { stdin: _s, env: _e, become: _b, onOutput, ...rest } = opts;
    const o: ExecOptions = { ...rest, ...(line.stdin ? { stdin: line.stdin } : {}) };
    if (onOutput) o.onOutput = (stream, chunk) => {
      const text = stream === 'stderr' ? takeExitMarker(chunk).stderr : chunk;
      if (text) onOutput(stream, text);
    };
    const r = await this.transport.exec(line.command, o);
    if (!r.ok) return r;
    const { stderr, exitCode } = takeExitMarker(r.value.stderr);
    // no marker: the process died before the wrapper's end (killed, or powershell itself failed)
    return ok({ ...r.value, stderr, exitCode: exitCode ?? r.value.exitCode });
  }

  /** Upload through PowerShell (no SFTP/scp needed): base64 pieces appended to a temp file,
   *  then moved into place. `mode` has no meaning on Windows and is ignored. */
  async put(source: string | Buffer, remotePath: string, _mode?: number): Promise<Result<void, ConnectorFailure>> {
    return putInChunks(this, source, remotePath, PUT_CHUNK);
  }
}

/** Shared by both PowerShell connectors: write a file through exec in base64 pieces. */
export async function putInChunks(
  conn: Pick<Connector, 'exec' | 'host'>, source: string | Buffer, remotePath: string, chunk: number,
): Promise<Result<void, ConnectorFailure>> {
  const data = typeof source === 'string' ? await readFile(source) : source;
  const tmp = `${remotePath}.pvrun-part`;
  for (let off = 0, first = true; first || off < data.length; off += chunk, first = false) {
    const b64 = data.subarray(off, off + chunk).toString('base64');
    const script = [
      "$ErrorActionPreference = 'Stop'",
      `$p = ${quotePs(tmp)}`,
      // inline, not stdin: the psremoting connector has no stdin; a large script takes the
      // stdin bootstrap path of ssh-powershell by itself
      `$b = [Convert]::FromBase64String(${quotePs(b64)})`,
      off === 0
        ? '[IO.File]::WriteAllBytes($p, $b)'
        : '$f = [IO.File]::Open($p, [IO.FileMode]::Append); try { $f.Write($b, 0, $b.Length) } finally { $f.Dispose() }',
    ].join('\n');
    const r = await conn.exec(script);
    if (!r.ok) return r;
    if (r.value.exitCode !== 0) {
      return err({ kind: 'channel-refused', message: `${conn.host}: upload to ${remotePath} failed: ${r.value.stderr.trim()}` });
    }
  }
  const fin = await conn.exec(
    `$ErrorActionPreference = 'Stop'\nMove-Item -LiteralPath ${quotePs(tmp)} -Destination ${quotePs(remotePath)} -Force`);
  if (!fin.ok) return fin;
  if (fin.value.exitCode !== 0) {
    return err({ kind: 'channel-refused', message: `${conn.host}: upload to ${remotePath} failed: ${fin.value.stderr.trim()}` });
  }
  return ok(undefined);
}
