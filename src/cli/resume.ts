import { EXIT } from '../engine/exit-codes.js';
import type { HostResume } from '../engine/types.js';
import { stateDir } from '../journal/journal.js';
import type { HostHistory } from '../journal/history.js';
import type { Io } from './io.js';
import type { RecoverFlags } from './program.js';
import { printSettleNotice, problemText, recoverRunFlags, recoveryWarn } from './rollback.js';
import { loadRun } from './runs.js';
import { runPlaybook } from './run.js';
import { settleHosts } from '../recovery/settle.js';
import { resumeHosts, resumePoints, resumeState } from '../recovery/resume-points.js';
import { targetKey as key } from '../recovery/types.js';

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
  const state = resumeState(h);
  if (state.kind === 'finished') {
    io.out.write(`run ${h.runId} finished (exit ${state.exitCode}): nothing to resume${state.exitCode ? `; to undo it: pvrun rollback ${h.runId}` : ''}\n`);
    return EXIT.ok;
  }
  if (state.kind === 'check') {
    io.out.write(`run ${h.runId} was a check-mode rehearsal: nothing to resume (run the check again)\n`);
    return EXIT.ok;
  }
  const playbook = flags.playbook ?? h.plan?.playbook;
  if (!playbook) {
    io.err.write('pvrun resume: the journal does not name the playbook: pass --playbook FILE\n');
    return EXIT.invalid;
  }
  let points = new Map<string, HostResume>();
  const leftovers = new Set<string>();
  const out = await runPlaybook(playbook, recoverRunFlags(h, flags, dir), io, {
    runId: h.runId,
    mode: 'resume',
    plays: async (plays, project) => {
      const chosen = resumeHosts(h, plays);
      if (!chosen.ok) return problemText(chosen.error);
      // hosts the killed process was working on: let what it started (a reboot …) finish first
      await settleHosts(project.inventory, chosen.value.started, (n) => printSettleNotice(n, io));
      // and the commands it left running on them (a killed controller does not kill those)
      for (const n of chosen.value.started) leftovers.add(n);
      points = await resumePoints(h, chosen.value.plays, project.inventory, recoveryWarn(io));
      return chosen.value.plays;
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
