import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDiagnostics } from '../../src/load/diagnostics.js';
import { loadInventories } from '../../src/load/inventory.js';
import { inventorySecretRefs, resolveSecret, resolveSecrets } from '../../src/load/secrets.js';
import { Redactor } from '../../src/util/redact.js';

describe('secrets', () => {
  const pos = { file: 'inventories/prod.yml', line: 5, col: 15 };
  it('resolves env and file refs and registers the values', () => {
    const redactor = new Redactor();
    const dir = mkdtempSync(join(tmpdir(), 'pvrun-s-'));
    writeFileSync(join(dir, 'pw'), 'from-file\n');
    expect(resolveSecret({ env: 'PW' }, { env: { PW: 'from-env' }, redactor })).toEqual({ ok: true, value: 'from-env' });
    expect(resolveSecret({ file: 'pw' }, { baseDir: dir, redactor })).toEqual({ ok: true, value: 'from-file' });
    expect(redactor.redact('from-env from-file')).toBe('*** ***');
  });
  it('missing env var / file and bad refs are located errors', () => {
    const redactor = new Redactor();
    expect(resolveSecret({ env: 'NOPE' }, { env: {}, pos, what: "password of hypervisor 'pool-a'", redactor }))
      .toEqual({ ok: false, error: { ...pos, message: "environment variable 'NOPE' is not set (password of hypervisor 'pool-a')" } });
    expect(resolveSecret({ file: '/nonexistent/pw' }, { pos, redactor })).toEqual({ ok: false, error: { ...pos, message: "secret file '/nonexistent/pw': no such file" } });
    // a literal secret is refused without being echoed
    expect(resolveSecret('hunter2', { pos, redactor })).toEqual({ ok: false, error: { ...pos, message: 'bad secret reference: expected { env: NAME } or { file: path }, got a literal value (not shown: secrets are never written in playbooks or inventories)' } });
    expect(resolveSecret(424242, { pos, redactor })).toEqual({ ok: false, error: { ...pos, message: 'bad secret reference: expected { env: NAME } or { file: path }, got a literal number (not shown)' } });
    const all = resolveSecrets([{ ref: { env: 'A' } }, { ref: { env: 'B' } }], { env: { B: 'bbb' }, redactor });
    expect(all.ok ? [] : all.error.map((d) => d.message)).toEqual(["environment variable 'A' is not set"]);
  });

  it('a literal password in an inventory is refused at its position, shown neither in the message nor in the echoed line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvrun-s-'));
    const path = join(dir, 'inv.yml');
    writeFileSync(path, 'hypervisors:\n  pool-a:\n    url: https://127.0.0.1:8443\n    password: "p\\"a\\\\s&s<w>o%r\'d$1"\nhosts: {}\n');
    const inv = loadInventories([path]);
    expect(inv.ok).toBe(false);
    const text = inv.ok ? '' : formatDiagnostics(inv.error);
    expect(text).toMatch(/inv\.yml:4:15: 'password' must be a secret reference, \{ env: NAME \} or \{ file: path \}, got a literal value \(not shown/);
    expect(text).toContain('\n      password: ***\n');
    expect(text).not.toContain('s&s<w>');
    expect(text).not.toContain('o%r');
  });

  it('lists an inventory\'s secret references with positions', () => {
    const inv = loadInventories(['test/fixtures/valid/inventory.yml']);
    if (!inv.ok) throw new Error('fixture');
    expect(inventorySecretRefs(inv.value).map((r) => `${r.pos.line}:${r.pos.col} ${r.what} ${JSON.stringify(r.ref)}`)).toEqual([
      '2:3 password of hypervisor \'pool-a\' {"env":"PVRUN_TEST_XAPI_PASSWORD"}',
      '7:3 username of hypervisor \'pool-b\' {"env":"PVRUN_TEST_XAPI_USER"}',
      '7:3 password of hypervisor \'pool-b\' {"file":"test/fixtures/valid/secrets/pool-b.pw"}',
    ]);
  });
});
