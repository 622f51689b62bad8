import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { err, ok, type Result } from '../util/result.js';
import { journalPath, type JournalRecord } from './journal.js';

export interface JournalRead {
  records: JournalRecord[];
  /** the last line was cut short (the writer died mid-write): it is ignored */
  truncated: boolean;
  /** unreadable lines elsewhere (should not happen; counted rather than fatal) */
  bad: number;
}

/**
 * Parse a journal's text. Tolerant by design: a SIGKILL or power loss can leave a partial last
 * line, and a later session appends after it (starting with a newline), so a bad line in the
 * middle is skipped too.
 */
export function parseJournal(text: string): JournalRead {
  const lines = text.split('\n');
  const last = lines.pop() ?? '';
  const records: JournalRecord[] = [];
  let bad = 0;
  for (const l of lines) {
    if (l.trim() === '') continue;
    const r = parseLine(l);
    if (r) records.push(r);
    else bad++;
  }
  let truncated = false;
  if (last.trim() !== '') {
    const r = parseLine(last);
    if (r) records.push(r);
    else truncated = true;
  }
  return { records, truncated, bad };
}

function parseLine(l: string): JournalRecord | undefined {
  try {
    const v = JSON.parse(l) as unknown;
    if (typeof v === 'object' && v !== null && typeof (v as { kind?: unknown }).kind === 'string') return v as JournalRecord;
  } catch { /* partial line */ }
  return undefined;
}

export function readJournal(dir: string, runId: string): Result<JournalRead, string> {
  const path = journalPath(dir, runId);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return err(code === 'ENOENT' ? `no journal for run '${runId}' in ${join(dir, 'runs')}` : `cannot read ${path}: ${String(e)}`);
  }
  return ok(parseJournal(text));
}

/** Run ids in the state directory, oldest first (ids sort by time). */
export function listRunIds(dir: string): string[] {
  const runs = join(dir, 'runs');
  if (!existsSync(runs)) return [];
  return readdirSync(runs).filter((f) => f.endsWith('.jsonl')).map((f) => f.slice(0, -'.jsonl'.length)).sort();
}

/**
 * A run named on the command line: the exact id, `last`, or a unique prefix
 * (ids are long; `20261126T1201` is enough when only one run started that minute).
 */
export function findRunId(dir: string, given: string): Result<string, string> {
  const ids = listRunIds(dir);
  if (given === 'last') {
    const l = ids.at(-1);
    return l ? ok(l) : err(`no runs in ${join(dir, 'runs')}`);
  }
  if (ids.includes(given)) return ok(given);
  const m = ids.filter((id) => id.startsWith(given));
  if (m.length === 1) return ok(m[0]!);
  if (m.length > 1) return err(`run '${given}' is ambiguous: ${m.slice(0, 5).join(', ')}${m.length > 5 ? ', …' : ''}`);
  return err(`no run '${given}' in ${join(dir, 'runs')} (see \`pvrun runs\`)`);
}
