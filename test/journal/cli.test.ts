import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main, type Io } from '../../src/cli/main.js';
import { Journal, journalPath } from '../../src/journal/journal.js';
import type { RunEvent } from '../../src/engine/events.js';

const FIX = resolve(import.meta.dirname, '..', 'fixtures', 'valid');

async function run(argv: string[], opts: { tty?: boolean; answer?: string; env?: NodeJS.ProcessEnv } = {}) {
  const out = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough;
  const err = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough;
  let o = '', e = '';
  out.on('data', (d: Buffer) => { o += d.toString(); });
  err.on('data', (d: Buffer) => { e += d.toString(); });
  if (opts.tty) { (out as { isTTY?: boolean }).isTTY = true; (err as { isTTY?: boolean }).isTTY = true; }
  const input = new PassThrough() as PassThrough & { isTTY?: boolean };
  input.isTTY = opts.tty ?? false;
  if (opts.answer !== undefined) input.end(opts.answer);
  const io: Io = { out, err, in: input, env: opts.env ?? {}, cwd: process.cwd() };
  const code = await main(argv, io);
  return { code, out: o, err: e };
}

const T = (s: number): string => new Date(Date.UTC(2026, 10, 26, 12, 0, s)).toISOString();
const recap = (host: string, outcome: 'changed' | 'rolled-back') => ({ host, outcome, ok: 1, changed: 1, failed: outcome === 'changed' ? 0 : 1, skipped: 0, unreachable: 0, rolled_back: outcome === 'rolled-back' });

/** a finished run and a run cut short mid-step, as journals */
function journals(dir: string): void {
  const j = new Journal(dir, '20261126T120000Z-aaaa', (s) => s);
  j.plan({ playbook: '/pb/linux-tools.yml', inventories: ['/inv/prod.yml'], cwd: '/', check: false });
  const ev: RunEvent[] = [
    { type: 'run-start', runId: '20261126T120000Z-aaaa', playbook: '/pb/linux-tools.yml', inventories: ['/inv/prod.yml'], check: false, time: T(0), plays: [{ name: 'p', hosts: 2, batches: [2] }] },
    { type: 'play-start', play: 'p', index: 0, hosts: ['web-1', 'web-2'], batches: [['web-1', 'web-2']], time: T(0) },
    { type: 'host-start', host: 'web-1', time: T(1) },
    { type: 'step-start', host: 'web-1', step: 'snap', stepType: 'snapshot', index: 0, phase: 'main', time: T(1) },
    { type: 'step-output', host: 'web-1', step: 'snap', stream: 'log', text: 'took it' },
    { type: 'step-result', host: 'web-1', step: 'snap', stepType: 'snapshot', index: 0, phase: 'main', status: 'changed', summary: 'snapshot s1', durationMs: 1500, time: T(2), undo: { snapshotUuid: 's1' } },
    { type: 'host-end', host: 'web-1', recap: recap('web-1', 'changed'), time: T(3) },
    { type: 'host-start', host: 'web-2', time: T(1) },
    { type: 'host-end', host: 'web-2', recap: recap('web-2', 'rolled-back'), time: T(4) },
    { type: 'run-end', runId: '20261126T120000Z-aaaa', exitCode: 2, recap: [], durationMs: 65_000, time: T(5) },
  ];
  for (const e of ev) j.event(e);
  j.close();
  const k = new Journal(dir, '20261126T130000Z-bbbb', (s) => s);
  k.plan({ playbook: '/pb/linux-tools.yml', inventories: ['/inv/prod.yml'], cwd: '/', check: false });
  k.event({ type: 'play-start', play: 'p', index: 0, hosts: ['web-1', 'web-2'], batches: [['web-1'], ['web-2']], time: T(0) });
  k.event({ type: 'host-start', host: 'web-1', time: T(1) });
  k.event({ type: 'step-start', host: 'web-1', step: 'snap', stepType: 'snapshot', index: 0, phase: 'main', time: T(1) });
  k.intent('web-1', 'snap', { action: 'vm.snapshot', detail: { vm: 'u1' } });
  k.close();
  writeFileSync(journalPath(dir, '20261126T130000Z-bbbb'), readFileSync(journalPath(dir, '20261126T130000Z-bbbb'), 'utf8') + '{"kind":"ev');
}

