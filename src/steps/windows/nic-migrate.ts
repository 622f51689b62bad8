/**
 * nic-migrate: `capture` before a NIC driver change, `restore` after it (see nic-plan.ts).
 *
 * capture stores the settings in ctx.state (for this run, also in check mode so a rehearsal of
 * `restore` can say what it would move) and journals them as an intent record, so a later
 * session (resume, manual restore) has them even if this process dies during the reboot.
 * restore takes them from ctx.state, or from `captured` (the journaled record) when given.
 */
import { nicMigrateInfo } from '../catalog.js';
import { psLiteral } from '../../util/ps-quote.js';
import { defineStep, type ApplyResult, type StepContext } from '../types.js';
import { applyFail, planFail, ps, tail, windowsFacts } from './common.js';
import { captureNics, describePlan, planNeedsChange, planNicRestore, predictAfterDriverChange, type CapturedNic } from './nic-plan.js';
import { stateKey } from '../state.js';

export interface NicMigrateArgs {
  action: 'capture' | 'restore';
  /** only these MACs (any notation); default every static adapter */
  macs?: string[];
  /** restore: remove non-present network adapters with pnputil; default true */
  remove_ghosts?: boolean;
  /** restore: the captured settings, when they come from an earlier run's records */
  captured?: CapturedNic[];
}

export const NIC_STATE_KEY = stateKey<CapturedNic[]>('nic_capture');

/** Idempotent: every change is made only when missing, so a second run changes nothing. */
export function restoreScript(captured: CapturedNic[], removeGhosts: boolean): string {
  return `
$ErrorActionPreference = 'Stop'
$captured = @(${psLiteral(captured)})
function Norm([string]$m) { ($m -replace '[^0-9A-Fa-f]', '').ToLower() }
$report = @()
foreach ($c in $captured) {
  $a = @(Get-NetAdapter | Where-Object { (Norm $_.MacAddress) -eq (Norm $c.mac) -and $_.PnPDeviceID -like 'XENVIF\\*' }) | Select-Object -First 1
  if (-not $a) { $report += [ordered]@{ mac = $c.mac; result = 'no-pv-adapter' }; continue }
  $i = [int]$a.ifIndex
  $made = @()
  $have = @(Get-NetIPAddress -InterfaceIndex $i -AddressFamily IPv4 -ErrorAction SilentlyContinue)
  $gws = @(Get-NetRoute -InterfaceIndex $i -DestinationPrefix '0.0.0.0/0' -ErrorAction SilentlyContinue | ForEach-Object { [string]$_.NextHop })
  foreach ($x in @($c.addresses)) {
    if ($have | Where-Object { $_.IPAddress -eq $x.ip -and [int]$_.PrefixLength -eq [int]$x.prefix }) { continue }
    # static from here on: DHCP off, leases and link-local addresses dropped
    Set-NetIPInterface -InterfaceIndex $i -AddressFamily IPv4 -Dhcp Disabled
    foreach ($h in $have) { if ($h.PrefixOrigin -ne 'Manual') { Remove-NetIPAddress -InterfaceIndex $i -IPAddress $h.IPAddress -Confirm:$false } }
    $have = @()
    $p = @{ InterfaceIndex = $i; IPAddress = [string]$x.ip; PrefixLength = [int]$x.prefix; AddressFamily = 'IPv4' }
    $gw = @($c.gateways) | Where-Object { $gws -notcontains $_ } | Select-Object -First 1
    if ($gw) { $p.DefaultGateway = [string]$gw; $gws += $gw; $made += "gateway $gw" }
    New-NetIPAddress @p | Out-Null
    $made += "$($x.ip)/$($x.prefix)"
  }
  foreach ($g in @($c.gateways)) {
    if ($gws -notcontains $g) { New-NetRoute -InterfaceIndex $i -DestinationPrefix '0.0.0.0/0' -NextHop $g | Out-Null; $made += "gateway $g" }
  }
  $dns = @((Get-DnsClientServerAddress -InterfaceIndex $i -AddressFamily IPv4).ServerAddresses)
  if (@($c.dns).Count -gt 0 -and ((@($c.dns) -join ',') -ne ($dns -join ','))) {
    Set-DnsClientServerAddress -InterfaceIndex $i -ServerAddresses @($c.dns)
    $made += 'dns ' + (@($c.dns) -join ',')
  }
  $report += [ordered]@{ mac = $c.mac; adapter = [string]$a.Name; made = $made }
}
$removed = @()
if (${psLiteral(removeGhosts)}) {
  foreach ($d in @(Get-PnpDevice -Class Net | Where-Object { -not $_.Present })) {
    $out = & pnputil.exe /remove-device $d.InstanceId | Out-String
    if ($LASTEXITCODE -ne 0) { throw "pnputil /remove-device $($d.InstanceId) failed (exit $LASTEXITCODE): $out" }
    $removed += [string]$d.InstanceId
  }
}
[ordered]@{ adapters = $report; ghostsRemoved = $removed }
`;
}

