/**
 * Ansible's YAML inventories read as they are (src/load/ansible-inventory.ts), compared with what
 * Ansible itself makes of the same files (`ansible-inventory -i FILE --list`, ansible-core from
 * Debian's package), and pvrun's own format with a group's hosts as a map.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDiagnostics } from '../../src/load/diagnostics.js';
import { expandHostRange, parseHostPattern } from '../../src/load/ansible-inventory.js';
import { loadInventoriesDetailed, parseInventories, type LoadedInventory } from '../../src/load/inventory.js';
import { hostVarLayers, mergeVars } from '../../src/load/vars.js';
import { describeUnless, requireBinary } from '../harness/require.js';
import { runCli } from '../harness/cli.js';
import { CORPUS } from './ansible-corpus.js';

const dir = mkdtempSync(join(tmpdir(), 'pvrun-ansible-inv-'));
const file = (name: string, text: string): string => { const p = join(dir, name); writeFileSync(p, text); return p; };

const POOLS = file('pools.yml', [
  'hypervisors:',
  '  pool-a: { url: "https://xcp-a.example.net", username: root, password: { env: XAPI_PASSWORD } }',
  '  pool-b: { url: "https://xcp-b.example.net", username: root, password: { env: XAPI_PASSWORD } }',
  '',
].join('\n'));

const files = Object.fromEntries(Object.entries(CORPUS).map(([n, t]) => [n, file(n, t)]));

function loadAnsible(name: string): LoadedInventory {
  const r = loadInventoriesDetailed([POOLS, files[name]!]);
  if (!r.ok) throw new Error(formatDiagnostics(r.error));
  return r.value;
}

describe('Ansible YAML inventories, mapped onto pvrun', () => {
  it('ranges as ansible-core expands them: zero padding, letters, steps, several ranges', () => {
    expect(expandHostRange('web[01:03].example.com')).toEqual({ names: ['web01.example.com', 'web02.example.com', 'web03.example.com'] });
    expect(expandHostRange('db-[a:c]')).toEqual({ names: ['db-a', 'db-b', 'db-c'] });
    expect(expandHostRange('n[0:10:5]')).toEqual({ names: ['n0', 'n5', 'n10'] });
    expect(expandHostRange('r[1:2]-[a:b]')).toEqual({ names: ['r1-a', 'r1-b', 'r2-a', 'r2-b'] });
    expect(expandHostRange('x[:2]')).toEqual({ names: ['x0', 'x1', 'x2'] });
    expect(expandHostRange('web[01:3]')).toEqual({ error: "host range must specify equal-length begin and end formats, got '[01:3]'" });
    expect(expandHostRange('web[1:]')).toEqual({ error: "host range must specify an end value, got '[1:]'" });
    expect(expandHostRange('web[c:a]')).toEqual({ error: "host range must have begin <= end, got '[c:a]'" });
    expect(expandHostRange('h[1:100000]')).toEqual({ error: "host range '[1:100000]' gives more than 10000 hosts" });
    expect(parseHostPattern('db-1:2200')).toEqual({ pattern: 'db-1', port: 2200 });
    expect(parseHostPattern('web[01:03]:22')).toEqual({ pattern: 'web[01:03]', port: 22 });
    expect(parseHostPattern('fe80::1')).toEqual({ pattern: 'fe80::1' });
    expect(parseHostPattern('[2001:db8::1]:2222')).toEqual({ pattern: '2001:db8::1', port: 2222 });
  });

  it('hosts, groups, connection settings and the VM of each host', () => {
    const { inventory: inv, warnings } = loadAnsible('ranges-and-xapi.yml');
    expect(warnings).toEqual([]);
    expect(Object.keys(inv.hosts)).toEqual(['lonely.example.com', 'web01.example.com', 'web02.example.com', 'web03.example.com', 'web-10.example.com', 'db-1', 'win-a', 'win-b', 'win-c']);
    expect(inv.groups.web!.hosts).toEqual(['web01.example.com', 'web02.example.com', 'web03.example.com', 'web-10.example.com']);
    expect(inv.groups.ungrouped!.hosts).toEqual(['lonely.example.com']);
    expect(inv.hosts['web-10.example.com']).toMatchObject({
      connection: { type: 'ssh', user: 'root', address: '10.0.0.10', port: 2222 },
      vm: { pool: 'pool-a', name_label: 'web-10.example.com' },
      vars: {},
      groups: ['all', 'web'],
    });
    expect(inv.hosts['db-1']).toMatchObject({
      connection: { type: 'ssh', user: 'root', address: 'db-1', port: 2200, key: '~/.ssh/db' },
      vm: { pool: 'pool-b', uuid: '0f3e1c2a-5b6d-4e7f-8a9b-0c1d2e3f4a5b' },
    });
    expect(inv.hosts['win-b']!.connection).toEqual({ type: 'ssh-powershell', user: 'Administrator', address: 'win-b' });
    expect(inv.hosts['lonely.example.com']!.vm).toBeUndefined();
    expect(inv.groups.all!.vars).toEqual({ ntp: 'pool.ntp.org' });
    const t = loadAnsible('top-level-groups.yml').inventory;
    expect(t.hosts['dc01.example.com']!.connection).toEqual({ type: 'psremoting', https: true, port: 5986, user: 'Administrator', address: '192.0.2.50' });
  });

  it('what has no meaning for pvrun is a located error; harmless Ansible settings a located warning', () => {
    const bad = parseInventories([['bad.yml', [
      'all:',                                            // 1
      '  vars:',                                         // 2
      '    ansible_python_interpreter: /usr/bin/python3', // 3
      '  children:',                                     // 4
      '    web:',                                        // 5
      '      hosts:',                                    // 6
      '        web[01:3]:',                              // 7
      '        web-9:',                                  // 8
      '          ansible_password: hunter2',             // 9
      '          ansible_connection: docker',            // 10
      '        web-8: { ansible_port: 70000 }',          // 11
      '      vars: { pvrun_pool: nowhere }',             // 12
      '      fruit: apple',                              // 13
      '    db:',                                         // 14
      '      hosts: [db-1]',                             // 15
      '',
    ].join('\n')]]);
    expect(bad.ok).toBe(false);
    const text = bad.ok ? '' : formatDiagnostics(bad.error);
    expect(text).toContain("bad.yml:7:9: host range must specify equal-length begin and end formats, got '[01:3]'");
    expect(text).toContain('bad.yml:9:11: ansible_password of host \'web-9\': pvrun never reads secrets from inventories; use pvrun_connection: { password: { env: NAME } } (or { file: path })');
    expect(text).toContain("bad.yml:10:11: ansible_connection 'docker' of host 'web-9' has no meaning for pvrun");
    expect(text).toContain("bad.yml:11:18: ansible_port of host 'web-8' must be a port number 1–65535, got the number 70000");
    expect(text).toContain("bad.yml:13:7: unexpected key 'fruit' in group 'web': only vars, children and hosts are valid");
    expect(text).toContain("bad.yml:15:14: hosts of group 'db' must be a map of host names (each with its vars or nothing), got a list");
    expect(text).toContain("unknown hypervisor 'nowhere' in vm.pool of host 'web-9'");
    expect(text).toContain('bad.yml:3:5: warning: ansible_python_interpreter of group \'all\' is ignored: it has no meaning for pvrun');
    expect(text).not.toContain('hunter2');
  });

  it('pvrun_connection takes pvrun connection settings, checked like the connection: of pvrun\'s format', () => {
    const r = parseInventories([['c.yml', 'all:\n  hosts:\n    h1:\n      pvrun_connection: { host_key_checking: accept-new, password: { env: H1_PW } }\n    h2:\n      pvrun_connection: { port: "x", password: hunter2, colour: red }\n']]);
    const text = r.ok ? '' : formatDiagnostics(r.error);
    expect(text).toContain("c.yml:6:33: 'port' in pvrun_connection of host 'h2' must be a port number 1–65535, got 'x'");
    expect(text).toContain("c.yml:6:48: 'password' must be a secret reference, { env: NAME } or { file: path }");
    expect(text).toContain("c.yml:6:57: unknown connection setting 'colour' in pvrun_connection of host 'h2'");
    expect(text).not.toContain('hunter2');
    const ok = parseInventories([['c.yml', 'all:\n  hosts:\n    h1:\n      pvrun_connection: { host_key_checking: accept-new, password: { env: H1_PW } }\n']]);
    if (!ok.ok) throw new Error(formatDiagnostics(ok.error));
    expect(ok.value.inventory.hosts.h1!.connection).toEqual({ type: 'ssh', host_key_checking: 'accept-new', password: { env: 'H1_PW' }, address: 'h1' });
  });

  it('INI: located errors, literal secrets masked', () => {
    const r = parseInventories([['hosts', '[web]\nweb1 ansible_password=s3cret-pw nokv\nweb[1:]\n[web:vars]\njust-a-word\n[web:weird]\n']]);
    const text = r.ok ? '' : formatDiagnostics(r.error);
    expect(text).toContain("hosts:2:6: ansible_password of host 'web1': pvrun never reads secrets from inventories");
    expect(text).toContain("hosts:2:33: expected key=value host variable assignment, got 'nokv'");
    expect(text).toContain("hosts:3:1: host range must specify an end value, got '[1:]'");
    expect(text).toContain("hosts:5:1: expected key=value in [web:vars], got 'just-a-word'");
    expect(text).toContain('hosts:6:1: section [web:weird] has unknown type: weird (hosts, children or vars)');
    expect(text).not.toContain('s3cret-pw');
  });

  it('from the command line: an Ansible inventory validates with a shipped playbook; a bad one is exit 5, located, no stack', async () => {
    const ok = await runCli(['inventory', '-i', POOLS, '-i', files['nested.yml']!, '--graph']);
    expect(ok.err).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.out).toContain('paris');
    const badFile = file('cli-bad.yml', 'all:\n  hosts:\n    h1: { ansible_connection: local }\n');
    const bad = await runCli(['inventory', '-i', badFile, '--list']);
    expect(bad.code).toBe(5);
    expect(bad.err).toContain(`${badFile}:3:11: ansible_connection 'local' of host 'h1' has no meaning for pvrun`);
    expect(bad.err).not.toMatch(/\n\s+at /);
  });
});

describe("pvrun's own format: a group's hosts as a map", () => {
  it('declares the hosts it names, with their definitions', () => {
    const r = parseInventories([['inv.yml', [
      'groups:',
      '  web:',
      '    vars: { tier: front }',
      '    hosts:',
      '      web-1: { connection: { address: 10.0.0.1 }, vars: { role: a } }',
      '      web-2:',
      '      web-3:',
      'hosts:',
      '  web-3: { connection: { port: 2222 } }',
      '',
    ].join('\n')]]);
    if (!r.ok) throw new Error(formatDiagnostics(r.error));
    const inv = r.value.inventory;
    expect(inv.groups.web!.hosts).toEqual(['web-1', 'web-2', 'web-3']);
    expect(inv.hosts['web-1']).toMatchObject({ connection: { type: 'ssh', address: '10.0.0.1' }, vars: { role: 'a' }, groups: ['all', 'web'] });
    expect(inv.hosts['web-2']).toMatchObject({ connection: { type: 'ssh', address: 'web-2' }, vars: {}, groups: ['all', 'web'] });
    expect(inv.hosts['web-3']!.connection).toEqual({ type: 'ssh', port: 2222, address: 'web-3' });
    expect(r.value.warnings).toEqual([]);
  });

  it('a host definition inside the map is validated like one under hosts:', () => {
    const r = parseInventories([['inv.yml', 'groups:\n  web:\n    hosts:\n      web-1: { connection: { prot: 22 } }\n']]);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : formatDiagnostics(r.error)).toMatch(/^inv\.yml:4:30: unknown key 'prot' in connection \(did you mean 'port'\?\)$/m);
  });
});

// ---------- against Ansible itself ----------

function ansibleList(path: string): Promise<Record<string, { hosts?: string[]; children?: string[] }> & { _meta: { hostvars: Record<string, Record<string, unknown>> } }> {
  return new Promise((resolve, reject) => {
    execFile('ansible-inventory', ['-i', path, '--list'], { env: { ...process.env, ANSIBLE_INVENTORY_ENABLED: 'yaml,ini', ANSIBLE_LOCALHOST_WARNING: 'false', ANSIBLE_INVENTORY_UNPARSED_FAILED: 'true' }, timeout: 60_000 }, (e, out, err) => {
      if (e) reject(new Error(`ansible-inventory failed: ${err}`)); else resolve(JSON.parse(out));
    });
  });
}

const TRANSLATED = /^(ansible_|pvrun_)/;

describeUnless(requireBinary('ansible-inventory', 'apt-get install ansible-core'))('the same inventories, as ansible-inventory --list sees them', () => {
  for (const name of Object.keys(CORPUS)) {
    it(name, async () => {
      const a = await ansibleList(files[name]!);
      const { inventory: inv } = loadAnsible(name);
      const groupNames = Object.keys(a).filter((g) => g !== '_meta');
      // every group, with its direct hosts and children (Ansible's --list leaves out empty groups)
      const nonEmpty = (g: string) => g === 'all' || inv.groups[g]!.hosts.length + inv.groups[g]!.children.length > 0;
      expect(Object.keys(inv.groups).filter(nonEmpty).sort()).toEqual(groupNames.sort());
      for (const g of groupNames) {
        if (g === 'all') continue;
        expect(inv.groups[g]!.hosts, g).toEqual(a[g]!.hosts ?? []);
        expect([...inv.groups[g]!.children].sort(), g).toEqual([...(a[g]!.children ?? [])].sort());
      }
      // top-level groups: pvrun's (no parent; its 'all' lists no children) are among Ansible's
      // children of all, which also keeps the groups written under all: that have another parent
      const isChild = new Set(Object.values(inv.groups).flatMap((g) => g.children));
      const roots = Object.keys(inv.groups).filter((g) => g !== 'all' && !isChild.has(g) && nonEmpty(g));
      const allChildren = a.all!.children ?? [];
      expect(roots.length).toBeGreaterThan(0);
      expect(roots.filter((g) => !allChildren.includes(g))).toEqual([]);
      expect(allChildren.filter((g) => g !== 'ungrouped' && !inv.groups[g])).toEqual([]);
      // every host, its variables and its connection settings
      const ansibleHosts = [...new Set(groupNames.flatMap((g) => a[g]!.hosts ?? []))].sort();
      expect(Object.keys(inv.hosts).sort()).toEqual(ansibleHosts);
      for (const h of ansibleHosts) {
        const hv = a._meta.hostvars[h] ?? {};
        const mine = mergeVars(hostVarLayers({}, inv, inv.hosts[h]!, {})).vars;
        expect(mine, h).toEqual(Object.fromEntries(Object.entries(hv).filter(([k]) => !TRANSLATED.test(k))));
        const c = inv.hosts[h]!.connection;
        expect(c.address, h).toBe(hv.ansible_host ?? h);
        expect(c.port, h).toBe(hv.ansible_port === undefined ? undefined : Number(hv.ansible_port));
        expect(c.user, h).toBe(hv.ansible_user);
        expect(c.key, h).toBe(hv.ansible_ssh_private_key_file);
        const type = hv.ansible_connection === 'winrm' || hv.ansible_connection === 'psrp' ? 'psremoting'
          : hv.ansible_shell_type === 'powershell' ? 'ssh-powershell' : 'ssh';
        expect(c.type, h).toBe(type);
        const vm = hv.pvrun_vm ?? (hv.pvrun_pool ? { pool: hv.pvrun_pool, name_label: h } : undefined);
        expect(inv.hosts[h]!.vm, h).toEqual(vm);
      }
    });
  }

  it('Ansible refuses the structures pvrun refuses', async () => {
    const listHosts = file('list-hosts.yml', 'all:\n  children:\n    db:\n      hosts: [db-1]\n');
    await expect(ansibleList(listHosts)).rejects.toThrow(/Invalid "hosts" entry for "db" group, requires a dictionary/);
    const r = loadInventoriesDetailed([listHosts]);
    expect(r.ok ? '' : formatDiagnostics(r.error)).toContain("hosts of group 'db' must be a map");
  });
});
