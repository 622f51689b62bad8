import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { RunEvent } from '../engine/events.js';
import type { Intent } from '../steps/types.js';
import type { Redact } from '../report/types.js';

export function stateDir(flag: string | undefined, cwd = process.cwd()): string {
  return resolve(cwd, flag ?? process.env['PVRUN_STATE_DIR'] ?? '.pvrun');
}

/** What `pvrun resume` / `rollback` need to load the same project again. */
export interface PlanInfo {
  /** absolute paths */
  playbook: string;
  inventories: string[];
  cwd: string;
  check: boolean;
  limit?: string;
  tags?: string;
  skipTags?: string;
  startAtStep?: string;
  /** as given (redacted in the journal like everything else) */
  extraVars?: string[];
  summary?: unknown;
}

export type JournalRecord =
  | { kind: 'plan'; runId: string; plan: PlanInfo; time: string }
  /** a later process working on the same run: `pvrun resume` or `pvrun rollback` */
  | { kind: 'session'; runId: string; mode: 'resume' | 'rollback'; pid: number; time: string }
  | { kind: 'event'; event: RunEvent }
  | { kind: 'intent'; host: string; step: string; action: string; detail: Record<string, unknown>; time: string };

/**
 * The run journal: append-only JSON lines in <state>/runs/<runId>.jsonl. Writes are synchronous
 * so records keep their order and are in the kernel before the next action; intent records are
 * also fsynced, because they announce an action that may be cut short by a crash.
 */
export class Journal {
  readonly path: string;
  private fd: number | undefined;

  constructor(dir: string, readonly runId: string, private readonly redact: Redact) {
    mkdirSync(join(dir, 'runs'), { recursive: true, mode: 0o700 });
    this.path = journalPath(dir, runId);
    this.fd = openSync(this.path, 'a', 0o600);
    // A process killed mid-write left a partial last line: end it, so our first record stays whole.
    if (!endsWithNewline(this.path)) writeSync(this.fd, '\n');
  }

  private write(rec: JournalRecord, sync: boolean): void {
    if (this.fd === undefined) return;
    writeSync(this.fd, this.redact(JSON.stringify(rec)) + '\n');
    if (sync) fsyncSync(this.fd);
  }

  plan(plan: PlanInfo): void {
    this.write({ kind: 'plan', runId: this.runId, plan, time: new Date().toISOString() }, true);
  }

  session(mode: 'resume' | 'rollback'): void {
    this.write({ kind: 'session', runId: this.runId, mode, pid: process.pid, time: new Date().toISOString() }, true);
  }

  event(e: RunEvent): void {
    if (e.type === 'intent') return; // written (and fsynced) by intent() before the action
    // A step's result carries its undo token: on disk before the next step starts changing things.
    const sync = e.type === 'run-end' || e.type === 'host-end' || e.type === 'rollback-end' || (e.type === 'step-result' && e.undo !== undefined);
    this.write({ kind: 'event', event: e }, sync);
  }

  intent(host: string, step: string, intent: Intent): void {
    this.write({ kind: 'intent', host, step, action: intent.action, detail: intent.detail, time: new Date().toISOString() }, true);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

export function journalPath(dir: string, runId: string): string {
  return join(dir, 'runs', `${runId}.jsonl`);
}

function endsWithNewline(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return true;
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, size - 1);
    return b[0] === 0x0a;
  } finally {
    closeSync(fd);
  }
}
