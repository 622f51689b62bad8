/**
 * windows-reboot: the reboot technique done right for Windows. Read LastBootUpTime; trigger
 * `shutdown /r /t 2` (if Windows answers that a shutdown is already scheduled (1190), abort it and
 * try once more); a dropped connection is expected; reconnect with capped backoff until
 * LastBootUpTime changes; then wait until no service is still starting (logon readiness) and the
 * test command passes. Drivers often ask for another reboot (pending-reboot flags right after
 * boot): those follow-up reboots are done too, up to `max_followups`.
 */
import { windowsRebootInfo } from '../catalog.js';
import type { Connector, ConnectorFailure } from '../../connectors/types.js';
import { err, ok, type Result } from '../../util/result.js';
import { defineStep, type ApplyResult, type StepContext, type StepFailure } from '../types.js';
import { applyFail, connector, REBOOT_REQUIRED, tail, windowsFacts } from './common.js';
import { isFinalConnectorFailure, waitForGuest } from '../../runtime/wait-guest.js';

export interface WindowsRebootArgs {
  /** seconds for each reboot, trigger to passing test command; default 1800 */
  reboot_timeout?: number;
  /** PowerShell that must exit 0 on the rebooted guest; default `$true` */
  test_command?: string;
  /** only reboot when an earlier step set `reboot_required` */
  when_required?: boolean;
  /** further reboots when the guest still reports a pending reboot; default 2 */
  max_followups?: number;
}

export const BOOT_TIME_SCRIPT =
  "(Get-CimInstance -ClassName Win32_OperatingSystem).LastBootUpTime.ToUniversalTime().ToString('o')";
/** no service of the boot still starting: the machine is ready for logons and for us */
export const READY_SCRIPT =
  "$n = @(Get-Service | Where-Object { $_.Status -eq 'StartPending' }).Count\nif ($n -gt 0) { Write-Output \"$n service(s) still starting\"; exit 1 }";
export const TRIGGER_SCRIPT = [
  "$out = & shutdown.exe /r /t 2 /c 'pvrun: reboot' 2>&1 | Out-String",
  '$code = $LASTEXITCODE',
  // 1190: "A system shutdown has already been scheduled": cancel it and ask again, once
  'if ($code -eq 1190) {',
  '  & shutdown.exe /a 2>&1 | Out-Null',
  "  $out = & shutdown.exe /r /t 2 /c 'pvrun: reboot' 2>&1 | Out-String",
  '  $code = $LASTEXITCODE',
  "  Write-Output 'aborted an already scheduled shutdown'",
  '}',
  'Write-Output $out',
  'exit $code',
].join('\n');

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 15_000;

async function bootTime(c: Connector): Promise<Result<string, string>> {
  const r = await readBootTime(c);
  return r.ok ? r : err(typeof r.error === 'string' ? r.error : `${r.error.kind}: ${r.error.message}`);
}

async function readBootTime(c: Connector): Promise<Result<string, string | ConnectorFailure>> {
  const r = await c.exec(BOOT_TIME_SCRIPT, { mutates: false, timeoutMs: 60_000 });
  if (!r.ok) return r;
  const t = r.value.stdout.trim();
  if (r.value.exitCode !== 0 || !t) return err(`cannot read LastBootUpTime: ${tail(r.value.stderr) || 'empty'}`);
  return ok(t);
}

