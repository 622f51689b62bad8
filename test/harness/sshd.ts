/**
 * Test helpers around src/lab/sshd.ts: suites that need a real sshd are skipped, with the reason
 * printed, on machines without OpenSSH (CI installs openssh-server so they run there).
 */
import { describe } from 'vitest';
import { hasSshd, startSshd, type SshdHandle, type SshdOptions } from '../../src/lab/sshd.js';

export { hasSshd, startSshd, type SshdHandle, type SshdOptions };

const reason = '/usr/sbin/sshd (openssh-server) or ssh-keygen is missing';

/** `describe` that is skipped, with a printed reason, when sshd is not installed. */
export function describeWithSshd(name: string, fn: () => void): void {
  if (!hasSshd()) console.warn(`skipping "${name}": ${reason}`);
  describe.skipIf(!hasSshd())(name, fn);
}
