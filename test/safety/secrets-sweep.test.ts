/**
 * Secrets sweep (issue 19 item 1): passwords made of the characters every output format escapes
 * (`"` `\` `&` `<` `>` `%` `'` `$`) go through a real lab rollout — XAPI password and become
 * password from the environment, as CI passes them; a guest script prints them in every escaped
 * form; one host fails with them in its error — and then every byte pvrun wrote is searched for
 * every form of them: stdout with -v and --diff, `--json` (file and stdout), JUnit, the GitHub
 * annotations and job summary, the journals, `pvrun show <run> -v` and `pvrun runs` in a fresh
 * process that was given no secret, and the error messages of a literal password in the
 * inventory and of a refused XAPI login.
 *
 * The forms are computed here, independently of src/util/redact.ts, from the escaping rules of
 * each format: JSON (RFC 8259 §7), XML (XML 1.0 §2.4, attributes §3.3.3), GitHub workflow
 * commands (actions/toolkit packages/core/src/command.ts escapeData/escapeProperty), URL
 * (encodeURIComponent / encodeURI), base64 (standard, URL-safe, unpadded).
 */
import { describeUnless } from '../harness/require.js';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { Lab } from '../../src/lab/lab.js';
import type { RunEvent } from '../../src/engine/events.js';
import { Journal } from '../../src/journal/journal.js';
import { listRunIds, readJournal } from '../../src/journal/read.js';
import { createJsonReporter } from '../../src/report/json.js';
import { createGithubReporter } from '../../src/report/github.js';
import { createJunitReporter } from '../../src/report/junit.js';
import { Redactor } from '../../src/util/redact.js';
import { labSkipReason, startLab } from '../ci/lab-rig.js';
import { validateJunit } from '../ci/junit-schema.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const skip = labSkipReason();
if (skip) console.log(`skipping the secrets sweep lab test: ${skip}`);

const XAPI_PASSWORD = 'p"a\\s&s<w>o%r\'d$1';
const BECOME_PASSWORD = 'b"e\\c&o<m>e%\'$:2,x';
/** a password the pool refuses: its login error must not show it either */
const WRONG_PASSWORD = 'w"r\\o&n<g>%p\'$w:3';

const xmlText = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const ghData = (s: string): string => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
const jsonInner = (s: string): string => JSON.stringify(s).slice(1, -1);

