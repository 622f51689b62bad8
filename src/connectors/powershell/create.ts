/**
 * Building the Windows connectors from an inventory host. The team lead's connectors/factory.ts
 * can delegate its 'ssh-powershell' and 'psremoting' cases here.
 */
import type { HostSpec } from '../../model/inventory.js';
import { err, ok, type Result } from '../../util/result.js';
import { SshConnector, type SshConnectorOptions } from '../ssh/connector.js';
import { resolveSsh, type ResolveSecret } from '../ssh/options.js';
import { SshPowerShellConnector } from './ssh-powershell.js';

export interface CreateSshPowerShellOptions extends SshConnectorOptions {
  resolveSecret: ResolveSecret;
  env?: NodeJS.ProcessEnv;
  /** default `powershell` */
  executable?: string;
}

export function createSshPowerShell(
  host: HostSpec, opts: CreateSshPowerShellOptions,
): Result<{ connector: SshPowerShellConnector; warnings: string[] }, string> {
  const conn = host.connection;
  if (conn.type !== 'ssh-powershell') return err(`${host.name}: connection type is '${conn.type}', not 'ssh-powershell'`);
  if (conn.become_password) return err(`${host.name}: become_password has no meaning for ssh-powershell`);
  const r = resolveSsh(host.name, conn, opts.resolveSecret, opts.env ?? process.env);
  if (!r.ok) return err(`${host.name}: ${r.error}`);
  const warnings: string[] = [];
  if (r.value.hostKeyPolicy === 'off') {
    warnings.push(`${host.name}: host key checking is OFF (host_key_checking: off); the SSH server is not authenticated`);
  }
  const { resolveSecret: _r, env: _e, executable, ...sshOpts } = opts;
  const ssh = new SshConnector(host.name, r.value, sshOpts);
  const ps = new SshPowerShellConnector(ssh, {
    ...(executable ? { executable } : {}),
    ...(opts.checkMode ? { checkMode: true } : {}),
  });
  return ok({ connector: ps, warnings });
}
