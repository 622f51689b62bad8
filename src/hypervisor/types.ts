/**
 * The hypervisor side of a host as the steps see it. The XAPI client (src/hypervisor/xapi)
 * implements the transport; `VmHandle` is what a step gets from `ctx.vm()`.
 */
export interface XapiErrorValue {
  kind: 'xapi';
  /** XAPI error code, e.g. VM_BAD_POWER_STATE, HANDLE_INVALID, SR_FULL */
  code: string;
  params: string[];
  /** human text with the parameters explained */
  message: string;
}

export type HypervisorFailure =
  | XapiErrorValue
  | { kind: 'transport'; message: string }
  | { kind: 'tls'; message: string }
  | { kind: 'read-only'; method: string; message: string }
  | { kind: 'vm-not-found'; message: string }
  | { kind: 'vm-ambiguous'; message: string; candidates: { uuid: string; name_label: string }[] }
  | { kind: 'timeout'; message: string }
  /** a record the pool sent lacks fields pvrun needs (partial record): located by pool, ref, name */
  | { kind: 'bad-record'; message: string };

import type { Result } from '../util/result.js';
import type { TransportMode } from '../model/transport-mode.js';

/** The minimal XAPI surface a step needs; the real client implements it (and more). */
export interface XapiCaller {
  /** calls `method` with the session prepended; in mode 'check' mutating methods are refused */
  call<T = unknown>(method: string, params: unknown[]): Promise<Result<T, HypervisorFailure>>;
  readonly mode: TransportMode;
}

/**
 * The refs of a VM's VM_metrics and VM_guest_metrics as last seen: lets a VmWatch subscribe to all
 * three records in one event.from. Only a hint — a revert replaces the guest metrics, the first
 * agent report creates them —, checked against the VM record it comes back with.
 */
export interface MetricsHint {
  metrics: string;
  guestMetrics: string;
}

/** A resolved VM on a pool, as handed to steps by `ctx.vm()`. */
export interface VmHandle {
  pool: string;
  ref: string;
  uuid: string;
  nameLabel: string;
  xapi: XapiCaller;
  /** metrics refs seen when the VM was resolved (a hint for watches) */
  metrics?: MetricsHint;
}