describe('pvrun runs / show', () => {
  it('lists runs oldest first with outcome counts; an unfinished run says so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvrun-runs-'));
    journals(dir);
    const r = await run(['runs', '--state-dir', dir]);
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toMatch(/^RUN\s+PLAYBOOK\s+INVENTORY\s+STARTED\s+DURATION\s+HOSTS\s+STATUS$/);
    expect(lines[1]).toMatch(/20261126T120000Z-aaaa\s+linux-tools\.yml\s+prod\.yml\s+2026-11-26 12:00:00\s+1m05s\s+changed=1 rolled-back=1\s+exit 2/);
    expect(lines[2]).toMatch(/20261126T130000Z-bbbb .*unfinished=1 not-started=1\s+UNFINISHED/);
  });

  it('shows per host and step with timings; -v adds outputs and undo tokens; a cut step is named', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvrun-show-'));
    journals(dir);
    const a = await run(['show', '20261126T12', '--state-dir', dir, '-v']);
    expect(a.code).toBe(0);
    expect(a.out).toContain('exit 2');
    expect(a.out).toMatch(/snap \(snapshot\)\s+changed\s+1\.5s\s+snapshot s1/);
    expect(a.out).toContain('| log: took it');
    expect(a.out).toContain('undo: {"snapshotUuid":"s1"}');
    const b = await run(['show', 'last', '--state-dir', dir]);
    expect(b.out).toContain('UNFINISHED');
    expect(b.out).toContain('CUT SHORT');
    expect(b.out).toContain('last intent: vm.snapshot');
    expect(b.out).toContain('last journal record was cut short');
  });

  it('user errors exit 5 with a message, no stack', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvrun-none-'));
    const s = await run(['show', 'nope', '--state-dir', dir]);
    expect(s.code).toBe(5);
    expect(s.err).toContain("no run 'nope'");
    const rb = await run(['rollback', 'nope', '--state-dir', dir]);
    expect(rb.code).toBe(5);
    expect(rb.err).toContain('--from-pool');
    expect(rb.err).not.toContain('    at ');
    const rs = await run(['resume', 'nope', '--state-dir', dir]);
    expect(rs.code).toBe(5);
  });

  it('resume of a finished run does nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvrun-fin-'));
    journals(dir);
    const r = await run(['resume', '20261126T120000Z-aaaa', '--state-dir', dir]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('nothing to resume; to undo it: pvrun rollback 20261126T120000Z-aaaa');
  });
});

describe('confirmation on a terminal', () => {
  const argv = (dir: string, ...more: string[]) => [join(FIX, 'minimal.yml'), '-i', join(FIX, 'minimal-inventory.yml'), '--state-dir', dir, ...more];
  const env = { PVRUN_TEST_XAPI_PASSWORD: 'pw-for-tests', PVRUN_CONFIRM_OVER: '1' };

  it('a "no" stops the run before anything is contacted (exit 5, no journal)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvrun-confirm-'));
    // secrets are resolved from the process environment
    process.env['PVRUN_TEST_XAPI_PASSWORD'] ??= 'pw-for-tests';
    // --skip-preflight: the fixture's pool does not exist, and the preflight (which runs before the
    // question, read-only) would rightly stop the run first with exit 4 (issue 20); this is about the question
    const r = await run(argv(dir, '--skip-preflight'), { tty: true, answer: 'n\n', env });
    expect(r.code, r.err).toBe(5);
    expect(r.err).toContain('This run will change up to 2 host(s) (web-1, web-2). Continue? [y/N]');
    expect(r.err).toContain('not confirmed');
    const runs = await run(['runs', '--state-dir', dir]);
    expect(runs.out).toContain('no runs');
  });
});
