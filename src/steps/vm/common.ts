import type { HypervisorFailure, VmHandle } from '../../hypervisor/types.js';
import type { VmFacts } from '../../hypervisor/vm-facts.js';
import { readVmFacts } from '../../hypervisor/vm-facts.js';
import { VmWatch } from '../../hypervisor/vm-watch.js';
import type { Result } from '../../util/result.js';
import { err, ok } from '../../util/result.js';
import type { StepContext, StepFailure } from '../types.js';
import { parseDuration } from '../../load/duration.js';

/** One line for a step failure coming from below. */
export function failureText(f: StepFailure | HypervisorFailure): string {
  if ('failure' in f) return f.failure.message;
  return f.message;
}

/** The host's VM, or why not, as a reason line. */
export async function vmOf(ctx: StepContext): Promise<Result<VmHandle, string>> {
  const r = await ctx.vm();
  return r.ok ? r : err(failureText(r.error));
}

/**
 * VM facts, kept per host in a VmWatch: the first read costs two calls, every later one a single
 * `event.from(…, token, 0)` that folds in whatever changed (a reboot or revert always produces
 * events), so a verify with several predicates does not re-read the three records each time.
 */
const memo = new WeakMap<Map<string, unknown>, VmWatch>();

export async function vmFacts(ctx: StepContext, h: VmHandle): Promise<Result<VmFacts, HypervisorFailure>> {
  const w = memo.get(ctx.state);
  if (w && w.ref === h.ref) {
    const n = await w.next(0);
    if (n.ok) return ok(w.facts);
  }
  memo.delete(ctx.state);
  const opened = await VmWatch.open(h.xapi, h.ref);
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

/** The `vm` fact namespace, for the engine's fact gatherer: `facts.vm.power_state`, … */
export async function gatherVmFacts(ctx: StepContext): Promise<Result<Record<string, unknown>, StepFailure>> {
  const h = await ctx.vm();
  if (!h.ok) return h;
  const f = await readVmFacts(h.value.xapi, h.value.ref);
  if (!f.ok) return err({ kind: 'hypervisor', failure: f.error });
  const { metrics_ref: _m, guest_metrics_ref: _g, ...facts } = f.value;
  return ok(facts as unknown as Record<string, unknown>);
}

/** `30s`, `5m`, `1h30m`, `7d`, `2w`, or a number of seconds → ms (the loader's parser). */
export function parseDurationMs(v: unknown): number | undefined {
  const r = parseDuration(v);
  return r.ok ? r.ms : undefined;
}

export const DURATION_SCHEMA = {
  anyOf: [{ type: 'number', minimum: 0 }, { type: 'string', pattern: '^\\s*(\\d+(\\.\\d+)?(ms|s|m|h|d|w)?)+\\s*$' }],
};

export function durationArg(v: unknown, dflt: number): number {
  return v === undefined ? dflt : (parseDurationMs(v) ?? dflt);
}

/** run id / playbook / host for markers; ctx.scope.run is filled by the engine */
export function runInfo(ctx: StepContext): { runId: string; playbook: string; host: string } {
  const run = (ctx.scope.run ?? {}) as Record<string, unknown>;
  const str = (x: unknown) => (typeof x === 'string' ? x : typeof x === 'number' ? String(x) : '');
  return { runId: str(run.id) || str(run.run_id) || 'unknown-run', playbook: str(run.playbook), host: ctx.host.name };
}
