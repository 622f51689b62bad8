/**
 * What the Windows steps share: run PowerShell through the host's connector, read the Windows
 * facts (always fresh: they are cheap next to a driver change, and stale facts are how IPs get lost).
 */
import { execJson } from '../../connectors/powershell/exec-json.js';
import { gatherWindowsFacts, type WindowsFacts } from '../../facts/windows.js';
import type { Connector, ExecOptions, ExecResult } from '../../connectors/types.js';
import { err, ok, type Result } from '../../util/result.js';
import type { StepContext, StepFailure } from '../types.js';
import { tail } from '../linux/common.js';

export { applyFail, failureText, planFail, sleep, tail } from '../linux/common.js';

export async function connector(ctx: StepContext): Promise<Result<Connector, StepFailure>> {
  const g = await ctx.guest();
  if (!g.ok) return g;
  if (g.value.os !== 'windows') {
    return err({ kind: 'config', message: `${ctx.host.name}: Windows steps need a PowerShell connection (ssh-powershell or psremoting), not ssh` });
  }
  return ok(g.value);
}

export async function ps(ctx: StepContext, script: string, opts: ExecOptions = {}): Promise<Result<ExecResult, StepFailure>> {
  const c = await connector(ctx);
  if (!c.ok) return c;
  const o: ExecOptions = { ...opts };
  // as src/steps/linux/common.ts: the script at -vv, a read-only probe's output at -vvv
  ctx.log(`PS> ${script}`, 2);
  const level = opts.mutates === false ? 3 : 1;
  o.onOutput ??= (_s, chunk) => { for (const l of chunk.replace(/\r?\n$/, '').split(/\r?\n/)) ctx.log(l, level); };
  const r = await c.value.exec(script, o);
  return r.ok ? r : err({ kind: 'guest', failure: r.error });
}

/** Run a script that prints data; a non-zero exit or unreadable output is a step failure. */
export async function psJson(ctx: StepContext, what: string, script: string, opts: ExecOptions = {}): Promise<Result<unknown, StepFailure>> {
  const c = await connector(ctx);
  if (!c.ok) return c;
  const r = await execJson(c.value, script, opts);
  if (!r.ok) return err({ kind: 'guest', failure: r.error });
  if (r.value.exitCode !== 0) return err({ kind: 'step', message: `${what} failed (exit ${r.value.exitCode}): ${tail(r.value.stderr || r.value.stdout)}` });
  if (r.value.parseError) return err({ kind: 'step', message: `${what}: ${r.value.parseError}` });
  return ok(r.value.value);
}

/** The Windows facts (src/facts/windows.ts) through the step's connector. */
export async function windowsFacts(ctx: StepContext): Promise<Result<WindowsFacts, StepFailure>> {
  const c = await connector(ctx);
  if (!c.ok) return c;
  return gatherWindowsFacts(c.value, (line, level) => ctx.log(line, level));
}

/** Windows' own names for the exit codes an installer run is likely to end with. */
export const MSI_CODES: Record<number, string> = {
  0: 'success',
  1602: 'cancelled by the user',
  1603: 'fatal error during installation',
  1618: 'another installation is already in progress',
  1619: 'the package could not be opened',
  1620: 'the package could not be opened (invalid package)',
  1625: 'prohibited by system policy',
  1633: 'this installation package is not supported on this platform',
  1638: 'another version of this product is already installed',
  1641: 'success, the installer started a reboot',
  3010: 'success, a reboot is required',
};

export { REBOOT_REQUIRED } from '../state.js';
