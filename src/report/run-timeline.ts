/**
 * A run's journal folded into what the HTML report draws: per play its batches, per host its
 * steps with their start and end times, reboots, the rollback and its steps, the recap. Times
 * are epoch milliseconds. Every session of the run (run, resume, rollback) is folded in order.
 */
import type { HostRecap, RollbackMode, RunEvent, StepPhase, StepStatus } from '../engine/events.js';
import type { JournalRecord } from '../journal/journal.js';

export interface TimelineStep {
  phase: StepPhase;
  index: number;
  name: string;
  type: string;
  start: number;
  /** absent: the step never reported a result (the process stopped) */
  end?: number;
  status?: StepStatus;
  summary?: string;
  diff?: string;
  output: string[];
  /** a reboot (the reboot step, or a Windows/VM step of that kind) */
  reboot: boolean;
}

export interface TimelineRollback {
  start: number;
  end?: number;
  ok?: boolean;
  mode?: RollbackMode;
  reason: string;
  steps: { step: string; ok: boolean; summary: string; time: number }[];
}

export interface TimelineHost {
  play: string;
  host: string;
  /** 0-based batch of its play; -1 when the plan did not say */
  batch: number;
  start?: number;
  end?: number;
  steps: TimelineStep[];
  rollbacks: TimelineRollback[];
  recap?: HostRecap;
  /** the recap's outcome, or `unfinished` / `not-started` */
  outcome: string;
}

export interface TimelineBatch {
  index: number;
  hosts: string[];
  start?: number;
  end?: number;
  failed?: number;
  total?: number;
}

export interface TimelinePlay {
  name: string;
  batches: TimelineBatch[];
  hosts: TimelineHost[];
  /** max_fail_percentage stopped the play after this batch */
  stoppedAfter?: { batch: number; failed: number; total: number; limit: number };
}

export interface RunTimeline {
  runId: string;
  playbook?: string;
  inventories: string[];
  check: boolean;
  start?: number;
  end?: number;
  durationMs?: number;
  exitCode?: number;
  sessions: { mode: 'run' | 'resume' | 'rollback'; time: number; end?: number; exitCode?: number }[];
  plays: TimelinePlay[];
  warnings: string[];
  /** the last journal line was cut short */
  truncated: boolean;
}

const REBOOT_TYPES = /(^|-)reboot$|^restart-vm$/;
const ms = (iso: string): number => Date.parse(iso);

