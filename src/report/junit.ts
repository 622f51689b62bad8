import { writeFileSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import type { HostRecap, RunEvent, StepPhase } from '../engine/events.js';
import type { EnginePlay } from '../engine/types.js';
import type { PreflightReport } from '../runtime/preflight.js';
import { escapeRedacted, redactedOnce } from '../util/redact.js';
import type { Redact, Reporter } from './types.js';

interface Case {
  host: string;
  started: number;
  ended?: number;
  recap?: HostRecap;
  failedSteps: { step: string; type: string; summary: string; phase: StepPhase; index: number }[];
  lines: string[];
}

interface Suite {
  name: string;
  started: string;
  cases: Map<string, Case>;
  /** every host the play planned, in order (those never started are listed as skipped) */
  planned: string[];
  /** why hosts of this play were not started, when the play stopped early */
  stopReason?: string;
  /** `phase:index` → the step's results per host, in the order they came */
  steps: Map<string, StepCase>;
}

interface StepCase { name: string; phase: StepPhase; index: number; type: string; results: { host: string; status: string; summary: string }[] }

/** Where each step of each play is in the playbook (file relative to the working directory). */
export interface PlaybookMap {
  plays: { name: string; steps: { name: string; phase: StepPhase; index: number; file: string; line: number }[] }[];
}

export function playbookMapOf(plays: readonly EnginePlay[], cwd: string): PlaybookMap {
  const rel = (f: string): string => {
    const r = relative(cwd, resolve(f));
    return r.startsWith('..') || isAbsolute(r) ? resolve(f) : r;
  };
  return {
    plays: plays.map((p) => ({
      name: p.name,
      steps: ([['main', p.steps], ['cleanup', p.cleanup]] as const).flatMap(([phase, steps]) =>
        steps.map((st, index) => ({ name: st.spec.name, phase, index, file: rel(st.spec.pos.file), line: st.spec.pos.line }))),
    })),
  };
}

/** The step's place in the playbook, `file:line`, when the map knows it. */
export function stepLocation(map: PlaybookMap | undefined, play: string | undefined, phase: StepPhase, index: number): { file: string; line: number } | undefined {
  const s = map?.plays.find((p) => p.name === play)?.steps.find((x) => x.phase === phase && x.index === index);
  return s ? { file: s.file, line: s.line } : undefined;
}

const FAILING = new Set(['failed', 'unreachable', 'would-fail']);

/**
 * `--junit FILE`: a <testsuite> per play, a <testcase> per planned host (classname = the play), a
 * <failure> naming the step that failed with its message (an <error> when the host needs
 * attention, <skipped> when skipped, `<skipped message="not started: …">` for a host the run
 * never started: a canary failure, an interrupt). One failure element per case: the strict JUnit
 * schema (and some CI parsers) allow only one; every failed step is listed in its body.
 * Then a <testsuite> "<play> · steps" per play: a <testcase> per step that ran, failed when it
 * failed on any host (the hosts and the step's playbook file:line in the message).
 * Secrets: each event is redacted as a value when it arrives, and each value again once
 * XML-escaped (escapeRedacted); the document's markup is never searched, so no mask breaks it.
 */
export function createJunitReporter(path: string, redact: Redact, now: () => number = Date.now, map?: PlaybookMap): Reporter {
  const suites: Suite[] = [];
  const playOf = new Map<string, Suite>();
  let runId = '';
  let written = false;

  const caseOf = (host: string): Case | undefined => playOf.get(host)?.cases.get(host);

  const write = (): void => {
    if (written) return;
    written = true;
    writeFileSync(path, junitXml(runId, suites, redact, map));
  };

  return {
    event(raw: RunEvent) {
      const e = redactedOnce(raw, redact);
      switch (e.type) {
        case 'run-start': runId = e.runId; break;
        case 'play-start': {
          const s: Suite = { name: e.play, started: e.time, cases: new Map(), planned: [...e.hosts], steps: new Map() };
          suites.push(s);
          for (const h of e.hosts) playOf.set(h, s);
          break;
        }
        case 'host-start': {
          const s = playOf.get(e.host);
          s?.cases.set(e.host, { host: e.host, started: now(), failedSteps: [], lines: [] });
          break;
        }
        case 'step-result': {
          const c = caseOf(e.host);
          if (!c) break;
          c.lines.push(`[${e.phase === 'cleanup' ? 'cleanup: ' : ''}${e.step}] ${e.status}: ${e.summary} (${(e.durationMs / 1000).toFixed(1)}s)`);
          if (FAILING.has(e.status)) {
            c.failedSteps.push({ step: e.step, type: e.stepType, summary: e.summary, phase: e.phase, index: e.index });
          }
          const s = playOf.get(e.host)!;
          const key = `${e.phase}:${e.index}`;
          const sc = s.steps.get(key) ?? { name: e.step, phase: e.phase, index: e.index, type: e.stepType, results: [] };
          sc.results.push({ host: e.host, status: e.status, summary: e.summary });
          s.steps.set(key, sc);
          break;
        }
        case 'max-fail-exceeded': {
          const s = suites.find((x) => x.name === e.play);
          // limit 0: on_failure stop; 100: no max_fail_percentage, a batch where every host failed
          const why = e.limit === 0 ? 'on_failure: stop' : e.limit >= 100 ? 'every host of the batch failed' : `more than max_fail_percentage ${e.limit}%`;
          if (s) s.stopReason ??= `the play stopped after batch ${e.batch + 1}: ${e.failed} of ${e.total} host(s) failed (${why})`;
          break;
        }
        case 'interrupted': for (const s of suites) s.stopReason ??= 'the run was interrupted'; break;
        case 'rollback-step': caseOf(e.host)?.lines.push(`[rollback ${e.step}] ${e.ok ? 'ok' : 'FAILED'}: ${e.summary}`); break;
        case 'host-end': {
          const c = caseOf(e.host);
          if (c) { c.recap = e.recap; c.ended = now(); }
          break;
        }
        case 'run-end': write(); break;
        // events the report does not record (listed, so a new event type must be decided here)
        case 'warning': case 'batch-start': case 'batch-end': case 'step-start': case 'step-output': case 'intent':
        case 'rollback-start': case 'rollback-end':
          break;
      }
    },
    // an interrupted run still leaves a report of what ran
    close: async () => { if (runId) write(); },
  };
}

const FAILED = new Set(['failed', 'unreachable', 'rolled-back']);

function junitXml(runId: string, suites: Suite[], redact: Redact, map?: PlaybookMap): string {
  const text = (s: string): string => escapeRedacted(s, xmlText, redact);
  const attr = (s: string): string => escapeRedacted(s, xmlAttr, redact);
  let tests = 0, failures = 0, errors = 0, time = 0;
  const body: string[] = [];
  for (const s of suites) {
    const cases = [...s.cases.values()];
    let sf = 0, se = 0, ss = 0, st = 0;
    const cx: string[] = [];
    const at = (f: { phase: StepPhase; index: number }): string => {
      const l = stepLocation(map, s.name, f.phase, f.index);
      return l ? ` [${l.file}:${l.line}]` : '';
    };
    for (const c of cases) {
      const t = ((c.ended ?? c.started) - c.started) / 1000;
      st += t;
      const outcome = c.recap?.outcome ?? 'needs-attention';
      const inner: string[] = [];
      // the cause first: the first failed main step (a cleanup step failing after it is a consequence)
      const firstFail = c.failedSteps.find((f) => f.phase === 'main') ?? c.failedSteps[0];
      const detail = c.failedSteps.map((f) => `${f.phase === 'cleanup' ? 'cleanup: ' : ''}${f.step} (${f.type})${at(f)}: ${f.summary}`).join('\n');
      if (outcome === 'needs-attention') {
        se++;
        const msg = c.recap?.attention ?? c.recap?.reason ?? 'the host did not finish';
        inner.push(`      <error message="${attr(firstFail ? `${firstFail.step}: ${firstFail.summary}` : msg)}" type="needs-attention">${text(`${detail}\n${msg}`.trim())}</error>`);
      } else if (FAILED.has(outcome)) {
        sf++;
        const msg = firstFail ? `${firstFail.step}: ${firstFail.summary}` : (c.recap?.reason ?? outcome);
        inner.push(`      <failure message="${attr(msg)}" type="${attr(outcome)}">${text(detail || msg)}</failure>`);
      } else if (outcome === 'skipped') {
        ss++;
        inner.push(`      <skipped message="${attr(c.recap?.reason ?? 'skipped')}"/>`);
      }
      if (c.lines.length) inner.push(`      <system-out>${text(c.lines.join('\n'))}</system-out>`);
      cx.push(`    <testcase name="${attr(c.host)}" classname="${attr(s.name)}" time="${t.toFixed(3)}"${inner.length ? `>\n${inner.join('\n')}\n    </testcase>` : '/>'}`);
    }
    // planned hosts the run never started: listed, as skipped with the reason
    const notStarted = s.planned.filter((h) => !s.cases.has(h));
    for (const h of notStarted) {
      ss++;
      cx.push(`    <testcase name="${attr(h)}" classname="${attr(s.name)}" time="0.000">\n      <skipped message="${attr(`not started: ${s.stopReason ?? 'the run ended before this host started'}`)}"/>\n    </testcase>`);
    }
    const n = cases.length + notStarted.length;
    tests += n; failures += sf; errors += se; time += st;
    body.push(`  <testsuite name="${attr(s.name)}" tests="${n}" failures="${sf}" errors="${se}" skipped="${ss}" time="${st.toFixed(3)}" timestamp="${attr(s.started.replace(/\.\d+Z$/, ''))}">` +
      (cx.length ? `\n${cx.join('\n')}\n  </testsuite>` : `\n  </testsuite>`));
    // the same play by step: a case per step that ran, failed when it failed on any host
    const steps = [...s.steps.values()].sort((a, b) => (a.phase === b.phase ? a.index - b.index : a.phase === 'main' ? -1 : 1));
    if (steps.length) {
      let f2 = 0;
      const sx = steps.map((sc) => {
        const bad = sc.results.filter((r) => FAILING.has(r.status));
        const name = `${sc.phase === 'cleanup' ? 'cleanup: ' : ''}${sc.name}`;
        const loc = at(sc);
        const lines = sc.results.map((r) => `${r.host}: ${r.status}: ${r.summary}`).join('\n');
        if (!bad.length) return `    <testcase name="${attr(name)}" classname="${attr(`${s.name} · steps`)}" time="0.000">\n      <system-out>${text(`${loc.trim()}\n${lines}`.trim())}</system-out>\n    </testcase>`;
        f2++;
        const msg = `failed on ${bad.map((r) => r.host).join(', ')}${loc}: ${bad[0]!.summary}`;
        return `    <testcase name="${attr(name)}" classname="${attr(`${s.name} · steps`)}" time="0.000">\n      <failure message="${attr(msg)}" type="${attr(sc.type)}">${text(lines)}</failure>\n    </testcase>`;
      });
      tests += steps.length; failures += f2;
      body.push(`  <testsuite name="${attr(`${s.name} · steps`)}" tests="${steps.length}" failures="${f2}" errors="0" skipped="0" time="0.000" timestamp="${attr(s.started.replace(/\.\d+Z$/, ''))}">\n${sx.join('\n')}\n  </testsuite>`);
    }
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="${attr(`pvrun ${runId}`)}" tests="${tests}" failures="${failures}" errors="${errors}" time="${time.toFixed(3)}">\n${body.join('\n')}\n</testsuites>\n`;
}

/** XML 1.0 cannot carry most control characters even escaped: drop them (ANSI colour codes included). */
function clean(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;]*m/g, '').replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/g, '');
}

function xmlText(s: string): string {
  return clean(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function xmlAttr(s: string): string {
  return xmlText(s).replace(/"/g, '&quot;').replace(/\n/g, '&#10;');
}

/**
 * The JUnit report of a run stopped by its preflight: every planned host, those with a problem
 * failed (the problem as the message), the others skipped "not started".
 */
export function preflightJunit(plays: readonly EnginePlay[], report: PreflightReport, redact: Redact): string {
  const problemOf = new Map<string, string>();
  for (const p of report.problems) {
    for (const h of p.hosts) if (!problemOf.has(h)) problemOf.set(h, `${p.subject} ${p.name}${p.pos ? ` (${p.pos.file}:${p.pos.line})` : ''}: ${p.check}: ${p.message}`);
  }
  const stamp = new Date().toISOString().replace(/\.\d+Z$/, '');
  const attr = (s: string): string => escapeRedacted(s, xmlAttr, redact);
  const text = (s: string): string => escapeRedacted(s, xmlText, redact);
  let tests = 0, failures = 0;
  const body = plays.map((p) => {
    let f = 0, sk = 0;
    const cx = p.hosts.map((h) => {
      const why = problemOf.get(h.name);
      if (why) { f++; return `    <testcase name="${attr(h.name)}" classname="${attr(p.name)}" time="0.000">\n      <failure message="${attr(`preflight: ${why.split('\n')[0]}`)}" type="preflight">${text(why)}</failure>\n    </testcase>`; }
      sk++;
      return `    <testcase name="${attr(h.name)}" classname="${attr(p.name)}" time="0.000">\n      <skipped message="${attr(`not started: preflight found ${report.problems.length} problem(s) on other hosts or pools, so no host was started`)}"/>\n    </testcase>`;
    });
    tests += p.hosts.length; failures += f;
    return `  <testsuite name="${attr(p.name)}" tests="${p.hosts.length}" failures="${f}" errors="0" skipped="${sk}" time="0.000" timestamp="${stamp}">${cx.length ? `\n${cx.join('\n')}` : ''}\n  </testsuite>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="pvrun preflight" tests="${tests}" failures="${failures}" errors="0" time="0.000">\n${body.join('\n')}\n</testsuites>\n`;
}
