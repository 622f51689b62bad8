import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { createRequire } from 'node:module';
import type { Agent, buildConnector } from 'undici';
import { withDefaultBudget } from '../../util/v8-budget.js';
import type { HypervisorFailure } from '../types.js';
import type { Result } from '../../util/result.js';
import { err, ok } from '../../util/result.js';
import { fromJsonRpcError } from './errors.js';

// undici (~110 files) is required at first use: runs without a pool and `pvrun validate` never
// load it (start-up, issue 17)
let undiciMod: typeof import('undici') | undefined;
// (undici loads Node's http, tls, http2 and more: with their code cache, src/util/v8-budget.ts)
const undici = (): typeof import('undici') => (undiciMod ??= withDefaultBudget(() => createRequire(import.meta.url)('undici')) as typeof import('undici'));

export interface TlsOptions {
  /** PEM CA bundle path: verify the chain against it (instead of the system store) */
  ca?: string;
  /** SHA-256 fingerprint of the server certificate, hex with or without colons */
  fingerprint?: string;
  /** no verification at all; the client reports a warning the caller must print */
  insecure?: boolean;
}

export interface TransportOptions {
  tls?: TlsOptions;
  connectTimeoutMs?: number;
}

/** Normalise `AB:cd:…` / `abcd…` to upper-case colon-less hex. */
export function normaliseFingerprint(fp: string): string {
  return fp.replace(/[^0-9a-fA-F]/g, '').toUpperCase();
}

/**
 * The certificates one pool's client trusts, when pinning (see docs/xapi.md "Pinning across the
 * pool"). The inventory's pin vouches for the host it names; each host of an XAPI pool has its
 * own certificate (XA doc/content/xapi/internals/certificates.md: xapi-ssl.pem "identifies a
 * host"), so the set grows with what a trusted source vouches for: the master's thumbprint a
 * pinned member sends on redirect (`x-xenapi-response-host-certificate-thumbprint`, XA
 * api_server.ml:84-105, xapi_globs.ml:1111-1119), and the pool's own host certificates read over a
 * session that was itself verified (`Certificate.fingerprint`, XA ocaml/idl/datamodel_certificate.ml;
 * or `host.get_server_certificate`). Nothing a host presents on its own is ever added.
 */
export class PinSet {
  /** fingerprint → why it is trusted (shown in messages) */
  private readonly pins = new Map<string, string>();

  constructor(readonly inventoryPin: string) {
    this.pins.set(inventoryPin, 'pinned in the inventory');
  }

  has(fp: string): boolean {
    return this.pins.has(normaliseFingerprint(fp));
  }

  add(fp: string, why: string): boolean {
    const n = normaliseFingerprint(fp);
    if (n.length !== 64 || this.pins.has(n)) return false;
    this.pins.set(n, why);
    return true;
  }

  get size(): number {
    return this.pins.size;
  }
}

/**
 * Build the undici dispatcher for one pool. A fingerprint pin replaces chain verification: the
 * pool's self-signed certificate would fail it anyway, so we accept any chain and then compare the
 * leaf's SHA-256 with the pool's pin set before a single byte of the request is sent.
 */
export function makeAgent(opts: TransportOptions): Result<{ agent: Agent; warnings: string[]; pins?: PinSet }, HypervisorFailure> {
  const tls = opts.tls ?? {};
  const warnings: string[] = [];
  const timeout = opts.connectTimeoutMs ?? 10_000;
  let ca: string | undefined;
  if (tls.ca) {
    try {
      ca = readFileSync(tls.ca, 'utf8');
    } catch (e) {
      return err({ kind: 'tls', message: `cannot read CA file ${tls.ca}: ${(e as Error).message}` });
    }
  }
  if (tls.insecure && !tls.fingerprint) {
    warnings.push('TLS verification is OFF for this pool (insecure: true): anyone on the path can impersonate it');
  }
  const pin = tls.fingerprint ? normaliseFingerprint(tls.fingerprint) : undefined;
  if (pin !== undefined && pin.length !== 64) {
    return err({ kind: 'tls', message: `fingerprint must be a SHA-256 (64 hex digits), got ${pin.length} digits` });
  }
  const pins = pin ? new PinSet(pin) : undefined;
  const base = undici().buildConnector({
    timeout,
    ...(ca ? { ca } : {}),
    rejectUnauthorized: !(tls.insecure || pin),
    // undici caches TLS sessions per host name, not per port or certificate: a resumed session
    // shows no peer certificate to compare, and the hosts of a pool may share one name. With a
    // pin every connection does a full handshake, so every certificate is seen and checked.
    ...(pin ? { maxCachedSessions: 0 } : {}),
  });
  const connect: buildConnector.connector = (options, callback) => {
    base(options, (error, socket) => {
      if (error || !socket) return callback(error ?? new Error('no socket'), null);
      if (pins && options.protocol === 'https:') {
        const cert = (socket as TLSSocket).getPeerCertificate();
        const got = normaliseFingerprint(cert.fingerprint256 ?? '');
        if (!pins.has(got)) {
          socket.destroy();
          const where = `${options.hostname}${options.port ? `:${options.port}` : ''}`;
          const e = new Error(pins.size === 1
            ? `certificate fingerprint mismatch: pinned ${pin}, server ${where} presented ${got}`
            : `certificate fingerprint mismatch: server ${where} presented ${got}, which is neither the pinned certificate (${pin}) nor one of the ${pins.size - 1} the pool vouched for`);
          (e as Error & { code: string }).code = 'PVRUN_TLS_PIN_MISMATCH';
          return callback(e, null);
        }
      }
      callback(null, socket);
    });
  };
  return ok({ agent: new (undici().Agent)({ connect, connectTimeout: timeout, keepAliveTimeout: 30_000 }), warnings, ...(pins ? { pins } : {}) });
}

