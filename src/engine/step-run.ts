import { isUnreachable } from '../connectors/types.js';
import type { StepFailure } from '../steps/types.js';
import type { StepStatus } from './events.js';

/**
 * What one step came to on one host, as a value: the status and summary the reporters show, and
 * what the step handed back — the data `register` exposes, the diff `--diff` shows, the undo
 * token the journal keeps for `pvrun rollback`. Nothing of it lives on the HostRun between calls.
 */
export interface StepRun {
  status: StepStatus;
  summary: string;
  /** set when the host cannot go on */
  fatal: boolean;
  /** the host ends here without error (check … otherwise: skip-host) */
  skipHost?: boolean;
  unreachable?: boolean;
  /** apply()'s data, exposed through `register` */
  data?: Record<string, unknown>;
  /** plan()'s diff of a predicted change */
  diff?: string;
  /** apply()'s undo token, when this step was added to the host's rollback list with one */
  undo?: unknown;
}

export function failedRun(spec: { ignoreErrors: boolean }, reason: string, unreachable: boolean): StepRun {
  if (unreachable) return { status: 'unreachable', summary: reason, fatal: true, unreachable: true };
  return { status: 'failed', summary: reason, fatal: !spec.ignoreErrors };
}

export function isUnreachableFailure(f: StepFailure): boolean {
  return f.kind === 'guest' && isUnreachable(f.failure);
}
