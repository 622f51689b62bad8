/** Pure pieces of the Windows support, as tables: no pwsh needed. */
import { describe, expect, it } from 'vitest';
import { commandLine, MAX_COMMAND_CHARS, takeExitMarker } from '../../src/connectors/powershell/wrap.js';
import { classifyOpenFailure } from '../../src/connectors/powershell/pool.js';
import { sessionSpecOf } from '../../src/connectors/powershell/psremoting.js';
import { decodeCommand } from '../../src/util/ps-quote.js';
import { parseWindowsFacts, type WindowsFacts } from '../../src/facts/windows.js';
import { captureNics, describePlan, planNeedsChange, planNicRestore } from '../../src/steps/windows/nic-plan.js';
import { xenCleanOutcome } from '../../src/steps/windows/citrix-cleanup.js';
import { findProduct, msiScript } from '../../src/steps/windows/msi-install.js';
import type { ConnectionSpec } from '../../src/model/inventory.js';

describe('command line', () => {
  it('small scripts go in -EncodedCommand, nothing on stdin', () => {
    const c = commandLine('powershell', "'hi'");
    expect(c.command).toMatch(/^powershell -NoProfile -NonInteractive -OutputFormat Text -EncodedCommand [A-Za-z0-9+/=]+$/);
    expect(c.stdin).toBeUndefined();
    expect(decodeCommand(c.command.split(' ').pop()!)).toContain("'''hi'''");
  });
  it('large scripts go through stdin, behind a fixed bootstrap, followed by the caller\'s stdin', () => {
    const c = commandLine('pwsh', 'x'.repeat(10_000), 'user input');
    expect(c.command.length).toBeLessThanOrEqual(MAX_COMMAND_CHARS);
    const [first, rest] = [c.stdin!.toString().split('\n')[0]!, c.stdin!.toString().split('\n').slice(1).join('\n')];
    expect(Buffer.from(first, 'base64').toString('utf8')).toContain('x'.repeat(10_000));
    expect(rest).toBe('user input');
  });
  it.each([
    ['a\u001epvrun-exit 3010\n', 'a', 3010],
    ['\u001epvrun-exit -1073741819\n', '', -1073741819],
    ['no marker', 'no marker', null],
  ])('takeExitMarker(%j)', (input, stderr, code) => expect(takeExitMarker(input)).toEqual({ stderr, exitCode: code }));
});

describe('psremoting settings and failures', () => {
  const base: ConnectionSpec = { type: 'psremoting' };
  it.each([
    [{ ...base, transport: 'ssh', user: 'admin', key: '/k', address: 'w1' }, { ok: true, value: { transport: 'ssh', port: 22, strictHostKeyChecking: 'yes', key: '/k' } }],
    [{ ...base, transport: 'ssh', user: 'admin', host_key_checking: 'accept-new' }, { ok: true, value: { strictHostKeyChecking: 'accept-new' } }],
    [{ ...base, transport: 'ssh', user: 'a', password: { env: 'P' } }, { ok: false }],
    [{ ...base, user: 'Administrator', password: { env: 'P' } }, { ok: true, value: { transport: 'wsman', https: true, port: 5986 } }],
    [{ ...base, user: 'Administrator', password: { env: 'P' }, https: false }, { ok: true, value: { https: false, port: 5985 } }],
    [{ ...base, user: 'Administrator' }, { ok: false }],
  ] as [ConnectionSpec, object][])('%j', (conn, want) => {
    expect(sessionSpecOf('w1', conn)).toMatchObject(want);
  });
  it.each([
    ['root@127.0.0.1: Permission denied (publickey).', 'auth-failed'],
    ['Host key verification failed.', 'host-key-mismatch'],
    ['ssh: connect to host 127.0.0.1 port 1: Connection refused', 'unreachable'],
    ['ssh: connect to host 10.0.0.9 port 22: Connection timed out', 'timeout'],
    ['', undefined],
  ])('classifyOpenFailure(%j) = %s', (text, kind) => expect(classifyOpenFailure(text)).toBe(kind));
});

function facts(raw: object): WindowsFacts {
  const r = parseWindowsFacts(raw);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}
const staticNic = { name: 'Ethernet', description: 'Realtek', mac: '00-16-3E-00-00-01', ifIndex: 4, pnpDeviceId: 'PCI\\VEN_10EC', dhcp: 'Disabled',
  addresses: [{ ip: '10.0.0.5', prefix: 24, origin: 'Manual' }, { ip: '169.254.1.1', prefix: 16, origin: 'WellKnown' }], gateways: ['10.0.0.1'], dns: ['10.0.0.2'] };
