/**
 * The ssh2 implementation of Connector. One connection per host, reused for every exec; at most
 * `maxChannels` concurrent channels on it (OpenSSH's MaxSessions is 10 and closed slots free
 * late, so channel-open failures are retried with backoff); TCP_NODELAY on the socket (2.8 ms
 * instead of ~47 ms per exec on loopback).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { readFile } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { closeWithoutEndOnceFinished, newClient, type Client, type ClientChannel, type ConnectConfig } from './ssh2.js';
import type { Connector, ConnectorFailure, ExecOptions, ExecResult } from '../types.js';
import { err, ok, type Result } from '../../util/result.js';
import { quoteShell } from '../../util/shell-quote.js';
import {
  appendKnownHost, fingerprint, knownHostsName, preferredHostKeyAlgorithms, readKnownHosts, verifyHostKey,
} from './known-hosts.js';
import type { ResolvedSsh, SshEndpoint } from './options.js';
import { buildRemoteCommand, killGroupCommand, MarkerFilter, type BecomeMode } from './remote-command.js';
import { Semaphore } from './semaphore.js';

export interface SshConnectorOptions {
  /** concurrent channels per connection; default 5 */
  maxChannels?: number;
  keepaliveIntervalMs?: number;
  /** how long refused channel opens are retried before channel-refused; default 15 s */
  channelRetryMs?: number;
  /**
   * 'posix' (default): commands run under /bin/sh with the process-group marker, env exports
   * and sudo. 'raw': the command line goes to the server's shell as it is (stock Windows
   * OpenSSH, whose shell is cmd.exe); no env, no become, no put(), and a timeout can only send
   * a KILL signal request and close the channel.
   */
  remoteShell?: 'posix' | 'raw';
  /** ssh2's protocol debug lines (-vvv) */
  debug?: (line: string) => void;
  /**
   * Exported as PVRUN_RUN into every command (posix shell only). Children inherit it, so a later
   * pvrun process (resume after a crash) can find commands this one left running on the guest
   * (src/runtime/orphans.ts) — a killed controller does not kill its remote processes.
   */
  runTag?: string;
}

interface Live {
  client: Client;
  jump?: Client;
  alive: boolean;
  /** exec calls in flight, told when the connection drops */
  onLost: Set<(f: ConnectorFailure) => void>;
  become?: Promise<BecomeMode>;
}

type Ssh2Error = Error & { level?: string };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function shortCmd(c: string): string {
  const one = c.replace(/\s+/g, ' ').trim();
  return one.length > 80 ? `${one.slice(0, 77)}...` : one;
}

export class SshConnector implements Connector {
  readonly kind = 'ssh' as const;
  readonly os = 'linux' as const;
  private live: Live | undefined;
  private connecting: Promise<Result<Live, ConnectorFailure>> | undefined;
  private readonly sem: Semaphore;

  constructor(
    readonly host: string,
    private readonly cfg: ResolvedSsh,
    private readonly opts: SshConnectorOptions = {},
  ) {
    this.sem = new Semaphore(opts.maxChannels ?? 5);
  }

  private get raw(): boolean {
    return this.opts.remoteShell === 'raw';
  }

  async connect(): Promise<Result<void, ConnectorFailure>> {
    const r = await this.ensure();
    return r.ok ? ok(undefined) : r;
  }

  async reconnect(): Promise<Result<void, ConnectorFailure>> {
    await this.close();
    return this.connect();
  }

  async close(): Promise<void> {
    const pending = this.connecting;
    this.connecting = undefined;
    if (pending) await pending;
    const live = this.live;
    this.live = undefined;
    if (!live) return;
    live.alive = false;
    await Promise.all([endClient(live.client), live.jump ? endClient(live.jump) : Promise.resolve()]);
  }

  exec(command: string, opts: ExecOptions = {}): Promise<Result<ExecResult, ConnectorFailure>> {
    // check mode is not this class's: a rehearsal's connector is behind connectors/check-gate.ts
    return this.run(command, opts);
  }

