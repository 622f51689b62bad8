import type { SourcePos } from './source.js';

/** One element of `serial`: an absolute host count or a percentage of the play's hosts. */
export type SerialItem = { count: number } | { percent: number };

export type OnFailure = 'rollback' | 'stop' | 'continue';

/**
 * `when` predicates: typed, not a code language. A list means all must hold.
 *   { path: facts.os.family, in: [redhat, debian] }
 *   { path: vars.mode, equals: offline }
 *   { path: facts.tools.version, version: ">= 9.0" }
 *   { path: registered.probe.exit_code, not_equals: 0 }
 *   { any: [ ...predicates ] } / { not: predicate }
 */
export type Predicate =
  | { path: string; equals: unknown }
  | { path: string; not_equals: unknown }
  | { path: string; in: unknown[] }
  | { path: string; not_in: unknown[] }
  | { path: string; matches: string }
  | { path: string; exists: boolean }
  | { path: string; version: string }
  | { path: string; truthy: boolean }
  | { any: Predicate[] }
  | { all: Predicate[] }
  | { not: Predicate };

export interface StepSpec {
  /** the step-type key, e.g. 'snapshot' */
  type: string;
  /** raw arguments, may contain `{{ }}` templates; validated against the type's schema */
  args: unknown;
  name: string;
  when: Predicate[];
  tags: string[];
  timeoutMs?: number;
  retries: number;
  delayMs: number;
  /** true: this step only plans, even in a real run */
  checkMode?: boolean;
  register?: string;
  ignoreErrors: boolean;
  pos: SourcePos;
}

export interface PlaySpec {
  name: string;
  hosts: string;
  vars: Record<string, unknown>;
  serial: SerialItem[];
  maxFailPercentage?: number;
  forks: number;
  /** undefined: rollback if the play has a snapshot step, else stop */
  onFailure?: OnFailure;
  steps: StepSpec[];
  cleanup: StepSpec[];
  pos: SourcePos;
}

export interface Playbook {
  file: string;
  plays: PlaySpec[];
}
