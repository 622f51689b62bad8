import { describe, expect, it } from 'vitest';
import { bootIdCommand, factsScript, osFamily, parseGuestFacts } from '../../../src/facts/linux.js';

const rocky = `osr.NAME="Rocky Linux"
osr.VERSION="9.3 (Blue Onyx)"
osr.ID="rocky"
osr.ID_LIKE="rhel centos fedora"
osr.VERSION_ID="9.3"
osr.PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"
pm=dnf
pm=yum
init=systemd
boot_id=0b4c1f0e-1111-2222-3333-444455556666
hypervisor=xen
pkg=xe-guest-utilities-latest 8.4.0-1.el9
svc=xe-linux-distribution
active=xe-linux-distribution
daemon=yes
`;

const ubuntu = `osr.NAME="Ubuntu"
osr.VERSION_ID="22.04"
osr.ID=ubuntu
osr.ID_LIKE=debian
osr.PRETTY_NAME="Ubuntu 22.04.4 LTS"
pm=apt-get
init=systemd
boot_id=abc
hypervisor=
dpkg=xe-guest-utilities 7.20.2-0ubuntu1 rc
svc=xe-daemon
`;

describe('parseGuestFacts', () => {
  it('Rocky 9 with the agent installed and running', () => {
    expect(parseGuestFacts(rocky)).toEqual({
      os: { family: 'redhat', distribution: 'rocky', version: '9.3', major: '9', pretty_name: 'Rocky Linux 9.3 (Blue Onyx)' },
      package_manager: 'dnf',
      init: 'systemd',
      boot_id: '0b4c1f0e-1111-2222-3333-444455556666',
      hypervisor: 'xen',
      tools: {
        installed: true, package: 'xe-guest-utilities-latest', version: '8.4.0-1.el9',
        services: ['xe-linux-distribution'], service: 'xe-linux-distribution', service_active: true, daemon: true,
      },
    });
  });

  it('Ubuntu with the package removed but config left (rc) is not installed', () => {
    const f = parseGuestFacts(ubuntu);
    expect(f.os.family).toBe('debian');
    expect(f.package_manager).toBe('apt');
    expect(f.hypervisor).toBeNull();
    expect(f.tools).toMatchObject({ installed: false, package: null, services: ['xe-daemon'], service: 'xe-daemon', service_active: false });
  });

  it('dpkg "ii" counts as installed', () => {
    const f = parseGuestFacts(ubuntu.replace(' rc', ' ii '));
    expect(f.tools).toMatchObject({ installed: true, package: 'xe-guest-utilities', version: '7.20.2-0ubuntu1' });
  });

  // seen in CI (crash test, seed 44548): pvrun killed while install.sh ran dpkg -i, dpkg ended
  // between "Unpacking" and "Setting up", the daemon binary on disk, the package iU; the resumed
  // run read "installed", skipped the installer and failed verify
  it.each([['iU'], ['iF'], ['iH']])('dpkg "%s" (an installer stopped half-way) is not installed, even with the daemon binary on disk', (st) => {
    const f = parseGuestFacts(`${ubuntu.replace(' rc', ` ${st} `)}daemon=yes\n`);
    expect(f.tools).toMatchObject({ installed: false, package: null, daemon: true });
  });

  it('the daemon binary with no package record still counts as installed', () => {
    expect(parseGuestFacts(`${ubuntu.replace(/^dpkg=.*$/m, '')}daemon=yes\n`).tools).toMatchObject({ installed: true, package: null, daemon: true });
  });

  it('empty output gives unknown facts rather than throwing', () => {
    const f = parseGuestFacts('');
    expect(f.os.family).toBe('unknown');
    expect(f.package_manager).toBeNull();
    expect(f.init).toBe('sysv');
  });

  it.each([
    ['centos', '', 'redhat'], ['almalinux', 'rhel centos fedora', 'redhat'], ['ol', 'fedora', 'redhat'],
    ['fedora', '', 'redhat'], ['debian', '', 'debian'], ['linuxmint', 'ubuntu debian', 'debian'],
    ['opensuse-leap', 'suse opensuse', 'suse'], ['sles', '', 'suse'], ['alpine', '', 'alpine'], ['arch', '', 'unknown'],
  ])('os family of %s (%s) is %s', (id, like, fam) => {
    expect(osFamily(id, like)).toBe(fam);
  });

  it('the boot id path comes from the host var boot_id_path, quoted', () => {
    const host = { name: 'h', vars: { boot_id_path: "/tmp/my boot'id" } } as never;
    expect(bootIdCommand(host)).toBe(`cat '/tmp/my boot'\\''id'`);
    expect(bootIdCommand()).toBe('cat /proc/sys/kernel/random/boot_id');
    expect(factsScript(host)).toContain(bootIdCommand(host));
  });
});
