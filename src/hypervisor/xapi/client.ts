import { X509Certificate } from 'node:crypto';
import type { Agent } from 'undici';
import type { HypervisorFailure, XapiCaller } from '../types.js';
import type { Result } from '../../util/result.js';
import { err, ok } from '../../util/result.js';
import { isReadOnlyMethod, lookupMethod, takesSession } from './methods.js';
import type { PinSet, TlsOptions } from './transport.js';
import { jsonRpc, makeAgent } from './transport.js';
import type { TransportMode } from '../../model/transport-mode.js';

/**
 * Asked on every login: a pool member that refuses the login with HOST_IS_SLAVE answers with the
 * master's certificate thumbprint in the response header (XA ocaml/xapi/api_server.ml:84-105,
 * the header names and values in ocaml/xapi/xapi_globs.ml:1111-1119).
 */
export const THUMBPRINT_REQUEST_HEADER = 'x-xenapi-request-host-certificate-thumbprint';
export const THUMBPRINT_RESPONSE_HEADER = 'x-xenapi-response-host-certificate-thumbprint';
export const THUMBPRINT_REQUEST_SHA256 = 'sha-256:master';

export interface XapiClientOptions {
  /** pool master URL, e.g. https://xcp1.example:443 */
  url: string;
  username: string;
  password: string;
  tls?: TlsOptions;
  connectTimeoutMs?: number;
  /** per call; event.from adds its own wait on top */
  callTimeoutMs?: number;
  /** 'check': refuse every mutating method (a rehearsal); default 'apply' */
  mode?: TransportMode;
  /** retries of read-only calls after a transport failure or timeout */
  retries?: number;
  retryDelayMs?: number;
  originator?: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The production XAPI client: JSON-RPC 2.0 over HTTP(S) with undici. One session per pool, shared
 * by every VM handle of the run; `view(mode)` gives callers a handle with its own mode on top of
 * the same session.
 */
export class XapiClient implements XapiCaller {
  readonly mode: TransportMode;
  /** warnings the caller must print (insecure TLS, master redirect) */
  readonly warnings: string[];
  private urlNow: string;
  private session: string | undefined;
  /** set when a call followed the master to another host (failover): later refusals say so too */
  private masterMoved = false;
  private loggingIn: Promise<Result<string, HypervisorFailure>> | undefined;
  private readonly agent: Agent;
  private readonly opts: XapiClientOptions;
  /** pinning: the certificates this pool's client trusts (grows only from verified sources) */
  private readonly pins: PinSet | undefined;
  private closed = false;

  private constructor(opts: XapiClientOptions, agent: Agent, warnings: string[], pins: PinSet | undefined) {
    this.opts = opts;
    this.agent = agent;
    this.pins = pins;
    this.warnings = warnings;
    this.urlNow = opts.url;
    this.mode = opts.mode ?? 'apply';
  }

