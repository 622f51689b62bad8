/**
 * The V8 interrupt budget of a pvrun process (issue 17; why a larger one: src/cli/v8-tuning.ts),
 * and loading Node's own modules without losing their code cache while it is in force.
 *
 * Node ships its own modules with a code cache, which V8 accepts only when the flags are those it
 * was made with: the cache carries a hash of the flags. Once the budget is changed, every one of
 * Node's modules loaded afterwards is compiled from source instead. A run loads most of them
 * after start-up — crypto, dns, zlib and child_process with ssh2's client; http, tls and http2
 * with undici — and compiling them cost ~58 M instructions more than deserialising them (valgrind,
 * issue 17: 10 % of a 2-host run's own work). Setting the flag back to V8's value gives the same
 * hash again (checked the same way), so the places that load such code do it with
 * `withDefaultBudget`, and the larger budget applies again right after. V8 reads the budget each
 * time it resets a function's counter, so code loaded meanwhile gets the larger budget all the same.
 */
import { setFlagsFromString } from 'node:v8';

/** V8's default (--interrupt-budget=67584 in Node 20's V8 11.3) */
export const DEFAULT_INTERRUPT_BUDGET = 67_584;

let tuned: number | undefined;

/** Set the budget for the rest of the process (only the CLI's entry points do). */
export function setInterruptBudget(budget: number): void {
  tuned = budget;
  setFlagsFromString(`--interrupt-budget=${budget}`);
}

/**
 * Run `load` (a require or import of code that loads Node's own modules) with V8's default budget,
 * so Node's code cache for those modules is used. A promise is waited for. Nothing is changed
 * when the budget was never set (tests, PVRUN_V8_DEFAULTS=1).
 */
export function withDefaultBudget<T>(load: () => T): T {
  if (tuned === undefined) return load();
  const budget = tuned;
  setFlagsFromString(`--interrupt-budget=${DEFAULT_INTERRUPT_BUDGET}`);
  let result: T;
  try {
    result = load();
  } catch (e) {
    setFlagsFromString(`--interrupt-budget=${budget}`);
    throw e;
  }
  if (result instanceof Promise) {
    return result.finally(() => setFlagsFromString(`--interrupt-budget=${budget}`)) as T;
  }
  setFlagsFromString(`--interrupt-budget=${budget}`);
  return result;
}
