/**
 * reboot: Ansible's technique. Read the boot id; trigger the reboot detached (from the guest, or
 * through XAPI); a dropped connection is expected; reconnect with capped backoff until the boot
 * id differs; then run a test command. The boot id source is the kernel's file unless the host
 * var `boot_id_path` says otherwise (the lab and the tests emulate reboots that way).
 */
import { rebootInfo } from './catalog.js';
import { bootIdCommand } from '../facts/linux.js';
import type { Connector, ConnectorFailure } from '../connectors/types.js';
import { rebootSince, rebootVm, waitForRunningAndFreshMetrics, type RebootMode } from '../hypervisor/vm-power.js';
import { err, ok, type Result } from '../util/result.js';
import { quoteShell } from '../util/shell-quote.js';
import { applyFail, failureText, tail } from './linux/common.js';
import { classifyGuestFailure, isFinalConnectorFailure, waitForGuest } from '../runtime/wait-guest.js';
import { defineStep, type ApplyResult, type StepContext, type StepFailure } from './types.js';
import { REBOOT_REQUIRED } from './state.js';

export interface RebootArgs {
  via?: 'guest' | 'hypervisor';
  /** seconds for the whole reboot, trigger to passing test command; default 600 */
  reboot_timeout?: number;
  /** must exit 0 on the rebooted guest; default `true` */
  test_command?: string;
  /** via guest: what reboots the machine; default `shutdown -r now`, falling back to `reboot` */
  reboot_command?: string;
  /** only reboot when an earlier step set `reboot_required` */
  when_required?: boolean;
  /** via hypervisor: clean, hard, or auto (clean when the guest cooperates) */
  mode?: RebootMode;
  become?: boolean;
}

const DEFAULT_REBOOT = 'shutdown -r now || reboot';
/** first wait between reconnect attempts, and the cap of the doubling backoff */
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 10_000;
/** resumed via hypervisor: how long to wait for the guest's boot id before rebooting it again */
const HYPERVISOR_LOOK_MS = 120_000;

async function readBootId(c: Connector, ctx: StepContext): Promise<Result<string, ConnectorFailure | string>> {
  const r = await c.exec(bootIdCommand(ctx.host), { mutates: false, timeoutMs: 30_000 });
  if (!r.ok) return r;
  const id = r.value.stdout.trim();
  if (r.value.exitCode !== 0 || id === '') return err(`cannot read the boot id: ${tail(r.value.stderr) || 'empty'}`);
  return ok(id);
}

/**
 * Reconnect until the boot id differs from `before` (any boot id, when `before` is null) and the
 * test command passes, or the deadline passes: the shared wait for a guest (capped backoff;
 * refusals, resets and handshake timeouts retried; a different host key or a refused login final).
 * `get` gives the connection: the run's cached one, or (hypervisor reboot of a guest that was not
 * reachable before) the run's getter, which opens one when the guest is back.
 */
async function waitForNewBoot(
  get: () => Promise<Result<Connector, StepFailure>>, ctx: StepContext, before: string | null, a: RebootArgs, deadline: number,
  delayFirst = true,
): Promise<Result<string, StepFailure>> {
  let id = '';
  const w = await waitForGuest(get, {
    deadline, signal: ctx.signal, firstDelayMs: FIRST_DELAY_MS, maxDelayMs: MAX_DELAY_MS,
    // a reboot triggered a moment ago: the first look comes after the first delay
    delayFirst,
    ready: async (c) => {
      const r = await readBootId(c, ctx);
      if (!r.ok) return typeof r.error === 'string' ? { retry: r.error } : classifyGuestFailure({ kind: 'guest', failure: r.error });
      if (before !== null && r.value === before) return { retry: 'boot id unchanged: the guest has not rebooted yet' };
      const t = await c.exec(a.test_command ?? 'true', { mutates: false, become: a.become === true, timeoutMs: 60_000 });
      if (!t.ok) return { retry: `test command: ${t.error.kind}: ${t.error.message}` };
      if (t.value.exitCode !== 0) return { retry: `test command exit ${t.value.exitCode}: ${tail(t.value.stderr)}` };
      id = r.value;
      return { done: true };
    },
  });
  if (w.ok) {
    ctx.log(`rebooted: boot id ${before ?? '?'} -> ${id} after ${w.value.attempts} attempt(s)`);
    return ok(id);
  }
  if (w.error.kind === 'final') return err(w.error.failure);
  const secs = a.reboot_timeout ?? 600;
  return err({ kind: 'step', message: `${ctx.host.name} did not come back within reboot_timeout (${secs}s); last: ${w.error.last}` });
}

/**
 * The boot id before the reboot. A guest that does not answer now (a dropped connection, a refused
 * port) may be going down or coming up already: an installer that reboots by itself, or — under
 * `pvrun resume` — the reboot the killed process triggered, whose guest went down between the
 * resume's connect and this read (CI on stop 28: "connection lost (closed)", a failed host and a
 * rollback). It is waited for like any rebooting guest, until the step's deadline. A refused login
 * or a different host key stays final, as does a boot id that cannot be read on a working connection.
 */
