/**
 * Check-mode prediction as a table (src/engine/check-mode.ts): a plan() result, and whether an
 * earlier step was only predicted to change → the status a rehearsal reports, and whether the
 * step's register becomes "predicted only" (so later steps reading it are unknown, not wrong).
 */
import { describe, expect, it } from 'vitest';
import { CheckModeLedger } from '../../src/engine/check-mode.js';
import type { PlanResult } from '../../src/steps/types.js';

const table: { name: string; earlierChange?: boolean; plan: PlanResult; status: string; fatal: boolean; predictedOnly: boolean; summary?: RegExp }[] = [
  { name: 'ok stays ok', plan: { kind: 'ok', summary: 'present' }, status: 'ok', fatal: false, predictedOnly: false },
  { name: 'a change would change', plan: { kind: 'change', summary: 'install', diff: '+x' }, status: 'would-change', fatal: false, predictedOnly: true },
  { name: 'a failure with nothing predicted before would fail', plan: { kind: 'fail', reason: 'no CD' }, status: 'would-fail', fatal: true, predictedOnly: false },
  { name: 'a failure after a predicted change is unknown, naming that step', earlierChange: true, plan: { kind: 'fail', reason: 'no CD' },
    status: 'unknown', fatal: false, predictedOnly: true, summary: /^cannot predict: depends on 'attach', not applied in check mode \(no CD\)$/ },
  { name: 'unreachable stays unreachable even after a predicted change', earlierChange: true, plan: { kind: 'fail', reason: 'down', unreachable: true },
    status: 'unreachable', fatal: true, predictedOnly: false },
  { name: 'a guard check mode does not run is unknown', plan: { kind: 'unknown', reason: 'unless: not run' }, status: 'unknown', fatal: false, predictedOnly: true },
  { name: 'skip-host ends the host without error', plan: { kind: 'skip-host', reason: 'not ours' }, status: 'skipped', fatal: false, predictedOnly: false },
];

describe('CheckModeLedger.predicted', () => {
  it.each(table)('$name', ({ earlierChange, plan, status, fatal, predictedOnly, summary }) => {
    const l = new CheckModeLedger();
    if (earlierChange) l.predicted({ kind: 'change', summary: 'attach' }, 'attach', undefined);
    const r = l.predicted(plan, 'this', 'reg');
    expect(r.status).toBe(status);
    expect(r.fatal).toBe(fatal);
    if (summary) expect(r.summary).toMatch(summary);
    expect(l.isPredicted('reg')).toBe(predictedOnly);
    expect(l.predictedRef(['facts.guest.os', 'registered.reg.stdout'])).toBe(predictedOnly ? 'reg' : undefined);
  });

  it('a predicted change carries its diff (shown with --diff)', () => {
    expect(new CheckModeLedger().predicted({ kind: 'change', summary: 's', diff: '-a\n+b' }, 'n', undefined).diff).toBe('-a\n+b');
  });
});
