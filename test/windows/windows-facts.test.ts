import { describe, expect, it } from 'vitest';
import { normalizeMac, parseWindowsFacts } from '../../src/facts/windows.js';

const emulatedNic = {
  name: 'Ethernet', description: 'Realtek RTL8139C+ Fast Ethernet NIC', mac: '00-16-3E-AA-BB-01', ifIndex: 4,
  status: 'Up', pnpDeviceId: 'PCI\\VEN_10EC&DEV_8139&SUBSYS_00011AF4\\3&267A616A&0&18', dhcp: 'Disabled',
  addresses: [{ ip: '10.0.0.5', prefix: 24, origin: 'Manual' }], gateways: ['10.0.0.1'], dns: ['10.0.0.2', '10.0.0.3'],
};
const pvNic = {
  name: 'Ethernet 2', description: 'XenServer PV Network Device #0', mac: '00-16-3E-AA-BB-01', ifIndex: 7,
  status: 'Up', pnpDeviceId: 'XENVIF\\VEN_XSC000&DEV_NET&REV_09000000\\0', dhcp: 'Enabled',
  addresses: [{ ip: '169.254.10.10', prefix: 16, origin: 'WellKnown' }], gateways: [], dns: [],
};

describe('parseWindowsFacts (table)', () => {
  it.each([
    {
      name: 'plain HVM guest, emulated NIC with a static IP, no tools',
      raw: {
        os: { caption: 'Microsoft Windows Server 2022 Standard', version: '10.0.20348', build: '20348', edition: 'ServerStandard', lastBootUpTime: '2026-11-26T08:00:00.0000000Z' },
        pvDevices: [], services: [], products: [], adapters: [emulatedNic], ghostAdapters: [], pendingReboot: [], errors: [],
      },
      expect: {
        lastBootUpTime: '2026-11-26T08:00:00.0000000Z',
        pv: { platformDevice: false, xenbus: false, xenvif: false, xenvbd: false },
        adapters: [{ mac: '00:16:3e:aa:bb:01', xenvif: false, ipConfig: 'static', gateways: ['10.0.0.1'], dns: ['10.0.0.2', '10.0.0.3'] }],
        pendingReboot: false,
      },
    },
    {
      name: 'after the driver install: PV devices, the old NIC is a ghost, the new one has DHCP, reboot pending',
      raw: {
        os: { caption: 'Microsoft Windows Server 2019', version: '10.0.17763', build: '17763', edition: null, lastBootUpTime: '2026-11-26T09:00:00Z' },
        pvDevices: [
          { instanceId: 'PCI\\VEN_5853&DEV_0002&SUBSYS_00025853&REV_02\\3&267A616A&0&10', friendlyName: 'XenServer PV Bus', class: 'System', present: true, status: 'OK' },
          { instanceId: 'XENBUS\\VEN_XSC000&DEV_VIF&REV_09000000\\0', friendlyName: 'XenServer PV Network Class', class: 'System', present: true, status: 'OK' },
          { instanceId: 'XENVIF\\VEN_XSC000&DEV_NET&REV_09000000\\0', friendlyName: 'XenServer PV Network Device #0', class: 'Net', present: true, status: 'OK' },
          { instanceId: 'XENVBD\\OLD', friendlyName: 'old disk', class: 'DiskDrive', present: false, status: 'Unknown' },
        ],
        services: [{ name: 'xenbus', displayName: 'XenBus', status: 'Running', startType: 'Boot' }],
        // ConvertTo-Json in Windows PowerShell 5.1 may give a one-element list as the element itself
        products: { name: 'XCP-ng Windows PV Drivers', version: '9.0.9000', publisher: 'Vates', productCode: '{ABC}' },
        adapters: [pvNic],
        ghostAdapters: [{ instanceId: 'PCI\\VEN_10EC&DEV_8139\\3&267A616A&0&18', friendlyName: 'Realtek RTL8139C+ Fast Ethernet NIC' }],
        pendingReboot: ['component-based-servicing'],
        errors: ['services: access denied'],
      },
      expect: {
        pv: { platformDevice: true, xenbus: true, xenvif: true, xenvbd: false },
        products: [{ name: 'XCP-ng Windows PV Drivers', version: '9.0.9000' }],
        adapters: [{ mac: '00:16:3e:aa:bb:01', xenvif: true, ipConfig: 'dhcp' }],
        ghostAdapters: [{ friendlyName: 'Realtek RTL8139C+ Fast Ethernet NIC' }],
        pendingReboot: true,
        pendingRebootReasons: ['component-based-servicing'],
        errors: ['services: access denied'],
        os: { edition: null },
      },
    },
    {
      name: 'everything missing: os section failed, nothing else',
      raw: { os: null, errors: ['os: Get-CimInstance failed'] },
      expect: { lastBootUpTime: null, adapters: [], services: [], products: [], pendingReboot: false, os: { caption: '' } },
    },
    {
      name: 'DHCP unknown falls back to the address origin',
      raw: { adapters: [{ ...emulatedNic, dhcp: '' }, { ...emulatedNic, dhcp: '', addresses: [{ ip: '10.1.1.1', prefix: 8, origin: 'Dhcp' }] }, { ...emulatedNic, dhcp: '', addresses: [] }] },
      expect: { adapters: [{ ipConfig: 'static' }, { ipConfig: 'dhcp' }, { ipConfig: 'unknown' }] },
    },
  ])('$name', ({ raw, expect: want }) => {
    const r = parseWindowsFacts(raw);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.value).toMatchObject(want);
  });

  it('rejects what is not an object', () => {
    expect(parseWindowsFacts('nope').ok).toBe(false);
    expect(parseWindowsFacts([1]).ok).toBe(false);
    expect(parseWindowsFacts(null).ok).toBe(false);
  });

  it.each([
    ['00-16-3E-AA-BB-01', '00:16:3e:aa:bb:01'],
    ['00163eaabb01', '00:16:3e:aa:bb:01'],
    ['00:16:3e:AA:bb:01', '00:16:3e:aa:bb:01'],
    ['weird', 'weird'],
  ])('normalizeMac(%s)', (input, want) => expect(normalizeMac(input)).toBe(want));
});
