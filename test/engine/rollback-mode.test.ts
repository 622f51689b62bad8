/**
 * How a host is rolled back, as a table (src/engine/rollback.ts): the steps it applied in order
 * and which guest-side applies started → revert to the snapshot, undo the hypervisor steps and
 * drop the snapshot, or plain undo. The engine and `pvrun rollback` both decide through this.
 */
import { describe, expect, it } from 'vitest';
import { AppliedSteps } from '../../src/engine/rollback.js';
import type { EngineStep } from '../../src/engine/types.js';
import type { RollbackMode } from '../../src/engine/events.js';

type Kind = 'snapshot' | 'snapshot-no-drop' | 'attach-iso' | 'vm-no-undo' | 'run-script';

function step(kind: Kind): EngineStep {
  const undo = async () => ({ ok: true as const, summary: 'undone' });
  const types: Record<Kind, object> = {
    snapshot: { needs: 'vm', makesRestorePoint: true, undo, dropRestorePoint: undo },
    'snapshot-no-drop': { needs: 'vm', makesRestorePoint: true, undo },
    'attach-iso': { needs: 'vm', undo },
    'vm-no-undo': { needs: 'vm' },
    'run-script': { needs: 'guest', touchesGuest: true, undo },
  };
  return { spec: { name: kind, type: kind } as EngineStep['spec'], type: types[kind] as EngineStep['type'], selected: true };
}

const table: { name: string; applied: Kind[]; guestStartedAt?: number[]; unknown?: boolean; mode: RollbackMode }[] = [
  { name: 'no restore point: undo each step', applied: ['attach-iso'], mode: 'undone' },
  { name: 'only hypervisor steps after the snapshot: undo them, drop the snapshot', applied: ['snapshot', 'attach-iso'], mode: 'hypervisor-undone' },
  { name: 'a guest-side step after the snapshot: revert', applied: ['snapshot', 'attach-iso', 'run-script'], mode: 'reverted' },
  { name: 'a step without undo after the snapshot: revert', applied: ['snapshot', 'vm-no-undo'], mode: 'reverted' },
  { name: 'a snapshot that cannot be dropped: revert', applied: ['snapshot-no-drop', 'attach-iso'], mode: 'reverted' },
  { name: 'a guest-side apply that failed after the snapshot (started, not in the list): revert', applied: ['snapshot', 'attach-iso'], guestStartedAt: [2], mode: 'reverted' },
  { name: 'a guest-side apply started before the snapshot only: hypervisor undo', applied: ['snapshot', 'attach-iso'], guestStartedAt: [0], mode: 'hypervisor-undone' },
  { name: 'resumed from snapshot markers (applies not all known): revert', applied: ['snapshot', 'attach-iso'], unknown: true, mode: 'reverted' },
];

describe('AppliedSteps.mode: revert only when the guest may have changed after the restore point', () => {
  it.each(table)('$name', ({ applied, guestStartedAt, unknown, mode }) => {
    const a = new AppliedSteps();
    for (const k of applied) a.push(step(k), {}, { k });
    for (const n of guestStartedAt ?? []) a.guestApplyStarted(n);
    a.guestChangesUnknown = unknown === true;
    expect(a.mode(a.restoreIndex())).toBe(mode);
  });

  it('the restore point named for the operator is the last one, with its token and the rollback command', () => {
    const a = new AppliedSteps();
    a.push(step('snapshot'), {}, { snapshot: 'OpaqueRef:1' });
    a.push(step('attach-iso'), {}, { vbd: 'x' });
    expect(a.restoreIndex()).toBe(0);
    expect(a.restorePointText('run-7', 'vm-a')).toBe(
      'restore point from step \'snapshot\': {"snapshot":"OpaqueRef:1"} — run `pvrun rollback run-7 --limit vm-a`');
    expect(new AppliedSteps().restorePointText('run-7', 'vm-a')).toBeUndefined();
  });
});
