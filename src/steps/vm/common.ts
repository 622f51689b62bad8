import type { HypervisorFailure, VmHandle } from '../../hypervisor/types.js';
import type { VmFacts } from '../../hypervisor/vm-facts.js';
import { readVmFacts } from '../../hypervisor/vm-facts.js';
import { VmWatch } from '../../hypervisor/vm-watch.js';
import type { CdDrive, Iso } from '../../hypervisor/vm-cd.js';
import { findCdDrive, isoInfo, readCdDrive } from '../../hypervisor/vm-cd.js';
import type { Result } from '../../util/result.js';
import { err, ok } from '../../util/result.js';
import type { StepContext, StepFailure } from '../types.js';
import { parseDuration } from '../../load/duration.js';
import { stateKey } from '../state.js';
import type { HostState } from '../state.js';

/** One line for a step failure coming from below. */
// the one failure formatter (src/report/failure-text.ts), re-exported for the steps' imports
export { failureText } from '../../report/failure-text.js';
import { failureText } from '../../report/failure-text.js';

/** The host's VM, or why not, as a reason line. */
export async function vmOf(ctx: StepContext): Promise<Result<VmHandle, string>> {
  const r = await ctx.vm();
  return r.ok ? r : err(failureText(r.error));
}

/**
 * VM facts, kept per host in a VmWatch: opening costs one call (the handle's metrics hint lets
 * one event.from bring all three records), every later read a single `event.from(…, token, 0)`
 * that folds in whatever changed since (a reboot or revert always produces events), so several
 * predicates and steps reading the VM never re-read the three records. Each call is current:
 * a step's apply() that wants what its plan() saw gets it in the planned change (seenNow/stillSeen).
 */
const memo = new WeakMap<HostState, VmWatch>();

export async function vmFacts(ctx: StepContext, h: VmHandle): Promise<Result<VmFacts, HypervisorFailure>> {
  const w = memo.get(ctx.state);
  if (w && w.ref === h.ref) {
    const n = await w.next(0);
    if (n.ok) return ok(w.facts);
  }
  memo.delete(ctx.state);
  const opened = await VmWatch.open(h.xapi, h.ref, h.metrics);
  if (!opened.ok) {
    // a pool that refuses event.from: plain reads
    return opened.error.kind === 'xapi' && opened.error.code !== 'HANDLE_INVALID' ? readVmFacts(h.xapi, h.ref) : opened;
  }
  memo.set(ctx.state, opened.value);
  return ok(opened.value.facts);
}

/** Forget memoised VM facts (after anything that changes the VM). */
export function forgetVmFacts(ctx: StepContext): void {
  memo.delete(ctx.state);
  ctx.facts.invalidate('vm');
}

/** Forget everything remembered about the VM: facts and its CD drive (a revert rebuilds CD VBDs). */
export function forgetVm(ctx: StepContext): void {
  forgetVmFacts(ctx);
  ctx.state.delete(CD_KEY);
}

/**
 * The VM's CD drive, looked up once per host run (VM.get_VBDs + one read of their records) and
 * then read by ref (one VBD.get_record); a ref that is gone — a revert rebuilds CD VBDs — is
 * looked up again. The ISO pvrun inserted is remembered with it, so messages need no VDI reads.
 */
const CD_KEY = stateKey<CdMemo>('vm.cd-drive');

interface CdMemo {
  vm: string;
  ref: string;
  /** what pvrun last put in the drive */
  iso?: { ref: string; uuid: string; nameLabel: string };
}

export async function cdDrive(ctx: StepContext, h: VmHandle): Promise<Result<CdDrive | undefined, HypervisorFailure>> {
  const m = ctx.state.get(CD_KEY);
  if (m && m.vm === h.ref) {
    const d = await readCdDrive(h.xapi, h.ref, m.ref);
    if (!d.ok || d.value) return d;
  }
  ctx.state.delete(CD_KEY);
  const d = await findCdDrive(h.xapi, h.ref);
  if (d.ok && d.value) ctx.state.set(CD_KEY, { vm: h.ref, ref: d.value.ref } satisfies CdMemo);
  return d;
}

/** the drive ref is stale (HANDLE_INVALID on insert/eject): look it up again next time */
export function forgetCdDrive(ctx: StepContext): void {
  ctx.state.delete(CD_KEY);
}

/** remember what pvrun put in the drive (undefined: ejected) */
export function rememberIso(ctx: StepContext, h: VmHandle, drive: CdDrive, iso: Iso | undefined): void {
  const m: CdMemo = { vm: h.ref, ref: drive.ref, ...(iso ? { iso: { ref: iso.ref, uuid: iso.uuid, nameLabel: iso.nameLabel } } : {}) };
  ctx.state.set(CD_KEY, m);
}

/** uuid and name of the ISO in the drive: from memory when pvrun inserted it, else one VDI read */
export async function isoInDrive(ctx: StepContext, h: VmHandle, drive: CdDrive): Promise<{ uuid: string; nameLabel: string }> {
  const m = ctx.state.get(CD_KEY);
  if (m?.iso && m.vm === h.ref && m.ref === drive.ref && m.iso.ref === drive.vdi) return m.iso;
  return isoInfo(h.xapi, drive.vdi);
}

/**
 * What a step's plan() saw, handed to its apply() in the planned change (`PlanResult.planned`,
 * typed by the step), so apply acts on it without reading it again; what changed in between shows
 * up as an XAPI error on the write (VBD_NOT_EMPTY …). Tied to the VM it was read from and to a
 * moment: an apply() long after its plan() (a slow guest gate between them) reads afresh.
 */
export interface Seen<T> {
  vm: string;
  at: number;
  value: T;
}

/** a guard, not a cache lifetime: an apply() long after its plan() reads afresh */
const PLANNED_MAX_AGE_MS = 5000;

export function seenNow<T>(h: VmHandle, value: T): Seen<T> {
  return { vm: h.ref, at: Date.now(), value };
}

/** what plan() saw, if it is of this VM and recent; undefined: read it again */
export function stillSeen<T>(s: Seen<T> | undefined, h: VmHandle): T | undefined {
  return s && s.vm === h.ref && Date.now() - s.at <= PLANNED_MAX_AGE_MS ? s.value : undefined;
}

/** `30s`, `5m`, `1h30m`, `7d`, `2w`, or a number of seconds → ms (the loader's parser). */
export function parseDurationMs(v: unknown): number | undefined {
  const r = parseDuration(v);
  return r.ok ? r.ms : undefined;
}

/** the duration grammar's schema, owned by src/load/duration.ts (one grammar for schema and parser) */
export { DURATION_SCHEMA } from '../../load/duration.js';

export function durationArg(v: unknown, dflt: number): number {
  return v === undefined ? dflt : (parseDurationMs(v) ?? dflt);
}

/** run id / playbook / host for markers; ctx.scope.run is filled by the engine */
export function runInfo(ctx: StepContext): { runId: string; playbook: string; host: string } {
  const run = (ctx.scope.run ?? {}) as Record<string, unknown>;
  const str = (x: unknown) => (typeof x === 'string' ? x : typeof x === 'number' ? String(x) : '');
  return { runId: str(run.id) || str(run.run_id) || 'unknown-run', playbook: str(run.playbook), host: ctx.host.name };
}
