/**
 * xen-api's own JSON-RPC component-test vectors (../shared/xapi-replay/vectors/xen-api/component-test,
 * xapi-project/xen-api ocaml/sdk-gen/component-test/spec/xapi-24, see PROVENANCE.md), replayed to
 * pvrun's production XAPI client over real HTTP the way xen-api's own `jsonrpc-server` replays them
 * to the SDKs: the server reads a spec file and answers each method with its `expected_result`
 * verbatim. Like that server (Python's json), the special-value vector is sent with bare
 * `Infinity`/`-Infinity` tokens. Specs without a login answer `session.login_with_password` with a
 * fixed ref (the SDK tests log in outside the replayed spec), and other classes' get_all_records
 * with no records; everything else is the vector's.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseXapiDate } from '../../src/hypervisor/xapi-date.js';
import type { XapiClient } from '../../src/hypervisor/xapi/index.js';
import { discoverVms } from '../../src/hypervisor/discovery.js';
import { client, must } from './helpers.js';

const SPEC = resolve(import.meta.dirname, '..', '..', '../shared/xapi-replay/vectors/xen-api/component-test/spec/xapi-24');
const SENTINEL = '\u0000pvrun-test-number:';

interface Vector { method: string[]; params: Record<string, unknown[]>; expected_result: Record<string, Record<string, unknown>> }

/** a spec file as Python's json.load reads it (bare Infinity/-Infinity/NaN are numbers) */
function loadSpec(name: string): Vector {
  const text = readFileSync(join(SPEC, `${name}.json`), 'utf8')
    .replace(/"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)/g, (m, bare: string | undefined) => (bare ? JSON.stringify(SENTINEL + bare) : m));
  const o = JSON.parse(text) as Record<string, Vector>;
  return Object.values(o)[0]!;
}

/** JSON as Python's json.dumps writes it: non-finite numbers as bare tokens */
function pyDumps(v: unknown): string {
  return JSON.stringify(v).replace(/"\\u0000pvrun-test-number:(-?Infinity|NaN)"/g, '$1');
}

let server: Server;
let url: string;
let spec: Vector;
const received: { method: string; params: unknown[] }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => { body += d.toString(); });
    req.on('end', () => {
      const rq = JSON.parse(body) as { method: string; params: unknown[]; id: unknown };
      received.push({ method: rq.method, params: rq.params });
      let answer = spec.expected_result[rq.method];
      if (!answer && rq.method === 'session.login_with_password') answer = { result: 'OpaqueRef:replay-session' };
      if (!answer && rq.method === 'session.logout') answer = { result: '' };
      // the other classes' records, which the vector does not hold (discovery reads them too): none
      if (!answer && rq.method.endsWith('.get_all_records')) answer = { result: {} };
      if (!answer) answer = { error: { code: 1, message: 'MESSAGE_METHOD_UNKNOWN', data: [rq.method] } };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(pyDumps({ jsonrpc: '2.0', id: rq.id, ...answer }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
});

async function withSpec<T>(name: string, f: (c: XapiClient) => Promise<T>): Promise<T> {
  spec = loadSpec(name);
  received.length = 0;
  const c = client(url);
  try {
    return await f(c);
  } finally {
    await c.close();
  }
}

describe('xen-api component-test vectors through the production client', () => {
  it('session_login_01: the session ref is the vector\'s; pool and host records as sent (the pool record is partial)', async () => {
    await withSpec('session_login', async (c) => {
      expect(must(await c.login())).toBe('OpaqueRef:12345678-4d8a-e4a9-a241-1ea05c1d6707');
      const pools = must(await c.call<string[]>('pool.get_all', []));
      expect(pools).toEqual(['OpaqueRef:9c81868a-4d8a-e4a9-a241-1ea05c1d6707']);
      const pool = must(await c.call<Record<string, unknown>>('pool.get_record', [pools[0]]));
      const host = must(await c.call<Record<string, unknown>>('host.get_record', [pool.master]));
      expect(host).toMatchObject({ name_label: 'host0', API_version_major: 2, API_version_minor: 21 });
      // the calls carry the session first and the arguments of the vector's params
      const sent = Object.fromEntries(received.map((r) => [r.method, r.params]));
      for (const m of ['pool.get_all', 'pool.get_record', 'host.get_record']) expect(sent[m], m).toEqual(spec.params[m]);
      expect(sent['session.login_with_password']!.slice(2, 3)).toEqual(['1.0']);
    });
  });

  it('xapi_error_13: HANDLE_INVALID with `data` a string (not a list) keeps the ref as its parameter', async () => {
    await withSpec('xapi_error', async (c) => {
      const r = await c.call('VM.get_record', ['OpaqueRef:6ef08bce-0bf0-30ff-804f-5f0ee4bbdd13']);
      expect(r).toMatchObject({ ok: false, error: { kind: 'xapi', code: 'HANDLE_INVALID', params: ['OpaqueRef:6ef08bce-0bf0-30ff-804f-5f0ee4bbdd13'] } });
      if (!r.ok) expect(r.error.message).toContain('OpaqueRef:6ef08bce-0bf0-30ff-804f-5f0ee4bbdd13');
    });
  });

  it('rpc_error_09: a malformed error object (code "abcd", message a number) is a failure that shows what came', async () => {
    await withSpec('rpc_error', async (c) => {
      const r = await c.call('VM.get_record', ['OpaqueRef:6ef08bce-0bf0-30ff-804f-5f0ee4bbdd13']);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error.kind).toBe('xapi');
        expect(r.error.message).toContain('123456');
        expect(r.error.message).toContain('abcd');
      }
    });
  });

  it('vm_special_value_13: bare Infinity in a record does not lose the whole answer; every snapshot_time form parses', async () => {
    await withSpec('vm_special_value', async (c) => {
      const recs = must(await c.call<Record<string, { HVM_shadow_multiplier: unknown; snapshot_time: string }>>('VM.get_all_records', []));
      expect(Object.keys(recs)).toHaveLength(4);
      expect(recs['OpaqueRef:vmref009-7e0e-411f-1b6c-4308fd33b164']!.HVM_shadow_multiplier).toBe(Infinity);
      expect(recs['OpaqueRef:vmref010-7e0e-411f-1b6c-4308fd33b164']!.HVM_shadow_multiplier).toBe('+Infinity');
      // 1627478400 s = 2021-07-28T13:20:00Z; the other three are 2024-04-20T12:00:00Z (no zone = UTC, as XAPI's)
      const times = Object.values(recs).map((v) => parseXapiDate(v.snapshot_time));
      expect(times).toEqual([Date.UTC(2021, 6, 28, 13, 20), ...Array<number>(3).fill(Date.UTC(2024, 3, 20, 12))]);
      // discovery reads the same answer: the records are partial, so each is named and left out, no crash
      const bad: string[] = [];
      const rows = must(await discoverVms(c, { pool: 'replay', onBadRecord: (m) => bad.push(m) }));
      expect(rows).toEqual([]);
      expect(bad).toHaveLength(4);
      expect(bad[0]).toMatch(/^VM OpaqueRef:vmref009-\S+ .*on pool replay: the record lacks /);
    });
  });

  it('event_from_11: a batch with a numeric id and an ISO timestamp is taken as it comes; the token is the vector\'s', async () => {
    await withSpec('event_from', async (c) => {
      const b = must(await c.call<{ token: string; events: { id: unknown; class: string; operation: string; ref: string }[] }>('event.from', [['vm'], 'token0', 600.0]));
      expect(b.token).toBe('token0');
      expect(b.events).toMatchObject([{ id: 10, class: 'vm', operation: 'add', ref: 'OpaqueRef:5event01-7b62-f571-d38b-754341a973e5' }]);
      expect(received.find((r) => r.method === 'event.from')!.params.slice(1)).toEqual(spec.params['event.from']!.slice(1));
    });
  });
});
