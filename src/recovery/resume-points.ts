/**
 * `pvrun resume`'s decisions from the run's journal: which hosts go on, from which step, with
 * what the killed process applied — and a snapshot it cut short adopted from the pool so a
 * second restore point is not taken. Values only: the CLI (src/cli/resume.ts) runs the session.
 */
import type { EnginePlay, HostResume } from '../engine/types.js';
import { resumePoint, type HostHistory, type RunHistory } from '../journal/history.js';
import type { Inventory } from '../model/inventory.js';
import { intendedMarkers } from '../steps/vm/snapshot.js';
import { findRunSnapshot } from './pool-snapshots.js';
import { narrowPlays } from './rollback-targets.js';
import { targetKey as key, type RecoveryProblem } from './types.js';
import { err, ok, type Result } from '../util/result.js';

/** Whether the run is over (nothing to resume), and why. */
export type ResumeState =
  | { kind: 'finished'; exitCode: number | undefined }
  | { kind: 'check' }
  | { kind: 'open' };

export function resumeState(h: RunHistory): ResumeState {
  const open = h.sessions.at(-1);
  if (h.ended !== undefined && open?.ended !== undefined) return { kind: 'finished', exitCode: h.exitCode };
  if (h.check) return { kind: 'check' };
  return { kind: 'open' };
}

/**
 * The plays narrowed to the hosts the run had not finished: finished hosts are left alone, hosts
 * not started yet run from the beginning — unless, as in the run itself, the host failed an
 * earlier play. `started`: hosts the killed process was working on (settle them, and wait for
 * the commands it left running there).
 */
export function resumeHosts(h: RunHistory, plays: EnginePlay[]): Result<{ plays: EnginePlay[]; started: string[] }, RecoveryProblem> {
  const known = knownHosts(h);
  const failed = new Set(h.hosts.filter((x) => x.recap && ['failed', 'unreachable', 'rolled-back', 'needs-attention'].includes(x.recap.outcome)).map((x) => x.host));
  const keep = (play: string, host: string): boolean => {
    const x = known.get(key(play, host));
    if (!x) return !failed.has(host);
    return resumePoint(x) !== 'done';
  };
  const narrowed = narrowPlays(plays, keep, false);
  if (narrowed.length === 0) return err({ kind: 'nothing-to-resume', runId: h.runId });
  const started = narrowed.flatMap((p) => p.hosts.filter((x) => known.get(key(p.name, x.name))?.started !== undefined).map((x) => x.name));
  return ok({ plays: narrowed, started });
}

/**
 * Per play+host, where it goes on (`HostResume`). A step cut short is planned again (plan() reads
 * the host as it is now) — except a snapshot cut short: looked for on the pool first and, when
 * found, adopted with the markers the step journaled (the playbook's retention, not 'run-end').
 */
export async function resumePoints(h: RunHistory, plays: EnginePlay[], inv: Inventory, warn: (m: string) => void): Promise<Map<string, HostResume>> {
  const known = knownHosts(h);
  const points = new Map<string, HostResume>();
  for (const p of plays) {
    for (const host of p.hosts) {
      const x = known.get(key(p.name, host.name));
      const pt = x ? resumePoint(x) : undefined;
      if (!x || pt === undefined || pt === 'done') continue;
      const step = p.steps[pt.startIndex];
      if (step?.type.makesRestorePoint && x.open?.applyStarted && x.open.index === pt.startIndex) {
        const asked = x.lastIntent?.step === x.open.step && x.lastIntent.action === 'vm.snapshot' ? x.lastIntent : undefined;
        const intent = asked ? String(asked.detail['name'] ?? '') : undefined;
        const t = await findRunSnapshot(inv, host.name, h.runId, intent || undefined, warn, intendedMarkers(asked?.detail));
        if (t && t !== 'none') {
          pt.applied.push({ index: pt.startIndex, token: t });
          pt.startIndex++;
        }
      }
      points.set(key(p.name, host.name), pt);
    }
  }
  return points;
}

function knownHosts(h: RunHistory): Map<string, HostHistory> {
  return new Map(h.hosts.map((x) => [key(x.play, x.host), x]));
}
