import { newRunId } from '../journal/run-id.js';
import type { Io } from './io.js';
import type { RunFlags } from './program.js';
import { prepareRun, runPreflight } from './run.js';

/**
 * `pvrun preflight <playbook> -i INV [-l …]`: what a run checks before batch 1, alone
 * (src/runtime/preflight.ts, docs/preflight.md). Read-only; prints the grouped, located report.
 * Exit 0 all reachable, 4 something unreachable, 5 bad input.
 */
export async function preflightCommand(playbook: string, flags: RunFlags, io: Io): Promise<number> {
  const prepared = await prepareRun(playbook, flags, io, newRunId());
  if (!prepared.ok) return prepared.error;
  return (await runPreflight(prepared.value, flags, io)).code;
}
