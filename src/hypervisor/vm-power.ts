import type { Result } from '../util/result.js';
import { err, ok } from '../util/result.js';
import type { HypervisorFailure, VmHandle } from './types.js';
import type { VmFacts } from './vm-facts.js';
import { readVmFacts } from './vm-facts.js';
import { VmWatch, waitForFacts } from './vm-watch.js';
import { callAsync } from './xapi/task.js';
import { parseXapiDate } from './xapi-date.js';

export type RebootMode = 'auto' | 'clean' | 'hard';

export interface WaitRunningOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** a boot must have started after this XAPI datetime (the start_time seen before a reboot) */
  bootedAfter?: string | null;
  /** also wait until guest metrics were written during this boot */
  freshMetrics?: boolean;
  /** a watch opened before the operation (so no change is missed and nothing is re-read) */
  watch?: VmWatch;
}

/**
 * Wait (event.from, not polling) until the VM runs a new boot and, if asked, its guest metrics
 * are fresh for that boot. Returns the facts seen at that moment.
 */
export async function waitForRunningAndFreshMetrics(h: VmHandle, o: WaitRunningOptions): Promise<Result<VmFacts, HypervisorFailure>> {
  const after = o.bootedAfter ? parseXapiDate(o.bootedAfter) : undefined;
  return waitForFacts(h.xapi, h.ref, (v) => {
    const started = parseXapiDate(v.start_time);
    const newBoot = after === undefined || (started !== undefined && started > after);
    return v.power_state === 'Running' && newBoot && (!o.freshMetrics || v.metrics_fresh);
  }, {
    timeoutMs: o.timeoutMs,
    signal: o.signal,
    what: `${h.nameLabel} to run${o.freshMetrics ? ' with fresh guest metrics' : ''}`,
    ...(o.watch ? { watch: o.watch } : {}),
    ...(h.metrics ? { hint: h.metrics } : {}),
  });
}

export async function waitForPowerState(h: VmHandle, state: string, timeoutMs: number, signal?: AbortSignal): Promise<Result<VmFacts, HypervisorFailure>> {
  return waitForFacts(h.xapi, h.ref, (f) => f.power_state === state, { timeoutMs, signal, what: `${h.nameLabel} to be ${state}`, ...(h.metrics ? { hint: h.metrics } : {}) });
}

/**
 * How much a boot waits for guest metrics written during it: `true` requires them (timeout is an
 * error), `false` does not wait, `'prefer'` waits up to a grace period and then goes on — drivers
 * that were just removed (XenClean) never report, and the guest connection or a later `verify`
 * is the real readiness check.
 */
export type FreshPolicy = boolean | 'prefer';

export const FRESH_GRACE_MS = 60_000;

async function waitBootThenMetrics(
  h: VmHandle, watch: VmWatch | undefined, bootedAfter: string | null, fresh: FreshPolicy, timeoutMs: number, signal?: AbortSignal, graceMs = FRESH_GRACE_MS,
): Promise<Result<VmFacts, HypervisorFailure>> {
  const deadline = Date.now() + timeoutMs;
  const running = await waitForRunningAndFreshMetrics(h, { timeoutMs, signal, bootedAfter, freshMetrics: false, ...(watch ? { watch } : {}) });
  if (!running.ok || fresh === false || running.value.metrics_fresh) return running;
  const left = Math.max(1000, deadline - Date.now());
  const f = await waitForRunningAndFreshMetrics(h, {
    timeoutMs: fresh === true ? left : Math.min(left, graceMs), signal, bootedAfter, freshMetrics: true, ...(watch ? { watch } : {}),
  });
  if (f.ok || fresh === true || f.error.kind !== 'timeout') return f;
  return watch ? ok(watch.facts) : readVmFacts(h.xapi, h.ref);
}

/**
 * Facts before an operation, with a watch opened first so no change after it is missed; a pool
 * refusing event.from still works, through reads (waits then poll at most once a second).
 */