/** The shared wait for a guest (capped backoff; host key and login failures final), until a new boot is ready. */
async function waitForNewBoot(c: Connector, ctx: StepContext, before: string, a: WindowsRebootArgs, deadline: number): Promise<Result<string, StepFailure>> {
  let booted = '';
  const w = await waitForGuest(async () => ok(c), {
    deadline, signal: ctx.signal, firstDelayMs: FIRST_DELAY_MS, maxDelayMs: MAX_DELAY_MS,
    // the first look comes right away: an emulated or very fast reboot is already done
    ready: async (conn) => {
      const t = await bootTime(conn);
      if (!t.ok) return { retry: t.error };
      if (t.value === before) return { retry: 'LastBootUpTime unchanged: not rebooted yet' };
      const ready = await conn.exec(READY_SCRIPT, { mutates: false, timeoutMs: 60_000 });
      if (!ready.ok) return { retry: `readiness: ${ready.error.kind}: ${ready.error.message}` };
      if (ready.value.exitCode !== 0) return { retry: `not ready: ${tail(ready.value.stdout || ready.value.stderr)}` };
      const test = await conn.exec(a.test_command ?? '$true', { mutates: false, timeoutMs: 60_000 });
      if (!test.ok) return { retry: `test command: ${test.error.kind}: ${test.error.message}` };
      if (test.value.exitCode !== 0) return { retry: `test command exit ${test.value.exitCode}: ${tail(test.value.stderr || test.value.stdout)}` };
      booted = t.value;
      return { done: true };
    },
  });
  if (w.ok) return ok(booted);
  if (w.error.kind === 'final') return err(w.error.failure);
  return err({ kind: 'step', message: `${ctx.host.name} did not come back within reboot_timeout (${a.reboot_timeout ?? 1800}s); last: ${w.error.last}` });
}

/**
 * LastBootUpTime before a reboot. A guest that does not answer now may be rebooting already (a
 * driver installer's own reboot; under `pvrun resume`, the one the killed process asked for): it
 * is waited for like a rebooting guest, until the deadline. A refused login stays final, as does a
 * boot time that cannot be read on a working connection.
 */
async function bootTimeBefore(c: Connector, ctx: StepContext, a: WindowsRebootArgs, deadline: number): Promise<Result<string, StepFailure>> {
  const r = await readBootTime(c);
  if (r.ok) return r;
  if (typeof r.error === 'string') return err({ kind: 'step', message: r.error });
  if (isFinalConnectorFailure(r.error)) return err({ kind: 'guest', failure: r.error });
  ctx.log(`the guest does not answer before the reboot (${r.error.kind}: ${r.error.message}): it may be rebooting already; waiting for it`);
  let t = '';
  const w = await waitForGuest(async () => ok(c), {
    deadline, signal: ctx.signal, firstDelayMs: FIRST_DELAY_MS, maxDelayMs: MAX_DELAY_MS, delayFirst: true,
    ready: async (conn) => {
      const b = await bootTime(conn);
      if (!b.ok) return { retry: b.error };
      t = b.value;
      return { done: true };
    },
  });
  if (w.ok) return ok(t);
  if (w.error.kind === 'final') return err(w.error.failure);
  return err({ kind: 'step', message: `${ctx.host.name} did not answer within reboot_timeout (${a.reboot_timeout ?? 1800}s) before its reboot; last: ${w.error.last}` });
}

/** Under `pvrun resume`: the LastBootUpTime the killed process read before it asked for a reboot. */
function cutBootTime(ctx: StepContext): string | undefined {
  const asked = ctx.resumedApply?.intents.findLast((i) => i.action === 'windows-reboot');
  const t = asked?.detail['lastBootUpTime'];
  return typeof t === 'string' && t !== '' ? t : undefined;
}

/**
 * `pvrun resume` of this step cut short after it had asked for a reboot: when LastBootUpTime is no
 * longer the one read then, that reboot has happened (waited for until the guest is ready);
 * undefined when it has not (or this is no resume): the caller asks for one.
 */
async function cutRebootDone(c: Connector, ctx: StepContext, a: WindowsRebootArgs): Promise<Result<string, StepFailure> | undefined> {
  const asked = cutBootTime(ctx);
  if (asked === undefined) return undefined;
  const deadline = Date.now() + (a.reboot_timeout ?? 1800) * 1000;
  const now = await bootTimeBefore(c, ctx, a, deadline);
  if (!now.ok) return now;
  if (now.value === asked) {
    ctx.log('resumed: LastBootUpTime has not changed since the killed process asked for a reboot: asking again (a shutdown already scheduled is aborted and asked for anew)');
    return undefined;
  }
  ctx.log(`resumed: LastBootUpTime is ${now.value}, not ${asked} as when the killed process asked for a reboot: it has rebooted; not asking again`);
  return waitForNewBoot(c, ctx, asked, a, deadline);
}