async function bootIdBefore(
  g: Result<Connector, StepFailure>, ctx: StepContext, a: RebootArgs, deadline: number,
): Promise<Result<string, Extract<ApplyResult, { kind: 'failed' }>>> {
  if (g.ok) {
    const r = await readBootId(g.value, ctx);
    if (r.ok) return r;
    if (typeof r.error === 'string') return err({ kind: 'failed', reason: r.error });
    if (isFinalConnectorFailure(r.error)) return err(applyFail({ kind: 'guest', failure: r.error }));
    ctx.log(`the guest does not answer before the reboot (${r.error.kind}: ${r.error.message}): it may be rebooting already; waiting for it`);
  } else {
    if ('final' in classifyGuestFailure(g.error)) return err(applyFail(g.error));
    ctx.log(`the guest does not answer before the reboot (${failureText(g.error)}): it may be rebooting already; waiting for it`);
  }
  let id = '';
  const w = await waitForGuest(() => ctx.guest(), {
    deadline, signal: ctx.signal, firstDelayMs: FIRST_DELAY_MS, maxDelayMs: MAX_DELAY_MS, delayFirst: true,
    ready: async (c) => {
      const r = await readBootId(c, ctx);
      if (!r.ok) return typeof r.error === 'string' ? { retry: r.error } : classifyGuestFailure({ kind: 'guest', failure: r.error });
      id = r.value;
      return { done: true };
    },
  });
  if (w.ok) return ok(id);
  if (w.error.kind === 'final') return err(applyFail(w.error.failure));
  return err({ kind: 'failed', reason: `${ctx.host.name} did not answer within reboot_timeout (${a.reboot_timeout ?? 600}s) before its reboot; last: ${w.error.last}`, unreachable: true });
}

