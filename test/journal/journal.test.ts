import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal, journalPath, type JournalRecord } from '../../src/journal/journal.js';
import { findRunId, listRunIds, parseJournal, readJournal } from '../../src/journal/read.js';
import { resumePoint, rollbackState, runHistory } from '../../src/journal/history.js';
import { Scheduler } from '../../src/engine/scheduler.js';
import type { HostResume, HostServices } from '../../src/engine/types.js';
import type { RunEvent } from '../../src/engine/events.js';
import { ok, err } from '../../src/util/result.js';
import { makeRig, newLog, play, step, type CallLog } from '../engine/rig.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'pvrun-journal-'));

/** run a rig play with every event and intent journaled, as the CLI wires it */
async function journaledRun(dir: string, runId: string, p: ReturnType<typeof play>, resume?: (play: string, host: string) => HostResume | undefined, session?: 'resume' | 'rollback') {
  const j = new Journal(dir, runId, (s) => s.replaceAll('hunter2', '***'));
  if (session) j.session(session);
  else j.plan({ playbook: '/pb.yml', inventories: ['/inv.yml'], cwd: '/', check: false });
  const services: HostServices = {
    guest: async () => err({ kind: 'step', message: 'no guests' }),
    vm: async () => err({ kind: 'step', message: 'no VMs' }),
    facts: async () => ok({}),
    intent: async (host, stepName, intent) => j.intent(host, stepName, intent),
  };
  const events: RunEvent[] = [];
  const s = new Scheduler({
    runId, playbook: '/pb.yml', inventories: ['/inv.yml'], check: false, diff: false, verbose: false, services,
    render: (v) => ok(v), emit: (e) => { events.push(e); j.event(e); }, ...(resume ? { resume } : {}),
  });
  const summary = await s.run([p]);
  j.close();
  return { summary, events };
}

function rigPlay(log: CallLog, opts: { failOn?: string[] } = {}) {
  const rig = makeRig(log);
  return play({
    hosts: ['a', 'b'], rig,
    steps: [step('snap', {}, { name: 'snapshot' }), step('change', opts.failOn ? { failOn: opts.failOn } : {}, { name: 'install' }), step('other', {}, { name: 'verify' })],
    cleanup: [step('other', { noop: true }, { name: 'eject' })],
  });
}

describe('journal reader', () => {
  it('ignores a last line cut short by a crash and reports it', () => {
    const good = JSON.stringify({ kind: 'event', event: { type: 'host-start', host: 'a', time: 't' } });
    const r = parseJournal(`${good}\n${good}\n{"kind":"event","eve`);
    expect(r.records).toHaveLength(2);
    expect(r.truncated).toBe(true);
    expect(parseJournal(`${good}\n`).truncated).toBe(false);
  });

  it('a later session appending after a partial line keeps its own first record whole', () => {
    const dir = tmp();
    const j = new Journal(dir, 'r1', (s) => s);
    j.plan({ playbook: '/p', inventories: [], cwd: '/', check: false });
    j.close();
    appendFileSync(journalPath(dir, 'r1'), '{"kind":"event","event":{"type":"host-st'); // SIGKILL mid-write
    const j2 = new Journal(dir, 'r1', (s) => s);
    j2.session('rollback');
    j2.close();
    const r = readJournal(dir, 'r1');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.records.map((x) => x.kind)).toEqual(['plan', 'session']);
    expect(r.value.bad).toBe(1);
  });

  it('finds runs by id, unique prefix or `last`; says why not otherwise', () => {
    const dir = tmp();
    for (const id of ['20261126T100000Z-aaaa', '20261126T110000Z-bbbb', '20261126T110500Z-cccc']) new Journal(dir, id, (s) => s).close();
    expect(listRunIds(dir)).toHaveLength(3);
    expect(findRunId(dir, 'last')).toEqual({ ok: true, value: '20261126T110500Z-cccc' });
    expect(findRunId(dir, '20261126T10')).toEqual({ ok: true, value: '20261126T100000Z-aaaa' });
    const amb = findRunId(dir, '20261126T11');
    expect(amb.ok).toBe(false);
    expect(findRunId(dir, 'nope').ok).toBe(false);
    expect(readJournal(dir, 'nope').ok).toBe(false);
  });

  it('redacts what it writes', () => {
    const dir = tmp();
    const j = new Journal(dir, 'r1', (s) => s.replaceAll('hunter2', '***'));
    j.intent('a', 'login', { action: 'x', detail: { password: 'hunter2' } });
    j.close();
    expect(readFileSync(journalPath(dir, 'r1'), 'utf8')).not.toContain('hunter2');
  });
});

