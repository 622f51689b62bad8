import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDiagnostics } from '../../src/load/diagnostics.js';
import { loadInventories, parseInventories, resolveInventoryArg } from '../../src/load/inventory.js';

const load = (...texts: string[]) => parseInventories(texts.map((t, i) => [`inv${i + 1}.yml`, t] as const));

describe('inventory', () => {
  const r = loadInventories(['test/fixtures/valid/inventory.yml']);
  if (!r.ok) throw new Error(formatDiagnostics(r.error));
  const inv = r.value;

  it('every host is in all; groups are transitive and ordered shallow → deep', () => {
    expect(inv.groups.all!.hosts).toEqual(['web-1', 'web-2', 'db-1', 'db-2', 'win-1']);
    expect(inv.hosts['web-1']!.groups).toEqual(['all', 'linux', 'web']);
    expect(inv.hosts['win-1']!.groups).toEqual(['all', 'windows']);
  });

  it('connection settings merge group → child group → host; address defaults to the name', () => {
    expect(inv.hosts['db-1']!.connection).toEqual({ type: 'ssh', user: 'postgres', port: 22, address: 'db-1' });
    expect(inv.hosts['web-1']!.connection).toEqual({ type: 'ssh', user: 'root', port: 22, address: '10.0.0.11' });
    expect(inv.hosts['win-1']!.connection).toEqual({ type: 'ssh-powershell', user: 'Administrator', address: '10.0.1.5', port: 2222 });
  });

  it('hypervisors, vm selectors, dynamic groups', () => {
    expect(inv.hypervisors['pool-b']).toMatchObject({ url: 'https://xcp-b.example.net', username: { env: 'PVRUN_TEST_XAPI_USER' }, password: { file: 'test/fixtures/valid/secrets/pool-b.pw' } /* relative to the inventory file (issue 20) */, tls: { insecure: true } });
    expect(inv.hosts['web-2']!.vm).toEqual({ pool: 'pool-a', uuid: '0f3e1c2a-5b6d-4e7f-8a9b-0c1d2e3f4a5b' });
    const d = load('hypervisors:\n  p:\n    url: https://x\n    username: root\n    password: { env: P }\ngroups:\n  untooled:\n    source: xapi\n    pool: p\n    filters: { missing_tools: true, tag: rollout }\n');
    expect(d.ok && d.value.inventory.groups.untooled!.source).toEqual({ kind: 'xapi', pool: 'p', missing_tools: true, tag: 'rollout' });
  });

  it('`connection: ssh` shorthand; a host may name its groups', () => {
    const x = load('groups:\n  g: { connection: { user: u } }\nhosts:\n  h:\n    groups: [g]\n    connection: psremoting\n');
    expect(x.ok && x.value.inventory.hosts.h).toMatchObject({ groups: ['all', 'g'], connection: { type: 'psremoting', user: 'u', address: 'h' } });
  });

  it('several inventories merge: later wins, conflicts are warnings with both positions, groups union', () => {
    const x = load(
      'groups:\n  web:\n    hosts: [a]\n    vars: { v: 1, w: 1 }\nhosts:\n  a: { vars: { x: 1 } }\n',
      'groups:\n  web:\n    hosts: [b]\n    vars: { v: 2 }\nhosts:\n  a: { vars: { x: 2 } }\n  b:\n',
    );
    if (!x.ok) throw new Error(formatDiagnostics(x.error));
    expect(x.value.inventory.groups.web).toMatchObject({ hosts: ['a', 'b'], vars: { v: 2, w: 1 } });
    expect(x.value.inventory.hosts.a!.vars).toEqual({ x: 2 });
    expect(x.value.warnings.map((d) => `${d.file}:${d.line}:${d.col}: ${d.message}`)).toEqual([
      'inv2.yml:4:13: vars.v of group \'web\' is also set at inv1.yml:4:13; this later value wins',
      "inv2.yml:6:3: host 'a' is also defined at inv1.yml:6:3; this later definition wins",
    ]);
    // identical duplicates are not worth a warning
    const same = load('hosts:\n  a:\n', 'hosts:\n  a:\n');
    expect(same.ok && same.value.warnings).toEqual([]);
  });

  it('deeper group vars order: a child group comes after its parents', () => {
    const x = load('groups:\n  z_child: { hosts: [h] }\n  a_parent: { children: [z_child] }\nhosts:\n  h:\n');
    expect(x.ok && x.value.inventory.hosts.h!.groups).toEqual(['all', 'a_parent', 'z_child']);
  });

  it('semantic errors', () => {
    const x = load('groups:\n  a: { children: [all] }\n  h: {}\nhosts:\n  h:\n  k:\n    vm: { pool: p, name_label: k }\n');
    expect(x.ok ? [] : x.error.map((d) => `${d.line}:${d.col}: ${d.message}`)).toEqual([
      "2:19: group 'all' cannot be a child of 'a': every group is already in 'all'",
      "5:3: 'h' is both a host and a group; host patterns could not tell them apart",
      "7:17: unknown hypervisor 'p' in vm.pool of host 'k'",
    ]);
    const y = load('groups:\n  g:\n    pool: p\nhosts: []\n');
    expect(y.ok ? [] : y.error.map((d) => `${d.line}:${d.col}: ${d.message}`)).toEqual([
      "3:5: 'pool' only applies to a dynamic group (source: xapi)",
      "4:8: 'hosts' must be a map, got a list",
    ]);
  });

  it('cycles: a group that is its own child, and a longer loop', () => {
    const x = load('groups:\n  a: { children: [a] }\n  b: { children: [c] }\n  c: { children: [d] }\n  d: { children: [b] }\nhosts: {}\n');
    expect(x.ok ? [] : x.error.map((d) => `${d.line}:${d.col}: ${d.message}`)).toEqual([
      '2:19: group cycle: a → a',
      '5:19: group cycle: b → c → d → b',
    ]);
  });

  it('an empty inventory is valid and has the all group', () => {
    const x = load('');
    expect(x.ok && x.value.inventory.groups.all).toMatchObject({ hosts: [] });
  });
});

