import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Scheduler } from '../../src/engine/scheduler.js';
import type { RunEvent } from '../../src/engine/events.js';
import type { HostServices } from '../../src/engine/types.js';
import { newAjv } from '../../src/load/ajv.js';
import { createJunitReporter } from '../../src/report/junit.js';
import { createJsonReporter } from '../../src/report/json.js';
import { createGithubReporter, escapeData } from '../../src/report/github.js';
import { fanout } from '../../src/report/types.js';
import { needsConfirmation } from '../../src/cli/confirm.js';
import { ok, err } from '../../src/util/result.js';
import { makeRig, newLog, play, step } from '../engine/rig.js';
import { parseXml, validateJunit, type XmlEl } from './junit-schema.js';

const SCHEMA = JSON.parse(readFileSync(resolve(import.meta.dirname, '..', '..', 'schema', 'events.schema.json'), 'utf8')) as object;
export const validateEvent = newAjv().compile(SCHEMA);

/** a rig run with every outcome: ok, rolled back, rollback failed, skipped */
async function mixedRun(dir: string) {
  const log = newLog();
  const rig = makeRig(log);
  const p = play({
    hosts: ['ok-1', 'bad-2', 'worse-3', 'skip-4'], rig,
    steps: [
      step('other', { skipHostOn: ['skip-4'] }, { name: 'check' }),
      step('snap', { undoFailOn: ['worse-3'] }, { name: 'snapshot' }),
      step('change', { failOn: ['bad-2', 'worse-3'] }, { name: 'install <&> "tools"' }),
    ],
    cleanup: [step('other', { noop: true }, { name: 'eject' })],
  });
  const out = new PassThrough();
  let gh = '';
  out.on('data', (d: Buffer) => { gh += d.toString(); });
  const redact = (s: string): string => s.replaceAll('s3cr3t-value', '***');
  const reporter = fanout([
    createJunitReporter(join(dir, 'junit.xml'), redact),
    createJsonReporter(join(dir, 'events.jsonl'), redact),
    createGithubReporter(out, join(dir, 'summary.md'), redact),
  ]);
  const services: HostServices = { guest: async () => err({ kind: 'step', message: 'none' }), vm: async () => err({ kind: 'step', message: 'none' }), facts: async () => ok({}) };
  const events: RunEvent[] = [];
  const s = new Scheduler({
    runId: 'r1', playbook: 'pb.yml', inventories: ['inv.yml'], check: false, diff: false, verbose: false, services, render: (v) => ok(v),
    emit: (e) => { events.push(e); reporter.event(e); },
  });
  reporter.event({ type: 'warning', message: 'pool lab: password s3cr3t-value in a message', time: new Date().toISOString() });
  await s.run([p]);
  await reporter.close();
  return { events, gh };
}

describe('JUnit report', () => {
  it('validates against the JUnit schema: a suite per play, a case per host, the failed step named', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvrun-junit-'));
    await mixedRun(dir);
    const xml = readFileSync(join(dir, 'junit.xml'), 'utf8');
    expect(validateJunit(xml)).toEqual([]);
    const root = parseXml(xml);
    const suite = root.children[0]!;
    expect(suite.attrs).toMatchObject({ name: 'rig play', tests: '4', failures: '1', errors: '1', skipped: '1' });
    const byHost: Record<string, XmlEl> = Object.fromEntries(suite.children.map((c) => [c.attrs["name"], c]));
    expect(byHost['ok-1']!.children.map((c) => c.name)).toEqual(['system-out']);
    const fail = byHost['bad-2']!.children.find((c) => c.name === 'failure')!;
    expect(fail.attrs['message']).toBe('install <&> "tools": change failed on bad-2');
    expect(fail.attrs['type']).toBe('rolled-back');
    expect(byHost['worse-3']!.children.some((c) => c.name === 'error')).toBe(true);
    expect(byHost['skip-4']!.children.some((c) => c.name === 'skipped')).toBe(true);
    expect(byHost['bad-2']!.attrs['classname']).toBe('rig play');
  });

  it('the validator rejects what CI parsers reject', () => {
    const good = '<testsuites tests="1"><testsuite name="p" tests="1" failures="0"><testcase name="h" time="0.1"/></testsuite></testsuites>';
    expect(validateJunit(good)).toEqual([]);
    expect(validateJunit(good.replace('tests="1"><testsuite', 'tests="2"><testsuite'))[0]).toContain('tests="2" but 1 found');
    expect(validateJunit(good.replace('failures="0"', 'failures="1"'))[0]).toContain('failures="1" but 0 found');
    expect(validateJunit(good.replace('<testcase name="h"', '<testcase'))[0]).toContain("missing attribute 'name'");
    expect(validateJunit(good.replace('time="0.1"', 'time="fast"'))[0]).toContain('does not match');
    expect(validateJunit(good.replace('</testsuite>', ''))[0]).toContain('not well-formed');
    expect(validateJunit(good.replace('name="h"', 'name="a & b"'))[0]).toContain('not well-formed');
    expect(validateJunit(good.replace('<testcase', '<bogus'))[0]).toContain('not allowed');
  });
});

