import type { HostRecap, RunEvent, StepPhase, StepStatus } from '../engine/events.js';
import type { HostResume } from '../engine/types.js';
import type { Intent } from '../steps/types.js';
import type { JournalRecord, PlanInfo } from './journal.js';

export interface StepHistory {
  phase: StepPhase;
  index: number;
  step: string;
  stepType: string;
  started: string;
  status?: StepStatus;
  summary?: string;
  durationMs?: number;
  undo?: unknown;
  /** step-output lines (redacted when written) */
  output: string[];
  /** apply() was announced (the `step.apply` intent): the step may have changed something */
  applyStarted: boolean;
  /** the intents the step journaled after its `step.apply`, in order (what its apply set out to do) */
  intents?: Intent[];
}

export interface HostHistory {
  play: string;
  host: string;
  steps: StepHistory[];
  /** main steps applied and not rolled back since, with their undo tokens */
  applied: { index: number; step: string; stepType: string; token: unknown }[];
  /** the step the last process was in when it stopped writing (no result) */
  open?: StepHistory;
  lastIntent?: { step: string; action: string; detail: Record<string, unknown>; time: string };
  /** facts the run had read and not dropped since, by namespace (journal 'facts' records) */
  facts: Record<string, Record<string, unknown>>;
  rollback: 'none' | 'started' | 'ok' | 'failed';
  /** what each rollback did, in order (over every session) */
  rollbackSteps: { step: string; ok: boolean; summary: string; time: string }[];
  recap?: HostRecap;
  started?: string;
  ended?: string;
  /** host-end seen after the last host-start */
  finished: boolean;
}

export interface RunHistory {
  runId: string;
  plan?: PlanInfo;
  playbook?: string;
  inventories: string[];
  check: boolean;
  started?: string;
  /** the first process's run-end */
  ended?: string;
  durationMs?: number;
  exitCode?: number;
  sessions: { mode: 'run' | 'resume' | 'rollback'; time: string; exitCode?: number; ended?: string }[];
  /** keyed by play, then host */
  hosts: HostHistory[];
  truncated: boolean;
}

/** Fold a journal's records into what happened to each host, across run/resume/rollback sessions. */
export function runHistory(runId: string, records: JournalRecord[], truncated = false): RunHistory {
  const h: RunHistory = { runId, inventories: [], check: false, sessions: [], hosts: [], truncated };
  const byKey = new Map<string, HostHistory>();
  let play = '';
  const hostOf = (name: string): HostHistory => {
    const key = `${play}\u0000${name}`;
    let x = byKey.get(key);
    if (!x) {
      x = { play, host: name, steps: [], applied: [], facts: {}, rollback: 'none', rollbackSteps: [], finished: false };
      byKey.set(key, x);
      h.hosts.push(x);
    }
    return x;
  };
  /** the host's history in the play it is currently in (a host runs plays one after another) */
  const current = new Map<string, HostHistory>();
  const cur = (name: string): HostHistory => current.get(name) ?? hostOf(name);

  for (const r of records) {
    switch (r.kind) {
      case 'plan':
        h.plan = r.plan;
        h.playbook ??= r.plan.playbook;
        h.inventories = r.plan.inventories;
        h.check = r.plan.check;
        h.started ??= r.time;
        h.sessions.push({ mode: 'run', time: r.time });
        break;
      case 'session':
        h.sessions.push({ mode: r.mode, time: r.time });
        play = '';
        break;
      case 'intent': {
        const x = cur(r.host);
        x.lastIntent = { step: r.step, action: r.action, detail: r.detail, time: r.time };
        if (r.action === 'step.apply' && x.open && x.open.step === r.step) x.open.applyStarted = true;
        else if (x.open?.applyStarted && x.open.step === r.step) (x.open.intents ??= []).push({ action: r.action, detail: r.detail });
        break;
      }
      case 'facts': {
        const x = cur(r.host);
        if (r.values) x.facts[r.namespace] = r.values;
        else if (r.namespace === '*') x.facts = {};
        else delete x.facts[r.namespace];
        break;
      }
      case 'event':
        onEvent(r.event);
        break;
    }
  }

  function onEvent(e: RunEvent): void {
    switch (e.type) {
      case 'run-start':
        if (h.sessions.length <= 1) {
          h.playbook = e.playbook;
          h.started = e.time;
          h.check = e.check;
          if (e.inventories.length) h.inventories = h.inventories.length ? h.inventories : e.inventories;
        }
        if (h.sessions.length === 0) h.sessions.push({ mode: 'run', time: e.time });
        break;
      case 'play-start':
        play = e.play;
        for (const n of e.hosts) current.set(n, hostOf(n));
        break;
      case 'host-start': {
        const x = cur(e.host);
        x.started ??= e.time;
        x.finished = false;
        // a later session picks the host up: a step the crash cut mid-apply stays something to undo
        // (undo finds what it made on its own, e.g. a snapshot by its run marker)
        if (x.open?.phase === 'main' && x.open.applyStarted && !x.applied.some((a) => a.index === x.open!.index)) {
          x.applied.push({ index: x.open.index, step: x.open.step, stepType: x.open.stepType, token: undefined });
        }
        x.open = undefined;
        break;
      }
      case 'step-start': {
        const x = cur(e.host);
        const s: StepHistory = { phase: e.phase, index: e.index, step: e.step, stepType: e.stepType, started: e.time, output: [], applyStarted: false };
        x.steps.push(s);
        x.open = s;
        break;
      }
      case 'step-output': {
        const x = cur(e.host);
        if (x.open && x.open.step === e.step) x.open.output.push(`${e.stream}: ${e.text}`);
        break;
      }
      case 'step-result': {
        const x = cur(e.host);
        const s = x.open && x.open.step === e.step && x.open.index === e.index && x.open.phase === e.phase ? x.open : undefined;
        const target = s ?? { phase: e.phase, index: e.index, step: e.step, stepType: e.stepType, started: e.time, output: [], applyStarted: false };
        if (!s) x.steps.push(target);
        Object.assign(target, { status: e.status, summary: e.summary, durationMs: e.durationMs, ...(e.undo !== undefined ? { undo: e.undo } : {}) });
        x.open = undefined;
        // the same step applied again (a resumed step): its latest record counts
        if (e.phase === 'main' && (e.status === 'changed' || target.applyStarted)) x.applied = x.applied.filter((a) => a.index !== e.index);
        if (e.phase === 'main' && e.status === 'changed') x.applied.push({ index: e.index, step: e.step, stepType: e.stepType, token: e.undo });
        // a failed apply may have half-done its change: rollback must still consider it
        else if (e.phase === 'main' && target.applyStarted && e.status !== 'ok') x.applied.push({ index: e.index, step: e.step, stepType: e.stepType, token: undefined });
        break;
      }
      case 'rollback-start': cur(e.host).rollback = 'started'; break;
      case 'rollback-step': cur(e.host).rollbackSteps.push({ step: e.step, ok: e.ok, summary: e.summary, time: e.time }); break;
      case 'rollback-end': {
        const x = cur(e.host);
        x.rollback = e.ok ? 'ok' : 'failed';
        if (e.ok) x.applied = [];
        break;
      }
      case 'host-end': {
        const x = cur(e.host);
        x.recap = e.recap;
        x.ended = e.time;
        x.finished = true;
        x.open = undefined;
        break;
      }
      case 'run-end': {
        const s = h.sessions.at(-1);
        if (s) { s.exitCode = e.exitCode; s.ended = e.time; }
        if (h.ended === undefined) {
          h.ended = e.time;
          h.durationMs = e.durationMs;
          h.exitCode = e.exitCode;
        }
        break;
      }
      // events the history does not fold (listed, so a new event type must be decided here)
      case 'warning': case 'batch-start': case 'batch-end': case 'intent': case 'max-fail-exceeded': case 'interrupted':
        break;
      // a record written by another pvrun version may carry a type this one does not know
      default: break;
    }
  }
  return h;
}