export function runTimeline(runId: string, records: JournalRecord[], truncated = false): RunTimeline {
  const t: RunTimeline = { runId, inventories: [], check: false, sessions: [], plays: [], warnings: [], truncated };
  const plays = new Map<string, TimelinePlay>();
  const hosts = new Map<string, TimelineHost>();
  const current = new Map<string, TimelineHost>();
  const open = new Map<TimelineHost, TimelineStep>();
  let play = '';

  const playOf = (name: string): TimelinePlay => {
    let p = plays.get(name);
    if (!p) { p = { name, batches: [], hosts: [] }; plays.set(name, p); t.plays.push(p); }
    return p;
  };
  const hostOf = (name: string): TimelineHost => {
    const cur = current.get(name);
    if (cur) return cur;
    const key = `${play}\u0000${name}`;
    let x = hosts.get(key);
    if (!x) {
      x = { play, host: name, batch: -1, steps: [], rollbacks: [], outcome: 'not-started' };
      hosts.set(key, x);
      playOf(play).hosts.push(x);
    }
    return x;
  };

  for (const r of records) {
    if (r.kind === 'plan') {
      t.playbook ??= r.plan.playbook;
      t.inventories = r.plan.inventories;
      t.check = r.plan.check;
      t.start ??= ms(r.time);
      t.sessions.push({ mode: 'run', time: ms(r.time) });
    } else if (r.kind === 'session') {
      t.sessions.push({ mode: r.mode, time: ms(r.time) });
      play = '';
      current.clear();
    } else if (r.kind === 'event') {
      onEvent(r.event);
    }
  }

  function onEvent(e: RunEvent): void {
    switch (e.type) {
      case 'run-start':
        if (t.sessions.length <= 1) {
          t.playbook = e.playbook;
          t.check = e.check;
          t.start = ms(e.time);
          if (!t.inventories.length) t.inventories = e.inventories;
        }
        if (t.sessions.length === 0) t.sessions.push({ mode: 'run', time: ms(e.time) });
        break;
      case 'warning': t.warnings.push(e.message); break;
      case 'play-start': {
        play = e.play;
        const p = playOf(e.play);
        e.batches.forEach((hs, i) => { if (!p.batches[i]) p.batches[i] = { index: i, hosts: hs }; });
        for (const n of e.hosts) {
          current.delete(n);
          const x = hostOf(n);
          current.set(n, x);
          const b = e.batches.findIndex((hs) => hs.includes(n));
          if (b >= 0 && x.batch < 0) x.batch = b;
        }
        break;
      }
      case 'batch-start': {
        const b = playOf(e.play).batches[e.index] ??= { index: e.index, hosts: e.hosts };
        b.start ??= ms(e.time);
        break;
      }
      case 'batch-end': {
        const b = playOf(e.play).batches[e.index] ??= { index: e.index, hosts: [] };
        b.end = ms(e.time);
        b.failed = e.failed;
        b.total = e.total;
        break;
      }
      case 'max-fail-exceeded':
        playOf(e.play).stoppedAfter = { batch: e.batch, failed: e.failed, total: e.total, limit: e.limit };
        break;
      case 'host-start': {
        const x = hostOf(e.host);
        x.start ??= ms(e.time);
        if (x.outcome === 'not-started') x.outcome = 'unfinished';
        break;
      }
      case 'step-start': {
        const x = hostOf(e.host);
        const s: TimelineStep = { phase: e.phase, index: e.index, name: e.step, type: e.stepType, start: ms(e.time), output: [], reboot: REBOOT_TYPES.test(e.stepType) };
        x.steps.push(s);
        open.set(x, s);
        break;
      }
      case 'step-output': {
        const x = hostOf(e.host);
        const s = open.get(x);
        if (s && s.name === e.step) s.output.push(`${e.stream}: ${e.text}`);
        break;
      }
      case 'step-result': {
        const x = hostOf(e.host);
        const o = open.get(x);
        const end = ms(e.time);
        let s = o && o.name === e.step && o.index === e.index && o.phase === e.phase ? o : undefined;
        if (!s) {
          s = { phase: e.phase, index: e.index, name: e.step, type: e.stepType, start: end - e.durationMs, output: [], reboot: REBOOT_TYPES.test(e.stepType) };
          x.steps.push(s);
        }
        s.end = end;
        s.status = e.status;
        s.summary = e.summary;
        if (e.diff) s.diff = e.diff;
        open.delete(x);
        break;
      }
      case 'rollback-start': {
        const x = hostOf(e.host);
        x.rollbacks.push({ start: ms(e.time), reason: e.reason, steps: [], ...(e.mode ? { mode: e.mode } : {}) });
        break;
      }
      case 'rollback-step': {
        const rb = hostOf(e.host).rollbacks.at(-1);
        rb?.steps.push({ step: e.step, ok: e.ok, summary: e.summary, time: ms(e.time) });
        break;
      }
      case 'rollback-end': {
        const rb = hostOf(e.host).rollbacks.at(-1);
        if (rb) { rb.end = ms(e.time); rb.ok = e.ok; if (e.mode) rb.mode = e.mode; }
        break;
      }
      case 'host-end': {
        const x = hostOf(e.host);
        x.end = ms(e.time);
        x.recap = e.recap;
        x.outcome = e.recap.outcome;
        open.delete(x);
        break;
      }
      case 'run-end': {
        const s = t.sessions.at(-1);
        if (s) { s.end = ms(e.time); s.exitCode = e.exitCode; }
        if (t.end === undefined) { t.end = ms(e.time); t.durationMs = e.durationMs; t.exitCode = e.exitCode; }
        else t.exitCode = e.exitCode; // a later session's exit code is the run's latest word
        break;
      }
      // events the timeline does not draw (listed, so a new event type must be decided here)
      case 'intent': case 'interrupted':
        break;
      // a record written by another pvrun version may carry a type this one does not know
      default: break;
    }
  }
  return t;
}

/** The latest recap of every host, in play order (what the report's recap table lists). */
export function timelineRecap(t: RunTimeline): TimelineHost[] {
  const last = new Map<string, TimelineHost>();
  for (const p of t.plays) for (const h of p.hosts) last.set(h.host, h);
  return [...last.values()];
}
