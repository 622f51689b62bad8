import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { XapiSimulator } from '../../src/lab/xapi-sim/index.js';
import { encodeValue, parseMethodCall } from '../../src/lab/xapi-sim/xmlrpc.js';
import { startSim } from './helpers.js';

let sim: XapiSimulator;
beforeAll(async () => {
  sim = await startSim();
});
afterAll(async () => {
  await sim.stop();
});

const call = (method: string, params: unknown[]) =>
  `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${params.map((p) => `<param>${encodeValue(p)}</param>`).join('')}</params></methodCall>`;

async function post(body: string): Promise<string> {
  const r = await request(`${sim.url}/`, { method: 'POST', body, headers: { 'content-type': 'text/xml' } });
  return r.body.text();
}

describe('XML-RPC at POST /', () => {
  it('round-trips the codec', () => {
    const v = { a: ['x', 1, 2.5, true, { b: '<&>' }], c: [] };
    const xml = call('m', [v, 'plain']);
    expect(parseMethodCall(xml)).toEqual({ method: 'm', params: [v, 'plain'] });
    expect(parseMethodCall('<methodCall><methodName>x</methodName><params><param><value>bare</value></param></params></methodCall>').params).toEqual(['bare']);
  });

  it('logs in, reads, and reports errors in the XAPI envelope', async () => {
    const login = await post(call('session.login_with_password', ['root', 'pw', '1.0', 'test']));
    expect(login).toContain('<name>Status</name><value>Success</value>');
    const session = /<name>Value<\/name><value>(OpaqueRef:[^<]+)<\/value>/.exec(login)![1]!;
    const vms = await post(call('VM.get_by_name_label', [session, 'lin-1']));
    expect(vms).toMatch(/<array><data><value>OpaqueRef:/);
    const bad = await post(call('VM.get_record', [session, 'OpaqueRef:nope']));
    expect(bad).toContain('<name>Status</name><value>Failure</value>');
    expect(bad).toContain('<value>HANDLE_INVALID</value><value>VM</value><value>OpaqueRef:nope</value>');
    expect(sim.calls.filter((x) => x.protocol === 'xmlrpc').length).toBe(3);
    const broken = await request(`${sim.url}/`, { method: 'POST', body: '<methodCall><oops/>' });
    expect(broken.statusCode).toBe(400);
    await broken.body.text();
  });
});