  async put(source: string | Buffer, remotePath: string, mode = 0o644): Promise<Result<void, ConnectorFailure>> {
    if (this.raw) throw new Error('raw remote shell: put() needs a POSIX shell; upload through the caller\'s own shell');
    const data = typeof source === 'string' ? await readFile(source) : source;
    const p = quoteShell(remotePath);
    // exec + cat rather than SFTP: works where the sftp subsystem is disabled, one round trip
    const r = await this.run(`umask 077; cat > ${p} && chmod ${(mode & 0o7777).toString(8)} ${p}`, { stdin: data });
    if (!r.ok) return r;
    if (r.value.exitCode !== 0) {
      // ConnectorFailure has no "remote command failed" kind; the refused write is reported as a
      // refused channel with the remote error text
      return err({ kind: 'channel-refused', message: `upload to ${remotePath} failed: ${r.value.stderr.trim()}` });
    }
    return ok(undefined);
  }

  // ---- connection ---------------------------------------------------------------------------

  private async ensure(): Promise<Result<Live, ConnectorFailure>> {
    if (this.live?.alive) return ok(this.live);
    if (!this.connecting) {
      const p: Promise<Result<Live, ConnectorFailure>> = this.open().finally(() => {
        // close() may have dropped this attempt and a newer one started meanwhile
        if (this.connecting === p) this.connecting = undefined;
      });
      this.connecting = p;
    }
    return this.connecting;
  }

  private async open(): Promise<Result<Live, ConnectorFailure>> {
    const { target, jump } = this.cfg;
    let jumpClient: Client | undefined;
    let via: Duplex | undefined;
    if (jump) {
      const j = await this.openClient(jump);
      if (!j.ok) return err({ ...j.error, message: `jump host ${jump.host}: ${j.error.message}` } as ConnectorFailure);
      jumpClient = j.value;
      const fwd = await new Promise<Result<Duplex, ConnectorFailure>>((resolve) => {
        jumpClient!.forwardOut('127.0.0.1', 0, target.host, target.port, (e, stream) => {
          if (e) resolve(err({ kind: 'unreachable', message: `jump host ${jump.host} cannot reach ${target.host}:${target.port}: ${e.message}` }));
          else resolve(ok(stream));
        });
      });
      if (!fwd.ok) { await endClient(jumpClient); return fwd; }
      via = fwd.value;
    }
    const c = await this.openClient(target, via);
    if (!c.ok) {
      if (jumpClient) await endClient(jumpClient);
      return c;
    }
    const live: Live = { client: c.value, alive: true, onLost: new Set() };
    if (jumpClient) live.jump = jumpClient;
    const lost = (why: string) => {
      if (!live.alive) return;
      live.alive = false;
      if (this.live === live) this.live = undefined;
      const f: ConnectorFailure = { kind: 'connection-lost', message: `${this.host}: connection lost (${why})` };
      for (const cb of [...live.onLost]) cb(f);
      if (jumpClient) void endClient(jumpClient);
    };
    c.value.on('close', () => lost('closed'));
    c.value.on('error', (e: Ssh2Error) => lost(e.message));
    jumpClient?.on('close', () => lost('jump host connection closed'));
    this.live = live;
    return ok(live);
  }

