/** Pure parts of the lab: definitions, distribution identities, agent heartbeats → reports. */
import { describe, expect, it } from 'vitest';
import { parseLabDefinition, resolveDistro } from '../../src/lab/guest/index.js';
import { checkSpecs, resolveGuest } from '../../src/lab/guest/definition.js';
import { buildReport, parseAgentVersion, parseHeartbeat } from '../../src/lab/guest/report.js';

describe('lab definition', () => {
  it('parses YAML with snake_case keys and faults', () => {
    const r = parseLabDefinition(`
guests:
  - name: web-01
    uuid: 6F1C0000-0000-4000-8000-000000000001
    distro: rhel
    version: 9
    tools_installed: true
    port: 2201
    reboot_delay_ms: 0
    faults: { install_fails: true, slow_boot_ms: 200 }
  - { name: db-01, distro: ubuntu, version: "24.04" }
`);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.guests[0]).toEqual({
      name: 'web-01', uuid: '6f1c0000-0000-4000-8000-000000000001', distro: 'rhel', version: '9',
      toolsInstalled: true, port: 2201, rebootDelayMs: 0, faults: { installFails: true, slowBootMs: 200 },
    });
    const g = resolveGuest(r.value.guests[1]!, 40000, 300);
    expect(g.ok && g.value).toMatchObject({
      name: 'db-01', distro: 'ubuntu', version: '24.04', port: 40000, rebootDelayMs: 300, toolsInstalled: false,
      faults: { installFails: false, rebootNeverReturns: false, slowBootMs: 0, sshDown: false },
    });
  });

  it('accepts JSON too', () => {
    const r = parseLabDefinition('{"guests":[{"name":"a","distro":"debian","version":"12"}]}');
    expect(r.ok).toBe(true);
  });

  it('lists every problem', () => {
    const r = parseLabDefinition(`
guests:
  - { name: a, distro: beos, version: 5 }
  - { name: a, distro: debian, version: twelve, colour: red }
  - { name: "bad name", distro: debian, version: 12 }
  - { name: c, distro: debian, version: 12, port: 80, faults: { explode: true, ssh_down: "yes" } }
`);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toEqual([
      'guests[0].distro: one of rhel, redhat, alma, almalinux, rocky, centos, oracle, ol, oraclelinux, fedora, ubuntu, debian, alpine',
      'guests[1]: unknown key "colour"',
      'guests[1].name: duplicate "a"',
      'guests[1].version: a version such as "9" or "22.04" is required',
      'guests[2].name: a hostname-like name is required',
      'guests[3].port: 1024-65535',
      'guests[3].faults.explode: unknown fault (install_fails, reboot_never_returns, slow_boot_ms, ssh_down)',
      'guests[3].faults.ssh_down: true or false',
    ]);
  });

  it('checks definitions built in code', () => {
    expect(checkSpecs([
      { name: 'a', distro: 'debian', version: '12' },
      { name: 'a', distro: 'debian', version: '12', uuid: 'nope' },
      { name: '../x', distro: 'solaris', version: '11' },
    ])).toEqual([
      'a: duplicate name', 'a: uuid is not a UUID', '"../x": not a hostname-like name', '../x: unknown distribution solaris 11',
    ]);
  });

  it('rejects documents without a guests list', () => {
    expect(parseLabDefinition('- a').ok).toBe(false);
    expect(parseLabDefinition('guests: [').ok).toBe(false);
  });
});

describe('distribution identities', () => {
  it.each([
    ['rhel', '9', 'rhel', '9.4', 'rpm', '/etc/redhat-release'],
    ['alma', '9', 'almalinux', '9.4', 'rpm', '/etc/redhat-release'],
    ['rocky', '8', 'rocky', '8.10', 'rpm', '/etc/redhat-release'],
    ['ubuntu', '22.04', 'ubuntu', '22.04', 'deb', '/etc/lsb-release'],
    ['ubuntu', '24', 'ubuntu', '24.04', 'deb', '/etc/lsb-release'],
    ['debian', '12', 'debian', '12', 'deb', '/etc/debian_version'],
    ['oracle', '8', 'ol', '8.10', 'rpm', '/etc/oracle-release'],
  ])('%s %s → ID=%s VERSION_ID=%s (%s)', (distro, version, id, versionId, family, releaseFile) => {
    const d = resolveDistro(distro, version);
    expect(d).toBeDefined();
    expect(d!.osRelease).toContain(`\nID=${id}\n`);
    expect(d!.osRelease).toContain(`VERSION_ID="${versionId}"`);
    expect(d!.family).toBe(family);
    expect(Object.keys(d!.releaseFiles)).toContain(releaseFile);
  });

  it('refuses unknown distributions and versions', () => {
    expect(resolveDistro('windows', '11')).toBeUndefined();
    expect(resolveDistro('debian', 'sid')).toBeUndefined();
  });
});

describe('agent heartbeat → guest report', () => {
  const text = [
    'version=8.4.0-1', 'time=1795694588', 'boot_id=b1', 'os_distro=rocky', 'os_majorver=9', 'os_minorver=4',
    'os_uname=6.1.0', 'os_name=Rocky Linux 9.4', 'ip0=192.0.2.2', 'ip1=fd00::2', 'ip2=198.51.100.7',
  ].join('\n');

  it('reports version, os and XAPI-style network keys', () => {
    const hb = parseHeartbeat(text);
    expect(hb?.bootId).toBe('b1');
    expect(buildReport(true, hb)).toEqual({
      pvDriversDetected: true,
      agentVersion: { major: 8, minor: 4, micro: 0, build: 1 },
      os: { name: 'Rocky Linux 9.4', distro: 'rocky', major: '9', minor: '4', uname: '6.1.0' },
      ips: { '0/ip': '192.0.2.2', '0/ipv4/0': '192.0.2.2', '0/ipv4/1': '198.51.100.7', '0/ipv6/0': 'fd00::2' },
    });
  });

  it('without an agent: PV drivers only', () => {
    expect(buildReport(true, undefined)).toEqual({ pvDriversDetected: true, agentVersion: null });
  });

  it('ignores malformed heartbeats and versions', () => {
    expect(parseHeartbeat('garbage')).toBeUndefined();
    expect(parseHeartbeat('version=1.0\ntime=x')).toBeUndefined();
    expect(parseAgentVersion('latest')).toBeUndefined();
    expect(parseAgentVersion('9.1.2')).toEqual({ major: 9, minor: 1, micro: 2, build: 0 });
  });
});
