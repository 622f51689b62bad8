/**
 * Discovery, VM resolution, facts and check mode on records recorded from real pools, read at test
 * time from ../shared/xapi-replay/vectors (see its PROVENANCE.md; never copied into the project):
 * - community.general ansible-test-vm-{1,2,3}-params.json: three VMs recorded from a real
 *   XenServer 7.x pool over XML-RPC (ints as strings, no domain_type), with metrics, guest
 *   metrics, VBDs, VDIs, SR, VIF, network and host; the matching *-facts.json are what Ansible
 *   made of them (used as an independent cross-check of the IPv4 addresses);
 * - derived/dom0-template-snapshot.json: a dom0, a default template and a snapshot of vm-2;
 * - xen-api component-test spec/xapi-24/vm_get_all_records.json: JSON-RPC (ints as numbers),
 *   a full `win11-x64` record with domain_type and a deliberately partial `ubuntu2204`.
 * They are loaded, as they are and under their own refs, into the XAPI simulator and read over
 * real HTTP by the production client, discovery, resolution and facts code, and the real CLI.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { discoverVms, type DiscoveredVm } from '../../src/hypervisor/discovery.js';
import { readVmFacts } from '../../src/hypervisor/vm-facts.js';
import { resolveVm } from '../../src/hypervisor/vm-resolve.js';
import type { XapiClient } from '../../src/hypervisor/xapi/index.js';
import { XapiSimulator } from '../../src/lab/xapi-sim/index.js';
import { loadRecordedRecords, recordsFromFile } from '../../src/lab/xapi-sim/seed.js';
import type { Rec } from '../../src/lab/xapi-sim/store.js';
import { materializeDynamicGroups } from '../../src/cli/dynamic-groups.js';
import { loadInventories } from '../../src/load/inventory.js';
import { ok } from '../../src/util/result.js';
import { runCli } from '../harness/cli.js';
import { client, must } from './helpers.js';

const REPO = resolve(import.meta.dirname, '..', '..');
const VECTORS = resolve(REPO, '../shared/xapi-replay/vectors');
const CG = join(VECTORS, 'community.general');
const readJson = (p: string): unknown => JSON.parse(readFileSync(p, 'utf8'));
const FILES = [
  ...[1, 2, 3].map((n) => join(CG, `ansible-test-vm-${n}-params.json`)),
  join(VECTORS, 'derived', 'dom0-template-snapshot.json'),
  join(VECTORS, 'xen-api', 'component-test', 'spec', 'xapi-24', 'vm_get_all_records.json'),
];

/** the single VM record of a recorded params file */
function recordedVm(n: number): { ref: string; rec: Rec } {
  const d = readJson(join(CG, `ansible-test-vm-${n}-params.json`)) as { VM: Record<string, Rec> };
  const [ref, rec] = Object.entries(d.VM)[0]!;
  return { ref, rec };
}

let sim: XapiSimulator;
let c: XapiClient;
let dir: string;
let inv: string;
let allVms: Record<string, Rec>;

