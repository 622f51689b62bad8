/**
 * Issue 15: a lab process that dies without stopping its QEMU VMs (SIGKILL: no handler runs)
 * does not leave QEMU processes running on the machine. Fails without `setpriv --pdeathsig`
 * in src/lab/qemu/vm.ts: QEMU went on running (reparented to init) after its parent's death.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { describeUnless } from '../harness/require.js';
import { qemuSkipReason, waitFor } from './helpers.js';

const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
/** the process's state letter from /proc (a zombie has exited; only its parent has not reaped it) */
const running = (pid: number) => {
  if (!alive(pid)) return false;
  try { return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { return false; }
};

describeUnless(qemuSkipReason())('QEMU guests of a killed lab process', () => {
  it('die with it: SIGKILL the process that started QEMU, and QEMU is gone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvrun-qemu-orphan-'));
    let qemuPid = 0;
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'orphan-vm.ts'), dir],
        { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let errText = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; });
      child.stderr.setEncoding('utf8').on('data', (s: string) => { errText += s; });
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      // the image may have to be built first (minutes on a loaded machine)
      await waitFor('the fixture to start QEMU', () => /qemu-pid \d+/.test(out) || child.exitCode !== null, 1_200_000);
      const m = /qemu-pid (\d+)/.exec(out);
      expect(m, `fixture output: ${out} ${errText}`).not.toBeNull();
      qemuPid = Number(m![1]);
      expect(running(qemuPid)).toBe(true);
      expect(readFileSync(`/proc/${qemuPid}/cmdline`, 'utf8').split('\0')[0]).toBe('qemu-system-x86_64');
      child.kill('SIGKILL');
      await exited;
      // the kernel delivers the parent-death signal at once; the bound is for a loaded machine
      const end = Date.now() + 30_000;
      while (running(qemuPid) && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
      expect(running(qemuPid)).toBe(false);
    } finally {
      if (qemuPid && running(qemuPid)) process.kill(qemuPid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 1_500_000);
});
