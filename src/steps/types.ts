import type { HostState } from './state.js';
import type { Connector, ConnectorFailure } from '../connectors/types.js';
import type { HypervisorFailure, VmHandle } from '../hypervisor/types.js';
import type { HostSpec } from '../model/inventory.js';
import type { Result } from '../util/result.js';

/** A JSON Schema object (draft 2020-12 subset that ajv understands). */
export type JsonSchema = Record<string, unknown>;

/**
 * Facts are gathered lazily per host and cached for the run; a reboot or revert invalidates them.
 * Namespaces: 'guest' (OS facts through the connector), 'vm' (XAPI facts).
 */
export interface FactCache {
  get(namespace: string): Promise<Result<Record<string, unknown>, StepFailure>>;
  invalidate(namespace?: string): void;
}

/** Why a step could not do its work. */
export type StepFailure =
  | { kind: 'guest'; failure: ConnectorFailure }
  | { kind: 'hypervisor'; failure: HypervisorFailure }
  | { kind: 'step'; message: string }
  | { kind: 'config'; message: string };

/** Write-ahead intent records: flushed to the journal before the action they announce. */
export interface Intent {
  action: string;
  detail: Record<string, unknown>;
}

export interface StepContext {
  readonly host: HostSpec;
  /** the whole run is a rehearsal: only plan() is called, and the transports refuse writes */
  readonly check: boolean;
  /** template scope: run.*, host.*, vars.*, registered.* (args are already rendered) */
  readonly scope: Readonly<Record<string, unknown>>;
  readonly signal: AbortSignal;
  readonly facts: FactCache;
  /** per-host scratch shared by steps of this run (e.g. `reboot_required`, the snapshot ref) */
  readonly state: HostState;
  /** the guest transport, connected on first use and reused for the run */
  guest(): Promise<Result<Connector, StepFailure>>;
  /** the host's VM on its pool */
  vm(): Promise<Result<VmHandle, StepFailure>>;
  /** verbose output: shown from -v (level 1, the default), -vv (2: command lines) or -vvv (3: probe output) */
  log(line: string, level?: 1 | 2 | 3): void;
  /** journal a write-ahead intent; resolves once it is on disk */
  intent(intent: Intent): Promise<void>;
  /**
   * `pvrun resume` running again an apply that a killed process cut short (a step type with
   * `resumeCutApply: 'again'`): what that apply journaled before the kill. Absent otherwise.
   */
  readonly resumedApply?: ResumedApply;
}

/** What a cut-short apply had journaled: its intents after `step.apply`, in order. */
export interface ResumedApply {
  intents: readonly Intent[];
}

/**
 * What plan() predicts. Pure with respect to the target: only reads. A change carries `planned`:
 * what plan() saw that apply() acts on (typed by the step: `StepType`'s P), so apply() does not
 * read it again.
 */
export type PlanResult<P = unknown> =
  | { kind: 'ok'; summary: string }
  | { kind: 'change'; summary: string; diff?: string; planned?: P }
  | { kind: 'fail'; reason: string; unreachable?: boolean }
  /** the host is done for this play without error (e.g. `check ... otherwise: skip-host`) */
  | { kind: 'skip-host'; reason: string }
  /**
   * check mode only: the prediction needs a user-written command (an `unless:` guard, a
   * `command:` predicate) that check mode does not run; reported as status `unknown`
   */
  | { kind: 'unknown'; reason: string };

/** A planned change, as apply() receives it. */
export type PlannedChange<P = unknown> = Extract<PlanResult<P>, { kind: 'change' }>;

export type ApplyResult<U = unknown> =
  | {
      kind: 'changed' | 'ok';
      summary: string;
      /** exposed through `register` */
      data?: Record<string, unknown>;
      /** JSON-serialisable token for undo(); journaled so a later `pvrun rollback` can use it */
      undo?: U;
    }
  | { kind: 'failed'; reason: string; unreachable?: boolean; data?: Record<string, unknown> }
  | { kind: 'skip-host'; reason: string };

