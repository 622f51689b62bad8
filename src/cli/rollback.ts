import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { EXIT } from '../engine/exit-codes.js';
import type { HostResume, EnginePlay } from '../engine/types.js';
import { stateDir } from '../journal/journal.js';
import { rollbackState, type RunHistory } from '../journal/history.js';
import { intendedMarkers, type SnapshotToken } from '../steps/vm/snapshot.js';
import type { Io } from './io.js';
import { loadInventoryArgs } from './inventory.js';
import { findRunSnapshot, limitHosts, listPoolSnapshots, poolSessions } from './pool-snapshots.js';
import type { Inventory } from '../model/inventory.js';
import type { RecoverFlags, RunFlags } from './program.js';
import { loadRun } from './runs.js';
import { settleHosts } from './settle.js';
import { runPlaybook } from './run.js';
import type { HostRecap } from '../engine/events.js';
import { rolloutRuns } from '../shard/merge.js';
import { readPools, rolloutPrefix, parseMarker } from '../shard/coordinator.js';

/** per play+host: what to undo; `cut` for a step cut short: the snapshot name its intent asked for (null: never asked) */
type Targets = Map<string, { index: number; token: unknown; step?: string; cut?: string | null; cutMarkers?: Record<string, string> }[]>;
const key = (play: string, host: string): string => `${play}\u0000${host}`;

