import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SshdHandle } from '../../harness/sshd.js';
import type { ConnectionSpec, HostSpec } from '../../../src/model/inventory.js';
import type { SecretRef } from '../../../src/model/secret.js';
import { createConnector, type CreateConnectorOptions } from '../../../src/connectors/factory.js';
import { SshConnector } from '../../../src/connectors/ssh/connector.js';
import { err, ok, type Result } from '../../../src/util/result.js';

/** Secrets for tests: `{ env: NAME }` looked up in this map instead of the environment. */
export function secretsFrom(values: Record<string, string>) {
  return (ref: SecretRef): Result<string, string> => {
    const key = 'env' in ref ? ref.env : ref.file;
    const v = values[key];
    return v === undefined ? err(`no secret ${key}`) : ok(v);
  };
}

export function hostFor(sshd: SshdHandle, conn: Partial<ConnectionSpec> = {}, name = 'guest1'): HostSpec {
  return {
    name,
    vars: {},
    connection: {
      type: 'ssh', address: '127.0.0.1', port: sshd.port, user: sshd.user, key: sshd.clientKeyPath,
      agent: false, host_key_checking: 'strict', known_hosts: knownHostsFor(sshd), connect_timeout: 10,
      ...conn,
    },
    groups: ['all'],
    pos: { file: 'test', line: 1, col: 1 },
  };
}

/** A known_hosts file that already trusts this sshd. */
export function knownHostsFor(sshd: SshdHandle): string {
  const dir = mkdtempSync(join(tmpdir(), 'pvrun-kh-'));
  const path = join(dir, 'known_hosts');
  writeFileSync(path, sshd.knownHostsLine() + '\n');
  return path;
}

export function connectorFor(
  sshd: SshdHandle, conn: Partial<ConnectionSpec> = {}, opts: Partial<CreateConnectorOptions> = {},
): SshConnector {
  const r = createConnector(hostFor(sshd, conn), { resolveSecret: secretsFrom({}), ...opts });
  if (!r.ok) throw new Error(r.error);
  return r.value.connector as SshConnector;
}