async function factsWithWatch(h: VmHandle): Promise<Result<{ facts: VmFacts; watch?: VmWatch }, HypervisorFailure>> {
  const w = await VmWatch.open(h.xapi, h.ref, h.metrics);
  if (w.ok) return ok({ facts: w.value.facts, watch: w.value });
  if (w.error.kind !== 'xapi' || w.error.code === 'HANDLE_INVALID') return w;
  const f = await readVmFacts(h.xapi, h.ref);
  return f.ok ? ok({ facts: f.value }) : f;
}

export interface RebootResult {
  method: 'clean_reboot' | 'hard_reboot';
  /** why hard was used in auto mode */
  fallback?: string;
  /** facts once running; `facts.metrics_fresh` says whether the guest reported in this boot */
  facts: VmFacts;
}

const refusedClean = (e: HypervisorFailure) =>
  e.kind === 'xapi' && (e.code === 'VM_LACKS_FEATURE' || e.code === 'OPERATION_NOT_ALLOWED' || e.code.startsWith('VM_LACKS_FEATURE'));

/**
 * Reboot from the hypervisor: clean when `allowed_operations` allows it (the guest cooperates),
 * else hard (mode 'auto'); then wait for the new boot and, by default ('prefer', when the VM had
 * PV drivers or an agent before), for guest metrics fresh for that boot, up to FRESH_GRACE_MS.
 */
