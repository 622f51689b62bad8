/**
 * The journal and the --json reporter write the records of one turn of the event loop in one
 * write (issue 17). What that must not cost: order, the write-ahead rule (every record made
 * before an intent is in the file when the intent's flush resolves), and records lost when the
 * process ends before the turn does (process.exit, an uncaught error) — attacked here with real
 * child processes, and SIGKILL right after an intent.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal, journalPath } from '../../src/journal/journal.js';
import { createJsonReporter } from '../../src/report/json.js';
import type { RunEvent } from '../../src/engine/events.js';
import { PassThrough } from 'node:stream';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'pvrun-coalesce-'));
const WRITER = join(import.meta.dirname, 'fixtures', 'writer.ts');
const ev = (host: string): RunEvent => ({ type: 'step-start', host, step: 's', stepType: 'run-script', index: 0, phase: 'main', time: 't' });
const lines = (path: string): Record<string, unknown>[] => readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);
const hostsOf = (recs: Record<string, unknown>[]): string[] => recs.flatMap((r) => {
  const e = (r['kind'] === 'event' ? r['event'] : r) as Record<string, unknown>;
  return typeof e['host'] === 'string' ? [e['host']] : [];
});

function runWriter(dir: string, mode: string, onReady?: (kill: () => void) => void): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, dir, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (onReady && stderr.includes('ready\n')) { const f = onReady; onReady = undefined; f(() => child.kill('SIGKILL')); }
    });
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

describe('journal: one write per turn, nothing lost or reordered', () => {
  it('an intent\'s flush resolves with every earlier record in the file, in order', async () => {
    const dir = tmp();
    const j = new Journal(dir, 'r1', (s) => s);
    j.event(ev('a'));
    j.event(ev('b'));
    const p = j.intent('c', 's', { action: 'step.apply', detail: {} });
    j.event(ev('d')); // after the intent: may or may not be in this write; must not come before it
    await p;
    const got = hostsOf(lines(journalPath(dir, 'r1')));
    expect(got.slice(0, 3)).toEqual(['a', 'b', 'c']);
    j.close();
    expect(hostsOf(lines(journalPath(dir, 'r1')))).toEqual(['a', 'b', 'c', 'd']);
  });

  it('records of a turn reach the file by the next turn without a flush', async () => {
    const dir = tmp();
    const j = new Journal(dir, 'r1', (s) => s);
    for (const h of ['a', 'b', 'c']) j.event(ev(h));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(hostsOf(lines(journalPath(dir, 'r1')))).toEqual(['a', 'b', 'c']);
    j.close();
  });

  it('process.exit in the same turn: the journal and --json still hold every record', async () => {
    const dir = tmp();
    const r = await runWriter(dir, 'exit');
    expect(r.code).toBe(3);
    expect(hostsOf(lines(journalPath(dir, 'r1')))).toEqual(['h0', 'h1', 'h2', 'h3', 'h4']);
    expect(r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { host: string }).host)).toEqual(['h0', 'h1', 'h2', 'h3', 'h4']);
  });

  it('an uncaught error in the same turn: every record is still written', async () => {
    const dir = tmp();
    const r = await runWriter(dir, 'throw');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('boom');
    expect(hostsOf(lines(journalPath(dir, 'r1')))).toEqual(['h0', 'h1', 'h2', 'h3', 'h4']);
    expect(r.stdout.trim().split('\n')).toHaveLength(5);
  });

  it('SIGKILL right after an intent is on disk: the intent and everything before it survive', async () => {
    const dir = tmp();
    const r = await runWriter(dir, 'kill', (kill) => kill());
    expect(r.signal).toBe('SIGKILL');
    const recs = lines(journalPath(dir, 'r1'));
    expect(hostsOf(recs)).toEqual(['h0', 'h1', 'h2', 'h3', 'h4', 'h9']);
    expect(recs.at(-1)).toMatchObject({ kind: 'intent', action: 'step.apply' });
  });
});

describe('--json reporter: one write per turn', () => {
  it('a turn\'s events go out as one write, each on its own line, in order; close() writes the rest', async () => {
    const out = new PassThrough();
    const writes: string[] = [];
    out.on('data', (d: Buffer) => writes.push(d.toString()));
    const rep = createJsonReporter(out, (s) => s.replaceAll('secret1', '***'));
    rep.event(ev('a'));
    rep.event(ev('secret1'));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(writes).toHaveLength(1);
    rep.event(ev('c'));
    await rep.close();
    const all = writes.join('').trim().split('\n').map((l) => (JSON.parse(l) as { host: string }).host);
    expect(all).toEqual(['a', '***', 'c']);
    expect(writes.join('')).not.toContain('secret1');
  });
});
