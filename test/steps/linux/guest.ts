/**
 * A "guest" for step tests: a real sshd (root, key auth) in its own mount namespace, so mounts
 * and the tmpfs laid over system directories (/etc/init.d, …) vanish with it and never touch
 * the machine running the tests.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSshd, type SshdHandle, type SshdOptions } from '../../harness/sshd.js';
import { hostFor } from '../../connectors/ssh/helpers.js';
import { createConnector } from '../../../src/connectors/factory.js';
import type { SshConnector } from '../../../src/connectors/ssh/connector.js';
import type { HostSpec } from '../../../src/model/inventory.js';
import { secretsFrom } from '../../connectors/ssh/helpers.js';

export interface TestGuest {
  sshd: SshdHandle;
  host: HostSpec;
  /** a connector as the engine would hold it */
  connector: SshConnector;
  /** a second connector built in check mode */
  checkConnector: SshConnector;
  bootIdFile: string;
  stop(): Promise<void>;
}

export async function startGuest(o: { tmpfs?: string[]; env?: Record<string, string>; sshd?: SshdOptions } = {}): Promise<TestGuest> {
  const setup = (o.tmpfs ?? []).map((d) => `mount -t tmpfs tmpfs ${d}`).join(' && ') || 'true';
  const sshd = await startSshd({
    wrap: ['unshare', '--mount', '--propagation', 'private', '/bin/sh', '-c', `${setup} && exec "$@"`, 'sh'],
    ...(o.env ? { env: o.env } : {}),
    ...o.sshd,
  });
  const bootIdFile = join(sshd.dir, 'boot_id');
  writeFileSync(bootIdFile, `${crypto.randomUUID()}\n`);
  const host = hostFor(sshd);
  host.vars['boot_id_path'] = bootIdFile;
  const mk = (checkMode: boolean) => {
    const r = createConnector(host, { resolveSecret: secretsFrom({}), mode: checkMode ? 'check' : 'apply' });
    if (!r.ok) throw new Error(r.error);
    return r.value.connector as SshConnector;
  };
  const connector = mk(false);
  const checkConnector = mk(true);
  return {
    sshd, host, connector, checkConnector, bootIdFile,
    async stop() {
      await connector.close();
      await checkConnector.close();
      await sshd.stop();
    },
  };
}
