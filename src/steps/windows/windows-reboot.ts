/**
 * windows-reboot: the reboot technique done right for Windows. Read LastBootUpTime; trigger
 * `shutdown /r /t 2` (if Windows answers that a shutdown is already scheduled (1190), abort it and
 * try once more); a dropped connection is expected; reconnect with capped backoff until
 * LastBootUpTime changes; then wait until no service is still starting (logon readiness) and the
 * test command passes. Drivers often ask for another reboot (pending-reboot flags right after
 * boot): those follow-up reboots are done too, up to `max_followups`.
 */
import { windowsRebootInfo } from '../catalog.js';
import type { Connector } from '../../connectors/types.js';
import { err, ok, type Result } from '../../util/result.js';
import { defineStep, type ApplyResult, type StepContext, type StepFailure } from '../types.js';
import { applyFail, connector, REBOOT_REQUIRED, tail, windowsFacts } from './common.js';
import { waitForGuest } from '../../runtime/wait-guest.js';

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
  const r = await c.exec(BOOT_TIME_SCRIPT, { mutates: false, timeoutMs: 60_000 });
  if (!r.ok) return err(`${r.error.kind}: ${r.error.message}`);
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

export async function rebootOnce(c: Connector, ctx: StepContext, a: WindowsRebootArgs): Promise<Result<{ before: string; after: string }, StepFailure>> {
  const before = await bootTime(c);
  if (!before.ok) return err({ kind: 'step', message: before.error });
  await ctx.intent({ action: 'windows-reboot', detail: { lastBootUpTime: before.value } });
  const deadline = Date.now() + (a.reboot_timeout ?? 1800) * 1000;
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
    for (let i = 0; ; i++) {
      const r = await rebootOnce(c.value, ctx, a);
      if (!r.ok) return applyFail(r.error, { reboots: boots.length });
      boots.push(r.value.after);
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
