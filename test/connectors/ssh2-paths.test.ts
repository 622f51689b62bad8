// pvrun requires two of ssh2's files directly instead of its index (src/connectors/ssh/ssh2.ts):
// the index also loads the server, the key generator and the HTTP(S) agents (with Node's http,
// https and tls). The files must be the very objects the index exports, in the pinned version.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { newClient, parseKey, SSH2_CLIENT, SSH2_KEY_PARSER } from '../../src/connectors/ssh/ssh2.js';

const req = createRequire(import.meta.url);

describe('ssh2, required by file', () => {
  it('the client class and parseKey are the ones ssh2\'s index exports', () => {
    const index = req('ssh2') as { Client: unknown; utils: { parseKey: unknown } };
    expect(req(SSH2_CLIENT)).toBe(index.Client);
    expect((req(SSH2_KEY_PARSER) as { parseKey: unknown }).parseKey).toBe(index.utils.parseKey);
    expect(newClient()).toBeInstanceOf(index.Client as new () => object);
    // a key ssh2 cannot parse gives its error value, a real key its parsed form
    expect(parseKey('not a key')).toBeInstanceOf(Error);
  });

  it('loading the client does not load Node\'s http, https or tls', () => {
    const code = `require(${JSON.stringify(req.resolve(SSH2_CLIENT))}); require(${JSON.stringify(req.resolve(SSH2_KEY_PARSER))});` +
      `process.stdout.write(JSON.stringify(process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13))))`;
    const out = req('node:child_process').execFileSync(process.execPath, ['-e', code], { encoding: 'utf8' }) as string;
    const loaded = JSON.parse(out) as string[];
    expect(loaded).toContain('crypto'); // the trace sees what the client needs
    expect(loaded.filter((m) => /^(http|https|tls|_http_server)$/.test(m))).toEqual([]);
  });
});
