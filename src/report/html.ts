/**
 * The run report: one self-contained HTML file (inline CSS and script, no network: a CSP meta
 * tag forbids every fetch, and nothing refers to another origin) drawn from a run's journal.
 * The recap, a timeline per play (batches, one row per host, each step a span at its time,
 * reboots, rollbacks, failures in red), filters by outcome, each step's output on click.
 *
 * Everything is rendered here, server side; the script only toggles visibility (filters, the
 * step panels), so the page reads the same with scripts off. Every text from the journal goes
 * through the redactor before HTML escaping (`escapeRedacted`): the journal is already redacted
 * when written, and this is the second guard `pvrun show` has too.
 */
import type { Redact } from './types.js';
import { escapeRedacted } from '../util/redact.js';
import { timelineRecap, type RunTimeline, type TimelineHost, type TimelinePlay, type TimelineStep } from './run-timeline.js';

/** The Content-Security-Policy of the report: nothing may be fetched, only the inline style and script run. */
export const REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

const htmlEscape = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

const OUTCOMES = ['ok', 'changed', 'skipped', 'failed', 'unreachable', 'rolled-back', 'needs-attention', 'unfinished', 'not-started'];
const FAILED_STATUS = new Set(['failed', 'would-fail', 'unreachable']);

const secs = (msv: number): string => (msv < 60_000 ? `${(msv / 1000).toFixed(1)}s` : `${Math.floor(msv / 60_000)}m${String(Math.round((msv % 60_000) / 1000)).padStart(2, '0')}s`);
const iso = (t: number | undefined): string => (t === undefined || !Number.isFinite(t) ? '?' : new Date(t).toISOString().replace('T', ' ').slice(0, 19) + 'Z');
const clock = (t: number): string => new Date(t).toISOString().slice(11, 19);

