/**
 * `pvrun rollback`'s decisions: what to revert or undo on which host, folded from the run's
 * journal (or, the journal lost, from the snapshot markers on the pools). Values only: the CLI
 * (src/cli/rollback.ts) prints and runs the session.
 */
import type { HostRecap } from '../engine/events.js';
import { EXIT } from '../engine/exit-codes.js';
import type { EnginePlay } from '../engine/types.js';
import { rollbackState, type RunHistory } from '../journal/history.js';
import type { Inventory } from '../model/inventory.js';
import { readPools, rolloutPrefix, parseMarker } from '../shard/coordinator.js';
import { intendedMarkers, type SnapshotToken } from '../steps/vm/snapshot.js';
import { err, ok, type Result } from '../util/result.js';
import { findRunSnapshot, listPoolSnapshots, poolSessions, type PoolSnapshot } from './pool-snapshots.js';
import { hostOfKey, targetKey as key, type PoolRollbackPlan, type RecoveryProblem, type Targets } from './types.js';

/**
 * Per play+host, what the journal says was applied (every apply that started: one cut short
 * counts, with the snapshot name and markers its intent asked for). Empty: nothing to roll back.
 */
export function journalTargets(h: RunHistory): Targets {
  const targets: Targets = new Map();
  for (const x of h.hosts) {
    const a = rollbackState(x);
    const steps = new Map(x.steps.filter((s) => s.phase === 'main').map((s) => [s.index, s.step]));
    const cutAt = x.open?.applyStarted ? x.open.index : undefined;
    const cutIntent = x.lastIntent && x.lastIntent.step === x.open?.step ? x.lastIntent : undefined;
    const cut = cutIntent?.action === 'vm.snapshot' ? String(cutIntent.detail['name'] ?? '') : null;
    const cutMarkers = cutIntent?.action === 'vm.snapshot' ? intendedMarkers(cutIntent.detail) : undefined;
    if (a.length) targets.set(key(x.play, x.host), a.map((t) => ({ ...t, step: steps.get(t.index) ?? '', ...(t.index === cutAt && t.token === undefined ? { cut, ...(cutMarkers ? { cutMarkers } : {}) } : {}) })));
  }
  return targets;
}

/**
 * The targets the loaded plays can roll back: the playbook must still be the one the run used
 * (the journal names steps by index), and only the hosts the inventory and --limit select stay.
 */
export function selectTargets(plays: EnginePlay[], targets: Targets, runId: string): Result<Targets, RecoveryProblem> {
  for (const p of plays) {
    for (const h of p.hosts) {
      for (const t of targets.get(key(p.name, h.name)) ?? []) {
        const s = p.steps[t.index];
        if (t.step && s?.spec.name !== t.step) return err({ kind: 'playbook-changed', runId, play: p.name, index: t.index, found: s?.spec.name, journaled: t.step });
      }
    }
  }
  const selected = new Set(plays.flatMap((p) => p.hosts.map((h) => key(p.name, h.name))));
  const kept: Targets = new Map([...targets].filter(([k]) => selected.has(k)));
  if (kept.size === 0) return err({ kind: 'none-selected', hosts: [...targets.keys()].map(hostOfKey) });
  return ok(kept);
}

/**
 * A snapshot step the crash cut short: use what it made (marking it if the crash came before the
 * markers), or — when it made nothing — drop it: nothing after it ran, so there is nothing to undo.
 * `untouched`: hosts left with nothing to roll back (the crash came before their snapshot).
 */
export async function resolveCutSnapshots(
  plays: EnginePlay[], targets: Targets, inv: Inventory, runId: string, warn: (m: string) => void,
): Promise<{ targets: Targets; untouched: string[] }> {
  const out: Targets = new Map(targets);
  const untouched: string[] = [];
  for (const p of plays) {
    for (const h of p.hosts) {
      const k = key(p.name, h.name);
      const list = out.get(k);
      if (!list) continue;
      const kept: typeof list = [];
      for (const t of list) {
        if (t.token !== undefined || t.cut === undefined || !p.steps[t.index]?.type.makesRestorePoint) { kept.push(t); continue; }
        if (t.cut === null) continue; // killed before VM.snapshot was asked for
        const found = await findRunSnapshot(inv, h.name, runId, t.cut || undefined, warn, t.cutMarkers);
        if (found === 'none') continue;
        kept.push(found ? { ...t, token: found } : t);
      }
      if (kept.length) out.set(k, kept);
      else {
        out.delete(k);
        untouched.push(h.name);
      }
    }
  }
  return { targets: out, untouched };
}

