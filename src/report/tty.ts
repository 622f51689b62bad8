import { createLogUpdate } from 'log-update';
import pc from 'picocolors';
import type { HostOutcome, RunEvent } from '../engine/events.js';
import { redactedOnce } from '../util/redact.js';
import { formatEventLine } from './plain.js';
import { formatRecap } from './recap.js';
import type { Redact, Reporter } from './types.js';

// humanDisplay lives in display.ts, which `pvrun run` loads without this module (and log-update)
// when its output is not a live terminal (start-up, issue 17)
export { humanDisplay } from './display.js';

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** 0:24, 12:05, 1:02:03 */
export function clock(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

interface Running {
  step: string;
  since: number;
  /** what the host is doing: its steps, its rollback, or its cleanup steps */
  phase: 'main' | 'rollback' | 'cleanup';
}

/** The counters of the progress line, from the hosts that ended. */
export interface Tally { ok: number; changed: number; failed: number; rolledBack: number }

export function tallyOutcome(t: Tally, o: HostOutcome): void {
  switch (o) {
    case 'ok': case 'skipped': t.ok++; break;
    case 'changed': t.changed++; break;
    case 'rolled-back': t.rolledBack++; break;
    case 'failed': case 'unreachable': case 'needs-attention': t.failed++; break;
  }
}

/**
 * `batch 2/3 · 3/8 done · ok 2 · changed 1 · failed 0 · rolled back 0 · 0:24 · ETA ~0:40`.
 * The ETA is the rate so far (hosts done per second over the run) applied to the hosts left;
 * none before the first host is done.
 */
export function progressLine(p: { play?: string; batch: number; batches: number; done: number; total: number; tally: Tally; elapsedMs: number }): string {
  const left = p.total - p.done;
  const eta = p.done === 0 ? 'ETA …' : left === 0 ? 'ETA 0:00' : `ETA ~${clock((p.elapsedMs / p.done) * left)}`;
  return [
    ...(p.play ? [p.play] : []),
    ...(p.batch > 0 ? [`batch ${p.batch}/${p.batches}`] : []), // none before the first batch starts
    `${p.done}/${p.total} done`,
    `ok ${p.tally.ok}`, `changed ${p.tally.changed}`, `failed ${p.tally.failed}`, `rolled back ${p.tally.rolledBack}`,
    clock(p.elapsedMs), eta,
  ].join(' · ');
}

/**
 * Live progress on a terminal: finished steps scroll as lines, and below them a region redrawn
 * in place (log-update): a spinner and the progress line, then each running host with its
 * current step, marked when it is rolling back or running its cleanup steps.
 */
export function createTtyReporter(out: NodeJS.WriteStream, opts: { verbose: number; diff: boolean; redact: Redact; check: boolean; color?: boolean; now?: () => number }): Reporter {
  const color = opts.color ?? true;
  const c = pc.createColors(color);
  const now = opts.now ?? Date.now;
  const live = createLogUpdate(out, { showCursor: true });
  const running = new Map<string, Running>();
  const tally: Tally = { ok: 0, changed: 0, failed: 0, rolledBack: 0 };
  let plays = 0;
  let play = '';
  let batch = 0;
  let batches = 0;
  let done = 0;
  let total = 0;
  let started = now();
  let tick = 0;

  const render = (): void => {
    const t = now();
    const spin = c.cyan(SPINNER[tick % SPINNER.length]!);
    const head = progressLine({ ...(plays > 1 ? { play } : {}), batch, batches, done, total, tally, elapsedMs: t - started });
    const lines = [`${spin} ${c.bold(head)}`];
    // a region taller than the terminal cannot be redrawn in place: hosts rolling back first,
    // then cleanup, then the others, as many as fit, and how many more there are
    const order = { rollback: 0, cleanup: 1, main: 2 } as const;
    const all = [...running].sort((a, b) => order[a[1].phase] - order[b[1].phase]);
    const room = Math.max(1, (out.rows || 24) - 4);
    const shown = all.length > room ? all.slice(0, room - 1) : all;
    for (const [host, r] of shown) {
      const secs = c.dim(`${((t - r.since) / 1000).toFixed(0)}s`);
      if (r.phase === 'rollback') lines.push(`  ${c.magenta('↺')} ${host}  ${c.magenta('ROLLING BACK')}${r.step ? `  (undid ${r.step})` : ''}  ${secs}`);
      else if (r.phase === 'cleanup') lines.push(`  ${c.yellow('⌫')} ${host}  ${c.yellow('cleanup:')} ${r.step}  ${secs}`);
      else lines.push(`  ${c.cyan('⟳')} ${host}  ${r.step}  ${secs}`);
    }
    if (shown.length < all.length) lines.push(c.dim(`  … and ${all.length - shown.length} more running`));
    live(opts.redact(lines.join('\n')));
  };
  const print = (text: string): void => {
    live.clear();
    out.write(opts.redact(text) + '\n');
    render();
  };
  const timer = setInterval(() => { tick++; render(); }, 250);
  timer.unref();

  return {
    event(raw: RunEvent) {
      const e = redactedOnce(raw, opts.redact); // as a value before formatting, the text again when printed
      switch (e.type) {
        case 'run-start': total = e.plays.reduce((n, p) => n + p.hosts, 0); plays = e.plays.length; started = now(); break;
        case 'play-start': play = e.play; batches = e.batches.length; batch = 0; break;
        case 'batch-start': batch = e.index + 1; break;
        case 'host-start': running.set(e.host, { step: 'starting', since: now(), phase: 'main' }); break;
        case 'step-start': {
          const was = running.get(e.host);
          // cleanup after a rollback stays marked as cleanup; a step of the host's own is its step
          running.set(e.host, { step: e.step, since: now(), phase: e.phase === 'cleanup' ? 'cleanup' : was?.phase === 'rollback' ? 'rollback' : 'main' });
          break;
        }
        case 'rollback-start': running.set(e.host, { step: '', since: now(), phase: 'rollback' }); break;
        case 'rollback-step': { const r = running.get(e.host); if (r) r.step = e.step; break; }
        case 'rollback-end': running.set(e.host, { step: '', since: now(), phase: 'cleanup' }); break;
        case 'host-end': running.delete(e.host); done++; tallyOutcome(tally, e.recap.outcome); break;
        case 'run-end':
          clearInterval(timer);
          live.clear();
          live.done();
          out.write(opts.redact(formatRecap(e.recap, { color, runId: e.runId, durationMs: e.durationMs, exitCode: e.exitCode, check: opts.check })) + '\n');
          return;
        // no state to keep: these only print, below (listed, so a new event type must be decided here)
        case 'warning': case 'batch-end': case 'step-output': case 'step-result': case 'intent': case 'max-fail-exceeded': case 'interrupted':
          break;
      }
      const line = formatEventLine(e, { color, verbose: opts.verbose, diff: opts.diff });
      if (line !== undefined) print(line);
      else render();
    },
    close: async () => { clearInterval(timer); },
  };
}
