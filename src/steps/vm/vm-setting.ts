import { vmSettingInfo } from '../catalog.js';
import type { HypervisorFailure, VmHandle } from '../../hypervisor/types.js';
import type { VmFacts } from '../../hypervisor/vm-facts.js';
import { shutdownVm, startVm } from '../../hypervisor/vm-power.js';
import { callAsync } from '../../hypervisor/xapi/task.js';
import type { Result } from '../../util/result.js';
import { ok } from '../../util/result.js';
import { describeWaitFailure, waitForGuest } from '../../runtime/wait-guest.js';
import { defineStep } from '../types.js';
import type { StepContext } from '../types.js';
import { durationArg, failureText, forgetVmFacts, seenNow, stillSeen, vmFacts, vmOf, type Seen } from './common.js';
import { shape } from '../../util/shape.js';


export interface VmSettingArgs {
  /** "Manage Citrix PV drivers via Windows Update" = VM.has_vendor_device */
  windows_update_drivers: boolean;
  /** clean shutdown gets this long before a hard shutdown (default 5m) */
  shutdown_timeout?: string | number;
  /** the whole change, including the restart (default 15m) */
  timeout?: string | number;
}

export interface VmSettingToken {
  previous: boolean;
}

/**
 * has_vendor_device can only change while the VM is Halted: shut down (clean, hard after a
 * timeout), set, start again if it was running, wait until it runs.
 */
async function setVendorDevice(ctx: StepContext, h: VmHandle, value: boolean, args: VmSettingArgs, before: VmFacts): Promise<Result<string, HypervisorFailure>> {
  const timeout = durationArg(args.timeout, 15 * 60_000);
  const deadline = Date.now() + timeout;
  try {
    return await changeVendorDevice(ctx, h, value, args, before, timeout, deadline);
  } finally {
    // whatever happened (a shutdown, a failed start), what was known about the VM is stale
    forgetVmFacts(ctx);
  }
}

async function changeVendorDevice(
  ctx: StepContext, h: VmHandle, value: boolean, args: VmSettingArgs, before: VmFacts, timeout: number, deadline: number,
): Promise<Result<string, HypervisorFailure>> {
  const wasRunning = before.power_state === 'Running';
  const hadTools = before.pv_drivers_detected || before.management_agent_detected;
  let how = '';
  if (before.power_state !== 'Halted') {
    await ctx.intent({ action: 'vm.shutdown', detail: { vm: h.uuid, reason: 'has_vendor_device needs Halted' } });
    const s = await shutdownVm(h, durationArg(args.shutdown_timeout, 5 * 60_000), timeout, ctx.signal);
    if (!s.ok) return s;
    how = ` (${s.value.method}${s.value.fallback ? `: ${s.value.fallback}` : ''})`;
  }
  await ctx.intent({ action: 'vm.set-has-vendor-device', detail: { vm: h.uuid, value } });
  const set = await callAsync(h.xapi, 'VM.set_has_vendor_device', [h.ref, value], { signal: ctx.signal });
  if (!set.ok) return set;
  if (wasRunning) {
    await ctx.intent({ action: 'vm.start', detail: { vm: h.uuid } });
    const st = await startVm(h, Math.max(1000, deadline - Date.now()), { freshMetrics: hadTools ? 'prefer' : false, signal: ctx.signal });
    if (!st.ok) return st;
    // the guest connection died with the old boot: wait until the guest answers again (the
    // shared wait), so the next guest step does not meet a transport that is still starting
    if (ctx.host.connection.type !== 'none') {
      const w = await waitForGuest(() => ctx.guest(), { deadline: Math.max(deadline, Date.now() + 1000), signal: ctx.signal });
      how += w.ok ? ', guest answers' : `, but ${describeWaitFailure(w.error, 'the guest')}`;
    }
  }
  return ok(`windows_update_drivers ${value}${wasRunning ? `, restarted${how}` : ''}`);
}

const isVmSettingToken = shape<VmSettingToken>({ previous: 'boolean' });

export const vmSettingStep = defineStep<VmSettingArgs, Seen<VmFacts>, VmSettingToken>({
  ...vmSettingInfo, // type, description, schema, shorthand, flags: src/steps/catalog.ts
  undoToken: isVmSettingToken,

  async plan(ctx, args) {
    const h = await vmOf(ctx);
    if (!h.ok) return { kind: 'fail', reason: h.error };
    const f = await vmFacts(ctx, h.value);
    if (!f.ok) return { kind: 'fail', reason: failureText(f.error) };
    if (f.value.has_vendor_device === args.windows_update_drivers) {
      return { kind: 'ok', summary: `windows_update_drivers is already ${args.windows_update_drivers}` };
    }
    const restart = f.value.power_state === 'Halted' ? '' : ' (shut down, set, start again)';
    return {
      kind: 'change',
      summary: `set windows_update_drivers ${args.windows_update_drivers}${restart}`,
      planned: seenNow(h.value, f.value),
      diff: `- has_vendor_device: ${f.value.has_vendor_device}\n+ has_vendor_device: ${args.windows_update_drivers}`,
    };
  },

  async apply(ctx, args, plan) {
    const h = await vmOf(ctx);
    if (!h.ok) return { kind: 'failed', reason: h.error };
    const seen = stillSeen(plan.planned, h.value);
    const f = seen ? ok(seen) : await vmFacts(ctx, h.value);
    if (!f.ok) return { kind: 'failed', reason: failureText(f.error) };
    if (f.value.has_vendor_device === args.windows_update_drivers) {
      return { kind: 'ok', summary: `windows_update_drivers is already ${args.windows_update_drivers}` };
    }
    const r = await setVendorDevice(ctx, h.value, args.windows_update_drivers, args, f.value);
    if (!r.ok) return { kind: 'failed', reason: failureText(r.error) };
    const token: VmSettingToken = { previous: f.value.has_vendor_device };
    return { kind: 'changed', summary: r.value, data: { windows_update_drivers: args.windows_update_drivers }, undo: token };
  },

  async undo(ctx, args, token) {
    const h = await vmOf(ctx);
    if (!h.ok) return { ok: false, reason: h.error };
    // no token (the apply was cut short): the setting before it was the opposite of the one asked for
    const previous = token ? token.previous : !args.windows_update_drivers;
    const f = await vmFacts(ctx, h.value);
    if (!f.ok) return { ok: false, reason: failureText(f.error) };
    if (f.value.has_vendor_device === previous) return { ok: true, summary: `windows_update_drivers is ${previous} already` };
    const r = await setVendorDevice(ctx, h.value, previous, args, f.value);
    return r.ok ? { ok: true, summary: `restored ${r.value}` } : { ok: false, reason: failureText(r.error) };
  },
});
