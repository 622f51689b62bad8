import { WriteStream } from 'node:tty';

/**
 * How a human sees a run, decided once per run, the two questions apart:
 * - colour: Node's own support detection (`tty.WriteStream#getColorDepth`, whose conventions
 *   supports-color shares): FORCE_COLOR first (`0`/`false` off, `''`/`1`/`true`/`2`/`3` on, even
 *   on a pipe), then NO_COLOR / NODE_DISABLE_COLORS / TERM=dumb off, then what the terminal
 *   (TERM, COLORTERM, CI vendor) supports; a pipe without FORCE_COLOR has none;
 * - live progress (a region redrawn in place): a terminal that can move its cursor (TERM is not
 *   `dumb`) and not CI. NO_COLOR turns colour off, never the live progress.
 */
export function humanDisplay(out: { isTTY?: boolean }, env: NodeJS.ProcessEnv): { live: boolean; color: boolean } {
  const forced = env['FORCE_COLOR'] !== undefined;
  // With FORCE_COLOR, NO_COLOR does not matter (Node would also print a warning about it).
  const probe = forced ? Object.fromEntries(Object.entries(env).filter(([k]) => k !== 'NO_COLOR' && k !== 'NODE_DISABLE_COLORS')) : env;
  const depth = WriteStream.prototype.getColorDepth.call({} as WriteStream, probe);
  const tty = out.isTTY === true;
  return {
    color: (tty || forced) && depth >= 4,
    live: tty && env['TERM'] !== 'dumb' && !env['CI'],
  };
}
