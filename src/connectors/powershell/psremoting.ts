/**
 * `psremoting`: PowerShell remoting driven from a local pwsh (node-powershell). The session lives
 * in a shared PwshPool worker; this class is the per-host face of it: connection settings, the
 * check-mode gate, one command at a time per host (a PSSession runs one pipeline at a time), and
 * session re-creation after a reboot or a lost connection.
 *
 * Transports: WinRM (`New-PSSession -ComputerName`, HTTPS or HTTP, credentials from secret
 * references) or SSH (`New-PSSession -HostName -UserName -KeyFilePath`, key authentication only:
 * the ssh client under New-PSSession cannot be given a password without a prompt).
 */
import type { ConnectionSpec } from '../../model/inventory.js';
import type { SecretRef } from '../../model/secret.js';
import type { Connector, ConnectorFailure, ExecOptions, ExecResult } from '../types.js';
import { err, ok, type Result } from '../../util/result.js';
import { quotePs } from '../../util/ps-quote.js';
import { expandHome } from '../ssh/options.js';
import type { PwshPool, PwshWorker, SessionSpec } from './pool.js';
import { putInChunks, shortScript } from './ssh-powershell.js';

export type ResolveSecret = (ref: SecretRef) => Result<string, string>;

export interface PsRemotingOptions {
  pool: PwshPool;
  resolveSecret: ResolveSecret;
  /** WinRM authentication (Negotiate by default, as New-PSSession); e.g. 'Basic', 'Kerberos' */
  authentication?: string;
  /** SSH transport: the remote subsystem name (default powershell) */
  subsystem?: string;
  /** PowerShell run once in each new session (after every reconnect too), e.g. `Import-Module X` */
  sessionInit?: string;
}

/** Validates the connection settings; errors are configuration errors, before any connection. */
export function sessionSpecOf(name: string, conn: ConnectionSpec, o: Pick<PsRemotingOptions, 'authentication' | 'subsystem' | 'sessionInit'> = {}): Result<SessionSpec, string> {
  const transport = conn.transport ?? 'wsman';
  const address = conn.address ?? name;
  const timeoutMs = (conn.connect_timeout ?? 30) * 1000;
  if (transport === 'ssh') {
    if (!conn.user) return err(`${name}: psremoting over ssh needs connection.user`);
    if (conn.password) return err(`${name}: psremoting over ssh authenticates with a key (connection.key), not a password`);
    const spec: SessionSpec = {
      transport, address, port: conn.port ?? 22, user: conn.user, timeoutMs,
      strictHostKeyChecking: conn.host_key_checking === 'off' ? 'no' : conn.host_key_checking === 'accept-new' ? 'accept-new' : 'yes',
    };
    if (conn.key) spec.key = expandHome(conn.key);
    if (conn.known_hosts) spec.knownHosts = expandHome(conn.known_hosts);
    if (o.subsystem) spec.subsystem = o.subsystem;
    if (o.sessionInit) spec.init = o.sessionInit;
    return ok(spec);
  }
  if (!conn.user || !conn.password) return err(`${name}: psremoting over WinRM needs connection.user and connection.password (a secret reference)`);
  const https = conn.https ?? true;
  const spec: SessionSpec = { transport, address, port: conn.port ?? (https ? 5986 : 5985), user: conn.user, https, timeoutMs };
  if (o.authentication) spec.authentication = o.authentication;
  if (o.sessionInit) spec.init = o.sessionInit;
  return ok(spec);
}

export class PsRemotingConnector implements Connector {
  readonly kind = 'psremoting' as const;
  readonly os = 'windows' as const;
  /** unique per connector: two connectors to the same host keep separate sessions */
  private readonly key: string;
  private readonly worker: PwshWorker;
  /** worker generation the session was opened in; undefined = no session */
  private openedIn: number | undefined;
  private opening: Promise<Result<void, ConnectorFailure>> | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;

  private static n = 0;

  constructor(
    readonly host: string,
    private readonly spec: SessionSpec,
    private readonly password: SecretRef | undefined,
    private readonly opts: PsRemotingOptions,
  ) {
    this.key = `${host}#${++PsRemotingConnector.n}`;
    this.worker = opts.pool.workerFor(this.key);
  }

  connect(): Promise<Result<void, ConnectorFailure>> {
    if (this.openedIn !== undefined && this.openedIn === this.worker.generation) return Promise.resolve(ok(undefined));
    this.opening ??= this.open().finally(() => { this.opening = undefined; });
    return this.opening;
  }

  private async open(): Promise<Result<void, ConnectorFailure>> {
    let secret: string | undefined;
    if (this.spec.transport === 'wsman' && this.password) {
      const s = this.opts.resolveSecret(this.password);
      if (!s.ok) return err({ kind: 'auth-failed', message: `${this.host}: password: ${s.error}` });
      secret = s.value;
    }
    this.closed = false;
    const r = await this.worker.open(this.key, this.spec, secret);
    if (!r.ok) {
      this.openedIn = undefined;
      return err({ ...r.error, message: `${this.host}: ${r.error.message}` });
    }
    this.openedIn = r.generation;
    return ok(undefined);
  }

  /** After a reboot the old session is Broken: drop it and open a new one. */
  async reconnect(): Promise<Result<void, ConnectorFailure>> {
    await this.serial(() => this.worker.closeSession(this.key));
    this.openedIn = undefined;
    return this.connect();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.serial(() => this.worker.closeSession(this.key));
    this.openedIn = undefined;
    this.opts.pool.release(this.key);
  }

  exec(script: string, opts: ExecOptions = {}): Promise<Result<ExecResult, ConnectorFailure>> {
    // a remote session has no stdin to feed, and rights come from the login: both would be bugs
    if (opts.stdin !== undefined) throw new Error('psremoting: stdin is not supported; pass data in the script (quotePs)');
    if (opts.become) throw new Error('psremoting: become is not supported; connect as an administrator');
    const env = Object.entries(opts.env ?? {}).map(([k, v]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`invalid environment variable name: ${JSON.stringify(k)}`);
      return `$env:${k} = ${quotePs(v)}\n`;
    }).join('');
    return this.serial(async () => {
      // a session lost earlier (reboot, dropped connection) is opened again, as the ssh connector does
      const c = await this.connect();
      if (!c.ok) return c;
      let r = await this.worker.run(this.key, env + script, opts.timeoutMs);
      if (!r.ok && r.notStarted) {
        // the session was gone before the command was sent (a reboot, a restarted worker): the
        // command never ran, so open a new session and send it once more
        this.openedIn = undefined;
        const again = await this.connect();
        if (!again.ok) return again;
        r = await this.worker.run(this.key, env + script, opts.timeoutMs);
      }
      if (!r.ok) {
        if (r.error.kind === 'connection-lost') this.openedIn = undefined;
        return err({ ...r.error, message: `${this.host}: ${r.error.message}` });
      }
      const { exitCode, stdout, stderr } = r.value;
      // no live stream over remoting: the output arrives at the end, in one piece
      if (stdout) opts.onOutput?.('stdout', stdout);
      if (stderr) opts.onOutput?.('stderr', stderr);
      return ok({ exitCode, signal: null, stdout, stderr });
    });
  }

  async put(source: string | Buffer, remotePath: string, _mode?: number): Promise<Result<void, ConnectorFailure>> {
    return putInChunks(this, source, remotePath, 512 * 1024);
  }

  /** one command at a time per host: a PSSession runs one pipeline at a time */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => {});
    return next;
  }
}