export function renderHtmlReport(t: RunTimeline, redact: Redact, opts: { generated?: Date } = {}): string {
  const e = (s: string | undefined): string => escapeRedacted(s ?? '', htmlEscape, redact);
  let ids = 0;
  const id = (): string => `s${++ids}`;

  const recapHosts = timelineRecap(t);
  const counts = new Map<string, number>();
  for (const h of recapHosts) counts.set(h.outcome, (counts.get(h.outcome) ?? 0) + 1);
  const title = `pvrun run ${t.runId}${t.check ? ' (check mode)' : ''}`;

  const out: string[] = [];
  out.push('<!DOCTYPE html>');
  out.push('<html lang="en"><head><meta charset="utf-8">');
  out.push(`<meta http-equiv="Content-Security-Policy" content="${REPORT_CSP}">`);
  out.push('<meta name="viewport" content="width=device-width, initial-scale=1">');
  out.push(`<title>${e(title)}</title>`);
  out.push(`<style>${CSS}</style></head><body>`);
  out.push(`<header><h1>${e(title)}</h1>`);
  out.push('<dl class="meta">');
  out.push(`<dt>playbook</dt><dd>${e(t.playbook ?? '?')}</dd>`);
  out.push(`<dt>inventory</dt><dd>${e(t.inventories.join(', ') || '?')}</dd>`);
  out.push(`<dt>started</dt><dd>${e(iso(t.start))}</dd>`);
  out.push(`<dt>duration</dt><dd>${t.durationMs !== undefined ? e(secs(t.durationMs)) : 'unfinished'}</dd>`);
  out.push(`<dt>exit code</dt><dd id="exit-code">${t.exitCode !== undefined ? t.exitCode : 'none (the process stopped before the end)'}</dd>`);
  for (const s of t.sessions.slice(1)) out.push(`<dt>${e(s.mode)}</dt><dd>${e(iso(s.time))}${s.exitCode !== undefined ? `, exit ${s.exitCode}` : ', unfinished'}</dd>`);
  out.push('</dl>');
  if (t.truncated) out.push('<p class="note">The journal\'s last record was cut short and is ignored.</p>');
  for (const w of t.warnings) out.push(`<p class="note warning">warning: ${e(w)}</p>`);
  out.push('</header>');

  // the recap
  out.push('<section id="recap"><h2>Recap</h2><table class="recap"><thead><tr><th>host</th><th>outcome</th><th>ok</th><th>changed</th><th>failed</th><th>skipped</th><th>unreachable</th><th>rolled back</th><th>reason</th></tr></thead><tbody>');
  for (const h of recapHosts) {
    const r = h.recap;
    out.push(`<tr class="host-recap" data-outcome="${e(h.outcome)}"><td>${e(h.host)}</td><td><span class="badge o-${e(h.outcome)}">${e(h.outcome)}</span></td>` +
      (r ? `<td>${r.ok}</td><td>${r.changed}</td><td>${r.failed}</td><td>${r.skipped}</td><td>${r.unreachable}</td><td>${r.rolled_back ? (r.rollback_mode ? e(r.rollback_mode) : 'yes') : ''}</td>`
        : '<td colspan="6"></td>') +
      `<td class="reason">${e(r?.reason ?? '')}${r?.attention ? `<div class="attention">${e(r.attention)}</div>` : ''}</td></tr>`);
  }
  if (recapHosts.length === 0) out.push('<tr><td colspan="9">no host ran</td></tr>');
  out.push('</tbody></table></section>');

  // the filters
  out.push('<section id="filters"><h2>Show</h2><div class="filters" role="group" aria-label="filter hosts by outcome">');
  for (const o of OUTCOMES) {
    const n = counts.get(o);
    if (!n) continue;
    out.push(`<label><input type="checkbox" class="filter" value="${e(o)}" checked> <span class="badge o-${e(o)}">${e(o)}</span> ${n}</label>`);
  }
  out.push('</div><p class="legend"><span class="key st-ok"></span>ok <span class="key st-changed"></span>changed <span class="key st-skipped"></span>skipped <span class="key st-failed"></span>failed <span class="key rb"></span>rollback <span class="key reboot-key">↻</span>reboot · click a step for its output</p></section>');

  // the timeline, per play
  out.push('<section id="timeline"><h2>Timeline</h2>');
  t.plays.forEach((p, pi) => out.push(renderPlay(p, pi)));
  if (t.plays.length === 0) out.push('<p>No play started.</p>');
  out.push('</section>');
  out.push(`<footer>written by pvrun${opts.generated ? ` at ${e(iso(opts.generated.getTime()))}` : ''} from the run's journal; secrets are masked as ***</footer>`);
  out.push(`<script>${SCRIPT}</script>`);
  out.push('</body></html>');
  return out.join('\n') + '\n';

  function renderPlay(p: TimelinePlay, pi: number): string {
    const times: number[] = [];
    for (const h of p.hosts) {
      if (h.start !== undefined) times.push(h.start);
      if (h.end !== undefined) times.push(h.end);
      for (const s of h.steps) { times.push(s.start); if (s.end !== undefined) times.push(s.end); }
      for (const rb of h.rollbacks) { times.push(rb.start); if (rb.end !== undefined) times.push(rb.end); }
    }
    for (const b of p.batches) { if (b.start !== undefined) times.push(b.start); if (b.end !== undefined) times.push(b.end); }
    let t0 = Infinity;
    let t1 = -Infinity;
    for (const x of times) if (Number.isFinite(x)) { t0 = Math.min(t0, x); t1 = Math.max(t1, x); }
    if (t0 === Infinity) { t0 = 0; t1 = 1; }
    const span = Math.max(1, t1 - t0);
    const pct = (x: number): string => `${(((x - t0) / span) * 100).toFixed(3)}%`;
    const width = (a: number, b: number): string => `${((Math.max(0, b - a) / span) * 100).toFixed(3)}%`;
    const o: string[] = [];
    o.push(`<div class="play" data-play="${pi}"><h3>${e(p.name)} <small>${p.hosts.length} host(s), ${p.batches.length} batch(es), ${e(secs(span))}</small></h3>`);
    o.push('<div class="axis"><div class="label"></div><div class="ticks">' +
      [0, 0.25, 0.5, 0.75, 1].map((f) => `<span style="left:${(f * 100).toFixed(0)}%">+${e(secs(f * span))}</span>`).join('') + '</div></div>');
    const byBatch = new Map<number, TimelineHost[]>();
    for (const h of p.hosts) {
      const list = byBatch.get(h.batch) ?? [];
      list.push(h);
      byBatch.set(h.batch, list);
    }
    const order = [...byBatch.keys()].sort((a, b) => (a < 0 ? 1 : b < 0 ? -1 : a - b));
    for (const bi of order) {
      const b = bi >= 0 ? p.batches[bi] : undefined;
      const hs = byBatch.get(bi)!;
      o.push(`<div class="batch" data-batch="${bi}">`);
      const when = b?.start !== undefined ? ` started +${e(secs(b.start - t0))}${b.end !== undefined ? `, ended +${e(secs(b.end - t0))}` : ''}` : '';
      const fails = b?.failed !== undefined ? `, ${b.failed}/${b.total} failed` : '';
      o.push(`<div class="batch-head">${bi >= 0 ? `batch ${bi + 1}` : 'hosts'} <small>${hs.length} host(s)${when}${fails}</small>` +
        (b?.start !== undefined ? `<span class="batch-band" style="left:${pct(b.start)};width:${width(b.start, b.end ?? t1)}"></span>` : '') + '</div>');
      for (const h of hs) o.push(renderHost(h, pct, width, t1));
      if (p.stoppedAfter && p.stoppedAfter.batch === bi) {
        o.push(`<p class="note stopped">max_fail_percentage ${p.stoppedAfter.limit}% exceeded (${p.stoppedAfter.failed}/${p.stoppedAfter.total} failed): no further batch started</p>`);
      }
      o.push('</div>');
    }
    o.push('</div>');
    return o.join('\n');
  }

  function renderHost(h: TimelineHost, pct: (x: number) => string, width: (a: number, b: number) => string, t1: number): string {
    const o: string[] = [];
    const failedHost = ['failed', 'unreachable', 'rolled-back', 'needs-attention'].includes(h.outcome);
    o.push(`<div class="host${failedHost ? ' host-failed' : ''}" data-outcome="${e(h.outcome)}" data-host="${e(h.host)}">`);
    o.push(`<div class="row"><div class="label"><span class="name">${e(h.host)}</span> <span class="badge o-${e(h.outcome)}">${e(h.outcome)}</span></div><div class="track">`);
    const panels: string[] = [];
    for (const s of h.steps) {
      const sid = id();
      const end = s.end ?? h.end ?? t1;
      const st = s.status ?? 'cut-short';
      const cls = ['step', `st-${st}`, FAILED_STATUS.has(st) ? 'failed' : '', s.reboot ? 'reboot' : '', s.phase === 'cleanup' ? 'cleanup' : ''].filter(Boolean).join(' ');
      const label = `${s.phase === 'cleanup' ? 'cleanup: ' : ''}${s.name} (${s.type}): ${st}, ${secs(end - s.start)}`;
      o.push(`<button type="button" class="${cls}" data-panel="${sid}" data-status="${e(st)}" style="left:${pct(s.start)};width:${width(s.start, end)}" title="${e(label)}" aria-label="${e(label)}">${s.reboot ? '↻' : ''}</button>`);
      panels.push(renderPanel(sid, s, st, end));
    }
    for (const rb of h.rollbacks) {
      const sid = id();
      const end = rb.end ?? h.end ?? t1;
      const state = rb.ok === undefined ? 'unfinished' : rb.ok ? 'ok' : 'FAILED';
      const label = `rollback${rb.mode ? ` (${rb.mode})` : ''}: ${state}, ${secs(end - rb.start)}`;
      o.push(`<button type="button" class="rollback${rb.ok === false ? ' failed' : ''}" data-panel="${sid}" style="left:${pct(rb.start)};width:${width(rb.start, end)}" title="${e(label)}" aria-label="${e(label)}">⟲</button>`);
      panels.push(`<section class="panel rollback-panel" id="${sid}" hidden><h4>${e(label)}</h4><p>${e(rb.reason)}</p><ol>` +
        rb.steps.map((x) => `<li class="${x.ok ? '' : 'failed'}">${e(clock(x.time))} ${e(x.step)}: ${x.ok ? 'ok' : 'FAILED'} — ${e(x.summary)}</li>`).join('') + '</ol></section>');
    }
    o.push('</div></div>');
    if (h.recap?.reason && failedHost) o.push(`<div class="why">${e(h.recap.reason)}</div>`);
    o.push(`<div class="panels">${panels.join('')}</div></div>`);
    return o.join('');
  }

  function renderPanel(sid: string, s: TimelineStep, st: string, end: number): string {
    const p: string[] = [];
    p.push(`<section class="panel" id="${sid}" hidden><h4>${s.phase === 'cleanup' ? 'cleanup: ' : ''}${e(s.name)} <small>${e(s.type)}</small> <span class="badge st-${e(st)}">${e(st)}</span></h4>`);
    p.push(`<p class="when">${e(clock(s.start))} → ${s.end !== undefined ? e(clock(end)) : 'no result (the process stopped)'}, ${e(secs(end - s.start))}</p>`);
    if (s.summary) p.push(`<pre class="summary">${e(s.summary)}</pre>`);
    if (s.diff) p.push(`<pre class="diff">${e(s.diff)}</pre>`);
    p.push(s.output.length ? `<pre class="output">${e(s.output.join('\n'))}</pre>` : '<p class="none">no output</p>');
    p.push('</section>');
    return p.join('');
  }
}

