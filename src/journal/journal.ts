import { closeSync, fstatSync, fsync, fsyncSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { isoNow } from '../util/iso-now.js';
import { join, resolve } from 'node:path';
import { eventJson, type RunEvent } from '../engine/events.js';
import type { Intent } from '../steps/types.js';
import type { Redact } from '../report/types.js';
import { redactJsonText, redactValueWith } from '../util/redact.js';
import { TurnBuffer } from '../util/turn-buffer.js';

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
  /** --shard i/n, --shard-by, --rollout (src/shard/): resume takes the same slice, rejoins the rollout */
  shard?: string;
  shardBy?: string;
  rollout?: string;
}

export type JournalRecord =
  | { kind: 'plan'; runId: string; plan: PlanInfo; time: string }
  /** a later process working on the same run: `pvrun resume` or `pvrun rollback` */
  | { kind: 'session'; runId: string; mode: 'resume' | 'rollback'; pid: number; time: string }
  | { kind: 'event'; event: RunEvent }
  | { kind: 'intent'; host: string; step: string; action: string; detail: Record<string, unknown>; time: string }
  /**
   * Facts the host's run read (`values`), or dropped (no `values`; namespace '*': all) after a
   * step changed the machine. Resume restores what was current at the cut, so a `when` reads
   * what the killed process read (src/journal/history.ts).
   */
  | { kind: 'facts'; host: string; namespace: string; values?: Record<string, unknown>; time: string };

/**
 * The run journal: append-only JSON lines in <state>/runs/<runId>.jsonl. Records are written in
 * order, in one write per turn of the event loop (every record of every host in that turn: a
 * write syscall per record was a measurable share of the controller's CPU per exec, issue 17),
 * and always before an intent record's fsync: whatever a run did before an action is in the
 * kernel before the action starts, and intent records are on disk (fsync) before it starts. A
 * process killed between a record and the end of its turn leaves the journal it would have left
 * had it been killed just before that record: resume is built for exactly that. The fsync is
 * asynchronous and shared: every host waiting on an intent at the same moment is covered by one fsync of the
 * file, instead of each blocking the whole process with its own (28% of the main thread at 100
 * hosts, BENCHMARKS.md).
 */
export class Journal {
  readonly path: string;
  private fd: number | undefined;
  /** records written / records known to be on disk */
  private written = 0;
  private synced = 0;
  private inflight: Promise<void> | undefined;
  /** records made in this turn of the event loop and not yet written */
  private readonly buffer = new TurnBuffer((text) => { if (this.fd !== undefined) writeSync(this.fd, text); });

  constructor(dir: string, readonly runId: string, private readonly redact: Redact) {
    mkdirSync(join(dir, 'runs'), { recursive: true, mode: 0o700 });
    this.path = journalPath(dir, runId);
    this.fd = openSync(this.path, 'a', 0o600);
    // A process killed mid-write left a partial last line: end it, so our first record stays whole.
    if (!endsWithNewline(this.path)) writeSync(this.fd, '\n');
  }

  private write(rec: JournalRecord, sync: boolean): void {
    if (this.fd === undefined) return;
    // Redacted as a value, then serialised, then the late string-only pass over the JSON text:
    // the journal never holds a secret in any form, and stays valid JSON whatever the secret is.
    this.writeLine(redactJsonText(JSON.stringify(redactValueWith(rec, this.redact)), this.redact), sync);
  }

  private writeLine(json: string, sync: boolean): void {
    if (this.fd === undefined) return;
    this.buffer.add(json + '\n');
    this.written++;
    // durable shortly; whoever must wait for it (an intent) awaits flush()
    if (sync) void this.flush();
  }

  /** Resolves once every record written so far is on disk; concurrent callers share fsyncs. */
  flush(): Promise<void> {
    const target = this.written;
    const wait = async (): Promise<void> => {
      while (this.synced < target && this.fd !== undefined) {
        if (!this.inflight) {
          this.buffer.drain();
          const upTo = this.written;
          const fd = this.fd;
          this.inflight = new Promise<void>((resolve) => {
            fsync(fd, () => {
              this.synced = Math.max(this.synced, upTo);
              this.inflight = undefined;
              resolve();
            });
          });
        }
        await this.inflight;
      }
    };
    return wait();
  }

  plan(plan: PlanInfo): void {
    this.write({ kind: 'plan', runId: this.runId, plan, time: isoNow() }, false);
    this.syncNow();
  }

  session(mode: 'resume' | 'rollback'): void {
    this.write({ kind: 'session', runId: this.runId, mode, pid: process.pid, time: isoNow() }, false);
    this.syncNow();
  }

  /** once per run, before anything is contacted: blocking is fine */
  private syncNow(): void {
    if (this.fd === undefined) return;
    this.buffer.drain();
    fsyncSync(this.fd);
    this.synced = this.written;
  }

  event(e: RunEvent): void {
    if (e.type === 'intent') return; // written (and fsynced) by intent() before the action
    // A step's result carries its undo token: on disk before the next step starts changing things.
    const sync = e.type === 'run-end' || e.type === 'host-end' || e.type === 'rollback-end' || (e.type === 'step-result' && e.undo !== undefined);
    // the event's redacted JSON is made once and shared with the --json reporter (eventJson)
    this.writeLine(`{"kind":"event","event":${eventJson(e, this.redact)}}`, sync);
  }

  /** Facts read or dropped (JournalRecord 'facts'). Not synced: lost ones mean fresh facts on resume. */
  facts(host: string, namespace: string, values: Record<string, unknown> | undefined): void {
    this.write({ kind: 'facts', host, namespace, ...(values ? { values } : {}), time: isoNow() }, false);
  }

  /** Write-ahead: resolves when the record is on disk; only then may the action start. */
  intent(host: string, step: string, intent: Intent): Promise<void> {
    this.write({ kind: 'intent', host, step, action: intent.action, detail: intent.detail, time: isoNow() }, false);
    return this.flush();
  }

  close(): void {
    if (this.fd !== undefined) {
      this.buffer.drain();
      fsyncSync(this.fd);
      closeSync(this.fd);
    }
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
