/**
 * The per-host state's typed keys (src/steps/state.ts): a value goes in and comes out under the
 * key's type. The `@ts-expect-error` lines are checked by `tsc --noEmit` (part of `npm test`):
 * if a wrong value type were accepted, the directive itself would be an error.
 */
import { describe, expect, it } from 'vitest';
import { HostState, REBOOT_REQUIRED, stateKey } from '../../src/steps/state.js';

describe('HostState', () => {
  it('keeps a value per key, typed by the key; keys of the same name are the same slot', () => {
    const s = new HostState();
    const nics = stateKey<{ mac: string }[]>('nic_capture');
    expect(s.get(REBOOT_REQUIRED)).toBeUndefined();
    s.set(REBOOT_REQUIRED, true);
    s.set(nics, [{ mac: '00:16:3e:00:00:01' }]);
    const flag: boolean | undefined = s.get(REBOOT_REQUIRED);
    expect(flag).toBe(true);
    expect(s.get(nics)?.[0]?.mac).toBe('00:16:3e:00:00:01');
    expect(s.has(stateKey<boolean>('reboot_required'))).toBe(true);
    s.delete(REBOOT_REQUIRED);
    expect(s.has(REBOOT_REQUIRED)).toBe(false);
    s.clear();
    expect(s.has(nics)).toBe(false);
  });

  it('refuses, at compile time, a value of another type and a bare string key', () => {
    const s = new HostState();
    // @ts-expect-error a string is not the boolean REBOOT_REQUIRED holds
    s.set(REBOOT_REQUIRED, 'yes');
    // @ts-expect-error keys are StateKey values, not strings
    s.get('reboot_required');
    // at run time the (compile-time refused) calls above still store/read by name
    expect(s.get(REBOOT_REQUIRED)).toBe('yes');
  });
});
