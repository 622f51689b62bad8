import { snapshotInfo } from '../catalog.js';
import type { HypervisorFailure, VmHandle } from '../../hypervisor/types.js';
import { destroySnapshot, listPvrunSnapshots, MARK, revertToSnapshot, takeSnapshot } from '../../hypervisor/vm-snapshot.js';
import { defineStep } from '../types.js';
import type { StepContext, UndoResult } from '../types.js';
import { durationArg, failureText, forgetVm, parseDurationMs, runInfo, seenNow, stillSeen, vmFacts, vmOf, type Seen } from './common.js';
import { shape } from '../../util/shape.js';
import type { VmFacts } from '../../hypervisor/vm-facts.js';
import { err, ok, type Result } from '../../util/result.js';
import { keepUntil } from './retention.js';
import { describeWaitFailure, retryTransient, waitForGuest as waitGuest } from '../../runtime/wait-guest.js';
import { stateKey } from '../state.js';

export interface SnapshotArgs {
  /** snapshot name (templates are rendered by the engine); default `pvrun <run> <host>` */
  name?: string;
  /** true: keep for good; false: prunable at run end; a duration (`7d`): prunable after it */
  keep?: boolean | string | number;
  /** how long the revert may take to bring the VM back in undo() */
  timeout?: string | number;
}

/** what undo() needs, journaled: enough to roll back from another process (`pvrun rollback`) */
export interface SnapshotToken {
  vmUuid: string;
  snapshotUuid: string;
  snapshotRef: string;
  powerState: string;
  hadTools: boolean;
}

const STATE_KEY = stateKey<SnapshotToken>('vm.snapshot');

function keepValue(keep: SnapshotArgs['keep']): boolean | number {
  if (keep === undefined) return true;
  if (typeof keep === 'boolean') return keep;
  return parseDurationMs(keep) ?? true;
}

export const isSnapshotToken = shape<SnapshotToken>({
  vmUuid: 'string', snapshotUuid: 'string', snapshotRef: 'string', powerState: 'string', hadTools: 'boolean',
});

