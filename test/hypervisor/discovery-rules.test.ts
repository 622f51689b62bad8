/**
 * The discovery and facts rules, as tables (pure functions), on values as real pools send them:
 * networks keys `N/ip`, `N/ipv4/K`, `N/ipv6/K` in any order (xen-api xapi_guest_agent.ml:78-110,
 * 147-187), `micro = "-1"` (xapi_guest_agent.ml:370-376), no domain_type before 7.5
 * (xapi_vm_snapshot.ml:565-590), the Windows `Caption|C:\Windows|\Device\…` name.
 */
import { describe, expect, it } from 'vitest';
import { vmRecordProblems } from '../../src/hypervisor/records.js';
import type { GuestMetricsRecord, VmRecord } from '../../src/hypervisor/records.js';
import { chooseAddress, driversVersion, effectiveDomainType, factsFromRecords, guestAddresses, isLinkLocal, osCaption } from '../../src/hypervisor/vm-facts.js';

describe('address choice', () => {
  it.each([
    // [networks, chosen]
    [{ '0/ipv6/0': 'fe80::1', '0/ip': '10.0.0.2' }, '10.0.0.2'],
    [{ '0/ipv6/0': 'fe80:0000:0000:0000:11e1:12c9:ef3b:75a0', '0/ipv4/0': '10.0.0.2' }, '10.0.0.2'],
    [{ '1/ip': '192.0.2.1', '0/ipv6/0': '2001:db8::5' }, '2001:db8::5'], // lowest device wins over family
    [{ '2/ip': '192.0.2.2', '10/ip': '192.0.2.10' }, '192.0.2.2'], // devices compare as numbers
    [{ '0/ipv6/1': '2001:db8::b', '0/ipv6/0': '2001:db8::a' }, '2001:db8::a'],
    [{ '0/ip': '169.254.0.2' }, null], // Xen's host-internal management network
    [{ '0/ipv6/0': 'FE80::1' }, null],
    [{ '0/ipv6/0': 'febf::1', '1/ip': '192.0.2.9' }, '192.0.2.9'],
    [{ '0/ip': '', '0/ipv4/0': 'not-an-ip', '0/other': '192.0.2.3' }, null],
    [{}, null],
  ] as [Record<string, string>, string | null][])('%j -> %s', (networks, chosen) => {
    expect(chooseAddress(networks)).toBe(chosen);
  });

  it('orders by device, IPv4 before IPv6, then index; the family is the value\'s', () => {
    expect(guestAddresses({ '1/ipv4/0': '192.0.2.1', '0/ipv6/0': '2001:db8::1', '0/ip': '2001:db8::2', '0/ipv4/1': '10.0.0.9', '0/ipv4/0': '10.0.0.8' })
      .map((a) => `${a.device}/${a.family}/${a.address}`))
      .toEqual(['0/4/10.0.0.8', '0/4/10.0.0.9', '0/6/2001:db8::2', '0/6/2001:db8::1', '1/4/192.0.2.1']);
    expect(guestAddresses({ '0/ip': '10.0.0.2', '0/ipv4/0': '10.0.0.2' })).toHaveLength(1);
  });

  it.each([['fe80::1', true], ['fe9a::1', true], ['fec0::1', false], ['169.254.10.1', true], ['169.25.1.1', false], ['::1', false], ['10.0.0.1', false]])(
    'isLinkLocal(%s) = %s', (ip, ll) => { expect(isLinkLocal(ip)).toBe(ll); });
});

describe('versions, OS name, domain type', () => {
  it.each([
    [{ major: '9', minor: '1', micro: '-1', build: '5' }, '9.1'],
    [{ major: 9, minor: 1, micro: -1 }, '9.1'],
    [{ major: '7', minor: '1', micro: '0', build: '1020' }, '7.1.0.1020'],
    [{ major: 9, minor: 4, micro: 0, build: 12 }, '9.4.0.12'],
    [{ major: '9', minor: '1' }, '9.1'],
    [{ major: '9' }, null],
    [{}, null],
    [undefined, null],
  ] as [Record<string, unknown> | undefined, string | null][])('driversVersion(%j) = %s', (v, s) => {
    expect(driversVersion(v)).toBe(s);
  });

  it.each([
    ['Microsoft Windows Server 2016 Standard|C:\\Windows|\\Device\\Harddisk0\\Partition2', 'Microsoft Windows Server 2016 Standard'],
    ['CentOS release 6.10 (Final)', 'CentOS release 6.10 (Final)'],
    ['', null], [undefined, null],
  ])('osCaption(%j) = %s', (n, c) => { expect(osCaption(n)).toBe(c); });

  it.each([
    [{ HVM_boot_policy: 'BIOS order' }, 'hvm'], [{ HVM_boot_policy: '' }, 'pv'],
    [{ domain_type: 'pvh', HVM_boot_policy: 'BIOS order' }, 'pvh'], [{ domain_type: 'unspecified', HVM_boot_policy: '' }, 'pv'],
    [{}, 'unspecified'],
  ] as [Pick<VmRecord, 'domain_type' | 'HVM_boot_policy'>, string][])('effectiveDomainType(%j) = %s', (vm, d) => {
    expect(effectiveDomainType(vm)).toBe(d);
  });
});

describe('facts from a pre-7.5 record', () => {
  const vm = {
    uuid: 'u', name_label: 'w', power_state: 'Running', is_a_template: false, is_a_snapshot: false, is_control_domain: false,
    HVM_boot_policy: 'BIOS order', metrics: 'OpaqueRef:NULL', guest_metrics: 'OpaqueRef:g',
  } as unknown as VmRecord;
  const gm = {
    PV_drivers_detected: true, PV_drivers_version: { major: '9', minor: '1', micro: '-1' }, other: {},
    os_version: { name: 'Windows 10 Pro|C:\\Windows|\\Device\\Harddisk0\\Partition2' },
    networks: { '0/ipv6/0': 'fe80::2', '0/ip': '10.0.0.5' }, last_updated: '20190113T19:40:34Z',
  } as unknown as GuestMetricsRecord;

  it('mode, version, caption and address follow the rules; missing lists default', () => {
    expect(factsFromRecords('OpaqueRef:v', vm, undefined, gm)).toMatchObject({
      domain_type: 'hvm', virtualization_mode: 'PVHVM', pv_drivers_version: '9.1', os_name: 'Windows 10 Pro',
      address: '10.0.0.5', ips: ['10.0.0.5', 'fe80::2'], tags: [], allowed_operations: [], has_vendor_device: false,
    });
  });

  it('a partial record names what it lacks', () => {
    expect(vmRecordProblems(vm)).toEqual([]);
    expect(vmRecordProblems({ uuid: 'u', name_label: 'x', is_a_template: false })).toEqual(['power_state', 'is_a_snapshot', 'is_control_domain']);
    expect(vmRecordProblems(null)).toEqual(['not a record']);
  });
});