/** Under `pvrun resume`: the boot id the killed process read before it asked for this reboot. */
function cutRebootBootId(ctx: StepContext): string | undefined {
  const asked = ctx.resumedApply?.intents.findLast((i) => i.action === 'reboot');
  const id = asked?.detail['boot_id'];
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/**
 * Under `pvrun resume`, via hypervisor: the VM's start_time (VM_metrics) the killed process read
 * just before it asked XAPI for this reboot. XAPI answers from it whether that reboot happened,
 * even when the guest — maybe the reason for a hypervisor reboot — never answered.
 */
function cutRebootStartTime(ctx: StepContext): string | undefined {
  const asked = ctx.resumedApply?.intents.findLast((i) => i.action === 'reboot');
  const t = asked?.detail['via'] === 'hypervisor' ? asked.detail['start_time'] : undefined;
  return typeof t === 'string' && t !== '' ? t : undefined;
}

export const rebootStep = defineStep<RebootArgs>({
  ...rebootInfo, // type, description, schema, shorthand, flags: src/steps/catalog.ts

  async plan(ctx, a) {
    const via = a.via ?? 'guest';
    if (a.when_required) {
      const req = ctx.state.get(REBOOT_REQUIRED);
      if (req !== true) {
        if (ctx.check && req === undefined) return { kind: 'change', summary: `would reboot via ${via} if an earlier step requires it` };
        return { kind: 'ok', summary: 'no reboot required' };
      }
    }
    return { kind: 'change', summary: `would reboot via ${via}` };
  },

  async apply(ctx, a): Promise<ApplyResult> {
    if (a.when_required && ctx.state.get(REBOOT_REQUIRED) !== true) return { kind: 'ok', summary: 'no reboot required' };
    const started = Date.now();
    const deadline = started + (a.reboot_timeout ?? 600) * 1000;
    const g = await ctx.guest();
    const via = a.via ?? 'guest';
    const summary = (id: string, how: string): ApplyResult => {
      ctx.state.set(REBOOT_REQUIRED, false);
      const seconds = Math.round((Date.now() - started) / 100) / 10;
      return { kind: 'changed', summary: `rebooted via ${via}${how} in ${seconds}s`, data: { boot_id_before: before, boot_id: id, seconds } };
    };

    // `pvrun resume` of this step cut short after it had asked for the reboot: when the guest's
    // boot id is no longer the one read then, that reboot has happened — asking again would be
    // a second outage. The same boot id: it may still be pending, or was never sent; asking again
    // is safe (a guest already going down takes the second request with it).
    const cutBefore = cutRebootBootId(ctx);
    const cutStart = via === 'hypervisor' ? cutRebootStartTime(ctx) : undefined;
    let before: string | null = null;
    if (cutStart !== undefined) {
      // via hypervisor, the killed process journaled the VM's start_time: XAPI says what became of its reboot
      const vm = await ctx.vm();
      if (!vm.ok) return applyFail(vm.error);
      const since = await rebootSince(vm.value, cutStart);
      if (!since.ok) return applyFail({ kind: 'hypervisor', failure: since.error });
      if (since.value.seen !== 'not-asked') {
        if (since.value.seen === 'under-way') {
          ctx.log(`resumed: XAPI is still rebooting ${vm.value.nameLabel} for the killed process: waiting for that boot, not asking again`);
          const b = await waitForRunningAndFreshMetrics(vm.value, { timeoutMs: Math.max(1000, deadline - Date.now()), signal: ctx.signal, bootedAfter: cutStart });
          if (!b.ok) return applyFail({ kind: 'hypervisor', failure: b.error });
        } else {
          ctx.log(`resumed: ${vm.value.nameLabel} booted at ${since.value.facts.start_time}, after ${cutStart} when the killed process asked XAPI for this reboot: it has rebooted; not asking again`);
        }
        ctx.facts.invalidate();
        before = cutBefore ?? null;
        const w = await waitForNewBoot(() => ctx.guest(), ctx, before, a, deadline, false);
        if (!w.ok) return { kind: 'failed', reason: failureText(w.error), unreachable: true };
        return summary(w.value, ' (asked for by the killed process)');
      }
      ctx.log(`resumed: XAPI shows no boot of ${vm.value.nameLabel} since ${cutStart} and no reboot under way: the killed process's reboot never reached it; asking again`);
    } else if (via === 'guest' || cutBefore !== undefined) {
      // via hypervisor the guest may be why it is rebooted (hung): its boot id is worth a while only
      const id = await bootIdBefore(g, ctx, a, via === 'guest' ? deadline : Math.min(deadline, Date.now() + HYPERVISOR_LOOK_MS));
      if (!id.ok) {
        if (via === 'guest') return id.error;
      } else if (cutBefore !== undefined && id.value !== cutBefore) {
        ctx.log(`resumed: the boot id is ${id.value}, not ${cutBefore} as when the killed process asked for this reboot: it has rebooted; not asking again`);
        ctx.facts.invalidate();
        before = cutBefore;
        const w = await waitForNewBoot(() => ctx.guest(), ctx, cutBefore, a, deadline, false);
        if (!w.ok) return { kind: 'failed', reason: failureText(w.error), unreachable: true };
        return summary(w.value, ' (asked for by the killed process)');
      } else {
        before = id.value;
        if (cutBefore !== undefined) ctx.log('resumed: the boot id has not changed since the killed process asked for this reboot: asking again (a reboot already under way absorbs it)');
      }
    }
    if (via === 'guest') {
      await ctx.intent({ action: 'reboot', detail: { via, boot_id: before } });
      // detached, after a moment, so this exec returns before the connection goes away
      const cmd = `nohup /bin/sh -c ${quoteShell(`sleep 1; ${a.reboot_command ?? DEFAULT_REBOOT}`)} >/dev/null 2>&1 </dev/null &`;
      const c = await ctx.guest();
      if (!c.ok) return applyFail(c.error);
      const t = await c.value.exec(cmd, { become: a.become === true, timeoutMs: 30_000 });
      // losing the connection here is what a reboot looks like
      if (!t.ok && t.error.kind !== 'connection-lost') return applyFail({ kind: 'guest', failure: t.error });
      if (t.ok && t.value.exitCode !== 0) return { kind: 'failed', reason: `reboot command failed (exit ${t.value.exitCode}): ${tail(t.value.stderr)}` };
    } else {
      // the guest may be the reason for a hypervisor reboot: its boot id is nice to have only
      // (not read again after the 2-minute look of a resume without start_time)
      if (g.ok && (cutStart !== undefined || cutBefore === undefined)) {
        const id = await readBootId(g.value, ctx);
        if (id.ok) before = id.value;
      }
      const vm = await ctx.vm();
      if (!vm.ok) return applyFail(vm.error);
      // journaled just before XAPI is asked, with the VM's start_time then: a resume can tell
      // from XAPI alone whether this reboot happened (cutRebootStartTime)
      const mode = a.mode ?? 'auto';
      const r = await rebootVm(vm.value, {
        mode,
        beforeCall: (b) => ctx.intent({ action: 'reboot', detail: { via, boot_id: before, mode, start_time: b.start_time } }),
      }, Math.max(1000, deadline - Date.now()), ctx.signal);
      if (!r.ok) return applyFail({ kind: 'hypervisor', failure: r.error });
      ctx.log(`hypervisor ${r.value.method}${r.value.fallback ? ` (${r.value.fallback})` : ''}`);
    }
    // everything known about this host may have changed
    ctx.facts.invalidate();
    // no connection before the reboot (via hypervisor): the wait opens one once the guest is back
    const w = await waitForNewBoot(g.ok ? () => Promise.resolve(g) : () => ctx.guest(), ctx, before, a, deadline);
    if (!w.ok) {
      const f = w.error;
      return { kind: 'failed', reason: failureText(f), unreachable: true };
    }
    return summary(w.value, '');
  },
});
