/**
 * V8 tiering for a pvrun process (issue 17, controller CPU). A run is short and its JavaScript
 * is mostly glue run a few hundred times (events, the journal, ssh2's packet handling): with
 * V8's default budget TurboFan compiles much of it in background threads, and at W(50,10,50)
 * that compilation cost more CPU than the optimised code saved (BENCHMARKS.md: ~10 % of the
 * run's CPU with the budget below, the same wall time). A larger interrupt budget leaves
 * lukewarm code to the interpreter and the baseline compiler and still optimises code that
 * stays hot — a long run over 1,000 hosts — which turning TurboFan off (`--no-opt`) would not.
 *
 * Set by the two entry points before any command module is loaded (bin/pvrun.js and a direct
 * `node dist/cli/main.js`), never by a library import: tests that call main() in-process keep
 * V8's defaults. The flag is read when a function's budget is set, so code loaded afterwards
 * (every command, lazily imported) gets it.
 */
import { createRequire } from 'node:module';

/** 4× V8's default (--interrupt-budget=67584 in Node 20's V8 11.3) */
export const INTERRUPT_BUDGET = 4 * 67_584;

/**
 * Commands that run no playbook and hold no connections: short-lived, nothing for the tuning to
 * save, and loading `node:v8` for it costs them (Node 20's lib/v8.js brings heap_utils, serdes,
 * promise_hooks and perf_hooks' observer with it: issue 17, start-up of `--help` and `validate`).
 */
const SHORT_COMMANDS = new Set(['validate', 'inventory', 'schema', 'runs', 'show', 'report', 'list', 'help']);

/** Whether these arguments start a command the tuning is for (a run, resume, rollback, preflight, the lab). */
export function wantsV8Tuning(argv: readonly string[]): boolean {
  if (argv.some((a) => a === '-h' || a === '--help' || a === '-V' || a === '--version')) return false;
  return !SHORT_COMMANDS.has(argv[0] ?? 'help');
}

export function tuneV8ForCli(argv: readonly string[] = process.argv.slice(2)): void {
  if (process.env['PVRUN_V8_DEFAULTS'] === '1') return; // the A/B switch of `npm run bench`
  if (!wantsV8Tuning(argv)) return;
  const { setFlagsFromString } = createRequire(import.meta.url)('node:v8') as typeof import('node:v8');
  setFlagsFromString(`--interrupt-budget=${INTERRUPT_BUDGET}`);
}
