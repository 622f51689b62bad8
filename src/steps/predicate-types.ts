import type { Result } from '../util/result.js';
import type { JsonSchema, StepContext, StepFailure } from './types.js';

/**
 * One predicate usable in `check:` and `verify:` steps, e.g. `power_state: Running` (VM side)
 * or `package_installed: xe-guest-utilities` (guest side). Predicate sets are contributed by
 * src/steps/vm/predicates.ts and src/steps/linux/predicates.ts.
 */
export interface CheckPredicate {
  key: string;
  description: string;
  /** schema of the expected value */
  schema: JsonSchema;
  needs: 'vm' | 'guest';
  /**
   * Strings inside the expected value that the guest runs as a command (paths relative to the
   * value; [] = the value itself): templates there are quoted (src/load/template.ts).
   */
  templateContexts?(expected: unknown): { at: (string | number)[]; kind: 'command' | 'sh' }[];
  /**
   * `fresh`: only trust data produced since the VM's current boot (verify after a reboot);
   * when the data is not fresh yet, return { pass: false, stale: true } and verify waits.
   */
  evaluate(
    ctx: StepContext,
    expected: unknown,
    opts: { fresh: boolean },
  ): Promise<Result<PredicateOutcome, StepFailure>>;
}

export interface PredicateOutcome {
  pass: boolean;
  /** what was seen, for messages: "power_state is Halted, expected Running" */
  actual: string;
  expected: string;
  /** the data could not be trusted yet (stale metrics); verify retries until its timeout */
  stale?: boolean;
  /**
   * check mode: the predicate needs a user-written command that check mode does not run; the
   * text says which. `pass` is meaningless then.
   */
  unknown?: string;
  /** a user-written command marked check_mode_safe ran in check mode (said in the summary) */
  ranInCheck?: boolean;
}
