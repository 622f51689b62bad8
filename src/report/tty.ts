import { createLogUpdate } from 'log-update';
import pc from 'picocolors';
import type { RunEvent } from '../engine/events.js';
import { formatEventLine } from './plain.js';
import { formatRecap } from './recap.js';
import { redactValueWith } from '../util/redact.js';
import type { Redact, Reporter } from './types.js';

interface Running {
  step: string;
  since: number;
}

/**
 * Live progress on a terminal: finished steps scroll as lines, and below them a region redrawn
 * in place (log-update) shows the current batch and each running host with its current step.
 */
export function createTtyReporter(out: NodeJS.WriteStream, opts: { verbose: boolean; diff: boolean; redact: Redact; check: boolean }): Reporter {
  const c = pc.createColors(true);
  const live = createLogUpdate(out, { showCursor: true });
  const running = new Map<string, Running>();
  let batch = '';
  let done = 0;
  let total = 0;

  const render = (): void => {
    const now = Date.now();
    const lines = [c.bold(`${batch}  ${done}/${total} hosts done`)];
    for (const [host, r] of running) lines.push(`  ${c.cyan('⟳')} ${host}  ${r.step}  ${c.dim(`${((now - r.since) / 1000).toFixed(0)}s`)}`);
    live(opts.redact(lines.join('\n')));
  };
  const print = (text: string): void => {
    live.clear();
    out.write(opts.redact(text) + '\n');
    render();
  };
  const timer = setInterval(render, 250);
  timer.unref();

  return {
    event(raw: RunEvent) {
      const e = redactValueWith(raw, opts.redact); // as a value before formatting, the text again when printed
      switch (e.type) {
        case 'run-start': total = e.plays.reduce((n, p) => n + p.hosts, 0); break;
        case 'batch-start': batch = `${e.play} — batch ${e.index + 1}`; break;
        case 'host-start': running.set(e.host, { step: 'starting', since: Date.now() }); break;
        case 'step-start': running.set(e.host, { step: e.step, since: Date.now() }); break;
        case 'rollback-start': running.set(e.host, { step: 'rolling back', since: Date.now() }); break;
        case 'host-end': running.delete(e.host); done++; break;
        case 'run-end':
          clearInterval(timer);
          live.clear();
          live.done();
          out.write(opts.redact(formatRecap(e.recap, { color: true, runId: e.runId, durationMs: e.durationMs, exitCode: e.exitCode, check: opts.check })) + '\n');
          return;
        default: break;
      }
      const line = formatEventLine(e, { color: true, verbose: opts.verbose, diff: opts.diff });
      if (line !== undefined) print(line);
      else render();
    },
    close: async () => { clearInterval(timer); },
  };
}
