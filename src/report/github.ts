import { appendFileSync } from 'node:fs';
import type { HostRecap, RunEvent, StepPhase } from '../engine/events.js';
import type { Diagnostic } from '../load/diagnostics.js';
import type { PreflightReport } from '../runtime/preflight.js';
import { escapeRedacted, redactedOnce, redactValueWith } from '../util/redact.js';
import { stepLocation, type PlaybookMap } from './junit.js';
import type { Redact, Reporter } from './types.js';

/**
 * GitHub Actions (GITHUB_ACTIONS=true): workflow commands so failed VMs show as annotations
 * (`::error title=…::…`), and a Markdown job summary appended to $GITHUB_STEP_SUMMARY.
 * The human reporter still prints the plain lines; this adds only the annotations.
 * Secrets: each event is redacted as a value when it arrives, then each message and title again
 * once escaped (escapeRedacted: `%` is `%25` there); the `::error title=…::` syntax is never
 * searched, so a secret that is also a command word cannot break it.
 * A failed host's annotation leads with the root cause: its first failed main step (a cleanup
 * step failing afterwards comes second), at that step's `file=`/`line=` in the playbook when the
 * map knows it, so GitHub shows it on the playbook line.
 */
export function createGithubReporter(out: NodeJS.WritableStream, summaryPath: string | undefined, redact: Redact, map?: PlaybookMap): Reporter {
  const failedSteps = new Map<string, { step: string; summary: string; phase: StepPhase; index: number }[]>();
  const playOf = new Map<string, string>();
  return {
    event(raw: RunEvent) {
      const e = redactedOnce(raw, redact);
      const data = (s: string): string => escapeRedacted(s, escapeData, redact);
      const property = (s: string): string => escapeRedacted(s, escapeProperty, redact);
      switch (e.type) {
        case 'warning':
          out.write(`::warning title=pvrun::${data(e.message)}` + '\n');
          break;
        case 'play-start':
          for (const h of e.hosts) playOf.set(h, e.play);
          break;
        case 'step-result':
          if (e.status === 'failed' || e.status === 'unreachable' || e.status === 'would-fail') {
            failedSteps.set(e.host, [...(failedSteps.get(e.host) ?? []), { step: e.step, summary: e.summary, phase: e.phase, index: e.index }]);
          }
          break;
        case 'host-end': {
          const r = e.recap;
          const level = r.outcome === 'needs-attention' ? 'error' : r.outcome === 'failed' || r.outcome === 'unreachable' || r.outcome === 'rolled-back' ? 'error' : undefined;
          if (!level) break;
          const all = failedSteps.get(e.host) ?? [];
          const cause = all.find((f) => f.phase === 'main') ?? all[0];
          const then = all.filter((f) => f !== cause).map((f) => `then ${f.phase === 'cleanup' ? 'cleanup ' : ''}'${f.step}' failed: ${f.summary}`);
          const msg = [cause ? `${cause.step}: ${cause.summary}` : r.reason ?? r.outcome, ...then, r.attention].filter(Boolean).join('\n');
          const loc = cause ? stepLocation(map, playOf.get(e.host), cause.phase, cause.index) : undefined;
          const props = [...(loc ? [`file=${property(loc.file)}`, `line=${loc.line}`] : []), `title=${property(`pvrun: ${e.host} ${r.outcome}`)}`].join(',');
          out.write(`::${level} ${props}::${data(msg)}` + '\n');
          break;
        }
        case 'run-end':
          if (summaryPath) appendFileSync(summaryPath, jobSummary(e.runId, e.exitCode, e.durationMs, e.recap, redact));
          break;
        // events the annotations do not show (listed, so a new event type must be decided here)
        case 'run-start': case 'batch-start': case 'batch-end': case 'host-start': case 'step-start': case 'step-output':
        case 'intent': case 'rollback-start': case 'rollback-step': case 'rollback-end': case 'max-fail-exceeded': case 'interrupted':
          break;
      }
    },
    close: async () => {},
  };
}

/** GitHub's escaping for a workflow command's message. */
export function escapeData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** …and for its properties (title=…), where ':' and ',' are separators. */
export function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

const mdCell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\r?\n/g, '<br>');

/** The Markdown job summary; every value in it is redacted (structured: before and after its cell escaping). */
export function jobSummary(runId: string, exitCode: number, durationMs: number, recapIn: HostRecap[], redact: Redact = (s) => s): string {
  const recap = redactValueWith(recapIn, redact);
  const cell = (s: string): string => escapeRedacted(s, mdCell, redact);
  const counts = new Map<string, number>();
  for (const r of recap) counts.set(r.outcome, (counts.get(r.outcome) ?? 0) + 1);
  const lines = [
    `### pvrun run \`${cell(runId)}\`: exit ${exitCode}, ${(durationMs / 1000).toFixed(1)}s`,
    '',
    [...counts].map(([k, n]) => `**${k}**: ${n}`).join(' · ') || 'no host ran',
    '',
    '| host | outcome | ok | changed | failed | reason |',
    '| --- | --- | --- | --- | --- | --- |',
    ...recap.map((r) => `| ${cell(r.host)} | ${cell(r.outcome)} | ${r.ok} | ${r.changed} | ${r.failed} | ${cell(r.reason ?? '')}${r.attention ? `<br>**attention:** ${cell(r.attention)}` : ''} |`),
    '',
  ];
  return lines.join('\n') + '\n';
}

/** Annotations for located input problems (exit 5): each at its file, line and column. */
export function diagnosticAnnotations(ds: readonly Diagnostic[], redact: Redact): string {
  const data = (s: string): string => escapeRedacted(s, escapeData, redact);
  const property = (s: string): string => escapeRedacted(s, escapeProperty, redact);
  return ds.map((d) => {
    const level = d.severity === 'warning' ? 'warning' : 'error';
    // CLI input (`<-e>`, `<--limit>`) has no file in the repository
    const loc = d.file.startsWith('<') ? [] : [`file=${property(d.file)}`, `line=${d.line}`, `col=${d.col}`];
    return `::${level} ${[...loc, `title=${property(level === 'error' ? 'pvrun: invalid input' : 'pvrun: warning')}`].join(',')}::${data(d.message)}\n`;
  }).join('');
}

/** Annotations for a preflight that stopped the run: each problem at its pool's or host's inventory line. */
export function preflightAnnotations(r: PreflightReport, redact: Redact): string {
  const data = (s: string): string => escapeRedacted(s, escapeData, redact);
  const property = (s: string): string => escapeRedacted(s, escapeProperty, redact);
  return r.problems.map((p) => {
    const loc = p.pos ? [`file=${property(p.pos.file)}`, `line=${p.pos.line}`, `col=${p.pos.col}`] : [];
    const hosts = p.subject === 'pool' ? ` (hosts: ${p.hosts.join(', ')})` : '';
    return `::error ${[...loc, `title=${property(`pvrun preflight: ${p.subject} ${p.name} ${p.severity}`)}`].join(',')}::${data(`${p.check}: ${p.message}${hosts}`)}\n`;
  }).join('');
}
