/**
 * One host's way back: the steps it applied (with their undo tokens) and the rollback that
 * undoes them in reverse, reverting to the restore point when the guest may have changed after
 * it (the contract is in docs/architecture.md, "Step types").
 */
import type { HostSpec } from '../model/inventory.js';
import { touchesGuest, type StepContext } from '../steps/types.js';
import type { EventSink, RollbackMode } from './events.js';
import { ridingVm } from './outage-riding.js';
import type { EngineStep } from './types.js';

/** how long a rollback's undo steps wait out a pool outage before giving up */
const ROLLBACK_RIDE_MS = 10 * 60_000;

export interface AppliedStep {
  step: EngineStep;
  args: unknown;
  token: unknown;
}

/** The steps applied on one host, in order, and what is known of the guest-side changes among them. */
export class AppliedSteps {
  readonly list: AppliedStep[] = [];
  /**
   * For each guest-side apply that started (and did not report "no change"): how many entries
   * `list` had then. One after the restore point means the guest may have changed since it.
   */
  private readonly guestApplies: number[] = [];
  /** resumed from a source that does not list every apply (snapshot markers): assume the guest changed */
  guestChangesUnknown = false;

  get length(): number {
    return this.list.length;
  }

  push(step: EngineStep, args: unknown, token: unknown): void {
    this.list.push({ step, args, token });
  }

  /** a guest-side apply started when `list` had `before` entries (it may have changed the guest) */
  guestApplyStarted(before: number): void {
    this.guestApplies.push(before);
  }

  names(): string[] {
    return this.list.map((a) => a.step.spec.name);
  }

  restorePointText(runId: string, host: string): string | undefined {
    const rp = [...this.list].reverse().find((a) => a.step.type.makesRestorePoint);
    if (!rp) return undefined;
    return `restore point from step '${rp.step.spec.name}': ${JSON.stringify(rp.token)} — run \`pvrun rollback ${runId} --limit ${host}\``;
  }

  /** the last restore point that can be reverted to, or -1 */
  restoreIndex(): number {
    for (let i = this.list.length - 1; i >= 0; i--) {
      const t = this.list[i]!.step.type;
      if (t.makesRestorePoint === true && t.undo !== undefined) return i;
    }
    return -1;
  }

  /** How to roll back (see rollBack()): revert only when the guest may have changed after the restore point. */
  mode(restoreIdx: number): RollbackMode {
    if (restoreIdx < 0) return 'undone';
    if (!this.list[restoreIdx]!.step.type.dropRestorePoint) return 'reverted';
    // the source of a resumed host's applies may not list them all (snapshot markers on a pool)
    if (this.guestChangesUnknown) return 'reverted';
    if (this.guestApplies.some((n) => n > restoreIdx)) return 'reverted';
    // a journal's fold lists guest-side applies that failed or were cut short too
    const after = this.list.slice(restoreIdx + 1);
    // a step that cannot be undone on its own: the revert is the only way back
    if (after.some((a) => touchesGuest(a.step.type) || !a.step.type.undo)) return 'reverted';
    return 'hypervisor-undone';
  }
}

export interface RollbackDeps {
  host: HostSpec;
  runId: string;
  emit: EventSink;
  now(): string;
  /** a step context for an undo (its own signal: a rollback is not cut short by the step timeout) */
  context(signal: AbortSignal, stepName: string): StepContext;
  /** the host's fact cache: a revert or an undo changes what the VM and the guest report */
  invalidateFacts(namespace?: string): void;
}

export interface RollbackOutcome {
  ok: boolean;
  undone: number;
  mode: RollbackMode;
  attention?: string;
}

/**
 * Undo applied steps in reverse. With a restore point (a snapshot), two ways:
 * - something may have changed inside the guest after it (a guest-side apply started, even one
 *   that failed; or the journal does not say): revert to it. That restores the whole VM, so the
 *   undo of steps applied after it is superseded and not attempted (the guest may be
 *   unreachable, and the revert puts back disks, CD drive and VM settings anyway);
 * - nothing was changed inside the guest after it: undo the hypervisor steps after it (eject
 *   the CD, …) and delete the snapshot; the running VM is left alone (no downtime, and what it
 *   wrote meanwhile stays). If one of those undos fails, the snapshot is kept.
 * Steps applied before the restore point are undone either way.
 */
export async function rollBack(applied: AppliedSteps, d: RollbackDeps, reason: string): Promise<RollbackOutcome> {
  const { emit, host } = d;
  const restoreIdx = applied.restoreIndex();
  const mode = applied.mode(restoreIdx);
  emit({ type: 'rollback-start', host: host.name, reason, mode, time: d.now() });
  // the undo steps ride out a pool outage until then (src/engine/outage-riding.ts)
  const rideUntil = Date.now() + ROLLBACK_RIDE_MS;
  let ok = true;
  let undone = 0;
  let dropped = false;
  const problems: string[] = [];
  for (let i = applied.list.length - 1; i >= 0; i--) {
    const a = applied.list[i]!;
    const name = a.step.spec.name;
    if (mode === 'reverted' && i > restoreIdx) {
      emit({ type: 'rollback-step', host: host.name, step: name, ok: true, summary: 'superseded by the revert to the snapshot', time: d.now() });
      continue;
    }
    const drop = mode === 'hypervisor-undone' && i === restoreIdx;
    if (drop && !ok) {
      // an undo after it failed: the snapshot stays as the way back
      emit({ type: 'rollback-step', host: host.name, step: name, ok: false, summary: 'snapshot kept (not reverted): an undo after it failed', time: d.now() });
      continue;
    }
    const type = a.step.type;
    const fn = drop ? type.dropRestorePoint : type.undo;
    if (!fn) {
      problems.push(`'${name}' changed the host and has no undo`);
      emit({ type: 'rollback-step', host: host.name, step: name, ok: false, summary: 'no undo for this step type: its change stays', time: d.now() });
      ok = false;
      continue;
    }
    const base = d.context(new AbortController().signal, name);
    const ctx: StepContext = { ...base, vm: () => ridingVm(base.vm, rideUntil, (why) => base.log(`the pool does not answer (${why}): retrying`)) };
    let res;
    try {
      res = await fn.call(type, ctx, a.args, a.token);
    } catch (e) {
      res = { ok: false as const, reason: `bug in ${drop ? 'dropRestorePoint' : 'undo'}(): ${e instanceof Error ? e.message : String(e)}` };
    }
    emit({ type: 'rollback-step', host: host.name, step: name, ok: res.ok, summary: res.ok ? res.summary : res.reason, time: d.now() });
    if (res.ok) {
      undone++;
      if (drop) dropped = true;
    } else {
      ok = false;
      problems.push(`${drop ? 'deleting the snapshot of' : 'undo of'} '${name}' failed: ${res.reason}`);
    }
  }
  // a revert changed what the guest and the VM report; an undo of hypervisor steps the VM's
  if (mode === 'hypervisor-undone') d.invalidateFacts('vm');
  else d.invalidateFacts();
  emit({ type: 'rollback-end', host: host.name, ok, mode, time: d.now() });
  if (ok) return { ok, undone, mode };
  const restore = dropped ? undefined : applied.restorePointText(d.runId, host.name);
  return {
    ok, undone, mode,
    attention: `ROLLBACK INCOMPLETE: ${problems.join('; ')}` + (restore ? `; ${restore}` : dropped ? '' : '; no restore point was taken'),
  };
}