const CSS = `
:root{--ok:#3b8f5a;--changed:#d99a00;--skipped:#9aa3ad;--failed:#d32f2f;--rb:#7b3fb0;--bg:#fff;--fg:#1d232a;--line:#e3e7eb}
*{box-sizing:border-box}
body{margin:0;padding:16px 24px;font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:20px;margin:0 0 8px}h2{font-size:16px;margin:20px 0 8px}h3{font-size:15px;margin:12px 0 6px}h3 small,.batch-head small{color:#5f6b76;font-weight:normal}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0}dl.meta dt{color:#5f6b76}dl.meta dd{margin:0;word-break:break-all}
.note{background:#fff7e0;padding:4px 8px;border-left:3px solid var(--changed)}.note.stopped{border-color:var(--failed);background:#fdecec}
table.recap{border-collapse:collapse;width:100%}table.recap th,table.recap td{border-bottom:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
td.reason{white-space:pre-wrap;color:#5f6b76}.attention{color:var(--failed);font-weight:bold}
.badge{display:inline-block;padding:0 6px;border-radius:8px;font-size:12px;background:#eef1f4}
.o-ok,.st-ok{background:#dff2e5}.o-changed,.st-changed,.st-would-change{background:#fff0c2}.o-skipped,.st-skipped{background:#eceff2}
.o-failed,.o-unreachable,.st-failed,.st-would-fail,.st-unreachable{background:#fbd5d5;color:#8a1010}.o-rolled-back{background:#ead9f7;color:#4b1d75}
.o-needs-attention{background:var(--failed);color:#fff;font-weight:bold}.o-unfinished,.o-not-started,.st-cut-short,.st-unknown{background:#e6e6e6;color:#444}
.filters label{margin-right:14px;cursor:pointer;white-space:nowrap}.legend{color:#5f6b76;font-size:12px}
.key{display:inline-block;width:14px;height:10px;margin:0 3px 0 10px;vertical-align:middle;border-radius:2px}.key.st-ok{background:var(--ok)}.key.st-changed{background:var(--changed)}.key.st-skipped{background:var(--skipped)}.key.st-failed{background:var(--failed)}.key.rb{background:var(--rb)}.reboot-key{margin-left:10px}
.axis,.row{display:flex;align-items:center}.label{flex:0 0 260px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;padding-right:8px}
.ticks{position:relative;flex:1;height:16px;font-size:11px;color:#5f6b76;border-bottom:1px solid var(--line)}.ticks span{position:absolute;transform:translateX(-50%)}.ticks span:first-child{transform:none}.ticks span:last-child{transform:translateX(-100%)}
.batch{border-top:1px dashed var(--line);padding:2px 0}.batch-head{position:relative;font-weight:600;font-size:12px;padding:4px 0 2px;margin-left:260px}
.batch-band{position:absolute;top:0;height:3px;background:#9cc3e6;border-radius:2px}
.host[hidden],.batch[hidden]{display:none}.row{min-height:24px}.host-failed .name{color:var(--failed);font-weight:bold}
.track{position:relative;flex:1;height:20px;background:repeating-linear-gradient(90deg,#fafbfc 0 10%,#f3f5f7 10% 20%);border-radius:3px}
.track button{position:absolute;top:2px;height:16px;min-width:3px;padding:0;border:0;border-radius:2px;cursor:pointer;font-size:11px;line-height:16px;color:#fff;overflow:hidden}
.step.st-ok{background:var(--ok)}.step.st-changed,.step.st-would-change{background:var(--changed)}.step.st-skipped{background:var(--skipped)}
.step.failed{background:var(--failed);outline:2px solid #7a0000;min-width:8px}.step.st-cut-short,.step.st-unknown{background:repeating-linear-gradient(45deg,#888 0 4px,#bbb 4px 8px)}
.step.cleanup{opacity:.7}.step.reboot{box-shadow:inset 0 0 0 2px #1565c0}.step.active,.rollback.active{outline:3px solid #1565c0;z-index:2}
.track .rollback{background:repeating-linear-gradient(45deg,var(--rb) 0 6px,#a66fd6 6px 12px);top:0;height:20px}.track .rollback.failed{outline:2px solid var(--failed)}
.why{margin-left:260px;color:var(--failed);font-size:12px;white-space:pre-wrap}
.panel{margin:4px 0 8px 260px;padding:6px 10px;border:1px solid var(--line);border-left:4px solid #1565c0;background:#f8fafc}.panel h4{margin:0 0 4px}
.panel pre{margin:4px 0;padding:6px;background:#fff;border:1px solid var(--line);white-space:pre-wrap;word-break:break-word;max-height:360px;overflow:auto;font:12px/1.35 ui-monospace,monospace}
.panel .when{margin:0;color:#5f6b76;font-size:12px}.panel li.failed{color:var(--failed)}
footer{margin-top:24px;color:#5f6b76;font-size:12px}
`;

/** Filters hide host rows (and batches left empty); a step or rollback span opens its panel. */
const SCRIPT = `
(function(){
  function apply(){
    var on={};document.querySelectorAll('input.filter').forEach(function(c){on[c.value]=c.checked;});
    document.querySelectorAll('.host,.host-recap').forEach(function(h){var o=h.getAttribute('data-outcome');h.hidden=on[o]===false;});
    document.querySelectorAll('.batch').forEach(function(b){b.hidden=b.querySelector('.host:not([hidden])')===null;});
  }
  document.querySelectorAll('input.filter').forEach(function(c){c.addEventListener('change',apply);});
  document.addEventListener('click',function(ev){
    var b=ev.target&&ev.target.closest?ev.target.closest('button[data-panel]'):null;if(!b)return;
    var host=b.closest('.host');var p=document.getElementById(b.getAttribute('data-panel'));if(!p)return;
    var open=p.hidden;
    host.querySelectorAll('.panel').forEach(function(x){x.hidden=true;});
    host.querySelectorAll('button[data-panel]').forEach(function(x){x.classList.remove('active');x.setAttribute('aria-expanded','false');});
    if(open){p.hidden=false;b.classList.add('active');b.setAttribute('aria-expanded','true');}
  });
  apply();
})();
`;
