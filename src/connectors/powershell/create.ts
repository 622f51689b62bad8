/**
 * Building the Windows connectors from an inventory host. The team lead's connectors/factory.ts
 * can delegate its 'ssh-powershell' and 'psremoting' cases here.
 */
import type { HostSpec } from '../../model/inventory.js';
import { err, ok, type Result } from '../../util/result.js';
import { SshConnector, type SshConnectorOptions } from '../ssh/connector.js';
import { resolveSsh, type ResolveSecret } from '../ssh/options.js';
import { SshPowerShellConnector } from './ssh-powershell.js';
import { PsRemotingConnector, sessionSpecOf } from './psremoting.js';
import type { PwshPool } from './pool.js';
import { inMode, type TransportMode } from '../check-gate.js';

export interface CreateSshPowerShellOptions extends SshConnectorOptions {
  resolveSecret: ResolveSecret;
  env?: NodeJS.ProcessEnv;
  /** default `powershell` */
  executable?: string;
  /** 'check': made behind the check gate (connectors/check-gate.ts); default 'apply' */
  mode?: TransportMode;
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
  const { resolveSecret: _r, env: _e, executable, mode, ...sshOpts } = opts;
  // Windows OpenSSH runs commands with cmd.exe, not a POSIX shell: send the command line as it is.
  const ssh = new SshConnector(host.name, r.value, { ...sshOpts, remoteShell: 'raw' });
  const ps = new SshPowerShellConnector(ssh, executable ? { executable } : {});
  return ok({ connector: inMode(ps, mode), warnings });
}

export interface CreatePsRemotingOptions {
  resolveSecret: ResolveSecret;
  /** one pool for the whole run (shared by every psremoting host) */
  pool: PwshPool;
  /** 'check': made behind the check gate (connectors/check-gate.ts); default 'apply' */
  mode?: TransportMode;
  authentication?: string;
  subsystem?: string;
  sessionInit?: string;
}

export function createPsRemoting(
  host: HostSpec, opts: CreatePsRemotingOptions,
): Result<{ connector: PsRemotingConnector; warnings: string[] }, string> {
  const conn = host.connection;
  if (conn.type !== 'psremoting') return err(`${host.name}: connection type is '${conn.type}', not 'psremoting'`);
  const spec = sessionSpecOf(host.name, conn, opts);
  if (!spec.ok) return spec;
  const warnings: string[] = [];
  if (spec.value.transport === 'wsman' && !spec.value.https) {
    warnings.push(`${host.name}: WinRM over HTTP: the session is encrypted by the authentication protocol only`);
  }
  if (spec.value.transport === 'ssh' && spec.value.strictHostKeyChecking === 'no') {
    warnings.push(`${host.name}: host key checking is OFF (host_key_checking: off); the SSH server is not authenticated`);
  }
  const c = new PsRemotingConnector(host.name, spec.value, conn.password, {
    pool: opts.pool, resolveSecret: opts.resolveSecret,
    ...(opts.authentication ? { authentication: opts.authentication } : {}),
  });
  return ok({ connector: inMode(c, opts.mode), warnings });
}
