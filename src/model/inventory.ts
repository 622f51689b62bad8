import type { SecretRef } from './secret.js';
import type { SourcePos } from './source.js';

export type ConnectionType = 'ssh' | 'psremoting' | 'ssh-powershell' | 'none';
export type HostKeyPolicy = 'strict' | 'accept-new' | 'off';

/** How pvrun reaches the guest OS of a host. Merged group → child group → host. */
export interface ConnectionSpec {
  type: ConnectionType;
  address?: string;
  port?: number;
  user?: string;
  /** private key file path */
  key?: string;
  passphrase?: SecretRef;
  password?: SecretRef;
  /** use ssh-agent (SSH_AUTH_SOCK) — default true when the variable is set */
  agent?: boolean;
  host_key_checking?: HostKeyPolicy;
  known_hosts?: string;
  /** user@host:port of a jump host */
  proxy_jump?: string;
  become_password?: SecretRef;
  /** psremoting only */
  transport?: 'wsman' | 'ssh';
  https?: boolean;
  connect_timeout?: number;
}

/** Which VM a host is, on which pool. Exactly one of uuid / name_label. */
export interface VmSelector {
  pool: string;
  uuid?: string;
  name_label?: string;
}

export interface HypervisorTls {
  /** PEM CA bundle path */
  ca?: string;
  /** SHA-256 fingerprint of the pool master's certificate, hex with or without colons */
  fingerprint?: string;
  /** explicit opt-out of verification; warned about on every run */
  insecure?: boolean;
}

/** Connection settings for one pool (its master's URL). */
export interface HypervisorSpec {
  name: string;
  url: string;
  username: string | SecretRef;
  password: SecretRef;
  tls: HypervisorTls;
  pos: SourcePos;
}

export interface GroupSpec {
  name: string;
  children: string[];
  hosts: string[];
  vars: Record<string, unknown>;
  connection: Partial<ConnectionSpec>;
  /** dynamic group filled from a pool (`source: xapi`) */
  source?: { kind: 'xapi'; pool: string; missing_tools?: boolean; tag?: string; name?: string };
  pos: SourcePos;
}

export interface HostSpec {
  name: string;
  /** host vars only; group vars are merged at plan time by precedence */
  vars: Record<string, unknown>;
  /** fully merged (group → child group → host) connection settings */
  connection: ConnectionSpec;
  vm?: VmSelector;
  /** every group the host is in, transitively (parents included), plus 'all' */
  groups: string[];
  pos: SourcePos;
}

export interface Inventory {
  files: string[];
  hypervisors: Record<string, HypervisorSpec>;
  groups: Record<string, GroupSpec>;
  hosts: Record<string, HostSpec>;
}
