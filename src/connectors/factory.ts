/**
 * Builds the guest transport for a host from its merged connection settings. Configuration
 * problems (bad proxy_jump, unreadable key, unresolvable secret) are reported here, before any
 * connection; warnings (host key checking off) are returned for the caller to print every run.
 */
import type { HostSpec } from '../model/inventory.js';
import { err, ok, type Result } from '../util/result.js';
import { SshConnector, type SshConnectorOptions } from './ssh/connector.js';
import { resolveSsh, type ResolveSecret } from './ssh/options.js';
import type { Connector } from './types.js';
import { createPsRemoting, createSshPowerShell } from './powershell/create.js';
import type { PwshPool } from './powershell/pool.js';
import { inMode, type TransportMode } from './check-gate.js';

export interface CreateConnectorOptions extends SshConnectorOptions {
  resolveSecret: ResolveSecret;
  /** defaults to process.env (SSH_AUTH_SOCK) */
  env?: NodeJS.ProcessEnv;
  /** the run's pool of local pwsh processes, for psremoting hosts (created on first use) */
  pwshPool?: () => PwshPool;
  /** 'check': the connector is made behind the check gate (connectors/check-gate.ts); default 'apply' */
  mode?: TransportMode;
}

export interface CreatedConnector {
  connector: Connector;
  warnings: string[];
}

export function createConnector(host: HostSpec, opts: CreateConnectorOptions): Result<CreatedConnector, string> {
  const conn = host.connection;
  switch (conn.type) {
    case 'ssh': {
      const r = resolveSsh(host.name, conn, opts.resolveSecret, opts.env ?? process.env);
      if (!r.ok) return err(`${host.name}: ${r.error}`);
      const warnings: string[] = [];
      if (r.value.hostKeyPolicy === 'off') {
        warnings.push(`${host.name}: host key checking is OFF (host_key_checking: off); the SSH server is not authenticated`);
      }
      const { resolveSecret: _r, env: _e, pwshPool: _p, mode, ...sshOpts } = opts;
      return ok({ connector: inMode(new SshConnector(host.name, r.value, sshOpts), mode), warnings });
    }
    case 'none':
      return err(`${host.name}: connection type is 'none'; this host has no guest transport`);
    case 'ssh-powershell': {
      // Windows OpenSSH runs `powershell`; a host var can name another (the lab's Linux guests run `pwsh`).
      const exe = host.vars['powershell_executable'];
      const { resolveSecret, env, pwshPool: _p, mode, ...sshOpts } = opts;
      return createSshPowerShell(host, { ...sshOpts, resolveSecret, ...(env ? { env } : {}), ...(typeof exe === 'string' ? { executable: exe } : {}), ...(mode ? { mode } : {}) });
    }
    case 'psremoting': {
      if (!opts.pwshPool) return err(`${host.name}: psremoting needs a local PowerShell pool`);
      return createPsRemoting(host, { resolveSecret: opts.resolveSecret, pool: opts.pwshPool(), ...(opts.mode ? { mode: opts.mode } : {}) });
    }
  }
}
