/** playbooks/linux-tools-online.yml in the lab: the network path on both package families. */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeUnless } from '../harness/require.js';
import { LINUX_TOOLS_ONLINE, labSkipReason, pvrun, pvrunSnapshots, recapOutcomes, startLab } from './harness.js';
import { sshExec } from '../lab/helpers.js';

const skip = labSkipReason();

describeUnless(skip)('linux-tools-online.yml in the lab', () => {
  it('installs from the repositories on Debian/Ubuntu and RHEL-family guests, and verifies', async () => {
    const l = await startLab([
      { name: 'deb-01', distro: 'debian', version: '12' },
      { name: 'ubu-01', distro: 'ubuntu', version: '22.04' },
      { name: 'rhel-01', distro: 'rocky', version: '9' },
      { name: 'rhel-02', distro: 'alma', version: '8' },
    ], 'online');
    try {
      const r = await pvrun([LINUX_TOOLS_ONLINE, '-i', l.inventory, '--state-dir', join(l.dir, 'pvrun')]);
      expect(recapOutcomes(r.out), r.out).toEqual({ 'deb-01': 'changed', 'ubu-01': 'changed', 'rhel-01': 'changed', 'rhel-02': 'changed' });
      expect(r.code).toBe(0);
      // each VM keeps its restore point (keep_snapshot: 7d)
      expect(pvrunSnapshots(l.lab)).toHaveLength(4);
      // the package names the manual gives per family
      for (const name of ['rhel-01', 'rhel-02']) {
        // EPEL was enabled first (the package is only there), then the package installed
        const rh = await sshExec(l.lab.guests.info(name)!, 'rpm -q epel-release && rpm -q xe-guest-utilities-latest');
        expect(rh.code, rh.stdout + rh.stderr).toBe(0);
      }
      const deb = await sshExec(l.lab.guests.info('deb-01')!, "dpkg-query -W -f='${Status}' xe-guest-utilities");
      expect(deb.stdout).toContain('install ok installed');
    } finally {
      await l.lab.stop();
      rmSync(l.dir, { recursive: true, force: true });
    }
  }, 300_000);
});
