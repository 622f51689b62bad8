/**
 * Turning an inventory ConnectionSpec into what the ssh2 connector needs: address, user,
 * credentials (secrets resolved through the caller's function), host key policy.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { parseKey } from './ssh2.js';
import { sshConfigFor } from './ssh-config.js';
import type { ConnectionSpec, HostKeyPolicy } from '../../model/inventory.js';
import type { SecretRef } from '../../model/secret.js';
import { err, ok, type Result } from '../../util/result.js';

export type ResolveSecret = (ref: SecretRef) => Result<string, string>;

export interface SshEndpoint {
  host: string;
  port: number;
  user: string;
}

export interface SshCredentials {
  privateKey?: Buffer;
  passphrase?: string;
  agent?: string;
  password?: string;
}

export interface ResolvedSsh {
  target: SshEndpoint;
  jump?: SshEndpoint;
  creds: SshCredentials;
  becomePassword?: string;
  hostKeyPolicy: HostKeyPolicy;
  knownHostsPath: string;
  connectTimeoutMs: number;
}

export function expandHome(p: string): string {
  return p === '~' ? homedir() : p.startsWith('~/') ? join(homedir(), p.slice(2)) : p;
}

/** `[user@]host[:port]`, also `[v6addr]:port`. */
export function parseEndpoint(s: string, defaultUser: string): Result<SshEndpoint, string> {
  const m = /^(?:([^@]+)@)?(\[[^\]]+\]|[^:@]+)(?::(\d+))?$/.exec(s.trim());
  if (!m || !m[2]) return err(`cannot parse proxy_jump '${s}' (expected user@host:port)`);
  const host = m[2].startsWith('[') ? m[2].slice(1, -1) : m[2];
  const port = m[3] ? Number(m[3]) : 22;
  if (!(port > 0 && port < 65536)) return err(`bad port in proxy_jump '${s}'`);
  return ok({ host, port, user: m[1] ?? defaultUser });
}

const DEFAULT_KEYS = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

function readSshConfig(): string {
  try {
    return readFileSync(join(homedir(), '.ssh', 'config'), 'utf8');
  } catch {
    return '';
  }
}

/** Inventory settings first; ~/.ssh/config fills what the inventory leaves open. */
export function withSshConfig(name: string, conn: ConnectionSpec, text: string): ConnectionSpec {
  if (!text) return conn;
  const e = sshConfigFor(text, conn.address ?? name);
  const out: ConnectionSpec = { ...conn };
  if (out.address === undefined && e.hostname) out.address = e.hostname;
  if (out.port === undefined && e.port !== undefined) out.port = e.port;
  if (out.user === undefined && e.user) out.user = e.user;
  if (out.key === undefined && e.identityfile) out.key = e.identityfile;
  if (out.proxy_jump === undefined && e.proxyjump) out.proxy_jump = e.proxyjump;
  if (out.known_hosts === undefined && e.userknownhostsfile) out.known_hosts = e.userknownhostsfile;
  return out;
}

/**
 * Key checks by file contents and passphrase: every host of a run usually shares one key file,
 * which was parsed (to report a bad key before connecting) once per host and per connector
 * (preflight, run): ~5 ms of CPU each (issue 17). ssh2 still parses it once per connection: it
 * takes only the key's bytes. Keyed by the contents, so an edited key file is checked again.
 */
const parsedKeys = new Map<string, ReturnType<typeof parseKey>>();
function parsedKeyOf(data: Buffer, passphrase: string | undefined): ReturnType<typeof parseKey> {
  const k = `${passphrase === undefined ? '-' : `+${passphrase.length}:${passphrase}`}\0${data.toString('latin1')}`;
  let p = parsedKeys.get(k);
  if (p === undefined) {
    p = parseKey(data, passphrase);
    if (parsedKeys.size >= 64) parsedKeys.delete(parsedKeys.keys().next().value!);
    parsedKeys.set(k, p);
  }
  return p;
}

/** Everything that can be wrong here is configuration, reported before any connection. */
export function resolveSsh(
  name: string,
  conn0: ConnectionSpec,
  resolveSecret: ResolveSecret,
  env: NodeJS.ProcessEnv = process.env,
  /** ~/.ssh/config text; read from the home directory when not given ('' to ignore it) */
  sshConfigText?: string,
): Result<ResolvedSsh, string> {
  const conn = withSshConfig(name, conn0, sshConfigText ?? readSshConfig());
  const user = conn.user ?? userInfo().username;
  const target: SshEndpoint = { host: conn.address ?? name, port: conn.port ?? 22, user };
  const creds: SshCredentials = {};

  const secret = (what: string, ref: SecretRef | undefined): Result<string | undefined, string> => {
    if (!ref) return ok(undefined);
    const r = resolveSecret(ref);
    return r.ok ? ok(r.value) : err(`${what}: ${r.error}`);
  };

  const pass = secret('password', conn.password);
  if (!pass.ok) return pass;
  if (pass.value !== undefined) creds.password = pass.value;
  const phrase = secret('key passphrase', conn.passphrase);
  if (!phrase.ok) return phrase;
  const become = secret('become_password', conn.become_password);
  if (!become.ok) return become;

  let keyPath = conn.key ? expandHome(conn.key) : undefined;
  const agentSock = env['SSH_AUTH_SOCK'];
  const useAgent = conn.agent ?? Boolean(agentSock);
  if (useAgent && agentSock) creds.agent = agentSock;
  // like ssh(1): with nothing configured, try the user's default identities
  if (!keyPath && !creds.agent && creds.password === undefined) {
    keyPath = DEFAULT_KEYS.map((k) => join(homedir(), '.ssh', k)).find((p) => existsSync(p));
  }
  if (keyPath) {
    let data: Buffer;
    try {
      data = readFileSync(keyPath);
    } catch (e) {
      return err(`cannot read private key ${keyPath}: ${(e as Error).message}`);
    }
    const parsed = parsedKeyOf(data, phrase.value);
    if (parsed instanceof Error) {
      return err(`cannot load private key ${keyPath}: ${parsed.message}` +
        (phrase.value === undefined && /encrypted|passphrase/i.test(parsed.message) ? ' (set connection.passphrase)' : ''));
    }
    creds.privateKey = data;
    if (phrase.value !== undefined) creds.passphrase = phrase.value;
  }
  if (!creds.privateKey && !creds.agent && creds.password === undefined) {
    return err('no SSH credentials: set connection.key, connection.password, or run an ssh-agent');
  }

  let jump: SshEndpoint | undefined;
  if (conn.proxy_jump) {
    const j = parseEndpoint(conn.proxy_jump, user);
    if (!j.ok) return j;
    jump = j.value;
  }

  const out: ResolvedSsh = {
    target,
    creds,
    hostKeyPolicy: conn.host_key_checking ?? 'strict',
    knownHostsPath: expandHome(conn.known_hosts ?? '~/.ssh/known_hosts'),
    connectTimeoutMs: (conn.connect_timeout ?? 10) * 1000,
  };
  if (jump) out.jump = jump;
  if (become.value !== undefined) out.becomePassword = become.value;
  return ok(out);
}