async function restorePlan(ctx: StepContext, a: NicMigrateArgs) {
  const captured = a.captured ?? ctx.state.get(NIC_STATE_KEY);
  const f = await windowsFacts(ctx);
  if (!f.ok) return f;
  return { ok: true as const, value: { captured: captured ?? [], plan: planNicRestore(captured ?? [], f.value, a.remove_ghosts !== false) } };
}

export const nicMigrateStep = defineStep<NicMigrateArgs>({
  ...nicMigrateInfo, // type, description, schema, shorthand, flags: src/steps/catalog.ts

  async plan(ctx, a) {
    if (a.action === 'capture') {
      const f = await windowsFacts(ctx);
      if (!f.ok) return planFail(f.error);
      const nics = captureNics(f.value, a.macs);
      // reading is all capture does to the guest: keep the result now, so that a rehearsal of
      // `restore` further down has something to compare with
      ctx.state.set(NIC_STATE_KEY, nics);
      const what = nics.map((n) => `${n.mac} ${n.addresses.map((x) => `${x.ip}/${x.prefix}`).join(' ')}`).join('; ');
      if (ctx.check) return { kind: 'ok', summary: `captured ${nics.length} static adapter(s)${what ? `: ${what}` : ''}` };
      return { kind: 'change', summary: `record ${nics.length} static adapter(s)${what ? `: ${what}` : ''}` };
    }
    const p = await restorePlan(ctx, a);
    if (!p.ok) return planFail(p.error);
    if (!p.value.captured.length && !p.value.plan.ghosts.length) return { kind: 'ok', summary: 'no captured NIC settings and no hidden adapters' };
    const text = describePlan(p.value.plan);
    if (planNeedsChange(p.value.plan)) return { kind: 'change', summary: `would restore: ${text}` };
    // a rehearsal: the driver change before this step did not happen, so say what will move
    const predicted = ctx.check ? predictAfterDriverChange(p.value.captured, p.value.plan) : [];
    if (predicted.length) return { kind: 'change', summary: `after the NIC driver change, would move ${predicted.join('; ')}` };
    return { kind: 'ok', summary: text };
  },

  async apply(ctx, a): Promise<ApplyResult> {
    if (a.action === 'capture') {
      const f = await windowsFacts(ctx);
      if (!f.ok) return applyFail(f.error);
      const nics = captureNics(f.value, a.macs);
      ctx.state.set(NIC_STATE_KEY, nics);
      await ctx.intent({ action: 'nic-capture', detail: { adapters: nics } });
      return { kind: 'ok', summary: `captured ${nics.length} static adapter(s)`, data: { adapters: nics } };
    }
    const p = await restorePlan(ctx, a);
    if (!p.ok) return applyFail(p.error);
    if (!planNeedsChange(p.value.plan)) return { kind: 'ok', summary: describePlan(p.value.plan) };
    // an address whose adapter is gone and has no PV successor: do not touch anything (removing
    // the hidden adapters would drop the last copy Windows has of its settings)
    const orphaned = p.value.plan.actions.filter((x) => x.kind === 'waiting' && !x.stillOn);
    if (orphaned.length) {
      return { kind: 'failed', reason: `no PV adapter for ${orphaned.map((w) => w.mac).join(', ')}: is the PV network driver installed and the VM rebooted?` };
    }
    await ctx.intent({ action: 'nic-restore', detail: { adapters: p.value.captured, ghosts: p.value.plan.ghosts } });
    const r = await ps(ctx, restoreScript(p.value.captured, a.remove_ghosts !== false), { timeoutMs: 300_000 });
    if (!r.ok) return applyFail(r.error);
    if (r.value.exitCode !== 0) return { kind: 'failed', reason: `NIC restore failed (exit ${r.value.exitCode}): ${tail(r.value.stderr || r.value.stdout)}` };
    // verify from fresh facts: every captured address must now be on the PV adapter
    const after = await restorePlan(ctx, a);
    if (!after.ok) return applyFail(after.error);
    const left = after.value.plan.actions.filter((x) => x.kind === 'move');
    if (left.length) return { kind: 'failed', reason: `after restore, still missing: ${describePlan({ actions: left, ghosts: [] })}` };
    return { kind: 'changed', summary: `restored: ${describePlan(p.value.plan)}`, data: { plan: p.value.plan } };
  },
});