beforeAll(async () => {
  // no seeded VMs: the simulator's own dom0s and default template stay, and must be skipped too
  sim = new XapiSimulator({ definition: { pool: 'recorded', username: 'root', password: 'pw', vms: [] }, autoGuestReports: false });
  for (const f of FILES) loadRecordedRecords(sim.model.store, recordsFromFile(readJson(f)));
  await sim.start();
  c = client(sim.url);
  allVms = Object.fromEntries(sim.model.store.table('VM'));
  dir = mkdtempSync(join(tmpdir(), 'pvrun-recorded-'));
  writeFileSync(join(dir, 'pw'), 'pw\n');
  inv = join(dir, 'inv.yml');
  writeFileSync(inv, `hypervisors:\n  recorded:\n    url: ${sim.url}\n    username: root\n    password: { file: ${join(dir, 'pw')} }\n`);
});
afterAll(async () => {
  await c?.close();
  await sim?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const row = (rows: DiscoveredVm[], name: string) => rows.find((r) => r.name === name)!;

describe('recorded records, loaded as they are', () => {
  it('the vectors are read from ../shared (every recorded class is in the simulator)', () => {
    expect(readdirSync(CG).filter((f) => f.endsWith('-params.json'))).toHaveLength(3);
    const vm1 = recordedVm(1);
    // served as recorded: ints as strings (XML-RPC), no domain_type
    expect(sim.record('VM', vm1.ref)).toEqual(vm1.rec);
    expect(vm1.rec.domid).toBe('143');
    expect('domain_type' in vm1.rec).toBe(false);
    for (const cls of ['VM_metrics', 'VM_guest_metrics', 'VBD', 'VDI', 'SR', 'VIF', 'network', 'host']) {
      expect(sim.model.store.table(cls).size, cls).toBeGreaterThan(0);
    }
  });
});

describe('discovery on every recorded VM (production client over HTTP)', () => {
  let rows: DiscoveredVm[];
  const bad: string[] = [];
  beforeAll(async () => {
    rows = must(await discoverVms(c, { pool: 'recorded', onBadRecord: (m) => bad.push(m) }));
  });

  it('lists the recorded VMs and the JSON-RPC one; dom0, templates and snapshots are skipped', () => {
    expect(rows.map((r) => r.name)).toEqual(['ansible-test-vm-1', 'ansible-test-vm-2', 'ansible-test-vm-3', 'win11-x64']);
    // what was skipped is there: control domains (derived + the simulator's), templates, a snapshot
    const skipped = Object.values(allVms).filter((v) => !rows.some((r) => r.uuid === v.uuid));
    expect(skipped.filter((v) => v.is_control_domain === true).length).toBe(3);
    expect(skipped.some((v) => v.is_a_template === true && v.is_default_template === true && v.name_label === 'CentOS 7')).toBe(true);
    expect(skipped.some((v) => v.is_a_snapshot === true && v.name_label === 'pvrun-before-tools')).toBe(true);
  });

  it('the partial record (ubuntu2204) is left out with a located message, not a crash', () => {
    expect(bad).toHaveLength(1);
    expect(bad[0]).toBe("VM OpaqueRef:7cdfad16-7e0e-411f-1b6c-4308fd33b164 ('ubuntu2204', uuid 060aee48-7ded-d2bd-6f0f-f224bd99c960) on pool recorded:"
      + ' the record lacks power_state, is_a_snapshot, is_control_domain (a partial record: an old or proxied XAPI?)');
  });

  it('vm-1 (Windows, pre-7.5 pool): the IPv4 address, PVHVM from HVM_boot_policy, the version, the caption', () => {
    expect(row(rows, 'ansible-test-vm-1')).toMatchObject({
      power_state: 'Running', address: '10.0.0.2', ips: ['10.0.0.2', 'fe80:0000:0000:0000:11e1:12c9:ef3b:75a0'],
      virtualization_mode: 'PVHVM', pv_drivers_detected: true, management_agent_detected: true,
      pv_drivers_version: '7.1.0.1020', os: 'Microsoft Windows Server 2016 Standard',
    });
    // Ansible's facts for the same VM agree on the IPv4 address
    const facts = readJson(join(CG, 'ansible-test-vm-1-facts.json')) as { networks: { ip: string }[] };
    expect(row(rows, 'ansible-test-vm-1').address).toBe(facts.networks[0]!.ip);
  });

  it('vm-2 and vm-3 only report 169.254.x (the host-internal management network): no address', () => {
    expect(row(rows, 'ansible-test-vm-2')).toMatchObject({
      power_state: 'Running', address: null, ips: ['169.254.0.2'], virtualization_mode: 'PVHVM',
      pv_drivers_version: '6.5.0.90977', os: 'CentOS Linux release 7.2.1511 (Core)',
    });
    expect(row(rows, 'ansible-test-vm-3')).toMatchObject({
      power_state: 'Halted', address: null, ips: ['169.254.0.3'], virtualization_mode: 'PV',
      pv_drivers_version: '5.6.100.46676', os: 'CentOS release 6.10 (Final)',
    });
    // that network is the host-internal one, by its own record
    const net = Object.values(Object.fromEntries(sim.model.store.table('network')))[0]!;
    expect((net.other_config as Record<string, string>)['is_host_internal_management_network']).toBe('true');
  });

  it('win11-x64 (JSON-RPC, ints as numbers, domain_type given, its guest metrics not recorded): HVM', () => {
    expect(row(rows, 'win11-x64')).toMatchObject({ power_state: 'Running', virtualization_mode: 'HVM', address: null, pv_drivers_detected: false, os: null });
  });

  it('the networks map in another order (link-local first, a second NIC) gives the same address', async () => {
    const { ref, rec } = recordedVm(1);
    const gm = String(rec.guest_metrics);
    const before = structuredClone(sim.record('VM_guest_metrics', gm)!.networks);
    sim.model.store.mod('VM_guest_metrics', gm, {
      networks: { '1/ip': '192.0.2.7', '0/ipv6/0': 'fe80:0000:0000:0000:11e1:12c9:ef3b:75a0', '1/ipv6/0': '2001:db8::7', '0/ip': '10.0.0.2' },
    });
    try {
      const r = row(must(await discoverVms(c, { name: 'ansible-test-vm-1' })), 'ansible-test-vm-1');
      expect(r.address).toBe('10.0.0.2');
      expect(r.ips).toEqual(['10.0.0.2', '192.0.2.7', '2001:db8::7', 'fe80:0000:0000:0000:11e1:12c9:ef3b:75a0']);
      const f = must(await readVmFacts(c, ref));
      expect(f.address).toBe('10.0.0.2');
    } finally {
      sim.model.store.mod('VM_guest_metrics', gm, { networks: before });
    }
  });
});

describe('resolution and facts on recorded records', () => {
  it('resolves each recorded VM by name and by uuid; facts agree with discovery', async () => {
    for (const n of [1, 2, 3]) {
      const { ref, rec } = recordedVm(n);
      const byName = must(await resolveVm(c, { pool: 'recorded', name_label: String(rec.name_label) }));
      expect(byName.ref).toBe(ref);
      const byUuid = must(await resolveVm(c, { pool: 'recorded', uuid: String(rec.uuid) }));
      expect(byUuid).toEqual(byName);
    }
    const f1 = must(await readVmFacts(c, recordedVm(1).ref));
    expect(f1).toMatchObject({ domain_type: 'hvm', virtualization_mode: 'PVHVM', pv_drivers_version: '7.1.0.1020', address: '10.0.0.2', metrics_fresh: true });
    const f3 = must(await readVmFacts(c, recordedVm(3).ref));
    expect(f3).toMatchObject({ domain_type: 'pv', virtualization_mode: 'PV', power_state: 'Halted', address: null });
  });

  it('dom0, a template and a snapshot are not VMs; the partial record is a located failure', async () => {
    const uuidOf = (p: (v: Rec) => boolean) => String(Object.values(allVms).find(p)!.uuid);
    const snap = uuidOf((v) => v.is_a_snapshot === true);
    expect(await resolveVm(c, { pool: 'recorded', uuid: snap })).toMatchObject({ ok: false, error: { kind: 'vm-not-found' } });
    expect(await resolveVm(c, { pool: 'recorded', uuid: 'd0d0d0d0-0000-4000-8000-000000000000' })).toMatchObject({ ok: false, error: { kind: 'vm-not-found' } });
    expect(await resolveVm(c, { pool: 'recorded', name_label: 'CentOS 7' })).toMatchObject({ ok: false, error: { kind: 'vm-not-found' } });
    expect(await resolveVm(c, { pool: 'recorded', name_label: 'pvrun-before-tools' })).toMatchObject({ ok: false, error: { kind: 'vm-not-found' } });
    const partial = await resolveVm(c, { pool: 'recorded', name_label: 'ubuntu2204' });
    expect(partial).toMatchObject({ ok: false, error: { kind: 'bad-record' } });
    if (!partial.ok) expect(partial.error.message).toMatch(/^VM OpaqueRef:7cdfad16-\S+ \('ubuntu2204', uuid \S+\) on pool recorded: the record lacks power_state, is_a_snapshot, is_control_domain/);
    const pf = await readVmFacts(c, 'OpaqueRef:7cdfad16-7e0e-411f-1b6c-4308fd33b164', 'recorded');
    expect(pf).toMatchObject({ ok: false, error: { kind: 'bad-record' } });
  });
});

describe('the real CLI on recorded records', () => {
  it('inventory --from-pool lists them; the partial record is a warning naming it, not exit 70', async () => {
    const r = await runCli(['inventory', '-i', inv, '--from-pool', 'recorded'], { cwd: REPO });
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/^WARNING: VM OpaqueRef:7cdfad16-7e0e-411f-1b6c-4308fd33b164 \('ubuntu2204', uuid [0-9a-f-]+\) on pool recorded: the record lacks power_state, is_a_snapshot, is_control_domain .*; left out$/m);
    expect(r.err).not.toMatch(/\n\s+at /);
    const lines = r.out.trim().split('\n');
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['ansible-test-vm-1', 'ansible-test-vm-2', 'ansible-test-vm-3', 'win11-x64']);
    const vm1 = lines.find((l) => l.startsWith('ansible-test-vm-1'))!;
    expect(vm1).toContain('Microsoft Windows Server 2016 Standard ');
    expect(vm1).not.toContain('|C:');
    expect(vm1).toMatch(/\bPVHVM\b.*\b7\.1\.0\.1020\b/);
  });

  it('--yaml addresses vm-1 by its IPv4 address and gives vm-2 no link-local address', async () => {
    const r = await runCli(['inventory', '-i', inv, '--from-pool', 'recorded', '--yaml'], { cwd: REPO });
    expect(r.code, r.err).toBe(0);
    const frag = parse(r.out) as { hosts: Record<string, { vm: { uuid: string }; connection?: { address: string } }> };
    expect(frag.hosts['ansible-test-vm-1']).toEqual({ vm: { pool: 'recorded', uuid: String(recordedVm(1).rec.uuid) }, connection: { address: '10.0.0.2' } });
    expect(frag.hosts['ansible-test-vm-2']!.connection).toBeUndefined();
  });

  it('a dynamic group: hosts addressed by rule; a host the inventory declares keeps its own address', async () => {
    const invFile = join(dir, 'dyn.yml');
    writeFileSync(invFile, `${readFileSync(inv, 'utf8')}groups:\n  recorded_vms:\n    source: xapi\n    pool: recorded\n`
      + 'hosts:\n  ansible-test-vm-2:\n    connection: { address: 192.0.2.22 }\n    vm: { pool: recorded, name_label: ansible-test-vm-2 }\n');
    const loaded = loadInventories([invFile]);
    if (!loaded.ok) throw new Error(loaded.error.map((d) => d.message).join('; '));
    const made = await materializeDynamicGroups(loaded.value, join(dir, 'state-dyn'), 'run1', () => ok('pw'));
    if (!made.ok) throw new Error(made.error);
    const frag = made.value;
    const hosts = (parse(readFileSync(frag!, 'utf8')) as { hosts: Record<string, { connection?: { address: string } }> }).hosts;
    expect(Object.keys(hosts).sort()).toEqual(['ansible-test-vm-1', 'ansible-test-vm-3', 'win11-x64']);
    expect(hosts['ansible-test-vm-1']!.connection).toEqual({ address: '10.0.0.2' });
    expect(hosts['ansible-test-vm-3']!.connection).toBeUndefined();
    const all = loadInventories([invFile, frag!]);
    if (!all.ok) throw new Error(all.error.map((d) => d.message).join('; '));
    expect(all.value.hosts['ansible-test-vm-2']!.connection.address).toBe('192.0.2.22');
    expect(all.value.hosts['ansible-test-vm-1']!.connection.address).toBe('10.0.0.2');
  });

  it('check mode: virtualization_mode and the drivers version hold on the pre-7.5 records', async () => {
    const hosts = [1, 3].map((n) => `  vm${n}:\n    vm: { pool: recorded, uuid: ${String(recordedVm(n).rec.uuid)} }\n    connection: { type: ssh, address: 127.0.0.1, user: nobody }\n`);
    const invFile = join(dir, 'hosts.yml');
    writeFileSync(invFile, `${readFileSync(inv, 'utf8')}hosts:\n${hosts.join('')}`);
    const pb = join(dir, 'pb.yml');
    writeFileSync(pb, [
      '- name: vm1 on a pre-7.5 pool',
      '  hosts: vm1',
      '  steps:',
      '    - name: vm1 is HVM with PV drivers',
      '      check: { virtualization_mode: PVHVM, pv_drivers_version: ">= 7.1", management_agent_detected: true }',
      '- name: vm3 on a pre-7.5 pool',
      '  hosts: vm3',
      '  steps:',
      '    - name: vm3 is PV',
      '      check: { virtualization_mode: PV }',
      '',
    ].join('\n'));
    sim.clearCallLog();
    const r = await runCli([pb, '-i', invFile, '--check', '--state-dir', join(dir, 'state')], { cwd: REPO, env: { ...process.env, CI: 'true' } });
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).not.toMatch(/unknown/);
    expect(r.out).toMatch(/vm1 \[vm1 is HVM with PV drivers\] ok/);
    expect(r.out).toMatch(/vm3 \[vm3 is PV\] ok/);
    expect(sim.mutatingCalls).toEqual([]);
  });
});
