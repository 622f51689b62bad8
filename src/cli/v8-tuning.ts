/**
 * V8 tiering for a pvrun process (issue 17, controller CPU). A run is short and its JavaScript
 * is mostly glue run a few hundred times (events, the journal, ssh2's packet handling): with
 * V8's default budget TurboFan compiles much of it in background threads, and at W(50,10,50)
 * that compilation cost more CPU than the optimised code saved (BENCHMARKS.md: ~10 % of the
 * run's CPU with the budget below, the same wall time). A larger interrupt budget leaves
 * lukewarm code to the interpreter and the baseline compiler and still optimises code that
 * stays hot — a long run over 1,000 hosts — which turning TurboFan off (`--no-opt`) would not.
 *
 * Set by the two entry points before any command module is loaded (bin/pvrun.cjs and a direct
 * `node dist/cli/main.cjs`), never by a library import: tests that call main() in-process keep
 * V8's defaults. The flag is read when a function's budget is set, so code loaded afterwards
 * (every command, lazily imported) gets it. Code that loads Node's own modules later does it with
 * withDefaultBudget (src/util/v8-budget.ts), so their code cache still applies.
 */
import { DEFAULT_INTERRUPT_BUDGET, setInterruptBudget } from '../util/v8-budget.js';

/** 4× V8's default (--interrupt-budget=67584 in Node 20's V8 11.3) */
export const INTERRUPT_BUDGET = 4 * DEFAULT_INTERRUPT_BUDGET;

export function tuneV8ForCli(): void {
  if (process.env['PVRUN_V8_DEFAULTS'] === '1') return; // the A/B switch of `npm run bench`
  // Every command writes: stdout and stderr are made now, while Node's modules behind them (tty,
  // net or a file stream) still load with their code cache (src/util/v8-budget.ts).
  void process.stdout;
  void process.stderr;
  setInterruptBudget(INTERRUPT_BUDGET);
}