export async function rebootOnce(c: Connector, ctx: StepContext, a: WindowsRebootArgs): Promise<Result<{ before: string; after: string }, StepFailure>> {
  const deadline = Date.now() + (a.reboot_timeout ?? 1800) * 1000;
  const before = await bootTimeBefore(c, ctx, a, deadline);
  if (!before.ok) return before;
  await ctx.intent({ action: 'windows-reboot', detail: { lastBootUpTime: before.value } });
  const t = await c.exec(TRIGGER_SCRIPT, { timeoutMs: 60_000 });
  if (!t.ok) {
    // the reboot may cut the connection before the answer arrives: that is the expected case
    if (t.error.kind !== 'connection-lost') return err({ kind: 'guest', failure: t.error });
  } else if (t.value.exitCode !== 0) {
    return err({ kind: 'step', message: `shutdown /r failed (exit ${t.value.exitCode}): ${tail(t.value.stdout || t.value.stderr)}` });
  } else if (/aborted an already scheduled/.test(t.value.stdout)) {
    ctx.log('a shutdown was already scheduled: aborted it and rebooted');
  }
  const after = await waitForNewBoot(c, ctx, before.value, a, deadline);
  if (!after.ok) return after;
  ctx.log(`rebooted: LastBootUpTime ${before.value} -> ${after.value}`);
  return ok({ before: before.value, after: after.value });
}

export const windowsRebootStep = defineStep<WindowsRebootArgs>({
  ...windowsRebootInfo, // type, description, schema, shorthand, flags: src/steps/catalog.ts

  async plan(ctx, a) {
    if (a.when_required && ctx.state.get(REBOOT_REQUIRED) !== true) {
      // in check mode the step that would set it only predicted: say so rather than "no reboot"
      return ctx.check
        ? { kind: 'change', summary: 'would reboot if an earlier step requires it' }
        : { kind: 'ok', summary: 'no reboot required' };
    }
    return { kind: 'change', summary: 'would reboot the guest (shutdown /r)' };
  },

  async apply(ctx, a): Promise<ApplyResult> {
    if (a.when_required && ctx.state.get(REBOOT_REQUIRED) !== true) return { kind: 'ok', summary: 'no reboot required' };
    const c = await connector(ctx);
    if (!c.ok) return applyFail(c.error);
    const boots: string[] = [];
    const max = a.max_followups ?? 2;
    // resumed after the killed process's reboot happened: it is the first of the boots
    const earlier = await cutRebootDone(c.value, ctx, a);
    if (earlier && !earlier.ok) return applyFail(earlier.error, { reboots: 0 });
    for (let i = 0; ; i++) {
      if (i === 0 && earlier) {
        boots.push(earlier.value);
      } else {
        const r = await rebootOnce(c.value, ctx, a);
        if (!r.ok) return applyFail(r.error, { reboots: boots.length });
        boots.push(r.value.after);
      }
      ctx.facts.invalidate();
      const f = await windowsFacts(ctx);
      if (!f.ok) return applyFail(f.error, { reboots: boots.length });
      if (!f.value.pendingReboot) break;
      if (i >= max) {
        return { kind: 'failed', reason: `still a reboot pending (${f.value.pendingRebootReasons.join(', ')}) after ${boots.length} reboot(s); max_followups is ${max}`, data: { reboots: boots.length } };
      }
      ctx.log(`a reboot is still pending (${f.value.pendingRebootReasons.join(', ')}): rebooting again`);
    }
    ctx.state.set(REBOOT_REQUIRED, false);
    return { kind: 'changed', summary: `rebooted ${boots.length} time(s)`, data: { reboots: boots.length, last_boot: boots[boots.length - 1] } };
  },
});