/** The flags a later session loads the run's project with: the run's own, narrowed by ours. */
export function recoverRunFlags(h: RunHistory | undefined, flags: RecoverFlags, dir: string): RunFlags {
  const plan = h?.plan;
  return {
    inventory: flags.inventory.length ? flags.inventory : plan?.inventories ?? [],
    extraVars: plan?.extraVars ?? [],
    ...(flags.limit ?? plan?.limit ? { limit: flags.limit ?? plan?.limit } : {}),
    ...(plan?.tags ? { tags: plan.tags } : {}),
    ...(plan?.skipTags ? { skipTags: plan.skipTags } : {}),
    ...(plan?.startAtStep ? { startAtStep: plan.startAtStep } : {}),
    // a shard of a rollout: the same slice, and (resume) back into the rollout's gate
    ...(plan?.shard ? { shard: plan.shard, shardBy: plan.shardBy ?? 'host' } : {}),
    ...(plan?.rollout ? { rollout: plan.rollout } : {}),
    ...(flags.forks ? { forks: flags.forks } : {}),
    ...(flags.json !== undefined ? { json: flags.json } : {}),
    ...(flags.junit ? { junit: flags.junit } : {}),
    check: false, diff: false, verbose: flags.verbose, stateDir: dir, yes: true,
  };
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
 * it is said, and the exit is 3 (needs attention). Otherwise what the engine said (3 a failed
 * undo, 4 unreachable, 130 interrupted, …).
 */
export function rollbackExit(recap: HostRecap[], engineCode: number): { code: number; notes: string[] } {
  if (recap.length === 0 || !recap.every((x) => x.outcome === 'rolled-back')) return { code: engineCode, notes: [] };
  // host-run adds `attention` to a rolled-back host only for what is left to do: failed cleanup
  const unclean = recap.filter((x) => x.attention !== undefined);
  if (unclean.length === 0) return { code: EXIT.ok, notes: [] };
  return {
    code: EXIT.attention,
    notes: unclean.map((x) => `${x.host}: ${x.rollback_mode === 'reverted' ? 'reverted' : 'rolled back'}, but the cleanup could not run: ${x.attention}; check the host, then run the play's cleanup steps by hand`),
  };
}

/**
 * `pvrun rollback <run>`: revert the run's hosts to the snapshots it took (restore point undo:
 * revert + power state), then the play's cleanup, journaled in the run's own journal. The hosts
 * and their undo tokens come from the journal; with --from-pool, from the snapshot markers.
 */
export async function rollbackCommand(given: string, flags: RecoverFlags, io: Io): Promise<number> {
  const dir = stateDir(flags.stateDir, io.cwd);
  if (flags.rollout !== undefined) return rolloutRollback(flags.rollout, flags, io, dir);
  if (flags.fromPool) return fromPool(given, flags, io, dir);
  const r = loadRun(dir, given);
  if (!r.ok) {
    io.err.write(`pvrun rollback: ${r.message}\n  (if the state directory is lost: pvrun rollback ${given} --from-pool -i INVENTORY --playbook FILE)\n`);
    return EXIT.invalid;
  }
  const h = r.history;
  if (h.check) {
    io.err.write(`pvrun rollback: run ${h.runId} was a check-mode run: it changed nothing\n`);
    return EXIT.ok;
  }
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
  if (targets.size === 0) {
    io.out.write(`run ${h.runId}: no host has a change left to roll back\n`);
    return EXIT.ok;
  }
  const playbook = flags.playbook ?? h.plan?.playbook ?? h.playbook;
  if (!playbook) {
    io.err.write('pvrun rollback: the journal does not name the playbook: pass --playbook FILE\n');
    return EXIT.invalid;
  }
  return rollbackTargets(h.runId, playbook, targets, recoverRunFlags(h, flags, dir), io);
}

async function rollbackTargets(runId: string, playbook: string, targets: Targets, runFlags: RunFlags, io: Io): Promise<number> {
  const reason = `pvrun rollback of run ${runId}`;
  const out = await runPlaybook(playbook, runFlags, io, {
    runId,
    mode: 'rollback',
    plays: async (plays, project) => {
      // the playbook must still be the one the run used: the journal names steps by index
      for (const p of plays) {
        for (const h of p.hosts) {
          for (const t of targets.get(key(p.name, h.name)) ?? []) {
            const s = p.steps[t.index];
            if (t.step && s?.spec.name !== t.step) return `the playbook changed since run ${runId}: step ${t.index + 1} of play '${p.name}' is '${s?.spec.name ?? '(none)'}', the journal says '${t.step}'`;
          }
        }
      }
      // only the hosts the inventory and --limit select
      const selected = new Set(plays.flatMap((p) => p.hosts.map((h) => key(p.name, h.name))));
      const wanted = [...targets.keys()].map((k) => k.split('\u0000')[1]).join(', ');
      for (const k of [...targets.keys()]) if (!selected.has(k)) targets.delete(k);
      if (targets.size === 0) return `none of the hosts to roll back (${wanted}) is selected by the inventory and --limit`;
      await settleHosts(project.inventory, plays.flatMap((p) => p.hosts.filter((h) => targets.has(key(p.name, h.name))).map((h) => h.name)), io);
      await resolveCutSnapshots(plays, targets, project.inventory, runId, io);
      // every cut-short host turned out untouched: an empty session, journaled, exit 0
      if (targets.size === 0) return [];
      const narrowed = narrowPlays(plays, (p, h) => targets.has(key(p, h)), true);
      return narrowed.length ? narrowed : `none of the hosts to roll back (${[...targets.keys()].map((k) => k.split('\u0000')[1]).join(', ')}) is selected by the inventory and --limit`;
    },
    resume: (play, host): HostResume | undefined => {
      const t = targets.get(key(play, host));
      // the journal lists every apply that started: rollback reverts only if the guest was changed
      return t ? { startIndex: Number.MAX_SAFE_INTEGER, applied: t.map(({ index, token }) => ({ index, token })), rollback: reason, appliesKnown: true } : undefined;
    },
    exit: rollbackExit,
  });
  return out.code;
}

/**
 * A snapshot step the crash cut short: use what it made (marking it if the crash came before the
 * markers), or — when it made nothing — drop it: nothing after it ran, so there is nothing to undo.
 */
async function resolveCutSnapshots(plays: EnginePlay[], targets: Targets, inv: Inventory, runId: string, io: Io): Promise<void> {
  for (const p of plays) {
    for (const h of p.hosts) {
      const k = key(p.name, h.name);
      const list = targets.get(k);
      if (!list) continue;
      const kept: typeof list = [];
      for (const t of list) {
        if (t.token !== undefined || t.cut === undefined || !p.steps[t.index]?.type.makesRestorePoint) { kept.push(t); continue; }
        if (t.cut === null) continue; // killed before VM.snapshot was asked for
        const found = await findRunSnapshot(inv, h.name, runId, t.cut || undefined, (m) => io.err.write(`pvrun: ${m}\n`), t.cutMarkers);
        if (found === 'none') continue;
        kept.push(found ? { ...t, token: found } : t);
      }
      if (kept.length) targets.set(k, kept);
      else {
        targets.delete(k);
        io.out.write(`${h.name}: the crash came before its snapshot was taken: nothing was changed\n`);
      }
    }
  }
}

/** The journal is gone: the run's snapshots on the pools say which VMs to revert, and to what. */
async function fromPool(given: string, flags: RecoverFlags, io: Io, dir: string): Promise<number> {
  const inv = loadInventoryArgs(flags.inventory, io);
  if (!inv.ok) return inv.code;
  const pools = poolSessions(inv.inventory, true, (m) => io.err.write(`pvrun: WARNING: ${m}\n`));
  try {
    const all = await listPoolSnapshots(pools, inv.inventory);
    if (!all.ok) { io.err.write(`pvrun rollback: ${all.error}\n`); return EXIT.unreachable; }
    const runs = [...new Set(all.value.map((s) => s.run))];
    const runId = runs.includes(given) ? given : runs.filter((r) => r.startsWith(given)).length === 1 ? runs.find((r) => r.startsWith(given))! : undefined;
    if (!runId) {
      io.err.write(`pvrun rollback: no pvrun snapshot of run '${given}' on the inventory's pools${runs.length ? ` (runs with snapshots: ${runs.join(', ')})` : ''}\n`);
      return EXIT.invalid;
    }
    const limit = limitHosts(inv.inventory, flags.limit);
    if (!limit.ok) { io.err.write(`pvrun rollback: ${limit.error}\n`); return EXIT.invalid; }
    // the earliest snapshot of the run per VM is the state before the run touched it
    const first = new Map<string, (typeof all.value)[number]>();
    for (const s of all.value.filter((x) => x.run === runId && limit.value.has(x.host))) if (!first.has(s.host)) first.set(s.host, s);
    if (first.size === 0) { io.out.write(`run ${runId}: no snapshot of the selected hosts\n`); return EXIT.ok; }
    const marked = [...first.values()][0]!.playbook;
    const playbook = flags.playbook ?? (marked ? resolve(io.cwd, marked) : undefined);
    if (!playbook || !existsSync(playbook)) {
      io.err.write(`pvrun rollback: the snapshots name playbook '${marked}', which is not here: pass --playbook FILE (its cleanup runs after the revert)\n`);
      return EXIT.invalid;
    }
    const runFlags = recoverRunFlags(undefined, { ...flags, limit: [...first.keys()].join(',') }, dir);
    // the token the snapshot step would have journaled, rebuilt from the markers
    const targets: Targets = new Map();
    const perHost = new Map([...first].map(([host, s]) => [host, {
      vmUuid: s.vmUuid, snapshotUuid: s.uuid, snapshotRef: s.ref, powerState: s.powerState, hadTools: s.hadTools,
    } satisfies SnapshotToken]));
    return await rollbackTargetsFromMarkers(runId, playbook, perHost, targets, runFlags, io);
  } finally {
    await pools.closeAll();
  }
}

async function rollbackTargetsFromMarkers(runId: string, playbook: string, perHost: Map<string, SnapshotToken>, targets: Targets, runFlags: RunFlags, io: Io): Promise<number> {
  const reason = `pvrun rollback of run ${runId} (from the snapshot markers on the pool)`;
  const out = await runPlaybook(playbook, runFlags, io, {
    runId,
    mode: 'rollback',
    plays: async (plays, project) => {
      for (const p of plays) {
        const idx = p.steps.findIndex((s) => s.type.makesRestorePoint === true);
        if (idx < 0) continue;
        for (const h of p.hosts) {
          const t = perHost.get(h.name);
          if (t && ![...targets.keys()].some((k) => k.endsWith(`\u0000${h.name}`))) targets.set(key(p.name, h.name), [{ index: idx, token: t }]);
        }
      }
      const narrowed = narrowPlays(plays, (p, h) => targets.has(key(p, h)), true);
      await settleHosts(project.inventory, narrowed.flatMap((p) => p.hosts.map((h) => h.name)), io);
      return narrowed.length ? narrowed : `no play of ${playbook} takes a snapshot of ${[...perHost.keys()].join(', ')}`;
    },
    resume: (play, host) => {
      const t = targets.get(key(play, host));
      return t ? { startIndex: Number.MAX_SAFE_INTEGER, applied: t.map(({ index, token }) => ({ index, token })), rollback: reason } : undefined;
    },
    exit: rollbackExit,
  });
  return out.code;
}

/**
 * `pvrun rollback --rollout ID`: every shard's run of the rollout, one after another — from their
 * journals (found under --state-dir: one state directory, or a folder of CI artifacts), or with
 * --from-pool from the rollout's markers on the pools (each shard's marker names its run), then
 * each run's snapshots by their markers. The exit code is the worst of the runs'.
 */
async function rolloutRollback(id: string, flags: RecoverFlags, io: Io, dir: string): Promise<number> {
  let runs: { run: string; dir: string }[];
  if (flags.fromPool) {
    const inv = loadInventoryArgs(flags.inventory, io);
    if (!inv.ok) return inv.code;
    const pools = poolSessions(inv.inventory, true, (m) => io.err.write(`pvrun: WARNING: ${m}\n`));
    try {
      const maps = await readPools(Object.keys(inv.inventory.hypervisors).sort(), async (p) => {
        const c = await pools.client(p);
        return c.ok ? { ok: true, value: c.value.view(true) } : c;
      });
      if (!maps.ok) { io.err.write(`pvrun rollback: ${maps.error}\n`); return EXIT.unreachable; }
      const ids = new Set<string>();
      const pre = rolloutPrefix(id);
      for (const m of maps.value.values()) for (const [k, v] of Object.entries(m)) if (k.startsWith(pre)) { const r = parseMarker(v)['run']; if (r) ids.add(r); }
      runs = [...ids].sort().map((run) => ({ run, dir }));
    } finally {
      await pools.closeAll();
    }
  } else {
    runs = rolloutRuns(id, [dir]).map((s) => ({ run: s.history.runId, dir: s.dir }));
  }
  if (runs.length === 0) {
    io.err.write(`pvrun rollback: no run of rollout '${id}' ${flags.fromPool ? 'in the markers of the inventory\'s pools' : `under ${dir} (the shards' state directories or CI artifacts; or --from-pool -i INVENTORY)`}\n`);
    return EXIT.invalid;
  }
  let worst: number = EXIT.ok;
  for (const r of runs) {
    io.out.write(`== rollout ${id}: run ${r.run}\n`);
    const { rollout: _r, ...rest } = flags;
    const code = await rollbackCommand(r.run, { ...rest, stateDir: r.dir }, io);
    if (code > worst) worst = code;
  }
  return worst;
}
