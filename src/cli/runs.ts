import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { formatRecap } from '../report/recap.js';
import { mergeRollout, rolloutRuns } from '../shard/merge.js';
import { EXIT } from '../engine/exit-codes.js';
import { stateDir } from '../journal/journal.js';
import { findRunId, listRunIds, readJournal } from '../journal/read.js';
import { outcomeCounts, runHistory, type RunHistory } from '../journal/history.js';
import { loadInventories } from '../load/inventory.js';
import { inventorySecretRefs, resolveSecret } from '../load/secrets.js';
import { redactor } from '../util/redact.js';
import type { Io } from './io.js';

/** A run's journal folded into its history, or a message for the user (exit 5). */
export function loadRun(dir: string, given: string, env?: NodeJS.ProcessEnv): { ok: true; history: RunHistory } | { ok: false; message: string } {
  const id = findRunId(dir, given);
  if (!id.ok) return { ok: false, message: id.error };
  const r = readJournal(dir, id.value);
  if (!r.ok) return { ok: false, message: r.error };
  const history = runHistory(id.value, r.value.records, r.value.truncated);
  if (env) registerRunSecrets(history, env);
  return { ok: true, history };
}

const registered = new Set<string>();

/**
 * Defence in depth for `show` and `runs`, which run in a fresh process that was given no secret:
 * the journal holds none (records are redacted as values before they are written), but a journal
 * written by an older pvrun may. So when the run's inventories still load and their secret
 * references resolve here — the same CI job, with the same environment, as docs/ci.md runs
 * `pvrun show last` — those values are registered and masked like in the run. Nothing about the
 * secrets is stored in the journal for this (even a salted hash of a weak password there would
 * be a target for offline guessing); when they do not resolve there is nothing to mask with, and
 * the journal's own redaction is what holds. Failures are silent: `show` must work anyway.
 */
function registerRunSecrets(h: RunHistory, env: NodeJS.ProcessEnv): void {
  const plan = h.plan;
  if (!plan) return;
  const key = JSON.stringify([plan.cwd, plan.inventories]);
  if (registered.has(key)) return;
  registered.add(key);
  const paths = plan.inventories.filter((p) => existsSync(p));
  if (paths.length === 0) return;
  const inv = loadInventories(paths);
  if (!inv.ok) return;
  for (const r of inventorySecretRefs(inv.value)) resolveSecret(r.ref, { env, baseDir: plan.cwd });
}

const secs = (ms: number): string => (ms < 60_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.floor(ms / 60_000)}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')}s`);

function status(h: RunHistory): string {
  const later = h.sessions.slice(1).map((s) => `${s.mode}${s.ended ? '' : ' (unfinished)'}`);
  const first = h.ended ? `exit ${h.exitCode}` : 'UNFINISHED';
  return [first, ...later].join(', then ');
}