describe('JSON events', () => {
  it('every --json line validates against schema/events.schema.json', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvrun-json-'));
    const { events } = await mixedRun(dir);
    const lines = readFileSync(join(dir, 'events.jsonl'), 'utf8').trim().split('\n');
    expect(lines.length).toBe(events.length + 1);
    const types = new Set<string>();
    for (const l of lines) {
      const e = JSON.parse(l) as { type: string };
      types.add(e.type);
      expect(validateEvent(e), `${l}\n${JSON.stringify(validateEvent.errors?.slice(0, 3))}`).toBe(true);
    }
    for (const t of ['run-start', 'step-result', 'rollback-end', 'host-end', 'run-end', 'warning']) expect(types).toContain(t);
    expect(lines.some((l) => l.includes('"undo"'))).toBe(true);
  });

  it('the schema rejects events that drift from it', () => {
    expect(validateEvent({ type: 'host-start', host: 'a', time: '2026-11-26T12:00:00.000Z' })).toBe(true);
    expect(validateEvent({ type: 'host-start', host: 'a', time: 'noon' })).toBe(false);
    expect(validateEvent({ type: 'host-start', host: 'a', time: '2026-11-26T12:00:00.000Z', extra: 1 })).toBe(false);
    expect(validateEvent({ type: 'no-such-event' })).toBe(false);
  });
});

describe('GitHub Actions', () => {
  it('annotates failed hosts with ::error, escapes, redacts, and writes a job summary', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvrun-gh-'));
    const { gh } = await mixedRun(dir);
    const lines = gh.trim().split('\n');
    expect(lines).toContain('::error title=pvrun%3A bad-2 rolled-back::install <&> "tools": change failed on bad-2');
    expect(lines.some((l) => l.startsWith('::error title=pvrun%3A worse-3 needs-attention::'))).toBe(true);
    expect(lines.some((l) => l.includes('ok-1'))).toBe(false);
    expect(gh).not.toContain('s3cr3t-value');
    expect(lines.some((l) => l.startsWith('::warning title=pvrun::'))).toBe(true);
    const summary = readFileSync(join(dir, 'summary.md'), 'utf8');
    expect(summary).toContain('| bad-2 | rolled-back |');
    expect(summary).toContain('### pvrun run `r1`: exit 3');
    expect(escapeData('a%b\nc')).toBe('a%25b%0Ac');
  });
});

describe('confirmation', () => {
  const env = (over?: string): NodeJS.ProcessEnv => (over === undefined ? {} : { PVRUN_CONFIRM_OVER: over });
  it.each([
    ['11 hosts, interactive', 11, {}, env(), true, true],
    ['10 hosts: at the threshold', 10, {}, env(), true, false],
    ['check mode never asks', 50, { check: true }, env(), true, false],
    ['-y skips', 50, { yes: true }, env(), true, false],
    ['not a TTY', 50, {}, env(), false, false],
    ['CI set', 50, {}, { CI: 'true' }, true, false],
    ['PVRUN_CONFIRM_OVER=2', 3, {}, env('2'), true, true],
    ['--confirm asks for one host', 1, { confirm: true }, env(), true, true],
  ] as const)('%s', (_n, hosts, flags, e, interactive, want) => {
    expect(needsConfirmation(hosts, { check: false, ...flags }, { env: e, interactive })).toBe(want);
  });
});
