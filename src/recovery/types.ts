/**
 * What a recovery session (`pvrun rollback`, `pvrun resume`) decides from the journal or the
 * pools' snapshot markers, as typed values: src/recovery/ never prints; src/cli/ formats these.
 */
import type { SnapshotToken } from '../steps/vm/snapshot.js';

/** One change to undo on a host: a step's index in its play, its undo token, and for a step cut short what it asked for. */
export interface RollbackTarget {
  index: number;
  token: unknown;
  /** the step's name as the journal has it (to check the playbook did not change since) */
  step?: string;
  /** a snapshot step cut short: the snapshot name its intent asked for (null: never asked) */
  cut?: string | null;
  /** and the markers its intent journaled (the playbook's retention …) */
  cutMarkers?: Record<string, string>;
}

/** per play+host (`targetKey`): what to undo */
export type Targets = Map<string, RollbackTarget[]>;

export const targetKey = (play: string, host: string): string => `${play}\u0000${host}`;
export const hostOfKey = (k: string): string => k.split('\u0000')[1] ?? '';

/** Why a recovery session cannot go on: the CLI words it (exit 5, or 4 for a pool that does not answer). */
export type RecoveryProblem =
  | { kind: 'playbook-changed'; runId: string; play: string; index: number; found: string | undefined; journaled: string }
  | { kind: 'none-selected'; hosts: string[] }
  | { kind: 'no-restore-point'; playbook: string; hosts: string[] }
  | { kind: 'nothing-to-resume'; runId: string }
  | { kind: 'pool'; message: string }
  | { kind: 'no-pool-run'; given: string; runs: string[] };

/** The state before the run touched each host, rebuilt from its earliest snapshot's markers. */
export interface PoolRollbackPlan {
  runId: string;
  /** host → the token the snapshot step would have journaled */
  perHost: Map<string, SnapshotToken>;
  /** the playbook the snapshots' markers name ('' when none) */
  playbook: string;
}
