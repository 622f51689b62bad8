/**
 * Whether a transport may change what it reaches: a rehearsal (`check`) or the real thing
 * (`apply`). One name for one idea, for the guest connectors (src/connectors/check-gate.ts) and
 * the XAPI sessions (src/hypervisor/xapi/client.ts) alike; a run's `--check` sets it.
 */
export type TransportMode = 'check' | 'apply';