describe('journal of an engine run', () => {
  it('holds the plan, every step start and result per host, apply intents, and undo tokens', async () => {
    const dir = tmp();
    const { summary } = await journaledRun(dir, 'r1', rigPlay(newLog()));
    expect(summary.exitCode).toBe(0);
    const r = readJournal(dir, 'r1');
    if (!r.ok) throw new Error(r.error);
    const h = runHistory('r1', r.value.records);
    expect(h.plan?.playbook).toBe('/pb.yml');
    expect(h.exitCode).toBe(0);
    const a = h.hosts.find((x) => x.host === 'a')!;
    expect(a.finished).toBe(true);
    expect(a.steps.map((s) => `${s.phase}:${s.step}:${s.status}`)).toEqual(['main:snapshot:changed', 'main:install:changed', 'main:verify:changed', 'cleanup:eject:ok']);
    expect(a.steps.every((s) => s.durationMs !== undefined)).toBe(true);
    expect(a.applied.map((x) => x.token)).toEqual([{ type: 'snap', h: 'a' }, { type: 'change', h: 'a' }, { type: 'other', h: 'a' }]);
    // the write-ahead intent precedes the result that carries the token
    const kinds = r.value.records.map((x) => (x.kind === 'event' ? `${x.event.type}${'host' in x.event ? `:${x.event.host}` : ''}` : x.kind === 'intent' ? `intent:${x.host}:${x.action}` : x.kind));
    const i = kinds.indexOf('intent:a:step.apply');
    expect(i).toBeGreaterThan(kinds.indexOf('step-start:a'));
    expect(i).toBeLessThan(kinds.indexOf('step-result:a'));
    expect(resumePoint(a)).toBe('done');
  });

  it('a rolled-back host has nothing left to roll back', async () => {
    const dir = tmp();
    await journaledRun(dir, 'r1', rigPlay(newLog(), { failOn: ['b'] }));
    const r = readJournal(dir, 'r1');
    if (!r.ok) throw new Error(r.error);
    const b = runHistory('r1', r.value.records).hosts.find((x) => x.host === 'b')!;
    expect(b.rollback).toBe('ok');
    expect(b.recap?.outcome).toBe('rolled-back');
    expect(rollbackState(b)).toEqual([]);
  });
});

describe('resume and rollback points from a journal cut short', () => {
  /** the journal of a run, cut after its n-th line (what a SIGKILL leaves) */
  async function cutAt(pred: (line: string) => boolean) {
    const dir = tmp();
    await journaledRun(dir, 'r1', rigPlay(newLog()));
    const lines = readFileSync(journalPath(dir, 'r1'), 'utf8').split('\n');
    const n = lines.findIndex(pred);
    expect(n).toBeGreaterThan(0);
    writeFileSync(journalPath(dir, 'r1'), lines.slice(0, n).join('\n') + '\n' + lines[n]!.slice(0, 20));
    const r = readJournal(dir, 'r1');
    if (!r.ok) throw new Error(r.error);
    expect(r.value.truncated).toBe(true);
    return { dir, h: runHistory('r1', r.value.records) };
  }

  it('killed between steps: resume starts at the next step with the applied tokens', async () => {
    const { h } = await cutAt((l) => l.includes('"step-start"') && l.includes('"host":"a"') && l.includes('"verify"'));
    const a = h.hosts.find((x) => x.host === 'a')!;
    expect(h.ended).toBeUndefined();
    // appliesKnown: the journal's fold lists every apply that started (rollback may skip the revert)
    expect(resumePoint(a)).toEqual({ startIndex: 2, applied: [{ index: 0, token: { type: 'snap', h: 'a' } }, { index: 1, token: { type: 'change', h: 'a' } }], appliesKnown: true });
  });

  it('killed mid-apply: the step is planned again, and rollback counts it as maybe half done', async () => {
    const { h } = await cutAt((l) => l.includes('"step-result"') && l.includes('"host":"a"') && l.includes('"install"'));
    const a = h.hosts.find((x) => x.host === 'a')!;
    expect(a.open?.step).toBe('install');
    expect(a.open?.applyStarted).toBe(true);
    expect(resumePoint(a)).toMatchObject({ startIndex: 1 });
    expect(rollbackState(a)).toEqual([{ index: 0, token: { type: 'snap', h: 'a' } }, { index: 1, token: undefined }]);
  });

  it('a step cut mid-apply stays to undo after a later session picks the host up; re-applied, its new token wins', async () => {
    const { dir } = await cutAt((l) => l.includes('"step-result"') && l.includes('"host":"a"') && l.includes('"install"'));
    const j = new Journal(dir, 'r1', (s) => s);
    j.session('resume');
    const t = new Date().toISOString();
    j.event({ type: 'play-start', play: 'rig play', index: 0, hosts: ['a'], batches: [['a']], time: t });
    j.event({ type: 'host-start', host: 'a', time: t });
    j.event({ type: 'step-start', host: 'a', step: 'verify', stepType: 'other', index: 2, phase: 'main', time: t });
    j.event({ type: 'step-result', host: 'a', step: 'verify', stepType: 'other', index: 2, phase: 'main', status: 'changed', summary: 'x', durationMs: 1, time: t, undo: { v: 1 } });
    j.close();
    const r = readJournal(dir, 'r1');
    if (!r.ok) throw new Error(r.error);
    const a = runHistory('r1', r.value.records).hosts.find((x) => x.host === 'a' && x.play === 'rig play')!;
    expect(rollbackState(a)).toEqual([{ index: 0, token: { type: 'snap', h: 'a' } }, { index: 1, token: undefined }, { index: 2, token: { v: 1 } }]);
    const k = new Journal(dir, 'r1', (s) => s);
    k.event({ type: 'step-start', host: 'a', step: 'install', stepType: 'change', index: 1, phase: 'main', time: t });
    k.event({ type: 'step-result', host: 'a', step: 'install', stepType: 'change', index: 1, phase: 'main', status: 'changed', summary: 'x', durationMs: 1, time: t, undo: { again: true } });
    k.close();
    const r2 = readJournal(dir, 'r1');
    if (!r2.ok) throw new Error(r2.error);
    const a2 = runHistory('r1', r2.value.records).hosts.find((x) => x.host === 'a' && x.play === 'rig play')!;
    expect(rollbackState(a2).filter((x) => x.index === 1)).toEqual([{ index: 1, token: { again: true } }]);
  });

  it('the engine resumes a host from its start index and still rolls back to the journaled restore point', async () => {
    const dir = tmp();
    const log = newLog();
    // the earlier process applied 'snapshot' and was killed in 'install'; now 'install' fails
    const p = rigPlay(log, { failOn: ['a'] });
    const resume = (_p: string, host: string): HostResume | undefined =>
      host === 'a' ? { startIndex: 1, applied: [{ index: 0, token: { type: 'snap', h: 'a', from: 'journal' } }] } : undefined;
    const { summary } = await journaledRun(dir, 'r1', { ...p, hosts: p.hosts.filter((x) => x.name === 'a') }, resume, 'resume');
    expect(log.calls.filter((c) => c.startsWith('a:'))).toEqual(['a:plan:change', 'a:apply:change', 'a:undo:snap', 'a:plan:other']);
    expect(summary.recap[0]?.outcome).toBe('rolled-back');
  });

  it('rollback mode undoes the journaled steps and runs the cleanup, nothing else', async () => {
    const log = newLog();
    const p = rigPlay(log);
    const resume = (): HostResume => ({ startIndex: Number.MAX_SAFE_INTEGER, applied: [{ index: 0, token: { t: 1 } }, { index: 1, token: { t: 2 } }], rollback: 'pvrun rollback' });
    const { summary, events } = await journaledRun(tmp(), 'r1', { ...p, hosts: p.hosts.slice(0, 1) }, resume, 'rollback');
    expect(log.calls).toEqual(['a:undo:snap', 'a:plan:other']);
    expect(summary.recap[0]?.outcome).toBe('rolled-back');
    expect(events.filter((e) => e.type === 'rollback-step').map((e) => (e as { summary: string }).summary)).toEqual(['superseded by the revert to the snapshot', 'undid snap']);
  });
});

