/**
 * Everything the engine does is told as events; it never prints. Reporters (src/report) and the
 * journal (src/journal) consume them. Events are plain JSON (they are written as JSON lines).
 */
import { redactedOnce, redactJsonText } from '../util/redact.js';

export type StepStatus =
  | 'ok'
  | 'changed'
  | 'failed'
  | 'skipped'
  | 'unreachable'
  /** check mode: the step would change something */
  | 'would-change'
  /** check mode: the step would fail */
  | 'would-fail'
  /** check mode: the prediction depends on an earlier step's change that was not applied */
  | 'unknown';

export type HostOutcome =
  | 'ok'
  | 'changed'
  | 'skipped'
  | 'failed'
  | 'unreachable'
  /** failed, then restored to its snapshot cleanly (counts as failed) */
  | 'rolled-back'
  /** failed and the rollback failed too, or the host was left mid-step: needs attention */
  | 'needs-attention';

export interface HostRecap {
  host: string;
  outcome: HostOutcome;
  ok: number;
  changed: number;
  failed: number;
  skipped: number;
  unreachable: number;
  rolled_back: boolean;
  /** set when the host was rolled back: how (see RollbackMode) */
  rollback_mode?: RollbackMode;
  /** why the host failed / was skipped, one line */
  reason?: string;
  /** what state the host is in and how to recover, when it is not clean */
  attention?: string;
}

/**
 * How a rollback put a host back.
 * - 'reverted': the VM was reverted to the snapshot (and restarted from it): something was
 *   changed inside the guest after the snapshot, or that cannot be known or undone otherwise;
 * - 'hypervisor-undone': nothing inside the guest was changed after the snapshot: the hypervisor
 *   steps were undone (CD ejected, …) and the snapshot deleted; the running VM was left alone;
 * - 'undone': no restore point: each applied step was undone in reverse.
 */
export type RollbackMode = 'reverted' | 'hypervisor-undone' | 'undone';

export type RunEvent =
  | { type: 'run-start'; runId: string; playbook: string; inventories: string[]; check: boolean; time: string; plays: { name: string; hosts: number; batches: number[] }[] }
  | { type: 'warning'; message: string; time: string }
  | { type: 'play-start'; play: string; index: number; hosts: string[]; batches: string[][]; time: string }
  | { type: 'batch-start'; play: string; index: number; hosts: string[]; time: string }
  | { type: 'batch-end'; play: string; index: number; failed: number; total: number; time: string }
  | { type: 'host-start'; host: string; time: string }
  | { type: 'step-start'; host: string; step: string; stepType: string; index: number; phase: StepPhase; time: string }
  | { type: 'step-output'; host: string; step: string; stream: 'stdout' | 'stderr' | 'log'; text: string;
      /** the -v level that shows it: 1 (absent) a step's own words and the output of commands that change things, 2 the command lines run, 3 the output of read-only probes */
      level?: 2 | 3 }
  | { type: 'step-result'; host: string; step: string; stepType: string; index: number; phase: StepPhase; status: StepStatus; summary: string; diff?: string; durationMs: number; time: string;
      /** the step changed the host and can be undone: its undo token (JSON), journaled for `pvrun rollback` / `resume` */
      undo?: unknown }
  | { type: 'intent'; host: string; step: string; action: string; detail: Record<string, unknown>; time: string }
  | { type: 'rollback-start'; host: string; reason: string; mode?: RollbackMode; time: string }
  | { type: 'rollback-step'; host: string; step: string; ok: boolean; summary: string; time: string }
  | { type: 'rollback-end'; host: string; ok: boolean; mode?: RollbackMode; time: string }
  | { type: 'host-end'; host: string; recap: HostRecap; time: string }
  | { type: 'max-fail-exceeded'; play: string; batch: number; failed: number; total: number; limit: number; time: string }
  | { type: 'interrupted'; second: boolean; running: { host: string; step: string }[]; time: string }
  | { type: 'run-end'; runId: string; exitCode: number; recap: HostRecap[]; durationMs: number; time: string };

export type StepPhase = 'main' | 'cleanup';

export type EventSink = (e: RunEvent) => void;

/**
 * An event as redacted JSON text, made once per event and redactor: the journal and the `--json`
 * reporter write the same text instead of each redacting and serialising the event again
 * (controller CPU per exec, issue 17). Same passes as `Redactor.stringify`: structured redaction
 * of every string and key before serialising, then the late string-only pass over the text.
 */
const jsonCache = new WeakMap<RunEvent, { redact: (s: string) => string; text: string }>();
export function eventJson(e: RunEvent, redact: (s: string) => string): string {
  const hit = jsonCache.get(e);
  if (hit && hit.redact === redact) return hit.text;
  const text = redactJsonText(JSON.stringify(redactedOnce(e, redact)), redact);
  jsonCache.set(e, { redact, text });
  return text;
}
