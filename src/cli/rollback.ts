import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { EXIT } from '../engine/exit-codes.js';
import type { HostResume } from '../engine/types.js';
import { stateDir } from '../journal/journal.js';
import type { RunHistory } from '../journal/history.js';
import type { SnapshotToken } from '../steps/vm/snapshot.js';
import type { Io } from './io.js';
import { loadInventoryArgs } from './inventory.js';
import { limitHosts } from '../recovery/pool-snapshots.js';
import {
  journalTargets, markerTargets, narrowPlays, poolRollbackPlan, poolRunSnapshots, resolveCutSnapshots, rollbackOutcome,
  rolloutRunsOnPools, selectTargets,
} from '../recovery/rollback-targets.js';
import { hostOfKey, targetKey as key, type RecoveryProblem, type Targets } from '../recovery/types.js';
import type { RecoverFlags, RunFlags } from './program.js';
import { loadRun } from './runs.js';
import { settleHosts, type SettleNotice } from '../recovery/settle.js';
import { runPlaybook } from './run.js';
import type { HostRecap } from '../engine/events.js';
import { rolloutRuns } from '../shard/merge.js';

export { narrowPlays };

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
    ...(flags.forks ? { forks: String(flags.forks) } : {}),
    ...(flags.json !== undefined ? { json: flags.json } : {}),
    ...(flags.junit ? { junit: flags.junit } : {}),
    check: false, diff: false, verbose: flags.verbose, stateDir: dir, yes: true,
  };
}

/**
 * The rollback session's exit code (src/recovery/rollback-targets.ts `rollbackOutcome`), with a
 * line for each host reverted whose cleanup could not run.
 */