/** Whether the host's VM may have been changed by the run and not put back (what rollback acts on). */
export function rollbackState(x: HostHistory): { index: number; token: unknown }[] {
  const out = x.applied.map((a) => ({ index: a.index, token: a.token }));
  // killed mid-apply: the change may be half made (a snapshot whose token never reached the journal)
  if (x.open && x.open.phase === 'main' && x.open.applyStarted && !out.some((a) => a.index === x.open!.index)) {
    out.push({ index: x.open.index, token: undefined });
  }
  return out;
}

/**
 * Where `pvrun resume` picks a host up: undefined for a host that never started (run it from
 * the beginning); 'done' for a finished host (left alone). A step cut short is planned again
 * (plan() reads the host as it is now), never blindly applied twice.
 */
export function resumePoint(x: HostHistory): HostResume | 'done' | undefined {
  if (x.finished) return 'done';
  if (x.started === undefined) return undefined;
  if (x.rollback === 'started') {
    return { startIndex: Number.MAX_SAFE_INTEGER, applied: rollbackState(x), rollback: 'the rollback was cut short; resume finishes it', appliesKnown: true };
  }
  const applied = x.applied.map((a) => ({ index: a.index, token: a.token }));
  // the fold lists every apply that started (failed and cut-short ones too): rollback can tell
  // whether the guest was changed after the restore point
  // the facts the killed process had read: a `when` after the cut reads what it would have read
  const known = { appliesKnown: true, ...(Object.keys(x.facts).length ? { facts: x.facts } : {}) } as const;
  const main = x.steps.filter((s) => s.phase === 'main');
  const last = main.at(-1);
  if (x.open?.phase === 'cleanup' || x.steps.at(-1)?.phase === 'cleanup') {
    // killed during cleanup: the main steps are over, cleanup runs again (its steps are idempotent)
    return { startIndex: Number.MAX_SAFE_INTEGER, applied, ...known };
  }
  if (!last) return { startIndex: 0, applied, ...known };
  if (last.status === undefined) {
    const applying = x.open?.applyStarted === true && x.open.index === last.index;
    const intents = applying ? x.open?.intents : undefined;
    return { startIndex: last.index, applied, ...known, ...(applying ? { gatePassed: last.index } : {}), ...(intents?.length ? { cutIntents: intents } : {}) };
  }
  // a skipped step is planned again too: it may have been a skip-host whose host-end was lost
  const done = last.status === 'ok' || last.status === 'changed';
  return { startIndex: done ? last.index + 1 : last.index, applied, ...known };
}

/** Counts of host outcomes, for `pvrun runs`. */
export function outcomeCounts(h: RunHistory): Record<string, number> {
  const last = new Map<string, HostHistory>();
  for (const x of h.hosts) last.set(x.host, x);
  const counts: Record<string, number> = {};
  for (const x of last.values()) {
    const k = x.recap ? x.recap.outcome : x.started ? 'unfinished' : 'not-started';
    counts[k] = (counts[k] ?? 0) + 1;
  }
  return counts;
}
