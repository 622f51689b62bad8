/**
 * `pvrun inventory --convert`: each Ansible inventory of the corpus (YAML and INI, the one
 * test/load/ansible-inventory.test.ts compares with ansible-inventory --list) written in pvrun's
 * format, then loaded back: the same hosts, groups, vars, connection settings and VMs.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { formatDiagnostics } from '../../src/load/diagnostics.js';
import { loadInventoriesDetailed, type LoadedInventory } from '../../src/load/inventory.js';
import { hostVarLayers, mergeVars } from '../../src/load/vars.js';
import type { Inventory } from '../../src/model/inventory.js';
import { runCli } from '../harness/cli.js';
import { CORPUS } from '../load/ansible-corpus.js';

const dir = mkdtempSync(join(tmpdir(), 'pvrun-inv-convert-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => { const p = join(dir, name); writeFileSync(p, text); return p; };

const POOLS = file('pools.yml', [
  'hypervisors:',
  '  pool-a: { url: "https://xcp-a.example.net", username: root, password: { env: XAPI_PASSWORD } }',
  '  pool-b: { url: "https://xcp-b.example.net", username: { env: XAPI_USER }, password: { file: pool-b.pw }, tls: { fingerprint: "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89" } }',
  '',
].join('\n'));

function load(paths: string[]): LoadedInventory {
  const r = loadInventoriesDetailed(paths);
  if (!r.ok) throw new Error(formatDiagnostics(r.error));
  return r.value;
}

/** The model without source positions and file names (they differ by construction). */
function model(inv: Inventory): unknown {
  const strip = (o: Record<string, { pos?: unknown }>) => Object.entries(o).map(([k, v]) => { const { pos: _p, ...rest } = v; return [k, rest]; });
  return { hypervisors: strip(inv.hypervisors as never), groups: strip(inv.groups as never), hosts: strip(inv.hosts as never) };
}

describe('pvrun inventory --convert: the Ansible corpus loads back the same', () => {
  for (const [name, text] of Object.entries(CORPUS)) {
    it(name, async () => {
      const src = file(name, text);
      const before = load([POOLS, src]);
      const out = join(dir, `${name}.pvrun.yml`);
      const r = await runCli(['inventory', '-i', POOLS, '-i', src, '--convert', '-o', out]);
      expect(r.err).toBe(`pvrun inventory: wrote ${out}\n`);
      expect(r.code).toBe(0);
      const written = readFileSync(out, 'utf8');
      // pvrun's format: its three sections, no Ansible variables left
      expect(Object.keys(parse(written) as object).sort()).toEqual(['groups', 'hosts', 'hypervisors']);
      expect(written).not.toMatch(/ansible_|pvrun_pool|pvrun_vm|pvrun_connection/);
      const after = load([out]);
      expect(after.warnings).toEqual([]);
      expect(model(after.inventory)).toEqual(model(before.inventory));
      // and the variables every host sees, merged by precedence
      for (const h of Object.keys(before.inventory.hosts)) {
        const v = (l: LoadedInventory) => mergeVars(hostVarLayers({}, l.inventory, l.inventory.hosts[h]!, {})).vars;
        expect(v(after), h).toEqual(v(before));
      }
    });
  }

  it('to stdout, the same text; a host keeps only what its groups do not give it', async () => {
    const src = file('stdout.yml', CORPUS['ranges-and-xapi.yml']!);
    const r = await runCli(['inventory', '-i', POOLS, '-i', src, '--convert']);
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    const y = parse(r.out) as { hosts: Record<string, unknown>; groups: Record<string, unknown> };
    expect(y.hosts['web-10.example.com']).toEqual({ connection: { address: '10.0.0.10', port: 2222 }, vm: { pool: 'pool-a', name_label: 'web-10.example.com' } });
    expect(y.hosts['web01.example.com']).toEqual({ vm: { pool: 'pool-a', name_label: 'web01.example.com' } });
    expect(y.hosts['win-a']).toEqual({ vm: { pool: 'pool-b', name_label: 'win-a' } });
    expect(y.groups['windows']).toEqual({ hosts: ['win-a', 'win-b', 'win-c'], connection: { type: 'ssh-powershell', user: 'Administrator' } });
    expect(y.groups['all']).toEqual({ vars: { ntp: 'pool.ntp.org' }, connection: { user: 'root' } });
    expect(y.groups['ungrouped']).toEqual({ hosts: ['lonely.example.com'] });
  });

  it("pvrun's own format with a dynamic group and merged files round-trips too", async () => {
    const a = file('own-a.yml', [
      'groups:',
      '  linux: { children: [web], connection: { user: root, key: ~/.ssh/k }, vars: { iso: linux.iso } }',
      '  web: { hosts: [web-1, web-2], connection: { port: 2222 } }',
      '  untooled: { source: xapi, pool: pool-a, filters: { missing_tools: true, name: "web-*" } }',
      'hosts:',
      '  web-1: { connection: { address: 10.0.0.1, user: admin }, vm: { pool: pool-a, uuid: 0f3e1c2a-5b6d-4e7f-8a9b-0c1d2e3f4a5b } }',
      '  web-2: { vars: { role: b }, vm: { pool: pool-b, name_label: WEB-2 } }',
      '',
    ].join('\n'));
    const b = file('own-b.yml', 'groups:\n  web: { vars: { tier: front } }\n');
    const before = load([POOLS, a, b]);
    const out = join(dir, 'own.pvrun.yml');
    expect((await runCli(['inventory', '-i', POOLS, '-i', a, '-i', b, '--convert', '-o', out])).code).toBe(0);
    expect(model(load([out]).inventory)).toEqual(model(before.inventory));
  });

  it('usage errors: -o without --convert, -o onto an inventory read; exit 5', async () => {
    const src = file('u.yml', CORPUS['nested.yml']!);
    const r1 = await runCli(['inventory', '-i', POOLS, '-i', src, '-o', join(dir, 'x.yml')]);
    expect(r1.code).toBe(5);
    expect(r1.err).toBe('pvrun inventory: -o/--output goes with --convert\n');
    const r2 = await runCli(['inventory', '-i', POOLS, '-i', src, '--convert', '-o', src]);
    expect(r2.code).toBe(5);
    expect(r2.err).toBe(`pvrun inventory: -o ${src} is one of the inventories read; write the converted inventory to another file\n`);
    expect(readFileSync(src, 'utf8')).toBe(CORPUS['nested.yml']);
  });
});
