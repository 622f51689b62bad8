import pc from 'picocolors';
import type { RunEvent, StepStatus } from '../engine/events.js';
import { redactedOnce } from '../util/redact.js';
import { formatRecap } from './recap.js';
import type { Redact, Reporter } from './types.js';

type Colors = ReturnType<typeof pc.createColors>;
// made once: picocolors builds ~40 closures per createColors, and formatEventLine runs for every
// event (~1 % of the controller's CPU per exec, issue 17)
const COLORS: Colors = pc.createColors(true);
const PLAIN: Colors = pc.createColors(false);

const statusPaint = (c: Colors, s: StepStatus): string => {
  switch (s) {
    case 'ok': return c.green(s);
    case 'changed': case 'would-change': return c.yellow(s);
    case 'failed': case 'would-fail': case 'unreachable': return c.red(s);
    case 'skipped': case 'unknown': return c.cyan(s);
  }
};

/** Multi-line messages (a script's stderr) stay visibly part of their event. */
export function indentRest(text: string): string {
  return text.trimEnd().split('\n').join('\n    | ');
}

/**
 * One line per event worth reading, for a human; the TTY reporter reuses it for its log part.
 * `verbose` is the number of -v: 0 step results, rollbacks, batches; 1 (-v) also host and step
 * starts and the output of commands that change things; 2 (-vv) also every command line run and
 * the write-ahead intents; 3 (-vvv) everything, the output of read-only probes included.
 */
export function formatEventLine(e: RunEvent, opts: { color: boolean; verbose: number; diff: boolean }): string | undefined {
  const c = opts.color ? COLORS : PLAIN;
  switch (e.type) {
    case 'run-start':
      return c.bold(`pvrun ${e.check ? 'CHECK MODE (rehearsal: reads only) ' : ''}run ${e.runId}: ${e.playbook}`) +
        e.plays.map((p) => `\n  play '${p.name}': ${p.hosts} host(s) in batches [${p.batches.join(', ')}]`).join('');
    case 'warning': return c.yellow(`WARNING: ${e.message}`);
    case 'play-start': return c.bold(`PLAY ${e.play} (${e.hosts.length} hosts)`);
    case 'batch-start': return `BATCH ${e.index + 1}: ${e.hosts.join(', ')}`;
    case 'batch-end': return e.failed > 0 ? c.red(`batch ${e.index + 1} done: ${e.failed}/${e.total} failed`) : undefined;
    case 'step-start': return opts.verbose >= 1 ? c.dim(`${e.host} [${e.phase === 'cleanup' ? 'cleanup: ' : ''}${e.step}] start`) : undefined;
    case 'step-result': {
      const line = `${e.host} [${e.phase === 'cleanup' ? 'cleanup: ' : ''}${e.step}] ${statusPaint(c, e.status)}: ${indentRest(e.summary)} ${c.dim(`(${(e.durationMs / 1000).toFixed(1)}s)`)}`;
      return opts.diff && e.diff ? `${line}\n${e.diff.split('\n').map((l) => `    ${l}`).join('\n')}` : line;
    }
    case 'step-output': return opts.verbose >= (e.level ?? 1) ? c.dim(`${e.host} [${e.step}] ${e.stream}: ${e.text.replace(/\n$/, '')}`) : undefined;
    case 'intent': return opts.verbose >= 2 ? c.dim(`${e.host} [${e.step}] intent ${e.action} ${JSON.stringify(e.detail)}`) : undefined;
    case 'rollback-start': return c.magenta(`${e.host} ROLLBACK: ${indentRest(e.reason)}`);
    case 'rollback-step': return `${e.host} [rollback ${e.step}] ${e.ok ? c.green('ok') : c.red('FAILED')}: ${e.summary}`;
    case 'rollback-end': return e.ok ? c.magenta(`${e.host} rollback complete`) : c.bold(c.red(`${e.host} ROLLBACK FAILED`));
    case 'host-end': return undefined;
    case 'host-start': return opts.verbose >= 1 ? c.dim(`${e.host} start`) : undefined;
    case 'max-fail-exceeded':
      return c.red(`play '${e.play}': batch ${e.batch + 1} had ${e.failed}/${e.total} failed, over max_fail_percentage ${e.limit}: no further batches`);
    case 'interrupted':
      return e.second
        ? c.bold(c.red(`ABORTED (second interrupt). Left mid-step: ${e.running.map((r) => `${r.host} in '${r.step}'`).join(', ') || 'none'}`))
        : c.yellow('Interrupted: no new hosts will start; running hosts finish their step and roll back per policy. Ctrl-C again to abort at once.');
    case 'run-end': return undefined;
  }
}

/** Plain timestamped lines: no live progress (not a terminal, TERM=dumb, CI); coloured when humanDisplay says so. */
export function createPlainReporter(out: NodeJS.WritableStream, opts: { color: boolean; verbose: number; diff: boolean; redact: Redact; check: boolean }): Reporter {
  return {
    event(raw) {
      // redacted as a value first (the intent's detail and a step's diff are serialised below),
      // then the printed text once more
      const e = redactedOnce(raw, opts.redact);
      if (e.type === 'run-end') {
        out.write(opts.redact(formatRecap(e.recap, { color: opts.color, runId: e.runId, durationMs: e.durationMs, exitCode: e.exitCode, check: opts.check })) + '\n');
        return;
      }
      const line = formatEventLine(e, opts);
      if (line === undefined) return;
      const ts = 'time' in e ? e.time.slice(11, 19) : new Date().toISOString().slice(11, 19);
      out.write(opts.redact(line.split('\n').map((l) => `${ts} ${l}`).join('\n')) + '\n');
    },
    close: async () => {},
  };
}