function isTlsError(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  const s = typeof code === 'string' ? code : '';
  return s === 'PVRUN_TLS_PIN_MISMATCH' || s.startsWith('ERR_TLS') || s.includes('CERT') || s.includes('SELF_SIGNED') ||
    s === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' || s === 'ERR_SSL_WRONG_VERSION_NUMBER';
}

function describe(e: unknown): string {
  const c = (e as { cause?: unknown }).cause;
  const base = e instanceof Error ? e.message : String(e);
  return c instanceof Error && c.message !== base ? `${base}: ${c.message}` : base;
}

let nextId = 1;

const NON_FINITE = '\u0000pvrun-non-finite:';

/**
 * JSON, plus the bare `Infinity`, `-Infinity` and `NaN` a float field can carry (xen-api's
 * component-test vector vm_special_value: `"HVM_shadow_multiplier": Infinity`, the way Python's
 * json writes them): one such field must not lose the whole answer (every VM of a pool).
 */
export function parseJsonRpcBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    if (!/Infinity|NaN/.test(text)) throw e;
    const marked = text.replace(/"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)/g, (m, bare: string | undefined) => (bare ? JSON.stringify(NON_FINITE + bare) : m));
    return JSON.parse(marked, (_k, v: unknown) => (typeof v === 'string' && v.startsWith(NON_FINITE) ? Number(v.slice(NON_FINITE.length)) : v));
  }
}

/**
 * One JSON-RPC 2.0 exchange. Returns the `result` or the XAPI error as a value; a transport
 * failure (refused, reset, timeout, TLS) is a value too, so callers decide about retries.
 */
export async function jsonRpc(
  agent: Agent,
  url: string,
  method: string,
  params: unknown[],
  timeoutMs: number,
  signal?: AbortSignal,
  http?: { headers?: Record<string, string>; onHeaders?: (h: Record<string, string | string[] | undefined>) => void },
): Promise<Result<unknown, HypervisorFailure>> {
  const id = nextId++;
  const timer = AbortSignal.timeout(timeoutMs);
  const sig = signal ? AbortSignal.any([signal, timer]) : timer;
  try {
    const res = await undici().request(new URL('/jsonrpc', url), {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json', ...http?.headers },
      body: JSON.stringify({ jsonrpc: '2.0', method, params, id }),
      signal: sig,
    });
    const text = await res.body.text();
    http?.onHeaders?.(res.headers);
    if (res.statusCode !== 200) {
      return err({ kind: 'transport', message: `${method}: HTTP ${res.statusCode} from ${url}: ${text.slice(0, 200)}` });
    }
    let body: unknown;
    try {
      body = parseJsonRpcBody(text);
    } catch {
      return err({ kind: 'transport', message: `${method}: response is not JSON: ${text.slice(0, 200)}` });
    }
    const o = body as { result?: unknown; error?: unknown };
    if (o.error !== undefined && o.error !== null) return err(fromJsonRpcError(o.error));
    return ok(o.result);
  } catch (e) {
    if (timer.aborted) return err({ kind: 'timeout', message: `${method}: no answer from ${url} within ${timeoutMs} ms` });
    if (signal?.aborted) return err({ kind: 'transport', message: `${method}: aborted` });
    const c = (e as { cause?: unknown }).cause ?? e;
    if (isTlsError(e) || isTlsError(c)) return err({ kind: 'tls', message: `${url}: ${describe(e)}` });
    if ((e as { code?: unknown }).code === 'UND_ERR_CONNECT_TIMEOUT') {
      return err({ kind: 'timeout', message: `${method}: connect to ${url} timed out` });
    }
    return err({ kind: 'transport', message: `${method}: ${url}: ${describe(e)}` });
  }
}