export async function rebootVm(
  h: VmHandle,
  opts: {
    mode: RebootMode; freshMetrics?: FreshPolicy; freshGraceMs?: number;
    /** called with the facts just before XAPI is asked (the reboot step journals its intent here, with the start_time) */
    beforeCall?: (before: VmFacts) => Promise<void>;
  },
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Result<RebootResult, HypervisorFailure>> {
  const before = await factsWithWatch(h);
  if (!before.ok) return before;
  const b = before.value.facts;
  if (b.power_state !== 'Running') {
    return err({ kind: 'xapi', code: 'VM_BAD_POWER_STATE', params: [h.ref, 'running', b.power_state.toLowerCase()],
      message: `VM_BAD_POWER_STATE: ${h.nameLabel} is ${b.power_state}, a reboot needs it Running` });
  }
  const canClean = b.allowed_operations.includes('clean_reboot');
  let method: RebootResult['method'] = opts.mode === 'hard' || (opts.mode === 'auto' && !canClean) ? 'hard_reboot' : 'clean_reboot';
  let fallback: string | undefined = opts.mode === 'auto' && !canClean ? 'clean_reboot not in allowed_operations (no PV drivers/agent)' : undefined;
  const deadline = Date.now() + timeoutMs;
  await opts.beforeCall?.(b);
  let r = await callAsync(h.xapi, `VM.${method}`, [h.ref], { timeoutMs, signal });
  if (!r.ok && method === 'clean_reboot' && opts.mode === 'auto' && refusedClean(r.error)) {
    fallback = `clean_reboot refused: ${r.error.message}`;
    method = 'hard_reboot';
    r = await callAsync(h.xapi, 'VM.hard_reboot', [h.ref], { timeoutMs: Math.max(1000, deadline - Date.now()), signal });
  }
  if (!r.ok) return r;
  const fresh = opts.freshMetrics ?? (b.pv_drivers_detected || b.management_agent_detected ? 'prefer' : false);
  const w = await waitBootThenMetrics(h, before.value.watch, b.start_time, fresh, Math.max(1000, deadline - Date.now()), signal, opts.freshGraceMs);
  if (!w.ok) return w;
  return ok({ method, ...(fallback ? { fallback } : {}), facts: w.value });
}

/** What XAPI says of a reboot asked for after the VM last started at `askedAt` (a VM_metrics.start_time). */
export type RebootSeen = 'booted' | 'under-way' | 'not-asked';

/**
 * Under `pvrun resume`: did the killed process's reboot reach XAPI? A boot after `askedAt` says
 * it happened (VM_metrics.start_time, "Time at which this VM was last booted": shared/xapi/
 * xenapi.json, class VM_metrics; the simulator sets it in model.ts `boot`); a clean_reboot or
 * hard_reboot in the VM's current_operations says it is under way (VM.current_operations "links
 * each of the running tasks using this object … to a current_operation enum": xenapi.json, class
 * VM; the simulator's `exclusive`); neither says it was never sent, or was refused.
 */
export async function rebootSince(h: VmHandle, askedAt: string): Promise<Result<{ seen: RebootSeen; facts: VmFacts }, HypervisorFailure>> {
  const asked = parseXapiDate(askedAt);
  // The operations first, the start_time after: XAPI updates the VM's records from xenopsd's
  // events before a reboot's operation leaves current_operations (xen-api ocaml/xapi/
  // xapi_xenops.ml `let reboot`: `Client.VM.reboot … |> sync_with_task; Event.wait dbg ()`, then
  // the operation is removed when the call returns). So a reboot that was no longer listed had
  // already set the start_time this reads next. Read the other way round, a reboot ending
  // between the two reads looked as if it had never been asked for, and was asked again.
  const ops = await h.xapi.call<Record<string, string>>('VM.get_current_operations', [h.ref]);
  if (!ops.ok) return ops;
  const f = await readVmFacts(h.xapi, h.ref);
  if (!f.ok) return f;
  const started = parseXapiDate(f.value.start_time);
  if (asked !== undefined && started !== undefined && started > asked) return ok({ seen: 'booted', facts: f.value });
  const underWay = Object.values(ops.value).some((op) => op === 'clean_reboot' || op === 'hard_reboot');
  return ok({ seen: underWay ? 'under-way' : 'not-asked', facts: f.value });
}

/** Start a halted VM and wait for it to run (and for fresh metrics, see FreshPolicy; default no). */
export async function startVm(
  h: VmHandle, timeoutMs: number, opts: { freshMetrics?: FreshPolicy; freshGraceMs?: number; signal?: AbortSignal } = {},
): Promise<Result<VmFacts, HypervisorFailure>> {
  const bw = await factsWithWatch(h);
  if (!bw.ok) return bw;
  const before = bw.value.facts;
  if (before.power_state === 'Running') return ok(before);
  const deadline = Date.now() + timeoutMs;
  const r = await callAsync(h.xapi, 'VM.start', [h.ref, false, false], { timeoutMs, signal: opts.signal });
  if (!r.ok) return r;
  return waitBootThenMetrics(h, bw.value.watch, before.start_time, opts.freshMetrics ?? false,
    Math.max(1000, deadline - Date.now()), opts.signal, opts.freshGraceMs);
}

export interface ShutdownResult {
  method: 'clean_shutdown' | 'hard_shutdown' | 'none';
  fallback?: string;
}

/** Clean shutdown when the guest can do it, hard after `cleanTimeoutMs` or when it cannot. */
export async function shutdownVm(h: VmHandle, cleanTimeoutMs: number, timeoutMs: number, signal?: AbortSignal): Promise<Result<ShutdownResult, HypervisorFailure>> {
  const before = await readVmFacts(h.xapi, h.ref);
  if (!before.ok) return before;
  if (before.value.power_state === 'Halted') return ok({ method: 'none' });
  let fallback: string | undefined;
  if (before.value.allowed_operations.includes('clean_shutdown')) {
    const c = await callAsync(h.xapi, 'VM.clean_shutdown', [h.ref], { timeoutMs: cleanTimeoutMs, signal });
    if (c.ok) return ok({ method: 'clean_shutdown' });
    if (c.error.kind !== 'timeout' && !refusedClean(c.error)) return c;
    fallback = c.error.kind === 'timeout' ? `clean_shutdown did not finish within ${cleanTimeoutMs} ms` : `clean_shutdown refused: ${c.error.message}`;
    // it may have finished just now
    const again = await readVmFacts(h.xapi, h.ref);
    if (again.ok && again.value.power_state === 'Halted') return ok({ method: 'clean_shutdown' });
  } else {
    fallback = 'clean_shutdown not in allowed_operations';
  }
  const hard = await callAsync(h.xapi, 'VM.hard_shutdown', [h.ref], { timeoutMs, signal });
  if (!hard.ok) return hard;
  return ok({ method: 'hard_shutdown', fallback });
}