/** `pvrun runs`: one line per run, oldest first. */
export function runsCommand(flags: { stateDir?: string }, io: Io): number {
  const dir = stateDir(flags.stateDir, io.cwd);
  const ids = listRunIds(dir);
  if (ids.length === 0) {
    io.out.write(`no runs in ${dir}\n`);
    return EXIT.ok;
  }
  const rows: string[][] = [['RUN', 'PLAYBOOK', 'INVENTORY', 'STARTED', 'DURATION', 'HOSTS', 'STATUS']];
  for (const id of ids) {
    const r = loadRun(dir, id, io.env);
    if (!r.ok) continue;
    const h = r.history;
    const counts = Object.entries(outcomeCounts(h)).map(([k, n]) => `${k}=${n}`).join(' ') || '-';
    rows.push([
      id + (h.check ? ' (check)' : ''),
      h.playbook ? basename(h.playbook) : '?',
      h.inventories.map((i) => basename(i)).join(',') || '?',
      h.started ? h.started.replace('T', ' ').slice(0, 19) : '?',
      h.durationMs !== undefined ? secs(h.durationMs) : '-',
      counts,
      status(h),
    ]);
  }
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  io.out.write(redactor.redact(rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ')).join('\n')) + '\n');
  return EXIT.ok;
}

/** `pvrun show <run>`: per host, per step, timings, summaries, and with -v the outputs. */
export function showCommand(given: string, flags: { stateDir?: string; verbose: number }, io: Io): number {
  const r = loadRun(stateDir(flags.stateDir, io.cwd), given, io.env);
  if (!r.ok) {
    io.err.write(`pvrun show: ${r.message}\n`);
    return EXIT.invalid;
  }
  const h = r.history;
  const out: string[] = [];
  out.push(`run ${h.runId}${h.check ? ' (check mode)' : ''}: ${h.playbook ?? '?'}`);
  out.push(`  inventory: ${h.inventories.join(', ') || '?'}`);
  out.push(`  started ${h.started ?? '?'}, ${h.ended ? `ended ${h.ended} (${secs(h.durationMs ?? 0)}), exit ${h.exitCode}` : 'UNFINISHED (the process stopped before the end of the run)'}`);
  for (const s of h.sessions.slice(1)) out.push(`  ${s.mode} at ${s.time}${s.ended ? `, exit ${s.exitCode}` : ', unfinished'}`);
  if (h.truncated) out.push('  (the last journal record was cut short and is ignored)');
  for (const x of h.hosts) {
    out.push('');
    const outcome = x.recap ? x.recap.outcome : x.started ? 'UNFINISHED' : 'not started';
    out.push(`${x.host}  [${x.play}]  ${outcome}${x.recap?.reason ? `: ${x.recap.reason}` : ''}`);
    for (const s of x.steps) {
      const t = s.durationMs !== undefined ? secs(s.durationMs) : '?';
      const st = s.status ?? (s.applyStarted ? 'CUT SHORT while applying' : 'CUT SHORT');
      out.push(`  ${s.started.slice(11, 19)} ${s.phase === 'cleanup' ? 'cleanup: ' : ''}${s.step} (${s.stepType})  ${st}  ${t}${s.summary ? `  ${s.summary.split('\n').join('\n      ')}` : ''}`);
      if (flags.verbose > 0) for (const o of s.output) out.push(`      | ${o.trimEnd().split('\n').join('\n      | ')}`);
      if (s.undo !== undefined && flags.verbose > 0) out.push(`      undo: ${redactor.stringify(s.undo)}`);
    }
    for (const r of x.rollbackSteps) out.push(`  ${r.time.slice(11, 19)} rollback ${r.step}  ${r.ok ? 'ok' : 'FAILED'}  ${r.summary}`);
    if (x.rollback !== 'none') out.push(`  rollback: ${x.rollback}`);
    if (!x.finished && x.lastIntent) out.push(`  last intent: ${x.lastIntent.action} ${redactor.stringify(x.lastIntent.detail)} at ${x.lastIntent.time}`);
    if (x.recap?.attention) out.push(`  attention: ${x.recap.attention}`);
  }
  io.out.write(redactor.redact(out.join('\n')) + '\n');
  return EXIT.ok;
}

/**
 * `pvrun runs --rollout ID` / `pvrun show --rollout ID`: the shards' journals (several
 * --state-dir, or a folder of CI artifacts holding them) merged into one recap, as one process
 * running the whole rollout would have printed it. `show` first prints each shard's run.
 */
export function rolloutCommand(id: string, flags: { stateDirs?: string[]; stateDir?: string; verbose?: number }, io: Io, detail: boolean): number {
  const dirs = flags.stateDirs?.length ? flags.stateDirs : [stateDir(flags.stateDir, io.cwd)];
  const roots = dirs.map((d) => resolve(io.cwd, d));
  const runs = rolloutRuns(id, roots);
  if (runs.length === 0) {
    io.err.write(`pvrun: no run of rollout '${id}' in ${roots.join(', ')} (journals of runs started with --rollout ${id}, searched under each directory)\n`);
    return EXIT.invalid;
  }
  for (const s of runs) loadRun(s.dir, s.history.runId, io.env); // the second guard on secrets, as for `runs`
  const m = mergeRollout(runs);
  const out: string[] = [];
  if (detail) {
    for (const s of runs) {
      io.out.write(`== shard ${s.shard} (${s.dir})\n`);
      showCommand(s.history.runId, { stateDir: s.dir, verbose: flags.verbose ?? 0 }, io);
      io.out.write('\n');
    }
  }
  out.push(`rollout ${id}: ${runs.length} shard run(s)`);
  const rows: string[][] = [['SHARD', 'RUN', 'STATE DIR', 'STARTED', 'DURATION', 'HOSTS', 'STATUS']];
  for (const s of runs) {
    const h = s.history;
    rows.push([s.shard + (h.check ? ' (check)' : ''), h.runId, s.dir, h.started ? h.started.replace('T', ' ').slice(0, 19) : '?',
      h.durationMs !== undefined ? secs(h.durationMs) : '-', Object.entries(outcomeCounts(h)).map(([k, n]) => `${k}=${n}`).join(' ') || '-', status(h)]);
  }
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  out.push(...rows.map((r) => '  ' + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ')));
  const starts = runs.map((s) => Date.parse(s.history.started ?? '')).filter(Number.isFinite);
  const ends = runs.map((s) => Date.parse(s.history.sessions.at(-1)?.ended ?? s.history.ended ?? '')).filter(Number.isFinite);
  const durationMs = starts.length && ends.length ? Math.max(...ends) - Math.min(...starts) : 0;
  out.push('');
  out.push(formatRecap(m.recap, { color: false, runId: `rollout ${id}`, durationMs, exitCode: m.exitCode, check: runs.every((s) => s.history.check) }));
  for (const s of m.openShards) out.push(`UNFINISHED: shard ${s.shard} (run ${s.history.runId}) did not end: its process died or is still running; to finish its slice: pvrun resume ${s.history.runId} --state-dir ${s.dir}`);
  for (const u of m.unfinished) out.push(`  ${u.host}: started by shard ${u.shard} (run ${u.run}), not finished`);
  if (m.overlaps.length) out.push(`WARNING: hosts in two shards' journals (different --shard counts or inventories between jobs?): ${m.overlaps.join(', ')}`);
  io.out.write(redactor.redact(out.join('\n')) + '\n');
  return EXIT.ok;
}