export type UndoResult = { ok: true; summary: string } | { ok: false; reason: string };

/**
 * A step type. A: its arguments; P: what its plan() hands its apply(); U: its undo token, journaled
 * and read back by `pvrun rollback`/`resume`, so checked by `undoToken` before undo() sees it.
 */
export interface StepType<A = Record<string, unknown>, P = unknown, U = unknown> {
  /** the playbook key, e.g. 'snapshot' */
  readonly type: string;
  readonly description: string;
  /** JSON Schema of the arguments; the playbook schema is assembled from these */
  readonly schema: JsonSchema;
  /** turn a scalar shorthand (`reboot: guest`) into args; absent = args must be a map */
  readonly shorthand?: (value: string | number | boolean | null) => A;
  /** what the step needs: a guest connector, the VM, both, or nothing */
  readonly needs: 'guest' | 'vm' | 'both' | 'none';
  /** true for snapshot-like steps: their presence makes `on_failure` default to rollback */
  readonly makesRestorePoint?: boolean;
  /**
   * `pvrun resume` of a step cut short while applying: 'again' runs it again whatever its `when`
   * says now (it held when the killed process started it; repeating a reboot is safe, skipping one
   * the killed process had triggered is not). Unset: its `when` is evaluated on facts gathered
   * now, so a guard like `tools.installed == false` sees an install the cut step finished.
   */
  readonly resumeCutApply?: 'again';
  /**
   * apply() changes the guest's own state (files, packages, services, mounts, its running OS).
   * Decides the rollback: only a guest-side apply after the restore point needs the VM reverted
   * to it; otherwise the hypervisor steps are undone and the running VM is left alone.
   * Unset: true when the step `needs` the guest (the safe side: a revert).
   */
  readonly touchesGuest?: boolean;
  /**
   * Where in the (unrendered) arguments a string is run by a shell on the guest: templates there
   * are quoted when rendered (`{{ x | raw }}` opts out). 'command': a command line for the
   * host's transport (POSIX shell over ssh, PowerShell otherwise); 'sh': always a POSIX shell;
   * 'code': another interpreter's source, where only `| raw` templates are accepted.
   */
  templateContexts?(args: unknown): TemplateContext[];
  plan(ctx: StepContext, args: A): Promise<PlanResult<P>>;
  apply(ctx: StepContext, args: A, plan: PlannedChange<P>): Promise<ApplyResult<U>>;
  /**
   * Whether a token read back from a journal is one this step type wrote (src/util/shape.ts).
   * One that is not reaches undo() as `undefined`, as for an apply cut short before it returned
   * its token. Every step type with an undo has one.
   */
  readonly undoToken?: (raw: unknown) => raw is U;
  /** `token` undefined: the apply was cut short (or its journaled token was not valid) */
  undo?(ctx: StepContext, args: A, token: U | undefined): Promise<UndoResult>;
  /**
   * Restore points only: remove the restore point without reverting to it (rollback calls this
   * instead of undo() when nothing was changed inside the guest after it).
   */
  dropRestorePoint?(ctx: StepContext, args: A, token: U | undefined): Promise<UndoResult>;
}

/** Whether applying this step type changes the guest's own state (see StepType.touchesGuest). */
export function touchesGuest(step: Pick<StepType<never, never, never>, 'touchesGuest' | 'needs'>): boolean {
  return step.touchesGuest ?? (step.needs === 'guest' || step.needs === 'both');
}

/** A string in a step's arguments that a shell or interpreter on the guest runs (see StepType). */
export interface TemplateContext {
  at: (string | number)[];
  kind: 'command' | 'sh' | 'code';
  /** for messages: what runs it, e.g. 'python3' */
  interpreter?: string;
}

/** Helper so a step module can declare its argument, planned and undo token types once. */
export function defineStep<A, P = unknown, U = unknown>(step: StepType<A, P, U>): StepType<A, P, U> {
  return step;
}
