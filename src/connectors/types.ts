import type { Result } from '../util/result.js';

/** Why a guest transport could not do what was asked. Values, not exceptions. */
export type ConnectorFailure =
  | { kind: 'unreachable'; message: string }
  | { kind: 'auth-failed'; message: string }
  | { kind: 'host-key-mismatch'; message: string; host: string; expected?: string; actual: string }
  | { kind: 'timeout'; message: string }
  | { kind: 'connection-lost'; message: string }
  | { kind: 'channel-refused'; message: string }
  /** check mode: the command was not marked read-only, so the connector refused to run it */
  | { kind: 'check-mode-refused'; message: string };

export type OutputStream = 'stdout' | 'stderr';

export interface ExecOptions {
  stdin?: string | Buffer;
  env?: Record<string, string>;
  /** kill the remote process and return a `timeout` failure after this long */
  timeoutMs?: number;
  /** run as root (sudo -n, or sudo -S with the become password fed on stdin) */
  become?: boolean;
  /**
   * false: the caller declares this command changes nothing on the host, so it runs in check
   * mode too (connectors/check-gate.ts); unset or true: it may change the host, and the gate
   * refuses it in check mode
   */
  mutates?: boolean;
  /** live output, for `-v` */
  onOutput?: (stream: OutputStream, chunk: string) => void;
  /**
   * `command` is a script for this POSIX shell, run as `PATH -c command NAME ARGS…` (ssh
   * connector only). The connector's own prologue (process-group marker, env) runs inside that
   * same shell, so the command costs one remote shell instead of a wrapper shell plus the
   * step's own (issue 17). Only for `kind === 'ssh'` connectors (the PowerShell ones do not
   * read it): elsewhere build the command line yourself.
   */
  shell?: { path: string; name: string; args?: readonly string[] };
}

export interface ExecResult {
  /** null when the process died of a signal */
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

export interface Connector {
  readonly kind: 'ssh' | 'psremoting' | 'ssh-powershell';
  /**
   * The guest's OS family, declared by the connector (facts, the leftover probe and the Windows
   * steps go by it), so a new transport says what it reaches instead of being inferred from `kind`.
   */
  readonly os: 'linux' | 'windows';
  /** host name as in the inventory, for messages */
  readonly host: string;
  connect(): Promise<Result<void, ConnectorFailure>>;
  exec(command: string, opts?: ExecOptions): Promise<Result<ExecResult, ConnectorFailure>>;
  put(source: string | Buffer, remotePath: string, mode?: number): Promise<Result<void, ConnectorFailure>>;
  /** drop the current connection and connect again (after a reboot) */
  reconnect(): Promise<Result<void, ConnectorFailure>>;
  close(): Promise<void>;
}

/** Failures that mean "we cannot reach this host" rather than "the step failed". */
export function isUnreachable(f: ConnectorFailure): boolean {
  return f.kind === 'unreachable' || f.kind === 'auth-failed' || f.kind === 'host-key-mismatch' ||
    f.kind === 'connection-lost';
}