  static create(opts: XapiClientOptions): Result<XapiClient, HypervisorFailure> {
    let u: URL;
    try {
      u = new URL(opts.url);
    } catch {
      return err({ kind: 'transport', message: `not a URL: ${opts.url}` });
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return err({ kind: 'transport', message: `${opts.url}: use https:// (or http://)` });
    const a = makeAgent({ tls: opts.tls, connectTimeoutMs: opts.connectTimeoutMs });
    if (!a.ok) return a;
    const warnings = [...a.value.warnings];
    const loopback = u.hostname === 'localhost' || u.hostname.startsWith('127.') || u.hostname === '[::1]';
    if (u.protocol === 'http:' && !loopback) warnings.push(`${u.origin} is plain HTTP: the password and every call travel unencrypted`);
    return ok(new XapiClient(opts, a.value.agent, warnings, a.value.pins));
  }

  /** the URL of the master actually in use (after a HOST_IS_SLAVE redirect) */
  get url(): string {
    return this.urlNow;
  }

  get sessionRef(): string | undefined {
    return this.session;
  }

  /** Log in (following HOST_IS_SLAVE to the master). Calls log in lazily, so this is optional. */
  async login(): Promise<Result<string, HypervisorFailure>> {
    if (this.session) return ok(this.session);
    return this.relogin(undefined);
  }

  /** Share one login among concurrent callers whose session just expired. */
  private relogin(stale: string | undefined): Promise<Result<string, HypervisorFailure>> {
    if (this.session && this.session !== stale) return Promise.resolve(ok(this.session));
    this.loggingIn ??= this.doLogin().finally(() => {
      this.loggingIn = undefined;
    });
    return this.loggingIn;
  }

  private async doLogin(): Promise<Result<string, HypervisorFailure>> {
    if (this.closed) return err({ kind: 'transport', message: 'client is closed' });
    const { username, password } = this.opts;
    // A pool has one master; two redirects would mean the pool is mid-failover.
    let attempt = 0;
    let redirectedBy: { member: string; vouched: boolean } | undefined;
    for (let hop = 0; hop < 3; hop++) {
      let thumbprint: string | undefined;
      const r = await jsonRpc(this.agent, this.urlNow, 'session.login_with_password',
        [username, password, '1.0', this.opts.originator ?? 'pvrun'], this.opts.callTimeoutMs ?? 60_000, undefined, {
          headers: { [THUMBPRINT_REQUEST_HEADER]: THUMBPRINT_REQUEST_SHA256 },
          onHeaders: (h) => {
            const v = h[THUMBPRINT_RESPONSE_HEADER];
            thumbprint = Array.isArray(v) ? v[0] : v;
          },
        });
      if (!r.ok && (r.error.kind === 'transport' || r.error.kind === 'timeout') && attempt < (this.opts.retries ?? 2)) {
        // a repeated login only costs a session, so it is retried like a read
        attempt++;
        hop--;
        await sleep((this.opts.retryDelayMs ?? 200) * attempt);
        continue;
      }
      if (r.ok) {
        if (typeof r.value !== 'string') return err({ kind: 'transport', message: 'login returned no session ref' });
        this.session = r.value;
        if (this.pins) await this.learnPoolCertificates(r.value);
        return ok(r.value);
      }
      if (r.error.kind === 'xapi' && r.error.code === 'HOST_IS_SLAVE' && r.error.params[0]) {
        const next = masterUrl(this.urlNow, r.error.params[0]);
        // The member's answer came over a connection verified by the pin set, so the thumbprint
        // it sends for its master is vouched for by a trusted host of the pool.
        if (this.pins && thumbprint !== undefined) this.pins.add(thumbprint, `vouched for as the pool master by ${this.urlNow}`);
        redirectedBy = { member: this.urlNow, vouched: this.pins !== undefined && thumbprint !== undefined && this.pins.has(thumbprint) };
        this.warnings.push(`${this.urlNow} is a pool member; using the pool master ${next}` +
          (redirectedBy.vouched ? ' (its certificate as the member vouched for it)' : ''));
        this.urlNow = next;
        continue;
      }
      if (r.error.kind === 'tls' && redirectedBy && this.pins) {
        return err({
          kind: 'tls',
          message: `${redirectedBy.member} is a pool member and named ${this.urlNow} as the master, whose certificate is not trusted: ` +
            `${r.error.message}. ` + (redirectedBy.vouched
              ? 'The member vouched for a different certificate than the master presented: refusing it.'
              : `The member did not vouch for the master's certificate (no ${THUMBPRINT_RESPONSE_HEADER} in its answer): ` +
                'pin the master\'s certificate (tls.fingerprint) and point url at the master.'),
        });
      }
      return r;
    }
    return err({ kind: 'transport', message: 'too many HOST_IS_SLAVE redirects' });
  }

  /**
   * Over the session just opened on a verified master, read the certificate of every host of
   * the pool and trust them: after a failover the new master is one of them. `Certificate`
   * records (XAPI 1.290 / XCP-ng 8.2 on; `fingerprint` is the SHA-256, XA
   * ocaml/idl/datamodel_certificate.ml) of type `host` (the one clients see; `host_internal` is
   * pool-internal); older pools: `host.get_server_certificate` (PEM) per host. Best effort: a pool
   * that answers neither keeps the inventory's pin only, and a failover is refused.
   */
  private async learnPoolCertificates(session: string): Promise<void> {
    const pins = this.pins!;
    const t = this.opts.callTimeoutMs ?? 60_000;
    const certs = await jsonRpc(this.agent, this.urlNow, 'Certificate.get_all_records', [session], t);
    if (certs.ok && typeof certs.value === 'object' && certs.value !== null) {
      for (const c of Object.values(certs.value as Record<string, { type?: unknown; fingerprint?: unknown }>)) {
        if ((c.type === undefined || c.type === 'host') && typeof c.fingerprint === 'string') {
          pins.add(c.fingerprint, 'a pool host\'s certificate (Certificate record)');
        }
      }
      return;
    }
    const hosts = await jsonRpc(this.agent, this.urlNow, 'host.get_all', [session], t);
    if (!hosts.ok || !Array.isArray(hosts.value)) return;
    await Promise.all(hosts.value.map(async (h) => {
      const pem = await jsonRpc(this.agent, this.urlNow, 'host.get_server_certificate', [session, h], t);
      if (!pem.ok || typeof pem.value !== 'string') return;
      try {
        pins.add(new X509Certificate(pem.value).fingerprint256, 'a pool host\'s certificate (host.get_server_certificate)');
      } catch {
        // not a certificate: nothing learnt
      }
    }));
  }

  async call<T = unknown>(method: string, params: unknown[], signal?: AbortSignal): Promise<Result<T, HypervisorFailure>> {
    return this.callAs<T>(this.mode, method, params, signal);
  }

  /** the caller's own mode, over this client's session */
  async callAs<T>(mode: TransportMode, method: string, params: unknown[], signal?: AbortSignal): Promise<Result<T, HypervisorFailure>> {
    // Calling outside the method table is a bug in pvrun, not a pool condition: throw, loudly.
    const m = lookupMethod(method);
    if (!m) throw new Error(`${method} is not in pvrun's XAPI method table (src/hypervisor/xapi/methods.ts)`);
    const expected = m.spec.params.length - (takesSession(m.base) ? 1 : 0);
    const least = expected - (m.spec.optionalTail ?? 0);
    if (params.length > expected || params.length < least) {
      throw new Error(`${method} takes ${least === expected ? expected : `${least}..${expected}`} parameters, got ${params.length}`);
    }
    const ro = isReadOnlyMethod(method);
    if (mode === 'check' && !ro) {
      return err({ kind: 'read-only', method, message: `check mode: refusing to call ${method}, which changes the pool` });
    }
    if (method === 'session.login_with_password') return err({ kind: 'transport', message: 'use login()' });
    let timeoutMs = this.opts.callTimeoutMs ?? 60_000;
    if (method === 'event.from' && typeof params[2] === 'number') timeoutMs += params[2] * 1000;

    let reloggedIn = false;
    let redirected = false;
    let attempt = 0;
    for (;;) {
      let s = this.session;
      if (s === undefined) {
        const l = await this.relogin(undefined);
        if (!l.ok) {
          if ((redirected || this.masterMoved) && l.error.kind === 'tls') {
            return err({
              kind: 'tls',
              message: `the pool master moved to ${this.urlNow} (failover), and its certificate is not one the pool vouched for ` +
                `(neither pinned nor a certificate of the pool's hosts read at login): refusing it: ${l.error.message}`,
            });
          }
          return l;
        }
        s = l.value;
      }
      const r = await jsonRpc(this.agent, this.urlNow, method, [s, ...params], timeoutMs, signal);
      if (r.ok) return r as Result<T, HypervisorFailure>;
      const e = r.error;
      if (e.kind === 'xapi' && e.code === 'SESSION_INVALID' && !reloggedIn && method !== 'session.logout') {
        // The call was refused before doing anything, so retrying is safe even for writes.
        reloggedIn = true;
        const l = await this.relogin(s);
        if (!l.ok) return l;
        continue;
      }
      if (e.kind === 'xapi' && e.code === 'HOST_IS_SLAVE' && !redirected && e.params[0]) {
        // the master moved (pool failover): follow it once
        redirected = true;
        this.masterMoved = true;
        this.urlNow = masterUrl(this.urlNow, e.params[0]);
        this.session = undefined;
        continue;
      }
      if ((e.kind === 'transport' || e.kind === 'timeout') && ro && attempt < (this.opts.retries ?? 2) && !signal?.aborted) {
        // Only reads are retried: a write whose answer was lost may have happened.
        attempt++;
        await sleep((this.opts.retryDelayMs ?? 200) * attempt);
        continue;
      }
      return r;
    }
  }

  /** A caller with its own mode sharing this client's session. */
  view(mode: TransportMode): XapiCaller {
    return {
      mode,
      call: <T>(method: string, params: unknown[]) => this.callAs<T>(mode, method, params),
    };
  }

  async logout(): Promise<Result<void, HypervisorFailure>> {
    const s = this.session;
    this.session = undefined;
    if (!s) return ok(undefined);
    const r = await jsonRpc(this.agent, this.urlNow, 'session.logout', [s], this.opts.callTimeoutMs ?? 60_000);
    return r.ok ? ok(undefined) : r;
  }

  /** log out (best effort) and close the connections */
  async close(): Promise<void> {
    await this.logout();
    this.closed = true;
    await this.agent.close();
  }
}

/** HOST_IS_SLAVE names the master by address (optionally host:port); keep scheme and port. */
export function masterUrl(current: string, master: string): string {
  const u = new URL(current);
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(master);
  if (m) {
    u.hostname = m[1]!;
    if (m[2]) u.port = m[2];
  } else {
    // a bare IPv6 address
    u.hostname = master.includes(':') ? `[${master}]` : master;
  }
  return u.origin;
}