export const snapshotStep = defineStep<SnapshotArgs, Seen<VmFacts>, SnapshotToken>({
  ...snapshotInfo, // type, description, schema, shorthand, flags: src/steps/catalog.ts
  undoToken: isSnapshotToken,

  async plan(ctx, args) {
    const h = await vmOf(ctx);
    if (!h.ok) return { kind: 'fail', reason: h.error };
    const f = await vmFacts(ctx, h.value);
    if (!f.ok) return { kind: 'fail', reason: failureText(f.error) };
    const name = snapshotName(ctx, args);
    return {
      kind: 'change', summary: `snapshot ${h.value.nameLabel} (${f.value.power_state}) as '${name}'`,
      planned: seenNow(h.value, f.value),
      diff: `+ snapshot '${name}' of ${h.value.nameLabel} (${h.value.uuid}), marked for pvrun run ${String((ctx.scope['run'] as { id?: unknown } | undefined)?.id ?? '?')}, keep: ${String(args.keep ?? true)}`,
    };
  },

  async apply(ctx, args, plan) {
    const h = await vmOf(ctx);
    if (!h.ok) return { kind: 'failed', reason: h.error };
    // the power state and tools seen by plan() a moment ago go into the markers
    const seen = stillSeen(plan.planned, h.value);
    const f = seen ? ok(seen) : await vmFacts(ctx, h.value);
    if (!f.ok) return { kind: 'failed', reason: failureText(f.error) };
    const { runId, playbook, host } = runInfo(ctx);
    const name = snapshotName(ctx, args);
    const now = Date.now();
    const markers = {
      [MARK.run]: runId, [MARK.playbook]: playbook, [MARK.host]: host,
      [MARK.created]: new Date(now).toISOString(), [MARK.keepUntil]: keepUntil(keepValue(args.keep), now),
      [MARK.powerState]: f.value.power_state,
      [MARK.hadTools]: String(f.value.pv_drivers_detected || f.value.management_agent_detected),
    };
    // the markers go into the intent too: a crash between VM.snapshot and setting them leaves an
    // unmarked snapshot, which resume/rollback adopt with exactly these (retention, playbook, tools)
    await ctx.intent({ action: 'vm.snapshot', detail: { vm: h.value.uuid, name, run: runId, markers } });
    const s = await takeSnapshot(h.value, name, markers, { signal: ctx.signal });
    if (!s.ok) return { kind: 'failed', reason: `snapshot of ${h.value.nameLabel} failed: ${failureText(s.error)}` };
    const token: SnapshotToken = {
      vmUuid: h.value.uuid, snapshotUuid: s.value.uuid, snapshotRef: s.value.ref,
      powerState: f.value.power_state, hadTools: f.value.pv_drivers_detected || f.value.management_agent_detected,
    };
    ctx.state.set(STATE_KEY, token);
    return {
      kind: 'changed',
      summary: `snapshot '${name}' (${s.value.uuid})`,
      data: { snapshot_uuid: s.value.uuid, snapshot_name: name, power_state: f.value.power_state },
      undo: token,
    };
  },

  async undo(ctx, args, token) {
    const timeoutMs = durationArg(args.timeout, 15 * 60_000);
    const h = await vmRiding(ctx, Date.now() + timeoutMs);
    if (!h.ok) return { ok: false, reason: h.error };
    const t = await tokenOrFind(ctx, h.value, token);
    if (!t) return { ok: false, reason: `no pvrun snapshot of ${h.value.nameLabel} from this run to revert to` };
    return revertAndRestore(ctx, h.value, t, timeoutMs);
  },

  // nothing changed inside the guest since the snapshot: delete it instead of reverting
  async dropRestorePoint(ctx, args, token) {
    const deadline = Date.now() + durationArg(args.timeout, 15 * 60_000);
    const h = await vmRiding(ctx, deadline);
    if (!h.ok) return { ok: false, reason: h.error };
    const t = await tokenOrFind(ctx, h.value, token);
    if (!t) return { ok: true, summary: `no pvrun snapshot of ${h.value.nameLabel} from this run: nothing to delete` };
    // refs are not stable across processes (pvrun rollback): go by uuid
    const ref = await retryTransient(() => h.value.xapi.call<string>('VM.get_by_uuid', [t.snapshotUuid]), { deadline, signal: ctx.signal });
    if (!ref.ok) {
      if (ref.error.kind === 'xapi' && ref.error.code === 'UUID_INVALID') return { ok: true, summary: `snapshot ${t.snapshotUuid} is already gone` };
      return { ok: false, reason: `snapshot ${t.snapshotUuid}: ${failureText(ref.error)}` };
    }
    await ctx.intent({ action: 'vm.snapshot-delete', detail: { vm: h.value.uuid, snapshot: t.snapshotUuid } });
    const d = await destroySnapshot(h.value.xapi, ref.value);
    if (!d.ok) return { ok: false, reason: `deleting snapshot ${t.snapshotUuid} failed: ${failureText(d.error)}` };
    ctx.state.delete(STATE_KEY);
    return { ok: true, summary: `deleted snapshot ${t.snapshotUuid} (not reverted: nothing was changed inside the guest after it; the VM keeps running)` };
  },
});

function snapshotName(ctx: StepContext, args: SnapshotArgs): string {
  if (args.name) return args.name;
  const { runId, host } = runInfo(ctx);
  return `pvrun ${runId} ${host}`;
}

/** apply() may have been cut short before returning its token: find the run's snapshot by marker */
async function tokenOrFind(ctx: StepContext, h: VmHandle, token: unknown): Promise<SnapshotToken | undefined> {
  if (isToken(token)) return token;
  const fromState = ctx.state.get(STATE_KEY);
  if (isToken(fromState)) return fromState;
  const { runId } = runInfo(ctx);
  const snaps = await listPvrunSnapshots(h.xapi, h.ref);
  if (!snaps.ok) return undefined;
  const mine = snaps.value.filter((s) => s.otherConfig[MARK.run] === runId).sort((a, b) => a.snapshotTime.localeCompare(b.snapshotTime));
  const last = mine.at(-1);
  if (!last) return undefined;
  // the markers carry what the token would have said
  return {
    vmUuid: h.uuid, snapshotUuid: last.uuid, snapshotRef: last.ref,
    powerState: last.otherConfig[MARK.powerState] ?? 'Running', hadTools: last.otherConfig[MARK.hadTools] === 'true',
  };
}

