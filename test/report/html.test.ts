/**
 * The HTML run report from a journal: one row per host, steps at their times, failures marked,
 * the rollback drawn, outputs in panels, secrets masked (also in their HTML-escaped form), and
 * nothing that would make the page fetch anything. The browser side is html-browser.test.ts.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/engine/events.js';
import type { JournalRecord } from '../../src/journal/journal.js';
import { renderHtmlReport, REPORT_CSP } from '../../src/report/html.js';
import { runTimeline } from '../../src/report/run-timeline.js';
import { Redactor, redactor } from '../../src/util/redact.js';
import { runCli } from '../harness/cli.js';

const SECRET = 'hunter2&<pw>';
const RUN = '20261205T020000Z-abcd';
const T0 = Date.parse('2026-12-05T02:00:00.000Z');
const at = (s: number): string => new Date(T0 + s * 1000).toISOString();

/** A journal as the engine writes it (before redaction: the report must mask on its own too). */
function journal(): JournalRecord[] {
  const ev: RunEvent[] = [
    { type: 'run-start', runId: RUN, playbook: '/p/linux-tools.yml', inventories: ['/p/inv.yml'], check: false, time: at(0), plays: [{ name: 'tools', hosts: 3, batches: [1, 2] }] },
    { type: 'play-start', play: 'tools', index: 0, hosts: ['web-01', 'db-01', 'legacy-01'], batches: [['web-01'], ['db-01', 'legacy-01']], time: at(0) },
    { type: 'batch-start', play: 'tools', index: 0, hosts: ['web-01'], time: at(0) },
    { type: 'host-start', host: 'web-01', time: at(0) },
    { type: 'step-start', host: 'web-01', step: 'snapshot', stepType: 'snapshot', index: 0, phase: 'main', time: at(0) },
    { type: 'step-result', host: 'web-01', step: 'snapshot', stepType: 'snapshot', index: 0, phase: 'main', status: 'changed', summary: 'snapshot taken', durationMs: 2000, time: at(2) },
    { type: 'step-start', host: 'web-01', step: 'reboot', stepType: 'reboot', index: 1, phase: 'main', time: at(2) },
    { type: 'step-result', host: 'web-01', step: 'reboot', stepType: 'reboot', index: 1, phase: 'main', status: 'changed', summary: 'rebooted', durationMs: 8000, time: at(10) },
    { type: 'host-end', host: 'web-01', time: at(10), recap: { host: 'web-01', outcome: 'changed', ok: 0, changed: 2, failed: 0, skipped: 0, unreachable: 0, rolled_back: false } },
    { type: 'batch-end', play: 'tools', index: 0, failed: 0, total: 1, time: at(10) },
    { type: 'batch-start', play: 'tools', index: 1, hosts: ['db-01', 'legacy-01'], time: at(10) },
    { type: 'host-start', host: 'db-01', time: at(10) },
    { type: 'host-start', host: 'legacy-01', time: at(10) },
    { type: 'step-start', host: 'db-01', step: 'check tools', stepType: 'check', index: 0, phase: 'main', time: at(10) },
    { type: 'step-result', host: 'db-01', step: 'check tools', stepType: 'check', index: 0, phase: 'main', status: 'skipped', summary: 'tools detected', durationMs: 500, time: at(10.5) },
    { type: 'host-end', host: 'db-01', time: at(10.5), recap: { host: 'db-01', outcome: 'skipped', ok: 0, changed: 0, failed: 0, skipped: 1, unreachable: 0, rolled_back: false } },
    { type: 'step-start', host: 'legacy-01', step: 'snapshot', stepType: 'snapshot', index: 0, phase: 'main', time: at(10) },
    { type: 'step-result', host: 'legacy-01', step: 'snapshot', stepType: 'snapshot', index: 0, phase: 'main', status: 'changed', summary: 'snapshot taken', durationMs: 1000, time: at(11) },
    { type: 'step-start', host: 'legacy-01', step: 'run the installer', stepType: 'run-script', index: 1, phase: 'main', time: at(11) },
    { type: 'step-output', host: 'legacy-01', step: 'run the installer', stream: 'stdout', text: `login with ${SECRET} <script>alert(1)</script>` },
    { type: 'step-output', host: 'legacy-01', step: 'run the installer', stream: 'stderr', text: 'rpm: dependency failed' },
    { type: 'step-result', host: 'legacy-01', step: 'run the installer', stepType: 'run-script', index: 1, phase: 'main', status: 'failed', summary: 'exit 1', durationMs: 4000, time: at(15) },
    { type: 'rollback-start', host: 'legacy-01', reason: 'run the installer failed', mode: 'reverted', time: at(15) },
    { type: 'rollback-step', host: 'legacy-01', step: 'snapshot', ok: true, summary: 'reverted to the snapshot', time: at(18) },
    { type: 'rollback-end', host: 'legacy-01', ok: true, mode: 'reverted', time: at(19) },
    { type: 'step-start', host: 'legacy-01', step: 'eject the ISO if still inserted', stepType: 'detach-iso', index: 0, phase: 'cleanup', time: at(19) },
    { type: 'step-result', host: 'legacy-01', step: 'eject the ISO if still inserted', stepType: 'detach-iso', index: 0, phase: 'cleanup', status: 'ok', summary: 'no ISO', durationMs: 200, time: at(19.2) },
    { type: 'host-end', host: 'legacy-01', time: at(19.2), recap: { host: 'legacy-01', outcome: 'rolled-back', ok: 0, changed: 1, failed: 1, skipped: 0, unreachable: 0, rolled_back: true, rollback_mode: 'reverted', reason: `run the installer: exit 1 (${SECRET})` } },
    { type: 'batch-end', play: 'tools', index: 1, failed: 1, total: 2, time: at(19.2) },
    { type: 'run-end', runId: RUN, exitCode: 2, recap: [], durationMs: 19200, time: at(19.2) },
  ];
  return [
    { kind: 'plan', runId: RUN, time: at(0), plan: { playbook: '/p/linux-tools.yml', inventories: ['/p/inv.yml'], cwd: '/p', check: false } },
    ...ev.map((event) => ({ kind: 'event' as const, event })),
  ];
}

