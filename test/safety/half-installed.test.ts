/**
 * A tools package an installer left half-installed. Seen in CI (crash test, seed 44548): pvrun
 * killed while install.sh ran `dpkg -i`; the closed channel ended dpkg between "Unpacking" and
 * "Setting up", leaving the package `iU` with its files — the daemon binary among them — on
 * disk. The resumed run read `tools.installed` true, skipped the installer and failed verify.
 * Here the same state is made on purpose (dpkg's own status record set to "unpacked", dpkg(1)
 * "Package states") on a lab guest with the agent stopped, and the real CLI runs linux-tools.yml:
 * the installer must run again (`dpkg -i` completes the package) and the VM end verified.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeUnless } from '../harness/require.js';
import { LINUX_TOOLS, pvrun, recapOutcomes, startLab, type StartedLab } from '../e2e/harness.js';
import { labSkipReason, sshExec } from '../lab/helpers.js';
import { agentDetected } from '../../src/hypervisor/vm-facts.js';
import type { GuestMetricsRecord } from '../../src/hypervisor/records.js';

const skip = labSkipReason();

describeUnless(skip)('linux-tools.yml on a VM whose tools package an installer left half-installed (dpkg iU)', () => {
  let l: StartedLab;
  let run: Awaited<ReturnType<typeof pvrun>>;
  const vm = 'deb-half';
  const sh = async (cmd: string) => {
    const r = await sshExec(l.lab.guests.info(vm)!, cmd);
    return { code: r.code, out: r.stdout + r.stderr };
  };
  const detected = (): boolean => {
    const ref = String(l.lab.sim.vm(vm).rec['guest_metrics']);
    return agentDetected(l.lab.sim.record('VM_guest_metrics', ref) as unknown as GuestMetricsRecord | undefined);
  };
  const waitFor = async (what: string, cond: () => boolean, ms = 60_000): Promise<void> => {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  beforeAll(async () => {
    l = await startLab([{ name: vm, distro: 'ubuntu', version: '22.04', toolsInstalled: true }], 'half');
    await waitFor('the preinstalled agent to report', detected);
    expect(await sh('systemctl stop xe-linux-distribution && systemctl disable xe-linux-distribution')).toMatchObject({ code: 0 });
    // what dpkg records after "Unpacking" when it is stopped before "Setting up"
    expect(await sh("sed -i '/^Package: xe-guest-utilities$/,/^$/ s/^Status: install ok installed$/Status: install ok unpacked/' /var/lib/dpkg/status && dpkg-query -W -f='${db:Status-Abbrev}' xe-guest-utilities"))
      .toEqual({ code: 0, out: 'iU ' });
    expect((await sh('test -x /usr/sbin/xe-daemon')).code).toBe(0);
    await waitFor('the stopped agent to go stale in XAPI', () => !detected());
    run = await pvrun([LINUX_TOOLS, '-i', l.inventory, '--state-dir', join(l.dir, 'pvrun')]);
  }, 300_000);
  afterAll(async () => {
    await l?.lab.stop();
    if (l) rmSync(l.dir, { recursive: true, force: true });
  });

  it('the installer runs again instead of being skipped, and the VM ends verified: exit 0, not rolled back', () => {
    expect(run.out).toMatch(new RegExp(`${vm} \\[run the installer\\] changed`));
    expect(recapOutcomes(run.out)).toEqual({ [vm]: 'changed' });
    expect(run.code).toBe(0);
    expect(run.out).not.toMatch(/rollback|reverted/i);
  });

  it('dpkg holds the package fully installed afterwards, and the agent runs', async () => {
    expect(await sh("dpkg-query -W -f='${db:Status-Abbrev}' xe-guest-utilities")).toEqual({ code: 0, out: 'ii ' });
    expect(await sh('systemctl is-active xe-linux-distribution')).toEqual({ code: 0, out: 'active\n' });
  });
});
