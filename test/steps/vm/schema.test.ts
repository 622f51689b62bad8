import { describe, expect, it } from 'vitest';
import { newAjv } from '../../../src/load/ajv.js';
import { parseDurationMs } from '../../../src/steps/vm/common.js';
import { vmPredicates, vmSteps } from '../../../src/steps/vm/index.js';
import { decidePrune, keepUntil } from '../../../src/steps/vm/retention.js';
import { MARK } from '../../../src/hypervisor/vm-snapshot.js';

describe('VM step schemas', () => {
  const ajv = newAjv();
  const cases: Record<string, { good: unknown[]; bad: unknown[] }> = {
    snapshot: { good: [{}, { name: 'x', keep: true }, { keep: '7d' }, { keep: 3600 }, { timeout: '10m' }], bad: [{ keep: 'forever' }, { nme: 'x' }] },
    'attach-iso': { good: [{}, { iso: 'tools' }, { iso: 'x.iso', replace: true }], bad: [{ iso: '' }, { replace: 'yes' }] },
    'detach-iso': { good: [{}], bad: [{ iso: 'x' }] },
    'vm-setting': { good: [{ windows_update_drivers: false }, { windows_update_drivers: true, shutdown_timeout: '2m' }], bad: [{}, { windows_update_drivers: 'no' }] },
    'snapshot-prune': { good: [{}, { include_current_run: true }], bad: [{ all: true }] },
  };

  it('registers the five step types with unique keys', () => {
    expect(vmSteps.map((s) => s.type).sort()).toEqual(Object.keys(cases).sort());
  });

  for (const s of vmSteps) {
    it(`${s.type}: schema accepts and rejects`, () => {
      const v = ajv.compile(s.schema);
      for (const g of cases[s.type]!.good) expect(v(g), `${JSON.stringify(g)}: ${JSON.stringify(v.errors)}`).toBe(true);
      for (const b of cases[s.type]!.bad) expect(v(b), JSON.stringify(b)).toBe(false);
    });
  }

  it('predicate schemas', () => {
    const byKey = Object.fromEntries(vmPredicates.map((p) => [p.key, ajv.compile(p.schema)]));
    expect(byKey.power_state!('Running')).toBe(true);
    expect(byKey.power_state!('running')).toBe(false);
    expect(byKey.virtualization_mode!('PVHVM')).toBe(true);
    expect(byKey.pv_drivers_version!('>= 9.0')).toBe(true);
    expect(byKey.pv_drivers_version!('newest')).toBe(false);
    expect(byKey.windows_update_drivers!(false)).toBe(true);
  });
});

describe('retention', () => {
  const snap = (uuid: string, oc: Record<string, string>) => ({ ref: `OpaqueRef:${uuid}`, uuid, nameLabel: uuid, snapshotTime: '', otherConfig: oc });
  it('durations', () => {
    expect(parseDurationMs('7d')).toBe(7 * 86_400_000);
    expect(parseDurationMs('1h30m')).toBe(5_400_000);
    expect(parseDurationMs(90)).toBe(90_000);
    expect(parseDurationMs('soon')).toBeUndefined();
    expect(keepUntil(true, 0)).toBe('never');
    expect(keepUntil(false, 0)).toBe('run-end');
    expect(keepUntil(1000, 0)).toBe('1970-01-01T00:00:01.000Z');
  });

  it('decides per snapshot, never touching what pvrun did not make', () => {
    const now = Date.parse('2026-01-10T00:00:00Z');
    const d = decidePrune([
      snap('manual', {}),
      snap('forever', { [MARK.run]: 'a', [MARK.keepUntil]: 'never' }),
      snap('old-end', { [MARK.run]: 'a', [MARK.keepUntil]: 'run-end' }),
      snap('cur-end', { [MARK.run]: 'b', [MARK.keepUntil]: 'run-end' }),
      snap('expired', { [MARK.run]: 'a', [MARK.keepUntil]: '2026-01-09T00:00:00Z' }),
      snap('future', { [MARK.run]: 'a', [MARK.keepUntil]: '2026-01-11T00:00:00Z' }),
      snap('garbled', { [MARK.run]: 'a', [MARK.keepUntil]: 'tuesday' }),
      snap('no-keep', { [MARK.run]: 'a' }),
    ], now, 'b', false);
    expect(Object.fromEntries(d.map((x) => [x.snapshot.uuid, x.prune]))).toEqual({
      manual: false, forever: false, 'old-end': true, 'cur-end': false, expired: true, future: false, garbled: false, 'no-keep': false,
    });
    expect(decidePrune([snap('cur-end', { [MARK.run]: 'b', [MARK.keepUntil]: 'run-end' })], now, 'b', true)[0]!.prune).toBe(true);
  });
});