const masking = new Redactor();
masking.add(SECRET);
const html = renderHtmlReport(runTimeline(RUN, journal()), (s) => masking.redact(s));

/** the host rows: `<div class="host…" data-outcome="…" data-host="…">…` up to the next row */
function hostRow(name: string): string {
  const start = html.indexOf(`data-host="${name}"`);
  expect(start, `row of ${name}`).toBeGreaterThan(0);
  const next = html.indexOf('data-host="', start + 10);
  return html.slice(start, next < 0 ? undefined : next);
}

describe('the HTML report of a run', () => {
  it('has one timeline row per host, in its batch', () => {
    const rows = [...html.matchAll(/<div class="host[^"]*" data-outcome="([^"]+)" data-host="([^"]+)">/g)].map((m) => [m[2], m[1]]);
    expect(rows).toEqual([['web-01', 'changed'], ['db-01', 'skipped'], ['legacy-01', 'rolled-back']]);
    const batches = [...html.matchAll(/<div class="batch" data-batch="(\d+)">/g)].map((m) => m[1]);
    expect(batches).toEqual(['0', '1']);
    expect(html).toContain('1/2 failed');
  });

  it('draws each step at its time: the reboot marked, the failed step red, the rollback span', () => {
    const web = hostRow('web-01');
    // the play spans 19.2 s: the reboot starts at 2 s and lasts 8 s
    expect(web).toMatch(/class="step st-changed reboot"[^>]*style="left:10\.417%;width:41\.667%"/);
    expect(web).not.toContain('class="rollback');
    const legacy = hostRow('legacy-01');
    expect(legacy).toMatch(/class="step st-failed failed"[^>]*title="run the installer \(run-script\): failed, 4\.0s"/);
    expect(legacy).toMatch(/class="rollback"[^>]*style="left:78\.125%;width:20\.833%"[^>]*title="rollback \(reverted\): ok, 4\.0s"/);
    expect(legacy).toContain('reverted to the snapshot');
    expect(legacy).toMatch(/class="step st-ok cleanup"/);
    expect(hostRow('db-01')).not.toMatch(/class="step[^"]*failed/);
  });

  it('puts each step\'s output in a hidden panel its span opens', () => {
    const legacy = hostRow('legacy-01');
    const panel = /data-panel="(s\d+)" data-status="failed"/.exec(legacy)![1]!;
    const section = new RegExp(`<section class="panel" id="${panel}" hidden>([\\s\\S]*?)</section>`).exec(legacy);
    expect(section?.[1]).toContain('stderr: rpm: dependency failed');
    expect(section?.[1]).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('masks secrets, raw and HTML-escaped, everywhere (outputs, reasons)', () => {
    expect(html).not.toContain(SECRET);
    expect(html).not.toContain('hunter2&amp;&lt;pw&gt;');
    expect(html).not.toContain('hunter2');
    expect(html).toContain('login with ***');
    expect(html).toContain('exit 1 (***)');
  });

  it('lists the recap and one filter per outcome present', () => {
    const recap = [...html.matchAll(/<tr class="host-recap" data-outcome="([^"]+)"><td>([^<]+)<\/td>/g)].map((m) => [m[2], m[1]]);
    expect(recap).toEqual([['web-01', 'changed'], ['db-01', 'skipped'], ['legacy-01', 'rolled-back']]);
    const filters = [...html.matchAll(/class="filter" value="([^"]+)"/g)].map((m) => m[1]);
    expect(filters).toEqual(['changed', 'skipped', 'rolled-back']);
    expect(html).toContain('<dd id="exit-code">2</dd>');
  });

  it('is self-contained: a CSP that forbids fetching, no URL to load, no external font', () => {
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="${REPORT_CSP}">`);
    expect(REPORT_CSP).toMatch(/^default-src 'none';/);
    expect(html).not.toMatch(/\b(src|href|action|poster|srcset)\s*=/i);
    expect(html).not.toMatch(/url\(|@import|@font-face/i);
    expect(html).not.toMatch(/https?:\/\//);
  });

  it('draws a step cut short by a dead process, and a host that never finished', () => {
    const recs = journal().slice(0, 20); // up to legacy-01's installer, before its result
    const h = renderHtmlReport(runTimeline(RUN, recs), (s) => masking.redact(s));
    expect(h).toMatch(/data-outcome="unfinished" data-host="legacy-01"/);
    expect(h).toMatch(/class="step st-cut-short"[^>]*title="run the installer \(run-script\): cut-short/);
    expect(h).toContain('none (the process stopped before the end)');
  });
});

describe('pvrun report', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvrun-report-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => redactor.clear());
  mkdirSync(join(dir, 'runs'), { recursive: true });
  writeFileSync(join(dir, 'runs', `${RUN}.jsonl`), journal().map((r) => JSON.stringify(r)).join('\n') + '\n');

  it('writes the report of `last` to -o FILE', async () => {
    const out = join(dir, 'r.html');
    const r = await runCli(['report', 'last', '-o', out, '--state-dir', dir]);
    expect(r.err).toContain(`wrote ${out}`);
    expect(r.code).toBe(0);
    const text = readFileSync(out, 'utf8');
    expect(text).toMatch(/^<!DOCTYPE html>/);
    expect(text).toContain(`pvrun run ${RUN}`);
    expect(text.match(/data-host="/g)).toHaveLength(3);
  });

  it('masks with the process redactor too (secrets registered in this process, as after a run)', async () => {
    redactor.add(SECRET);
    const r = await runCli(['report', RUN.slice(0, 12), '--state-dir', dir]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('login with ***');
    expect(r.out).not.toContain('hunter2');
  });

  it('an unknown run is exit 5 with a message, no trace', async () => {
    const r = await runCli(['report', 'nope', '--state-dir', dir]);
    expect(r.code).toBe(5);
    expect(r.err).toBe(`pvrun report: no run 'nope' in ${join(dir, 'runs')} (see \`pvrun runs\`)\n`);
  });

  it('has --help', async () => {
    const r = await runCli(['report', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('Usage: pvrun report [options] <run>');
    expect(r.out).toContain('-o, --output <file>');
  });
});