/** every escaped form of a secret an output format could carry it in */
export function escapedForms(secret: string): Record<string, string> {
  const b64 = Buffer.from(secret).toString('base64');
  const attr = xmlText(secret).replace(/"/g, '&quot;');
  return {
    raw: secret,
    json: jsonInner(secret),
    'json twice': jsonInner(jsonInner(secret)),
    'xml text': xmlText(secret),
    'xml attr': attr,
    'xml attr &apos;': attr.replace(/'/g, '&apos;'),
    'xml attr &#39;': attr.replace(/'/g, '&#39;'),
    'annotation data': ghData(secret),
    'annotation property': ghData(secret).replace(/:/g, '%3A').replace(/,/g, '%2C'),
    'url component': encodeURIComponent(secret),
    'url component +': encodeURIComponent(secret).replace(/%20/g, '+'),
    'url': encodeURI(secret),
    base64: b64,
    'base64 unpadded': b64.replace(/=+$/, ''),
    'base64 url-safe': b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''),
    'shell single-quoted': secret.replace(/'/g, `'\\''`),
  };
}

/** Where any form of a secret, or a 10-character piece of one of its text forms (a half mask), occurs. */
function leaks(secrets: string[], written: Record<string, string>): string[] {
  const found: string[] = [];
  for (const secret of secrets) {
    const forms = escapedForms(secret);
    for (const [name, f] of Object.entries(forms)) {
      for (const [where, text] of Object.entries(written)) if (text.includes(f)) found.push(`${name} form ${JSON.stringify(f)} in ${where}`);
    }
    for (const name of ['raw', 'json', 'xml text', 'xml attr', 'annotation data']) {
      const f = forms[name]!;
      for (let i = 0; i + 10 <= f.length; i++) {
        const piece = f.slice(i, i + 10);
        for (const [where, text] of Object.entries(written)) if (text.includes(piece)) found.push(`piece ${JSON.stringify(piece)} of the ${name} form in ${where}`);
      }
    }
  }
  return [...new Set(found)];
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

interface Proc { code: number | null; out: string; err: string }

/** pvrun in its own process: it knows only the secrets its environment and files give it */
function pvrun(args: string[], env: NodeJS.ProcessEnv): Promise<Proc> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), ...args], { cwd: ROOT, env });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  return new Promise((res) => child.on('exit', (code) => res({ code, out, err })));
}

/** an environment without any of the test's secrets (a later CI step, or a developer's shell) */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env['PVRUN_TEST_XAPI_PASSWORD'];
  delete env['PVRUN_TEST_BECOME_PASSWORD'];
  delete env['GITHUB_ACTIONS'];
  return env;
}

describe('secrets sweep: structured redaction keeps serialised syntax intact', () => {
  const ev = (check: boolean): RunEvent => ({ type: 'run-start', runId: 'r1', playbook: 'pb.yml', inventories: ['inv.yml'], check, time: '2026-12-04T00:00:00.000Z', plays: [{ name: 'true', hosts: 1, batches: [1] }] });

  it('a secret equal to `true` leaves the journal valid JSON: booleans stay, strings are masked', () => {
    const r = new Redactor();
    r.add('true');
    const dir = mkdtempSync(join(tmpdir(), 'pvrun-sweep-j-'));
    const j = new Journal(dir, 'r1', (s) => r.redact(s));
    j.event(ev(true));
    j.event({ type: 'warning', message: 'the value is true', time: '2026-12-04T00:00:00.000Z' });
    j.close();
    const text = readFileSync(join(dir, 'runs', 'r1.jsonl'), 'utf8');
    const lines = text.trim().split('\n');
    expect(lines).toHaveLength(2);
    const recs = lines.map((l) => JSON.parse(l) as { event: Record<string, unknown> });
    expect(recs[0]!.event['check']).toBe(true);
    expect((recs[0]!.event['plays'] as { name: string }[])[0]!.name).toBe('***');
    expect(recs[1]!.event['message']).toBe('the value is ***');
    const read = readJournal(dir, 'r1');
    expect(read.ok && read.value.bad).toBe(0);
  });

  it('a secret equal to `true` or a number leaves --json lines valid JSON', async () => {
    const r = new Redactor();
    r.add('true');
    r.add('1000');
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => { text += d.toString(); });
    const rep = createJsonReporter(out, (s) => r.redact(s));
    rep.event(ev(true));
    rep.event({ type: 'batch-end', play: 'p', index: 0, total: 1000, failed: 0, time: 'x' } as unknown as RunEvent);
    await rep.close(); // the lines of a turn go out together (src/report/json.ts)
    const parsed = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed[0]!['check']).toBe(true);
    expect(parsed[1]!['total']).toBe(1000);
  });

  it('JUnit and annotations mask a secret before escaping, and keep their syntax when a secret is a markup word', async () => {
    const secret = 'p"a\\s&s<w>o%r\'d$1';
    const r = new Redactor();
    r.add(secret);
    r.add('testcase'); // a secret that is also an XML element name
    r.add('error');    // …and a workflow command name
    const dir = mkdtempSync(join(tmpdir(), 'pvrun-sweep-x-'));
    const out = new PassThrough();
    let gh = '';
    out.on('data', (d: Buffer) => { gh += d.toString(); });
    const redact = (s: string): string => r.redact(s);
    const junit = createJunitReporter(join(dir, 'junit.xml'), redact, () => 0);
    const github = createGithubReporter(out, join(dir, 'summary.md'), redact);
    const time = '2026-12-04T00:00:00.000Z';
    const recap = { host: 'h1', outcome: 'failed', ok: 0, changed: 0, failed: 1, skipped: 0, unreachable: 0, rolled_back: false, reason: `bad ${secret} error` };
    const events = [
      ev(false),
      { type: 'play-start', play: 'p', index: 0, hosts: ['h1'], batches: [['h1']], time },
      { type: 'host-start', host: 'h1', play: 'p', time },
      { type: 'step-result', host: 'h1', step: 's', stepType: 'run-script', phase: 'main', status: 'failed', summary: `exit 1: ${secret}\n${ghData(secret)}`, durationMs: 1, time },
      { type: 'host-end', host: 'h1', recap, time },
      { type: 'run-end', runId: 'r1', exitCode: 2, durationMs: 1, recap: [recap], time },
    ] as unknown as RunEvent[];
    for (const e of events) { junit.event(e); github.event(e); }
    await junit.close();
    const xml = readFileSync(join(dir, 'junit.xml'), 'utf8');
    expect(validateJunit(xml)).toEqual([]);
    expect(xml).toContain('<testcase name="h1"');
    expect(gh).toMatch(/^::error title=pvrun%3A h1 failed::s: exit 1: \*\*\*%0A\*\*\*/m);
    expect(leaks([secret], { xml, gh, summary: readFileSync(join(dir, 'summary.md'), 'utf8') })).toEqual([]);
  });
});

describe('secrets sweep: `show` of a journal that holds a secret (written by an older pvrun)', () => {
  // a journal as the old text-only redaction wrote it: the annotation-escaped form slipped through
  const secret = 'o"l\\d&j<o>u%r\'n$4';
  function oldJournal(): { state: string; inv: string } {
    const dir = mkdtempSync(join(tmpdir(), 'pvrun-sweep-old-'));
    const inv = join(dir, 'inventory.yml');
    writeFileSync(inv, stringify({
      hypervisors: { lab: { url: 'https://127.0.0.1:1', username: 'root', password: { env: 'PVRUN_SWEEP_OLD_PASSWORD' }, tls: { insecure: true } } },
      groups: { linux: { connection: { type: 'ssh', user: 'root', become_password: { file: 'become.pw' } } } },
      hosts: { h1: { groups: ['linux'], vm: { pool: 'lab', name_label: 'h1' } } },
    }));
    writeFileSync(join(dir, 'become.pw'), 'f"i\\l&e<p>w%d\'$5\n');
    const state = join(dir, 'state');
    const j = new Journal(state, 'r-old', (t) => t); // no redaction at all: the worst old journal
    j.plan({ playbook: join(dir, 'pb.yml'), inventories: [inv], cwd: dir, check: false });
    const time = '2026-12-04T00:00:00.000Z';
    j.event({ type: 'run-start', runId: 'r-old', playbook: 'pb.yml', inventories: [inv], check: false, time, plays: [{ name: 'p', hosts: 1, batches: [1] }] });
    j.event({ type: 'play-start', play: 'p', index: 0, hosts: ['h1'], batches: [['h1']], time } as RunEvent);
    j.event({ type: 'host-start', host: 'h1', play: 'p', time } as unknown as RunEvent);
    j.event({ type: 'step-start', host: 'h1', step: 's', stepType: 'run-script', phase: 'main', index: 0, time } as unknown as RunEvent);
    j.event({ type: 'step-output', host: 'h1', step: 's', stream: 'stdout', text: `pw=${secret} become=f"i\\l&e<p>w%d'$5 ${ghData(secret)}\n`, time } as unknown as RunEvent);
    j.event({ type: 'step-result', host: 'h1', step: 's', stepType: 'run-script', phase: 'main', index: 0, status: 'failed', summary: `exit 1: ${secret}`, durationMs: 5, time } as unknown as RunEvent);
    j.close();
    return { state, inv };
  }

  it('masks the secrets of the run\'s inventory when they resolve where `show` runs (the same CI job)', async () => {
    const { state } = oldJournal();
    const env = { ...cleanEnv(), PVRUN_SWEEP_OLD_PASSWORD: secret };
    const show = await pvrun(['show', 'r-old', '--state-dir', state, '-v'], env);
    expect(show.code).toBe(0);
    expect(show.out).toContain('s (run-script)  failed');
    expect(show.out).toContain('| stdout: pw=*** become=*** ***');
    // the secrets really are in that journal: it is the show that masks them
    expect(readFileSync(join(state, 'runs', 'r-old.jsonl'), 'utf8')).toContain(JSON.stringify(secret).slice(1, -1));
    expect(leaks([secret, 'f"i\\l&e<p>w%d\'$5'], { show: show.out + show.err })).toEqual([]);
  }, 120_000);
});

describeUnless(skip)('secrets sweep (lab)', () => {
  let lab: Lab;
  let work: string;
  beforeAll(async () => {
    lab = await startLab();
    work = mkdtempSync(join(tmpdir(), 'pvrun-sweep-'));
    // The lab draws a random XAPI password; give the simulator ours (test-only reach into it).
    (lab.sim as unknown as { sessions: { creds: { password: string } } }).sessions.creds.password = XAPI_PASSWORD;
  }, 300_000);
  afterAll(async () => { await lab?.stop(); });

  it('no form of a password full of special characters is written anywhere', async () => {
    const inv = parse(readFileSync(lab.inventoryPath, 'utf8')) as Record<string, Record<string, Record<string, unknown>>>;
    inv['hypervisors']!['lab']!['password'] = { env: 'PVRUN_TEST_XAPI_PASSWORD' };
    (inv['groups']!['linux']!['connection'] as Record<string, unknown>)['become_password'] = { env: 'PVRUN_TEST_BECOME_PASSWORD' };
    const invPath = join(work, 'inventory.yml');
    writeFileSync(invPath, stringify(inv));
    // the guest prints every form of both secrets, on stdout and stderr; ci-03 then fails
    const sq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
    const echo = [XAPI_PASSWORD, BECOME_PASSWORD].flatMap((s) => Object.values(escapedForms(s))).map((f) => `printf '%s\\n' ${sq(f)}`).join('; ');
    const playbook = [{
      name: 'secrets sweep', hosts: 'linux', serial: [1, '50%'], on_failure: 'rollback',
      steps: [
        { name: 'skip VMs with tools', check: { management_agent_detected: false, otherwise: 'skip-host' } },
        { name: 'snapshot', snapshot: { keep: false } },
        { name: 'print secrets', 'run-script': { script: `${echo}; ${echo} >&2; [ "{{ host.name }}" != ci-03 ]`, become: true } },
      ],
    }];
    const pbPath = join(work, 'sweep.yml');
    writeFileSync(pbPath, stringify(playbook));
    const state = join(work, 'state');
    const env = {
      ...process.env, PVRUN_TEST_XAPI_PASSWORD: XAPI_PASSWORD, PVRUN_TEST_BECOME_PASSWORD: BECOME_PASSWORD,
      CI: 'true', GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: join(work, 'summary.md'),
    };
    const written: Record<string, string> = {};

    // 1. a check run, JSON events on stdout (annotations then go to stderr), -v --diff
    const check = await pvrun([pbPath, '-i', invPath, '--state-dir', state, '--check', '--json', '-v', '--diff'], env);
    expect(check.code, check.out.slice(-3000) + check.err).toBe(0);
    const checkLines = check.out.trim().split('\n').map((l) => JSON.parse(l) as { type: string; diff?: string });
    // the diff of the script is there, masked
    expect(checkLines.filter((e) => e.type === 'step-result' && e.diff?.includes('***'))).toHaveLength(3);
    written['check: stdout (--json)'] = check.out;
    written['check: stderr (annotations)'] = check.err;

    // 2. the rollout: plain lines with -v --diff, --json file, JUnit, annotations and job summary
    const run = await pvrun([pbPath, '-i', invPath, '--state-dir', state, '-v', '--diff', '--json', join(work, 'events.jsonl'), '--junit', join(work, 'junit.xml')], env);
    expect(run.code, run.out.slice(-3000) + run.err).toBe(2);
    expect(run.out).toMatch(/ci-03\s+rolled-back/);
    expect(run.out).toMatch(/ci-01\s+changed/);
    // at the failing step's playbook line (issue 20)
    expect(run.out).toMatch(/^::error file=\S*sweep\.yml,line=\d+,title=pvrun%3A ci-03 rolled-back::print secrets: /m);
    // the secrets really were in the step output: what is printed is the mask
    expect(run.out).toMatch(/ci-01 \[print secrets\] (?:stdout|log): \*\*\*/);
    written['run: stdout (-v --diff, annotations)'] = run.out;
    written['run: stderr'] = run.err;
    expect(validateJunit(readFileSync(join(work, 'junit.xml'), 'utf8'))).toEqual([]);
    for (const l of readFileSync(join(work, 'events.jsonl'), 'utf8').trim().split('\n')) JSON.parse(l);
    const ids = listRunIds(state);
    expect(ids).toHaveLength(2);

    // 3. error messages: a literal password in the inventory is refused without being echoed …
    const literal = structuredClone(inv);
    literal['hypervisors']!['lab']!['password'] = XAPI_PASSWORD;
    (literal['groups']!['linux']!['connection'] as Record<string, unknown>)['become_password'] = BECOME_PASSWORD;
    const litPath = join(work, 'literal.yml');
    writeFileSync(litPath, stringify(literal));
    const lit = await pvrun([pbPath, '-i', litPath, '--state-dir', state], env);
    expect(lit.code).toBe(5);
    expect(lit.err).toMatch(/literal\.yml:\d+:\d+: .*password.* must be a secret reference/);
    written['literal password: stdout'] = lit.out;
    written['literal password: stderr'] = lit.err;
    // … and a password the pool refuses is not in the login error
    const wrong = await pvrun([pbPath, '-i', invPath, '--state-dir', state, '--json', join(work, 'wrong.jsonl')],
      { ...env, PVRUN_TEST_XAPI_PASSWORD: WRONG_PASSWORD });
    expect(wrong.code).toBe(4);
    expect(wrong.err).toMatch(/preflight failed/);
    expect(wrong.out + wrong.err).toMatch(/SESSION_AUTHENTICATION_FAILED|authentication/i);
    written['wrong password: stdout'] = wrong.out;
    written['wrong password: stderr'] = wrong.err;

    // 4. `show -v` and `runs` of every run, in a fresh process given no secret
    for (const id of listRunIds(state)) {
      const show = await pvrun(['show', id, '--state-dir', state, '-v'], cleanEnv());
      expect(show.code).toBe(0);
      written[`show ${id} -v`] = show.out + show.err;
    }
    const runs = await pvrun(['runs', '--state-dir', state], cleanEnv());
    written['runs'] = runs.out + runs.err;

    // 5. every file pvrun wrote: journals, lock files, JSON events, JUnit, job summary
    for (const f of filesUnder(work).filter((p) => p !== pbPath && p !== invPath && p !== litPath)) {
      written[f] = readFileSync(f, 'utf8') + readFileSync(f, 'latin1');
    }
    // 2 journals and the events; the wrong-password run stops at its preflight (issue 20: exit 4, no journal, no events file)
    expect(Object.keys(written).filter((k) => k.endsWith('.jsonl'))).toHaveLength(3);
    expect(Object.keys(written).some((k) => k.endsWith('summary.md'))).toBe(true);
    expect(leaks([XAPI_PASSWORD, BECOME_PASSWORD, WRONG_PASSWORD], written)).toEqual([]);
  }, 900_000);
});