  /** TCP (or a forwarded stream) + SSH handshake + host key check + auth, within the timeout. */
  private async openClient(ep: SshEndpoint, via?: Duplex): Promise<Result<Client, ConnectorFailure>> {
    const started = Date.now();
    let sock: Duplex | Socket;
    if (via) {
      sock = via;
    } else {
      const s = await tcpConnect(ep.host, ep.port, this.cfg.connectTimeoutMs);
      if (!s.ok) return s;
      sock = s.value;
    }
    const name = knownHostsName(ep.host, ep.port);
    const khPath = this.cfg.knownHostsPath;
    const khText = readKnownHosts(khPath);
    let hostKeyFailure: ConnectorFailure | undefined;

    const hostVerifier = (key: Buffer): boolean => {
      if (this.cfg.hostKeyPolicy === 'off') return true;
      const verdict = verifyHostKey(readKnownHosts(khPath), name, key);
      const actual = fingerprint(key);
      switch (verdict.kind) {
        case 'match':
          return true;
        case 'unknown':
          if (this.cfg.hostKeyPolicy === 'accept-new') {
            appendKnownHost(khPath, name, key);
            return true;
          }
          hostKeyFailure = {
            kind: 'host-key-mismatch', host: name, actual,
            message: `host key for ${name} is not known (${actual}); add it to ${khPath} or use host_key_checking: accept-new`,
          };
          return false;
        case 'changed':
          hostKeyFailure = {
            kind: 'host-key-mismatch', host: name, actual, expected: verdict.expected.join(', '),
            message: `HOST KEY CHANGED for ${name}: known_hosts has ${verdict.expected.join(', ')}, the server presented ${actual}; refusing to connect`,
          };
          return false;
        case 'revoked':
          hostKeyFailure = {
            kind: 'host-key-mismatch', host: name, actual,
            message: `host key ${actual} of ${name} is marked @revoked in ${khPath}`,
          };
          return false;
      }
    };

    const { creds } = this.cfg;
    const config: ConnectConfig = {
      sock: sock as ConnectConfig['sock'],
      username: ep.user,
      readyTimeout: Math.max(1000, this.cfg.connectTimeoutMs - (Date.now() - started)),
      keepaliveInterval: this.opts.keepaliveIntervalMs ?? 15_000,
      keepaliveCountMax: 3,
      algorithms: { serverHostKey: preferredHostKeyAlgorithms(khText, name) as never },
      hostVerifier,
      ...(this.opts.debug ? { debug: this.opts.debug } : {}),
    };
    if (creds.privateKey) config.privateKey = creds.privateKey;
    if (creds.passphrase !== undefined) config.passphrase = creds.passphrase;
    if (creds.agent) config.agent = creds.agent;
    if (creds.password !== undefined) {
      config.password = creds.password;
      // servers with PasswordAuthentication off often still take the password this way
      config.tryKeyboard = true;
    }

    return new Promise((resolve) => {
      const client = newClient();
      let lastError: Ssh2Error | undefined;
      let settled = false;
      const fail = (f: ConnectorFailure) => {
        if (settled) return;
        settled = true;
        client.removeAllListeners();
        client.on('error', () => { /* late errors of a failed attempt */ });
        client.end();
        (sock as Socket).destroy?.();
        resolve(err(f));
      };
      client.once('ready', () => {
        if (settled) return;
        settled = true;
        client.removeAllListeners('close');
        client.removeAllListeners('error');
        client.setNoDelay(true);
        resolve(ok(client));
      });
      client.on('error', (e: Ssh2Error) => {
        // an unusable agent is not fatal: ssh2 goes on with the next method
        if (e.level === 'agent') return;
        lastError = e;
        // errors are followed by 'close'; wait for it unless it is clearly final
        if (e.level === 'client-authentication' && /All configured authentication methods failed/.test(e.message)) {
          fail({ kind: 'auth-failed', message: `${ep.user}@${name}: authentication failed (${e.message})` });
        }
      });
      client.on('close', () => fail(classify(ep, name, lastError, hostKeyFailure)));
      client.on('keyboard-interactive', (_n, _i, _l, prompts, finish) => {
        // answer password prompts only; anything else (OTP, …) cannot be answered unattended
        finish(prompts.map((p) => (/password/i.test(p.prompt) ? creds.password ?? '' : '')));
      });
      try {
        client.connect(config);
      } catch (e) {
        fail({ kind: 'auth-failed', message: `${ep.user}@${name}: ${(e as Error).message}` });
      }
    });
  }

  // ---- exec ---------------------------------------------------------------------------------