/** Keep only the hosts a session works on, in one batch (a rollback is not a rolling rollout). */
export function narrowPlays(plays: EnginePlay[], keep: (play: string, host: string) => boolean, oneBatch: boolean): EnginePlay[] {
  return plays
    .map((p) => ({
      ...p,
      hosts: p.hosts.filter((h) => keep(p.name, h.name)),
      ...(oneBatch ? { serial: [], onFailure: 'rollback' as const } : {}),
    }))
    .filter((p) => p.hosts.length > 0);
}

/**
 * The rollback session's exit code: every host restored and its cleanup done → 0. A host
 * reverted whose cleanup failed (the guest did not answer after the revert …) is not clean:
 * `unclean` lists it, and the exit is 3 (needs attention). Otherwise what the engine said (3 a
 * failed undo, 4 unreachable, 130 interrupted, …).
 */
export function rollbackOutcome(recap: HostRecap[], engineCode: number): { code: number; unclean: HostRecap[] } {
  if (recap.length === 0 || !recap.every((x) => x.outcome === 'rolled-back')) return { code: engineCode, unclean: [] };
  // host-run adds `attention` to a rolled-back host only for what is left to do: failed cleanup
  const unclean = recap.filter((x) => x.attention !== undefined);
  return { code: unclean.length === 0 ? EXIT.ok : EXIT.attention, unclean };
}

/** Every pvrun snapshot on the inventory's pools (read-only session, closed before returning). */
export async function poolRunSnapshots(inv: Inventory, warn: (m: string) => void): Promise<Result<PoolSnapshot[], RecoveryProblem>> {
  const pools = poolSessions(inv, 'check', warn);
  try {
    const all = await listPoolSnapshots(pools, inv);
    return all.ok ? all : err({ kind: 'pool', message: all.error });
  } finally {
    await pools.closeAll();
  }
}

/**
 * The journal is gone: the run (an id or a unique prefix) and, per selected host, its earliest
 * snapshot of that run — the state before the run touched it — as the token the snapshot step
 * would have journaled. `perHost` empty: no snapshot of the selected hosts.
 */
export function poolRollbackPlan(all: PoolSnapshot[], given: string, selected: Set<string>): Result<PoolRollbackPlan, RecoveryProblem> {
  const runs = [...new Set(all.map((s) => s.run))];
  const prefixed = runs.filter((r) => r.startsWith(given));
  const runId = runs.includes(given) ? given : prefixed.length === 1 ? prefixed[0] : undefined;
  if (!runId) return err({ kind: 'no-pool-run', given, runs });
  const first = new Map<string, PoolSnapshot>();
  for (const s of all.filter((x) => x.run === runId && selected.has(x.host))) if (!first.has(s.host)) first.set(s.host, s);
  const perHost = new Map([...first].map(([host, s]) => [host, {
    vmUuid: s.vmUuid, snapshotUuid: s.uuid, snapshotRef: s.ref, powerState: s.powerState, hadTools: s.hadTools,
  } satisfies SnapshotToken]));
  return ok({ runId, perHost, playbook: [...first.values()][0]?.playbook ?? '' });
}

/** From the markers: per host, the first play that takes a snapshot reverts to it (one play per host). */
export function markerTargets(plays: EnginePlay[], perHost: Map<string, SnapshotToken>): Targets {
  const targets: Targets = new Map();
  const taken = new Set<string>();
  for (const p of plays) {
    const idx = p.steps.findIndex((s) => s.type.makesRestorePoint === true);
    if (idx < 0) continue;
    for (const h of p.hosts) {
      const t = perHost.get(h.name);
      if (t && !taken.has(h.name)) { targets.set(key(p.name, h.name), [{ index: idx, token: t }]); taken.add(h.name); }
    }
  }
  return targets;
}

/** `rollback --rollout ID --from-pool`: the shards' runs, from the rollout's markers on the pools. */
export async function rolloutRunsOnPools(inv: Inventory, id: string, warn: (m: string) => void): Promise<Result<string[], RecoveryProblem>> {
  const pools = poolSessions(inv, 'check', warn);
  try {
    const maps = await readPools(Object.keys(inv.hypervisors).sort(), async (p) => {
      const c = await pools.client(p);
      return c.ok ? { ok: true, value: c.value.view('check') } : c;
    });
    if (!maps.ok) return err({ kind: 'pool', message: maps.error });
    const ids = new Set<string>();
    const pre = rolloutPrefix(id);
    for (const m of maps.value.values()) for (const [k, v] of Object.entries(m)) if (k.startsWith(pre)) { const r = parseMarker(v)['run']; if (r) ids.add(r); }
    return ok([...ids].sort());
  } finally {
    await pools.closeAll();
  }
}