export function rollbackExit(recap: HostRecap[], engineCode: number): { code: number; notes: string[] } {
  const o = rollbackOutcome(recap, engineCode);
  return {
    code: o.code,
    notes: o.unclean.map((x) => `${x.host}: ${x.rollback_mode === 'reverted' ? 'reverted' : 'rolled back'}, but the cleanup could not run: ${x.attention}; check the host, then run the play's cleanup steps by hand`),
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
  const targets = journalTargets(h);
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

async function rollbackTargets(runId: string, playbook: string, journaled: Targets, runFlags: RunFlags, io: Io): Promise<number> {
  let targets = journaled;
  const reason = `pvrun rollback of run ${runId}`;
  const out = await runPlaybook(playbook, runFlags, io, {
    runId,
    mode: 'rollback',
    plays: async (plays, project) => {
      const chosen = selectTargets(plays, targets, runId);
      if (!chosen.ok) return problemText(chosen.error);
      await settleHosts(project.inventory, plays.flatMap((p) => p.hosts.filter((h) => chosen.value.has(key(p.name, h.name))).map((h) => h.name)), (n) => printSettleNotice(n, io));
      const resolved = await resolveCutSnapshots(plays, chosen.value, project.inventory, runId, recoveryWarn(io));
      for (const host of resolved.untouched) io.out.write(`${host}: the crash came before its snapshot was taken: nothing was changed\n`);
      targets = resolved.targets;
      // every cut-short host turned out untouched: an empty session, journaled, exit 0
      if (targets.size === 0) return [];
      const narrowed = narrowPlays(plays, (p, h) => targets.has(key(p, h)), true);
      return narrowed.length ? narrowed : problemText({ kind: 'none-selected', hosts: [...targets.keys()].map(hostOfKey) });
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

/** The journal is gone: the run's snapshots on the pools say which VMs to revert, and to what. */
async function fromPool(given: string, flags: RecoverFlags, io: Io, dir: string): Promise<number> {
  const inv = loadInventoryArgs(flags.inventory, io);
  if (!inv.ok) return inv.code;
  const all = await poolRunSnapshots(inv.inventory, (m) => io.err.write(`pvrun: WARNING: ${m}\n`));
  if (!all.ok) { io.err.write(`pvrun rollback: ${problemText(all.error)}\n`); return EXIT.unreachable; }
  const limit = limitHosts(inv.inventory, flags.limit);
  const found = poolRollbackPlan(all.value, given, limit.ok ? limit.value : new Set());
  if (!found.ok) { io.err.write(`pvrun rollback: ${problemText(found.error)}\n`); return EXIT.invalid; }
  if (!limit.ok) { io.err.write(`pvrun rollback: ${limit.error}\n`); return EXIT.invalid; }
  const plan = found.value;
  if (plan.perHost.size === 0) { io.out.write(`run ${plan.runId}: no snapshot of the selected hosts\n`); return EXIT.ok; }
  const playbook = flags.playbook ?? (plan.playbook ? resolve(io.cwd, plan.playbook) : undefined);
  if (!playbook || !existsSync(playbook)) {
    io.err.write(`pvrun rollback: the snapshots name playbook '${plan.playbook}', which is not here: pass --playbook FILE (its cleanup runs after the revert)\n`);
    return EXIT.invalid;
  }
  const runFlags = recoverRunFlags(undefined, { ...flags, limit: [...plan.perHost.keys()].join(',') }, dir);
  return rollbackTargetsFromMarkers(plan.runId, playbook, plan.perHost, runFlags, io);
}

async function rollbackTargetsFromMarkers(runId: string, playbook: string, perHost: Map<string, SnapshotToken>, runFlags: RunFlags, io: Io): Promise<number> {
  const reason = `pvrun rollback of run ${runId} (from the snapshot markers on the pool)`;
  let targets: Targets = new Map();
  const out = await runPlaybook(playbook, runFlags, io, {
    runId,
    mode: 'rollback',
    plays: async (plays, project) => {
      targets = markerTargets(plays, perHost);
      const narrowed = narrowPlays(plays, (p, h) => targets.has(key(p, h)), true);
      await settleHosts(project.inventory, narrowed.flatMap((p) => p.hosts.map((h) => h.name)), (n) => printSettleNotice(n, io));
      return narrowed.length ? narrowed : problemText({ kind: 'no-restore-point', playbook, hosts: [...perHost.keys()] });
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
    const ids = await rolloutRunsOnPools(inv.inventory, id, (m) => io.err.write(`pvrun: WARNING: ${m}\n`));
    if (!ids.ok) { io.err.write(`pvrun rollback: ${problemText(ids.error)}\n`); return EXIT.unreachable; }
    runs = ids.value.map((run) => ({ run, dir }));
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

/** A recovery problem in words (src/recovery/types.ts). */
export function problemText(p: RecoveryProblem): string {
  switch (p.kind) {
    case 'playbook-changed': return `the playbook changed since run ${p.runId}: step ${p.index + 1} of play '${p.play}' is '${p.found ?? '(none)'}', the journal says '${p.journaled}'`;
    case 'none-selected': return `none of the hosts to roll back (${p.hosts.join(', ')}) is selected by the inventory and --limit`;
    case 'no-restore-point': return `no play of ${p.playbook} takes a snapshot of ${p.hosts.join(', ')}`;
    case 'nothing-to-resume': return `every host of run ${p.runId} had finished: nothing to resume`;
    case 'pool': return p.message;
    case 'no-pool-run': return `no pvrun snapshot of run '${p.given}' on the inventory's pools${p.runs.length ? ` (runs with snapshots: ${p.runs.join(', ')})` : ''}`;
  }
}

/** What the wait before a recovery session tells (src/recovery/settle.ts), as it waits. */
export function printSettleNotice(n: SettleNotice, io: Io): void {
  if (n.kind === 'pool-down') io.err.write(`pvrun: ${n.host}: the pool does not answer (${n.why}): waiting for it\n`);
  else io.err.write(`pvrun: ${n.host}: waiting for the VM's ${n.operations.join(', ')} to finish\n`);
}

/** Warnings of the recovery functions (a snapshot adopted or left unmarked …). */
export const recoveryWarn = (io: Io) => (m: string): void => { io.err.write(`pvrun: ${m}\n`); };
