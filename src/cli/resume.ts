import { EXIT } from '../engine/exit-codes.js';
import type { HostResume } from '../engine/types.js';
import { stateDir } from '../journal/journal.js';
import { resumePoint, type HostHistory } from '../journal/history.js';
import type { Io } from './io.js';
import { findRunSnapshot } from './pool-snapshots.js';
import type { RecoverFlags } from './program.js';
import { narrowPlays, recoverRunFlags } from './rollback.js';
import { loadRun } from './runs.js';
import { runPlaybook } from './run.js';
import { settleHosts } from './settle.js';
import { intendedMarkers } from '../steps/vm/snapshot.js';

const key = (play: string, host: string): string => `${play}\u0000${host}`;

/**
 * `pvrun resume <run>`: the hosts the run had not finished go on from where the journal says
 * they were; finished hosts are left alone; hosts not started yet run from the beginning.
 * A step cut short is planned again (plan() reads the host as it is now) — except a snapshot
 * cut short, which is looked for on the pool first so a second restore point is not taken.
 */
export async function resumeCommand(given: string, flags: RecoverFlags, io: Io): Promise<number> {
  const dir = stateDir(flags.stateDir, io.cwd);
  const r = loadRun(dir, given);
  if (!r.ok) {
    io.err.write(`pvrun resume: ${r.message}\n`);
    return EXIT.invalid;
  }
  const h = r.history;
  const open = h.sessions.at(-1);
  if (h.ended !== undefined && open?.ended !== undefined) {
    io.out.write(`run ${h.runId} finished (exit ${h.exitCode}): nothing to resume${h.exitCode ? `; to undo it: pvrun rollback ${h.runId}` : ''}\n`);
    return EXIT.ok;
  }
  if (h.check) {
    io.out.write(`run ${h.runId} was a check-mode rehearsal: nothing to resume (run the check again)\n`);
    return EXIT.ok;
  }
  const playbook = flags.playbook ?? h.plan?.playbook;
  if (!playbook) {
    io.err.write('pvrun resume: the journal does not name the playbook: pass --playbook FILE\n');
    return EXIT.invalid;
  }
  const known = new Map(h.hosts.map((x) => [key(x.play, x.host), x]));
  // as in the run itself, a host that failed a play does not go on to the later plays
  const failed = new Set(h.hosts.filter((x) => x.recap && ['failed', 'unreachable', 'rolled-back', 'needs-attention'].includes(x.recap.outcome)).map((x) => x.host));
  const points = new Map<string, HostResume>();
  const leftovers = new Set<string>();
  const out = await runPlaybook(playbook, recoverRunFlags(h, flags, dir), io, {
    runId: h.runId,
    mode: 'resume',
    plays: async (plays, project) => {
      const keep = (play: string, host: string): boolean => {
        const x = known.get(key(play, host));
        if (!x) return !failed.has(host);
        return resumePoint(x) !== 'done';
      };
      const narrowed = narrowPlays(plays, keep, false);
      if (narrowed.length === 0) return `every host of run ${h.runId} had finished: nothing to resume`;
      // hosts the killed process was working on: let what it started (a reboot …) finish first
      const started = narrowed.flatMap((p) => p.hosts.filter((x) => known.get(key(p.name, x.name))?.started !== undefined).map((x) => x.name));
      await settleHosts(project.inventory, started, io);
      // and the commands it left running on them (a killed controller does not kill those)
      for (const n of started) leftovers.add(n);
      for (const p of narrowed) {
        for (const host of p.hosts) {
          const x = known.get(key(p.name, host.name));
          const pt = x ? resumePoint(x) : undefined;
          if (!x || pt === undefined || pt === 'done') continue;
          const step = p.steps[pt.startIndex];
          if (step?.type.makesRestorePoint && x.open?.applyStarted && x.open.index === pt.startIndex) {
            const asked = x.lastIntent?.step === x.open.step && x.lastIntent.action === 'vm.snapshot' ? x.lastIntent : undefined;
            const intent = asked ? String(asked.detail['name'] ?? '') : undefined;
            // adopted with the markers the step journaled: the playbook's retention, not 'run-end'
            const t = await findRunSnapshot(project.inventory, host.name, h.runId, intent || undefined, (m) => io.err.write(`pvrun: ${m}\n`), intendedMarkers(asked?.detail));
            if (t && t !== 'none') {
              pt.applied.push({ index: pt.startIndex, token: t });
              pt.startIndex++;
            }
          }
          points.set(key(p.name, host.name), pt);
        }
      }
      return narrowed;
    },
    resume: (play, host) => points.get(key(play, host)),
    // hosts the killed process worked on: their connect retries (mid-reboot), and the wait for
    // its leftover commands (src/runtime/orphans.ts): an installer still holding its lock, a
    // reboot it asked for that has not happened yet (PVRUN_WAIT_LEFTOVERS=0 skips the wait)
    leftoversOf: leftovers,
  });
  return out.code;
}

export type { HostHistory };