  private async run(command: string, o: ExecOptions): Promise<Result<ExecResult, ConnectorFailure>> {
    const l = await this.ensure();
    if (!l.ok) return l;
    const live = l.value;
    let mode: BecomeMode = 'none';
    let remote = command;
    if (this.raw) {
      // the caller owns the command line entirely (e.g. a PowerShell one on Windows OpenSSH)
      if (o.env || o.become || o.shell) throw new Error('raw remote shell: env, become and the shell are the caller\'s job');
    } else {
      mode = o.become ? await this.becomeMode(live) : 'none';
      const env = this.opts.runTag ? { PVRUN_RUN: this.opts.runTag, ...o.env } : o.env;
      const built = buildRemoteCommand(command, {
        ...(env ? { env } : {}), become: mode, ...(o.shell ? { shell: o.shell } : {}), noStdin: o.stdin === undefined,
      });
      // a bad env name is a bug in the step (its schema validates names), not a host failure
      if (!built.ok) throw new Error(built.message);
      remote = built.command;
    }
    let stdin: Buffer | undefined = o.stdin === undefined ? undefined : Buffer.from(o.stdin);
    if (mode === 'password') {
      stdin = Buffer.concat([Buffer.from(`${this.cfg.becomePassword ?? ''}\n`), stdin ?? Buffer.alloc(0)]);
    }
    const release = await this.sem.acquire();
    try {
      const ch = await this.openChannel(live, remote);
      if (!ch.ok) return ch;
      return await this.drive(live, ch.value, stdin, o, mode);
    } finally {
      release();
    }
  }

  /** Does sudo work without a password? Asked once per connection; only then is -S used. */
  private becomeMode(live: Live): Promise<BecomeMode> {
    live.become ??= (async () => {
      const r = await this.run('sudo -n true 2>/dev/null', { mutates: false });
      if (r.ok && r.value.exitCode === 0) return 'nopasswd';
      return this.cfg.becomePassword !== undefined ? 'password' : 'nopasswd';
    })();
    return live.become;
  }

  private async openChannel(live: Live, cmd: string): Promise<Result<ClientChannel, ConnectorFailure>> {
    // bounded by time rather than attempts: under contention (a server with a low MaxSessions,
    // or slots freed late) a waiter can lose several races in a row without anything being wrong
    const deadline = Date.now() + (this.opts.channelRetryMs ?? 15_000);
    let last = '';
    let attempts = 0;
    for (;;) {
      if (!live.alive) return err({ kind: 'connection-lost', message: `${this.host}: connection lost` });
      attempts++;
      const r = await new Promise<{ ch?: ClientChannel; e?: Error }>((resolve) => {
        try {
          live.client.exec(cmd, (e, ch) => resolve(e ? { e } : { ch }));
        } catch (e) {
          resolve({ e: e as Error });
        }
      });
      if (r.ch) {
        closeWithoutEndOnceFinished(r.ch);
        return ok(r.ch);
      }
      last = r.e?.message ?? 'unknown error';
      if (!live.alive) return err({ kind: 'connection-lost', message: `${this.host}: connection lost (${last})` });
      if (Date.now() >= deadline) break;
      // jitter so refused waiters do not retry in lockstep
      await sleep(Math.min(20 * 2 ** Math.min(attempts, 5), 500) * (0.5 + Math.random()));
    }
    return err({ kind: 'channel-refused', message: `${this.host}: could not open a channel after ${attempts} attempts: ${last}` });
  }

