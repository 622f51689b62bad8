/**
 * Shared by the QEMU tests: why they cannot run here (missing binaries, not root), and a
 * strict-host-key SSH exec into a QEMU guest.
 */
import { firstReason, requireBinary, requireRoot } from '../harness/require.js';
import { IMAGE_TOOLS } from '../../src/lab/qemu/image.js';

export function qemuSkipReason(): string | undefined {
  return firstReason(
    requireRoot('building the QEMU guest image (mmdebstrap) and the lab'),
    requireBinary('qemu-system-x86_64', 'apt-get install qemu-system-x86'),
    ...IMAGE_TOOLS.map((t) => requireBinary(t, 'apt-get install mmdebstrap e2fsprogs qemu-utils')),
    requireBinary('xorriso', 'the lab tools ISO'),
    requireBinary('ssh-keygen'),
  );
}

/** Poll `cond` until it holds or `ms` pass (generous bounds: TCG on a loaded 2-core machine). */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms / 1000}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
