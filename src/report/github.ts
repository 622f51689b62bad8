import { appendFileSync } from 'node:fs';
import type { HostRecap, RunEvent } from '../engine/events.js';
import { escapeRedacted, redactValueWith } from '../util/redact.js';
import type { Redact, Reporter } from './types.js';

/**
 * GitHub Actions (GITHUB_ACTIONS=true): workflow commands so failed VMs show as annotations
 * (`::error title=…::…`), and a Markdown job summary appended to $GITHUB_STEP_SUMMARY.
 * The human reporter still prints the plain lines; this adds only the annotations.
 * Secrets: each event is redacted as a value when it arrives, then each message and title again
 * once escaped (escapeRedacted: `%` is `%25` there); the `::error title=…::` syntax is never
 * searched, so a secret that is also a command word cannot break it.
 */
export function createGithubReporter(out: NodeJS.WritableStream, summaryPath: string | undefined, redact: Redact): Reporter {
  const failedStep = new Map<string, string>();
  return {
    event(raw: RunEvent) {
      const e = redactValueWith(raw, redact);
      const data = (s: string): string => escapeRedacted(s, escapeData, redact);
      const property = (s: string): string => escapeRedacted(s, escapeProperty, redact);
      switch (e.type) {
        case 'warning':
          out.write(`::warning title=pvrun::${data(e.message)}` + '\n');
          break;
        case 'step-result':
          if (e.status === 'failed' || e.status === 'unreachable' || e.status === 'would-fail') failedStep.set(e.host, `${e.step}: ${e.summary}`);
          break;
        case 'host-end': {
          const r = e.recap;
          const level = r.outcome === 'needs-attention' ? 'error' : r.outcome === 'failed' || r.outcome === 'unreachable' || r.outcome === 'rolled-back' ? 'error' : undefined;
          if (!level) break;
          const msg = [failedStep.get(e.host) ?? r.reason ?? r.outcome, r.attention].filter(Boolean).join('\n');
          out.write(`::${level} title=${property(`pvrun: ${e.host} ${r.outcome}`)}::${data(msg)}` + '\n');
          break;
        }
        case 'run-end':
          if (summaryPath) appendFileSync(summaryPath, jobSummary(e.runId, e.exitCode, e.durationMs, e.recap, redact));
          break;
        default: break;
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