const dhcpNic = { ...staticNic, name: 'Ethernet 3', mac: '00-16-3E-00-00-03', dhcp: 'Enabled', addresses: [{ ip: '10.9.0.5', prefix: 24, origin: 'Dhcp' }] };
const pvNic = (o: object = {}) => ({ name: 'Ethernet 2', description: 'XenServer PV Network Device #0', mac: '00-16-3E-00-00-01', ifIndex: 7,
  pnpDeviceId: 'XENVIF\\VEN_XSC000&DEV_NET\\0', dhcp: 'Enabled', addresses: [], gateways: [], dns: [], ...o });
const ghost = { instanceId: 'PCI\\VEN_10EC&DEV_8139\\3&1', friendlyName: 'Realtek' };

describe('nic-migrate planning', () => {
  const captured = captureNics(facts({ adapters: [staticNic, dhcpNic] }));
  it('capture keeps static adapters only, without link-local leftovers', () => {
    expect(captured).toEqual([{ mac: '00:16:3e:00:00:01', name: 'Ethernet', description: 'Realtek', addresses: [{ ip: '10.0.0.5', prefix: 24 }], gateways: ['10.0.0.1'], dns: ['10.0.0.2'] }]);
    expect(captureNics(facts({ adapters: [staticNic] }), ['00:16:3E:00:00:09'])).toEqual([]);
  });
  it.each([
    { name: 'before the driver change: settings still on the old adapter, nothing to do', adapters: [staticNic], ghosts: [],
      kinds: ['waiting'], change: false, text: 'settings still on Ethernet' },
    { name: 'after: PV adapter on DHCP, ghost present → move and remove', adapters: [pvNic()], ghosts: [ghost],
      kinds: ['move'], change: true, text: '10.0.0.5/24, gateway 10.0.0.1, dns 10.0.0.2 -> Ethernet 2; remove 1 hidden adapter(s): Realtek' },
    { name: 'done already: in place, no ghosts', adapters: [pvNic({ dhcp: 'Disabled', addresses: [{ ip: '10.0.0.5', prefix: 24, origin: 'Manual' }], gateways: ['10.0.0.1'], dns: ['10.0.0.2'] })], ghosts: [],
      kinds: ['in-place'], change: false, text: 'already on Ethernet 2' },
    { name: 'half done: address there, DNS missing', adapters: [pvNic({ addresses: [{ ip: '10.0.0.5', prefix: 24, origin: 'Manual' }], gateways: ['10.0.0.1'] })], ghosts: [],
      kinds: ['move'], change: true, text: 'dns 10.0.0.2 -> Ethernet 2' },
    { name: 'a PV adapter with another MAC does not count', adapters: [pvNic({ mac: '00-16-3E-00-00-02' })], ghosts: [],
      kinds: ['waiting'], change: false, text: 'no PV adapter yet' },
  ])('$name', ({ adapters, ghosts, kinds, change, text }) => {
    const p = planNicRestore(captured, facts({ adapters, ghostAdapters: ghosts }));
    expect(p.actions.map((a) => a.kind)).toEqual(kinds);
    expect(planNeedsChange(p)).toBe(change);
    expect(describePlan(p)).toContain(text);
  });
});

describe('installer and clean-up codes', () => {
  it.each([
    // the real contract (v9.1+, without -onboard): 0 cleaned, 3 not run yet (reboot, run again);
    // 64/65/66 only exist with -onboard, which pvrun does not pass
    [0, 'cleaned'], [3, 'reboot-then-again'], [64, 'failed'], [65, 'failed'], [66, 'failed'], [1, 'failed'], [2, 'failed'], [null, 'failed'], [1234, 'failed'],
  ])('XenClean exit %s → %s', (code, kind) => expect(xenCleanOutcome(code).kind).toBe(kind));

  it('msi script quotes every value', () => {
    const s = msiScript({ path: "D:\\it's ‘x’.msi", properties: { ALLOWDRIVERINSTALL: 'YES', X: "a'b" } });
    expect(s).toContain("$msi = 'D:\\it''s ‘‘x’’.msi'");
    expect(s).toContain("$props = @('ALLOWDRIVERINSTALL=YES','X=a''b')");
    expect(s).toContain('& msiexec.exe /i $msi /qn /norestart /log $log @props | Out-Null');
  });

  it.each([
    ['xcp-ng windows pv', undefined, true],
    ['XCP-ng Windows PV Drivers', '>= 9.0', true],
    ['XCP-ng Windows PV Drivers', '>= 9.1', false],
    ['Citrix', undefined, false],
  ])('findProduct(%s, %s)', (name, version, found) => {
    const products = [{ name: 'XCP-ng Windows PV Drivers', version: '9.0.9065', publisher: 'Vates', productCode: '{A}' }];
    expect(findProduct(products, name, version) !== undefined).toBe(found);
  });
});
