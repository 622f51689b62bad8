import { createInterface } from 'node:readline/promises';
import type { EnginePlay } from '../engine/types.js';
import type { Io } from './io.js';
import type { RunFlags } from './program.js';

export const DEFAULT_CONFIRM_OVER = 10;

/** Whether this run must ask before it changes anything (interactive, not CI, not check mode). */
export function needsConfirmation(hosts: number, flags: Pick<RunFlags, 'check' | 'yes' | 'confirm'>, io: Pick<Io, 'env'> & { interactive: boolean }): boolean {
  if (flags.check || flags.yes) return false;
  // CI is non-interactive by default: nobody is there to answer.
  if (!io.interactive || io.env['CI']) return false;
  if (flags.confirm) return true;
  const raw = io.env['PVRUN_CONFIRM_OVER'];
  const n = raw !== undefined && /^\d+$/.test(raw.trim()) ? Number(raw) : DEFAULT_CONFIRM_OVER;
  return hosts > n;
}

/**
 * Ask on the terminal before a large rollout. Returns false when the user says no (the caller
 * exits 5: nothing was contacted).
 */
export async function confirmRun(plays: EnginePlay[], flags: RunFlags, io: Io): Promise<boolean> {
  const hosts = new Set(plays.flatMap((p) => p.hosts.map((h) => h.name)));
  const input = io.in ?? process.stdin;
  const interactive = io.err.isTTY === true && (input as { isTTY?: boolean }).isTTY === true;
  if (!needsConfirmation(hosts.size, flags, { env: io.env, interactive })) return true;
  // the question goes to stderr: stdout may carry --json events
  const rl = createInterface({ input, output: io.err });
  try {
    const a = await rl.question(`This run will change up to ${hosts.size} host(s) (${[...hosts].slice(0, 5).join(', ')}${hosts.size > 5 ? ', …' : ''}). Continue? [y/N] `);
    const yes = /^y(es)?$/i.test(a.trim());
    if (!yes) io.err.write('pvrun: not confirmed; nothing was done (use -y to skip this question)\n');
    return yes;
  } finally {
    rl.close();
  }
}
