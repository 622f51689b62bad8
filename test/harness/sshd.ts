/**
 * Test helpers around src/lab/sshd.ts: suites that need a real sshd are skipped, with the reason
 * printed, on machines without OpenSSH; under CI they fail instead (test/harness/require.ts).
 */
import { hasSshd, startSshd, type SshdHandle, type SshdOptions } from '../../src/lab/sshd.js';
import { describeUnless } from './require.js';

export { hasSshd, startSshd, type SshdHandle, type SshdOptions };

const reason = '/usr/sbin/sshd (openssh-server) or ssh-keygen is missing';

/** `describe` that needs sshd: skipped with the reason by hand, failing under CI, without it. */
export function describeWithSshd(name: string, fn: () => void): void {
  describeUnless(hasSshd() ? undefined : reason)(name, fn);
}
