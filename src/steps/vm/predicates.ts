import type { VmFacts } from '../../hypervisor/vm-facts.js';
import { versionSatisfies } from '../../util/version.js';
import { err, ok } from '../../util/result.js';
import type { CheckPredicate, PredicateOutcome } from '../predicate-types.js';
// each predicate's key, description and schema: src/steps/catalog.ts (read by the loader without this module)
import { vmPredicateInfos as info, type PredicateInfo } from '../catalog.js';
import { vmFacts } from './common.js';

type Judge = (f: VmFacts, expected: unknown) => { pass: boolean; actual: string; expected: string };

/**
 * A VM predicate. `fromGuestMetrics`: the value comes from VM_guest_metrics, which survive halts
 * and reverts; with `fresh` (verify after a reboot) such a value is only trusted when written
 * during the current boot, else the outcome is `stale` and verify waits. A VM with no guest
 * metrics at all has never reported drivers or an agent, so "none" is trusted for it.
 */
function vmPredicate(info: PredicateInfo, fromGuestMetrics: boolean, judge: Judge, noToolsValue?: (expected: unknown) => boolean): CheckPredicate {
  return {
    ...info,
    async evaluate(ctx, expected, opts) {
      const h = await ctx.vm();
      if (!h.ok) return h;
      const f = await vmFacts(ctx, h.value);
      if (!f.ok) return err({ kind: 'hypervisor', failure: f.error });
      const j = judge(f.value, expected);
      const out: PredicateOutcome = { ...j };
      if (fromGuestMetrics && opts.fresh && !f.value.metrics_fresh) {
        const trustedNone = !f.value.has_guest_metrics && (noToolsValue?.(expected) ?? false);
        if (!trustedNone && f.value.power_state === 'Running') {
          return ok({ ...out, pass: false, stale: true, actual: `${j.actual} (guest metrics not fresh for this boot)` });
        }
        // not running: there is no current boot to be fresh for, and waiting will not make one
        if (!trustedNone) return ok({ ...out, pass: false, actual: `${j.actual} (VM is ${f.value.power_state}: metrics are from an earlier boot)` });
      }
      return ok(out);
    },
  };
}

const str = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

export const vmPredicates: CheckPredicate[] = [
  vmPredicate(info.power_state, false,
    (f, e) => ({ pass: f.power_state === e, actual: f.power_state, expected: str(e) })),

  vmPredicate(info.virtualization_mode, true,
    (f, e) => ({ pass: f.virtualization_mode === e, actual: f.virtualization_mode, expected: str(e) }),
    (e) => e === 'HVM'),

  vmPredicate(info.pv_drivers_detected, true,
    (f, e) => ({ pass: f.pv_drivers_detected === e, actual: String(f.pv_drivers_detected), expected: str(e) }),
    (e) => e === false),

  vmPredicate(info.management_agent_detected, true,
    (f, e) => ({ pass: f.management_agent_detected === e, actual: String(f.management_agent_detected), expected: str(e) }),
    (e) => e === false),

  vmPredicate(info.windows_update_drivers, false,
    (f, e) => ({ pass: f.has_vendor_device === e, actual: String(f.has_vendor_device), expected: str(e) })),

  vmPredicate(info.pv_drivers_version, true,
    (f, e) => {
      const v = f.pv_drivers_version;
      if (v === null) return { pass: false, actual: 'no version reported', expected: str(e) };
      return { pass: versionSatisfies(v, String(e), '>=') === true, actual: v, expected: str(e) };
    }),
];
