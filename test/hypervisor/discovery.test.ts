import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverVms, formatDiscoveryInventory, formatDiscoveryTable } from '../../src/hypervisor/discovery.js';
import type { XapiClient } from '../../src/hypervisor/xapi/index.js';
import { XapiSimulator } from '../../src/lab/xapi-sim/index.js';
import { parseInventories } from '../../src/load/inventory.js';
import { client, must } from './helpers.js';

let sim: XapiSimulator;
let c: XapiClient;
beforeAll(async () => {
  sim = new XapiSimulator({
    definition: {
      username: 'root', password: 'pw',
      vms: [
        { name: 'web 01', os: 'Ubuntu 22.04', power: 'Running', tools: 'none', tags: ['web'] },
        { name: 'web-02', os: 'Ubuntu 22.04', power: 'Running', tools: 'drivers', tags: ['web'] },
        { name: 'web-03', os: 'Ubuntu 22.04', power: 'Running', tools: 'agent', tags: ['web'], ips: { '0/ip': '10.1.0.3', '0/ipv4/0': '10.1.0.3', '0/ipv6/0': 'fe80::3' } },
        { name: 'db-01', os: 'Rocky Linux 9', power: 'Halted', tools: 'none', tags: ['db'] },
        { name: 'db-01', os: 'Rocky Linux 9', power: 'Running', tools: 'agent', tags: ['db'] },
      ],
    },
  });
  await sim.start();
  c = client(sim.url);
});
afterAll(async () => {
  await c.close();
  await sim.stop();
});

describe('discovery ("No Xen tools detected" as a command)', () => {
  it('lists exactly the VMs without drivers or agent, never templates, snapshots or dom0', async () => {
    const snap = must(await c.call<string>('VM.snapshot', [sim.vm('web-02').ref, 'web-02 snap', []]));
    const rows = must(await discoverVms(c, { missingTools: true }));
    expect(rows.map((r) => `${r.name}:${r.power_state}`)).toEqual(['db-01:Halted', 'web 01:Running', 'web-02:Running']);
    expect(rows.find((r) => r.name === 'web-02')).toMatchObject({ virtualization_mode: 'PVHVM', pv_drivers_detected: true, management_agent_detected: false });
    must(await c.call('VM.destroy', [snap]));
  });

  it('filters by tag and name glob, and reports IPs', async () => {
    expect(must(await discoverVms(c, { tag: 'db' })).map((r) => r.name)).toEqual(['db-01', 'db-01']);
    const w3 = must(await discoverVms(c, { name: 'WEB-0?', missingTools: false })).find((r) => r.name === 'web-03')!;
    expect(w3.ips).toEqual(['10.1.0.3', 'fe80::3']);
    expect(w3.pv_drivers_version).toBe('9.4.0.12');
    expect(must(await discoverVms(c, { name: 'web*', missingTools: true })).map((r) => r.name)).toEqual(['web 01', 'web-02']);
  });

  it('the YAML fragment loads as an inventory (duplicate names made unique, selected by uuid)', async () => {
    const rows = must(await discoverVms(c, {}));
    const frag = formatDiscoveryInventory(rows, 'lab');
    const text = `hypervisors:\n  lab:\n    url: ${sim.url}\n    username: root\n    password: { env: PW }\n${frag}`;
    const inv = parseInventories([['discovered.yml', text]]);
    if (!inv.ok) throw new Error(inv.error.map((d) => d.message).join('; '));
    const hosts = inv.value.inventory.hosts;
    expect(Object.keys(hosts)).toHaveLength(5);
    expect(Object.keys(hosts)).toContain('web-01');
    expect(Object.values(hosts).every((h) => h.vm?.pool === 'lab' && typeof h.vm.uuid === 'string')).toBe(true);
    expect(hosts['web-03']!.connection.address).toBe('10.1.0.3');
    expect(inv.value.inventory.groups.lab_vms!.hosts).toHaveLength(5);
    const table = formatDiscoveryTable(rows);
    expect(table.split('\n')[0]).toMatch(/^NAME\s+UUID\s+POWER\s+OS\s+MODE\s+DRIVERS\s+AGENT\s+IPS$/);
    expect(table).toContain('9.4.0.12');
  });
});
