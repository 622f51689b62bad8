/**
 * Check-mode prediction for one host: which registers exist only as predictions (their output
 * was never produced), the first step predicted to change, and what a plan() result means when
 * apply() is not run. Used for the whole run under --check and for a `check_mode: true` step.
 */
import type { PlanResult } from '../steps/types.js';
import type { StepRun } from './step-run.js';

export class CheckModeLedger {
  /** registers of steps that were only predicted, so their output does not exist */
  private readonly predictedOnly = new Set<string>();
  /** name of the first step that check mode predicted would change */
  private firstPredictedChange: string | undefined;

  markPredicted(reg: string | undefined): void {
    if (reg) this.predictedOnly.add(reg);
  }

  isPredicted(reg: string | undefined): boolean {
    return reg !== undefined && this.predictedOnly.has(reg);
  }

  /** a reference to the output of a step that was only predicted, among dotted paths */
  predictedRef(paths: string[]): string | undefined {
    for (const p of paths) {
      const m = /^registered\.([A-Za-z0-9_-]+)/.exec(p);
      if (m && this.predictedOnly.has(m[1]!)) return m[1];
    }
    return undefined;
  }

  unknown(reg: string | undefined, why: string): StepRun {
    this.markPredicted(reg);
    return { status: 'unknown', summary: why, fatal: false };
  }

  /** What a prediction comes to when apply() is not run. */
  predicted(p: PlanResult, name: string, reg: string | undefined): StepRun {
    switch (p.kind) {
      case 'ok': return { status: 'ok', summary: p.summary, fatal: false };
      case 'change':
        this.firstPredictedChange ??= name;
        this.markPredicted(reg);
        return { status: 'would-change', summary: p.summary, fatal: false, ...(p.diff ? { diff: p.diff } : {}) };
      case 'skip-host': return { status: 'skipped', summary: p.reason, fatal: false, skipHost: true };
      case 'unknown': return this.unknown(reg, p.reason);
      case 'fail':
        if (p.unreachable) return { status: 'unreachable', summary: p.reason, fatal: true, unreachable: true };
        // The prediction may be wrong only because an earlier change was not made (e.g. no CD
        // in the drive because attach-iso was only predicted): say so rather than fail.
        if (this.firstPredictedChange) {
          this.markPredicted(reg);
          return { status: 'unknown', summary: `cannot predict: depends on '${this.firstPredictedChange}', not applied in check mode (${p.reason})`, fatal: false };
        }
        return { status: 'would-fail', summary: p.reason, fatal: true };
    }
  }
}