describe('what a step cut short while applying had journaled (HostResume.cutIntents)', () => {
  const t = '2026-12-06T10:00:00.000Z';
  const ev = (event: RunEvent): JournalRecord => ({ kind: 'event', event });
  const intent = (step: string, action: string, detail: Record<string, unknown> = {}): JournalRecord => ({ kind: 'intent', host: 'a', step, action, detail, time: t });
  const start = (step: string, index: number): JournalRecord => ev({ type: 'step-start', host: 'a', step, stepType: step, index, phase: 'main', time: t });
  const head: JournalRecord[] = [
    { kind: 'plan', runId: 'r1', plan: { playbook: '/pb.yml', inventories: ['/inv.yml'], cwd: '/', check: false }, time: t },
    ev({ type: 'play-start', play: 'p', index: 0, hosts: ['a'], batches: [['a']], time: t }),
    ev({ type: 'host-start', host: 'a', time: t }),
    // an earlier step's intents are its own
    start('install', 0), intent('install', 'step.apply'), intent('install', 'reboot', { boot_id: 'old' }),
    ev({ type: 'step-result', host: 'a', step: 'install', stepType: 'install', index: 0, phase: 'main', status: 'changed', summary: 'ok', durationMs: 1, time: t }),
    start('reboot', 1),
  ];
  const point = (records: JournalRecord[]) => resumePoint(runHistory('r1', records).hosts.find((x) => x.host === 'a')!);

  it('the cut step\'s intents after its step.apply, in order, and nothing of an earlier step', () => {
    const p = point([...head, intent('reboot', 'step.apply'), intent('reboot', 'reboot', { via: 'guest', boot_id: 'b0' }), intent('reboot', 'note', { n: 2 })]);
    expect(p).toMatchObject({ startIndex: 1, gatePassed: 1, cutIntents: [{ action: 'reboot', detail: { via: 'guest', boot_id: 'b0' } }, { action: 'note', detail: { n: 2 } }] });
  });

  it('cut after step.apply but before the step asked for anything: no cutIntents', () => {
    const p = point([...head, intent('reboot', 'step.apply')]);
    expect(p).toMatchObject({ startIndex: 1, gatePassed: 1 });
    expect(p !== 'done' && p?.cutIntents).toBeUndefined();
  });

  it('cut before the apply started (planning): neither gatePassed nor cutIntents', () => {
    const p = point([...head]);
    expect(p).toMatchObject({ startIndex: 1 });
    expect(p !== 'done' && p !== undefined && ('gatePassed' in p || 'cutIntents' in p)).toBe(false);
  });
});