describe('resolveInventoryArg', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvrun-i-'));
  mkdirSync(join(dir, 'inventories'));
  writeFileSync(join(dir, 'inventories', 'prod.yml'), 'hosts: {}\n');
  writeFileSync(join(dir, 'inventories', 'lab.yaml'), 'hosts: {}\n');
  writeFileSync(join(dir, 'other.yml'), 'hosts: {}\n');
  const rel = (p: string) => relative(process.cwd(), join(dir, p));
  it('a name resolves under inventories/, .yml then .yaml', () => {
    expect(resolveInventoryArg('prod', dir)).toEqual({ ok: true, value: rel('inventories/prod.yml') });
    expect(resolveInventoryArg('lab', dir)).toEqual({ ok: true, value: rel('inventories/lab.yaml') });
  });
  it('a path is a file; relative paths stay relative', () => {
    expect(resolveInventoryArg('other.yml', dir)).toEqual({ ok: true, value: rel('other.yml') });
    expect(resolveInventoryArg('test/fixtures/valid/inventory.yml', process.cwd())).toEqual({ ok: true, value: 'test/fixtures/valid/inventory.yml' });
  });
  it('not found / not a file → diagnostic', () => {
    const a = resolveInventoryArg('staging', dir);
    expect(a.ok ? undefined : a.error).toEqual({ file: '<-i>', line: 1, col: 1, sourceLine: 'staging', message: "inventory not found: tried 'inventories/staging.yml', 'inventories/staging.yaml' or a file 'staging'" });
    const b = resolveInventoryArg('inventories', dir);
    expect(b.ok ? undefined : b.error.message).toBe("inventory 'inventories' is not a file");
  });
});
