import type { HostSpec } from '../model/inventory.js';
import type { OnFailure, SerialItem, StepSpec } from '../model/playbook.js';
import type { Connector } from '../connectors/types.js';
import type { VmHandle } from '../hypervisor/types.js';
import type { AnyStep } from '../steps/registry.js';
import type { Intent, StepFailure, StepContext } from '../steps/types.js';
import type { Result } from '../util/result.js';
import type { EventSink } from './events.js';

/** A step as the engine runs it: its spec, its type, and whether tag filters selected it. */
export interface EngineStep {
  spec: StepSpec;
  type: AnyStep;
  /** false when -t/--skip-tags/--start-at-step left it out (never for cleanup steps) */
  selected: boolean;
}

/** A play after loading: hosts resolved, on_failure resolved, steps typed. */
export interface EnginePlay {
  name: string;
  hosts: HostSpec[];
  serial: SerialItem[];
  maxFailPercentage?: number;
  forks: number;
  onFailure: OnFailure;
  steps: EngineStep[];
  cleanup: EngineStep[];
  /** per-host template scope without facts/registered (run, host, vars) */
  scope(host: HostSpec): Record<string, unknown>;
  /** per-host step arguments with plan-time templates rendered; default: the spec's args */
  hostArgs?(host: HostSpec, phase: 'main' | 'cleanup', index: number): unknown;
}

/**
 * Render the deferred templates left in step args once facts and registered values exist.
 * Returns the rendered value, or the unresolved reference.
 */
export type RenderFn = (value: unknown, scope: Record<string, unknown>) => Result<unknown, { ref: string; message: string }>;

/**
 * What gathering facts may use: the host's guest and VM as the running step reaches them (so a
 * guest found unreachable while gathering is the host's), and the verbose log. Not a step context.
 */
export type FactSources = Pick<StepContext, 'guest' | 'vm' | 'log'>;

/** What the engine needs from the outside world, per host. Injected so tests can script it. */
export interface HostServices {
  guest(host: HostSpec): Promise<Result<Connector, StepFailure>>;
  vm(host: HostSpec): Promise<Result<VmHandle, StepFailure>>;
  /** gather one namespace of facts ('guest', 'vm') through the host's transports */
  facts(namespace: string, host: HostSpec, via: FactSources): Promise<Result<Record<string, unknown>, StepFailure>>;
  /** durable write-ahead record; resolves when flushed */
  intent?(host: string, step: string, intent: Intent): Promise<void>;
  /** facts read (`values`) or dropped (undefined; namespace '*': all), for the journal */
  factsSeen?(host: string, namespace: string, values: Record<string, unknown> | undefined): void;
  /** release the host's connections when it is done */
  release?(host: HostSpec): Promise<void>;
}

export interface EngineOptions {
  runId: string;
  playbook: string;
  inventories: string[];
  check: boolean;
  diff: boolean;
  verbose: boolean;
  services: HostServices;
  render: RenderFn;
  emit: EventSink;
  /**
   * Continue a host from an earlier, interrupted process (pvrun resume / rollback): which main
   * steps are already done and what they applied, read from the journal. undefined: run normally.
   */
  resume?(play: string, host: string): HostResume | undefined;
  /** clock, for tests */
  now?: () => Date;
  /**
   * Called before each batch starts (a rollout shared by several processes: src/shard/): it may
   * hold the batch (waiting for another process's canary) or stop the run (`go: false`: no
   * further batch starts, the reason is a warning and the run exits at least 2).
   */
  batchGate?(batch: BatchInfo): Promise<{ go: true } | { go: false; reason: string }>;
  /** Called after each batch with its hosts' recaps (hosts never started are absent). */
  batchDone?(batch: BatchInfo, recaps: import('./events.js').HostRecap[]): Promise<void>;
}

/** A batch as the gate hooks see it. */
export interface BatchInfo {
  play: string;
  playIndex: number;
  /** within the play */
  index: number;
  hosts: string[];
  /** the gate waits: it gives up when this turns true (SIGINT) */
  stopping(): boolean;
}

/** Where an earlier process left a host, rebuilt from its journal. */
export interface HostResume {
  /** main steps before this index are not run again (a step cut short at this index is re-planned) */
  startIndex: number;
  /** steps the earlier process applied, in order, with the undo tokens it journaled */
  applied: { index: number; token: unknown }[];
  /** roll the host back now (pvrun rollback, or a rollback cut short) instead of continuing */
  rollback?: string;
  /**
   * true: `applied` lists every apply the earlier process started (a journal's fold: failed and
   * cut-short ones too), so rollback can tell whether the guest was changed after the restore
   * point. Absent (e.g. rebuilt from snapshot markers): unknown, and rollback reverts.
   */
  appliesKnown?: boolean;
  /**
   * The main step the earlier process was applying when it was cut short: its `when` held then,
   * so it is run again without evaluating `when` anew — facts gathered now may already show its
   * half-done change (a reboot cut short after the installer ran: `tools.installed` is now true,
   * and the reboot the killed process asked for would land in a later step).
   */
  gatePassed?: number;
  /**
   * What the step at `gatePassed` journaled before it was cut short (its intents after
   * `step.apply`, in order): the step sees them as `StepContext.resumedApply`, so it can tell
   * what the killed process already did (a reboot it triggered, which has since happened).
   */
  cutIntents?: Intent[];
  /**
   * Facts the earlier process had read (and no step had dropped since), by namespace: the resumed
   * host reads these until a step that changes the machine drops them, as the killed process
   * would have; facts gathered afresh could decide a later `when` differently (the installer's
   * own change showing as `tools.installed` before the reboot that was to follow it).
   */
  facts?: Record<string, Record<string, unknown>>;
}