  private drive(
    live: Live, ch: ClientChannel, stdin: Buffer | undefined, o: ExecOptions, mode: BecomeMode,
  ): Promise<Result<ExecResult, ConnectorFailure>> {
    return new Promise((resolve) => {
      const out: string[] = [];
      const errs: string[] = [];
      const filter = new MarkerFilter(!this.raw);
      let exitCode: number | null = null;
      let signal: string | null = null;
      let gotExit = false;
      let timedOut = false;
      let done = false;
      let timer: NodeJS.Timeout | undefined;

      const finish = (lost?: ConnectorFailure) => {
        if (done) return;
        done = true;
        if (timer) clearTimeout(timer);
        live.onLost.delete(onLost);
        const tail = filter.flush();
        if (tail) { errs.push(tail); o.onOutput?.('stderr', tail); }
        if (timedOut) {
          resolve(err({ kind: 'timeout', message: `${this.host}: command timed out after ${o.timeoutMs} ms and was killed` }));
        } else if (lost || !gotExit) {
          resolve(err(lost ?? { kind: 'connection-lost', message: `${this.host}: channel closed without an exit status` }));
        } else {
          resolve(ok({ exitCode, signal, stdout: out.join(''), stderr: errs.join('') }));
        }
      };
      const onLost = (f: ConnectorFailure) => finish(f);
      live.onLost.add(onLost);

      ch.setEncoding('utf8');
      ch.stderr.setEncoding('utf8');
      ch.on('data', (d: string) => { out.push(d); o.onOutput?.('stdout', d); });
      ch.stderr.on('data', (d: string) => {
        const t = filter.push(d);
        if (t) { errs.push(t); o.onOutput?.('stderr', t); }
      });
      // ssh2 repeats the exit status in 'close'; the 'exit' event itself may already have fired
      // while the channel was being handed over (several packets arrive in one TCP read)
      const onExit = (code?: number | null, sig?: string) => {
        if (code === undefined && !sig) return;
        gotExit = true;
        if (typeof code === 'number') exitCode = code;
        else if (sig) signal = sig.startsWith('SIG') ? sig : `SIG${sig}`;
      };
      ch.on('exit', onExit);
      ch.on('close', (code?: number | null, sig?: string) => { onExit(code, sig); finish(); });
      ch.on('error', () => { /* followed by close */ });

      if (o.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          timedOut = true;
          void (async () => {
            const pgid = filter.pgid;
            if (pgid !== undefined) await this.killGroup(live, pgid, mode);
            // without a process group to kill, ask the server to signal the process (OpenSSH
            // 7.9+ and some others honour it; the rest ignore it), then close the channel
            else ch.signal('KILL');
            // the kill makes the channel close with a signal; if it does not, stop waiting
            setTimeout(() => { ch.close(); finish(); }, pgid !== undefined ? 5000 : 0).unref();
          })();
        }, o.timeoutMs);
      }
      // a posix command without stdin reads /dev/null (buildRemoteCommand): nothing to send, not
      // even EOF. Ending the stream here would also make ssh2 build (and drop) an
      // ERR_STREAM_ALREADY_FINISHED error when it destroys the channel at close.
      if (stdin !== undefined || this.raw) ch.end(stdin);
    });
  }

  /** Closing a channel does not kill the remote process: kill its process group explicitly. */
  private async killGroup(live: Live, pgid: number, mode: BecomeMode): Promise<void> {
    const cmd = killGroupCommand(pgid, mode);
    const ch = await this.openChannel(live, cmd);
    if (!ch.ok) return;
    await new Promise<void>((resolve) => {
      ch.value.on('close', () => resolve());
      ch.value.on('data', () => {});
      ch.value.stderr.on('data', () => {});
      ch.value.end(mode === 'password' ? `${this.cfg.becomePassword ?? ''}\n` : undefined);
    });
  }
}

function classify(ep: SshEndpoint, name: string, e: Ssh2Error | undefined, hostKey: ConnectorFailure | undefined): ConnectorFailure {
  if (hostKey) return hostKey;
  const msg = e?.message ?? 'connection closed during handshake';
  if (e?.level === 'client-authentication') return { kind: 'auth-failed', message: `${ep.user}@${name}: ${msg}` };
  return { kind: 'unreachable', message: `${name}: ${msg}` };
}

function tcpConnect(host: string, port: number, ms: number): Promise<Result<Socket, ConnectorFailure>> {
  return new Promise((resolve) => {
    const s = netConnect({ host, port });
    const t = setTimeout(() => {
      s.destroy();
      resolve(err({ kind: 'unreachable', message: `${host}:${port}: no TCP connection within ${ms} ms` }));
    }, ms);
    s.once('connect', () => {
      clearTimeout(t);
      s.setNoDelay(true);
      resolve(ok(s));
    });
    s.once('error', (e) => {
      clearTimeout(t);
      resolve(err({ kind: 'unreachable', message: `${host}:${port}: ${e.message}` }));
    });
  });
}

function endClient(c: Client): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, 2000);
    c.once('close', () => { clearTimeout(t); resolve(); });
    c.on('error', () => {});
    c.end();
  });
}
