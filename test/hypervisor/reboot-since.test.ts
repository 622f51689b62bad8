/**
 * `rebootSince` (src/hypervisor/vm-power.ts), what `pvrun resume` asks XAPI of a reboot the killed
 * process asked for. XAPI sets the new boot's start_time before the reboot leaves
 * current_operations (xen-api ocaml/xapi/xapi_xenops.ml `let reboot`: the xenopsd task, then
 * `Event.wait`, then the call returns); the scripted pool below ends the reboot between two reads,
 * at whichever read comes at that moment, and the answer must never be "never asked" (which makes
 * the step reboot the VM a second time). Pure logic over a scripted XAPI, not the simulator: the
 * interleaving is the point.
 */
import { describe, expect, it } from 'vitest';
import { rebootSince } from '../../src/hypervisor/vm-power.js';
import type { VmHandle, XapiCaller } from '../../src/hypervisor/types.js';
import { err, ok } from '../../src/util/result.js';

const ASKED = '20261206T10:00:00Z';
const OLD_BOOT = '20261206T09:00:00Z';
const NEW_BOOT = '20261206T10:00:05Z';

/**
 * A pool with one VM. `rebooting`: a reboot is under way at first; it ends (the new boot's
 * start_time set, the operation gone, both at once) just after the read numbered `endsAfterRead`.
 */
function pool(endsAfterRead: number, rebooting = true): { h: VmHandle; calls: string[] } {
  const calls: string[] = [];
  const ops = (): Record<string, string> => (rebooting ? { 'OpaqueRef:task': 'clean_reboot' } : {});
  const answer = (method: string): unknown => {
    switch (method) {
      case 'VM.get_current_operations': return ops();
      case 'VM.get_record': return {
        uuid: 'u1', name_label: 'vm1', power_state: 'Running', is_a_template: false, is_a_snapshot: false, is_control_domain: false,
        allowed_operations: [], metrics: 'OpaqueRef:m1', guest_metrics: 'OpaqueRef:NULL', other_config: {}, tags: [], VBDs: [],
        current_operations: ops(),
      };
      case 'VM_metrics.get_record': return { start_time: rebooting || endsAfterRead < 0 ? OLD_BOOT : NEW_BOOT };
      default: return undefined;
    }
  };
  const xapi: XapiCaller = {
    mode: 'read-only' as XapiCaller['mode'],
    call: (async (method: string) => {
      calls.push(method);
      const a = answer(method);
      if (calls.length === endsAfterRead) rebooting = false;
      return a === undefined ? err({ kind: 'xapi', code: 'MESSAGE_METHOD_UNKNOWN', params: [method], message: method }) : ok(a);
    }) as XapiCaller['call'],
  };
  return { h: { pool: 'p', ref: 'OpaqueRef:vm1', uuid: 'u1', nameLabel: 'vm1', xapi }, calls };
}

describe('rebootSince', () => {
  it('a reboot ending between any two of its reads is seen as booted or under way, never as not asked', async () => {
    for (let n = 1; n <= 4; n++) {
      const { h, calls } = pool(n);
      const r = await rebootSince(h, ASKED);
      expect(r.ok, `ends after read ${n}`).toBe(true);
      if (!r.ok) continue;
      expect(['booted', 'under-way'], `ends after read ${n} (${calls.join(', ')}): ${r.value.seen}`).toContain(r.value.seen);
    }
  });

  it('under way while the operation lasts; booted once a boot is later than the ask; not asked when neither', async () => {
    expect(await rebootSince(pool(0).h, ASKED)).toMatchObject({ ok: true, value: { seen: 'under-way' } });
    expect(await rebootSince(pool(0, false).h, ASKED)).toMatchObject({ ok: true, value: { seen: 'booted' } });
    expect(await rebootSince(pool(-1, false).h, ASKED)).toMatchObject({ ok: true, value: { seen: 'not-asked' } });
  });
});