const isToken = isSnapshotToken;

async function revertAndRestore(ctx: StepContext, h: VmHandle, t: SnapshotToken, timeoutMs: number): Promise<UndoResult> {
  // refs are not stable across processes (pvrun rollback): go by uuid
  // an outage of the pool is ridden out until the deadline: a rollback is when it matters most
  const deadline = Date.now() + timeoutMs;
  const riding = { deadline, signal: ctx.signal, onRetry: (why: string) => ctx.log(`the pool does not answer (${why}): retrying`) };
  const ref = await retryTransient(() => h.xapi.call<string>('VM.get_by_uuid', [t.snapshotUuid]), riding);
  if (!ref.ok) return { ok: false, reason: `snapshot ${t.snapshotUuid} not found: ${failureText(ref.error)}` };
  await ctx.intent({ action: 'vm.revert', detail: { vm: h.uuid, snapshot: t.snapshotUuid, power_state: t.powerState } });
  // 'prefer': the rollback's goal is the VM back and running; a guest agent slow to report after
  // the revert must not turn a good rollback into "needs attention"
  // VM.revert again after a lost answer reverts to the same snapshot: the same end state
  const r = await retryTransient(() => revertToSnapshot(h, ref.value, { powerState: t.powerState, timeoutMs: Math.max(1000, deadline - Date.now()), freshMetrics: t.hadTools ? 'prefer' : false, signal: ctx.signal }), riding);
  forgetVm(ctx);
  if (!r.ok) return { ok: false, reason: `revert of ${h.nameLabel} to ${t.snapshotUuid} failed: ${failureText(r.error)}` };
  let guest = '';
  if (t.powerState === 'Running' && ctx.host.connection.type !== 'none') {
    const g = await waitForGuest(ctx, timeoutMs);
    guest = g ? ', guest answers' : ', but the guest does not answer yet';
  }
  ctx.facts.invalidate();
  return { ok: true, summary: `reverted ${h.nameLabel} to snapshot ${t.snapshotUuid}, power state ${t.powerState}${guest}` };
}

/**
 * The guest came back after the revert: wait until it answers (the shared wait: capped backoff,
 * refusals and resets retried until the deadline — a fresh `pvrun rollback` has no connection
 * yet and its first connect may meet an sshd still starting; auth and host key failures are final).
 */
async function waitForGuest(ctx: StepContext, timeoutMs: number): Promise<boolean> {
  const w = await waitGuest(() => ctx.guest(), { deadline: Date.now() + timeoutMs, signal: ctx.signal });
  if (w.ok) ctx.log(`the guest answers after ${w.value.attempts} attempt(s)`);
  else ctx.log(describeWaitFailure(w.error, 'the guest after the revert'));
  return w.ok;
}

/** ctx.vm(), riding out a pool outage until the deadline (a rollback must not give up in a second) */
async function vmRiding(ctx: StepContext, deadline: number): Promise<Result<VmHandle, string>> {
  let other: string | undefined;
  const r = await retryTransient(async (): Promise<Result<VmHandle, HypervisorFailure>> => {
    const v = await ctx.vm();
    if (v.ok) return v;
    if (v.error.kind === 'hypervisor') return err(v.error.failure);
    // not the pool's answer (no vm: in the inventory …): final
    other = failureText(v.error);
    return err({ kind: 'vm-not-found', message: other });
  }, { deadline, signal: ctx.signal, onRetry: (why) => ctx.log(`the pool does not answer (${why}): retrying`) });
  return r.ok ? r : err(other ?? failureText(r.error));
}

/** The markers a snapshot step's `vm.snapshot` intent journaled (absent in journals of older versions). */
export function intendedMarkers(detail: Record<string, unknown> | undefined): Record<string, string> | undefined {
  const m = detail?.['markers'];
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m)) if (typeof v === 'string' && k.startsWith('pvrun.')) out[k] = v;
  return out;
}
