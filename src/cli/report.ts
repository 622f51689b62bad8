/** `pvrun report <run|last> [-o report.html]`, and `--html FILE` at the end of a run. */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { EXIT } from '../engine/exit-codes.js';
import { stateDir } from '../journal/journal.js';
import { findRunId, readJournal } from '../journal/read.js';
import { renderHtmlReport } from '../report/html.js';
import { runTimeline } from '../report/run-timeline.js';
import { redactor } from '../util/redact.js';
import { err, ok, type Result } from '../util/result.js';
import { loadRun } from './runs.js';
import type { Io } from './io.js';

/** The report of a run as HTML text, or a message for the user. */
export function runReportHtml(dir: string, given: string, env: NodeJS.ProcessEnv): Result<{ runId: string; html: string }, string> {
  const id = findRunId(dir, given);
  if (!id.ok) return err(id.error);
  const r = readJournal(dir, id.value);
  if (!r.ok) return err(r.error);
  // registers the run's secrets that still resolve here, as `pvrun show` does (second guard)
  loadRun(dir, id.value, env);
  const t = runTimeline(id.value, r.value.records, r.value.truncated);
  return ok({ runId: id.value, html: renderHtmlReport(t, (s) => redactor.redact(s), { generated: new Date() }) });
}

/** Write a run's report to a file; a message when it cannot be written. */
export function writeRunReport(dir: string, runId: string, file: string, io: Io): Result<string, string> {
  const r = runReportHtml(dir, runId, io.env);
  if (!r.ok) return err(r.error);
  const path = resolve(io.cwd, file);
  try {
    writeFileSync(path, r.value.html);
  } catch (e) {
    return err(`cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return ok(path);
}

export function reportCommand(given: string, flags: { stateDir?: string; output?: string }, io: Io): number {
  const dir = stateDir(flags.stateDir, io.cwd);
  if (flags.output === undefined) {
    const r = runReportHtml(dir, given, io.env);
    if (!r.ok) { io.err.write(`pvrun report: ${r.error}\n`); return EXIT.invalid; }
    io.out.write(r.value.html);
    return EXIT.ok;
  }
  const w = writeRunReport(dir, given, flags.output, io);
  if (!w.ok) { io.err.write(`pvrun report: ${w.error}\n`); return EXIT.invalid; }
  io.err.write(`pvrun report: wrote ${w.value}\n`);
  return EXIT.ok;
}

/** `--html FILE` on a run: the report after the run ended (a run stopped before its journal has none). */
export function reportAfterRun(dir: string, runId: string, file: string, io: Io): void {
  const w = writeRunReport(dir, runId, file, io);
  if (w.ok) io.err.write(`pvrun: report written to ${w.value}\n`);
  else io.err.write(`pvrun: no HTML report: ${w.error}\n`);
}
