import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { RunEvent } from '../engine/events.js';
import type { Intent } from '../steps/types.js';
import type { Redact } from '../report/types.js';

export function stateDir(flag: string | undefined, cwd = process.cwd()): string {
  return resolve(cwd, flag ?? process.env['PVRUN_STATE_DIR'] ?? '.pvrun');
}

export type JournalRecord =
  | { kind: 'plan'; runId: string; plan: unknown; time: string }
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
    mkdirSync(join(dir, 'runs'), { recursive: true });
    this.path = join(dir, 'runs', `${runId}.jsonl`);
    this.fd = openSync(this.path, 'a', 0o600);
  }

  private write(rec: JournalRecord, sync: boolean): void {
    if (this.fd === undefined) return;
    writeSync(this.fd, this.redact(JSON.stringify(rec)) + '\n');
    if (sync) fsyncSync(this.fd);
  }

  plan(plan: unknown): void {
    this.write({ kind: 'plan', runId: this.runId, plan, time: new Date().toISOString() }, true);
  }

  event(e: RunEvent): void {
    // step-output can be large and is not needed to recover; everything else is kept.
    if (e.type === 'intent') return; // written (and fsynced) by intent() before the action
    this.write({ kind: 'event', event: e }, e.type === 'run-end' || e.type === 'host-end');
  }

  intent(host: string, step: string, intent: Intent): void {
    this.write({ kind: 'intent', host, step, action: intent.action, detail: intent.detail, time: new Date().toISOString() }, true);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
