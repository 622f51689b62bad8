/**
 * The ghost-NIC problem, as data. After a NIC driver change Windows creates a new adapter; a
 * static IP stays on the old, now hidden one and the VM drops off the network. pvrun captures
 * each static adapter's settings by MAC before the change and, after it, puts them on the PV
 * adapter (XENVIF\*) with the same MAC and removes the hidden adapters. Pure functions here,
 * table-tested; the PowerShell that applies them is in nic-migrate.ts.
 */
import type { NetAdapterFacts, WindowsFacts } from '../../facts/windows.js';

export interface CapturedNic {
  /** normalized 00:16:3e:… */
  mac: string;
  name: string;
  description: string;
  addresses: { ip: string; prefix: number }[];
  gateways: string[];
  dns: string[];
}

/** Static adapters only: DHCP ones configure themselves again on the new adapter. */
export function captureNics(f: WindowsFacts, macs?: string[]): CapturedNic[] {
  const want = macs?.map((m) => m.toLowerCase().replace(/-/g, ':'));
  return f.adapters
    .filter((a) => a.ipConfig === 'static' && a.addresses.length > 0)
    .filter((a) => !want || want.includes(a.mac))
    .map((a) => ({
      mac: a.mac, name: a.name, description: a.description,
      // link-local leftovers are not configuration
      addresses: a.addresses.filter((x) => !x.ip.startsWith('169.254.')).map((x) => ({ ip: x.ip, prefix: x.prefix })),
      gateways: [...a.gateways], dns: [...a.dns],
    }));
}

export type NicAction =
  /** the PV adapter with this MAC lacks (part of) the captured settings */
  | { kind: 'move'; mac: string; to: string; ifIndex: number; missing: string[] }
  /** the PV adapter already has everything */
  | { kind: 'in-place'; mac: string; on: string }
  /** no PV adapter with this MAC yet (driver not installed, or not rebooted) */
  | { kind: 'waiting'; mac: string; stillOn?: string };

export interface NicRestorePlan {
  actions: NicAction[];
  ghosts: { instanceId: string; friendlyName: string }[];
}

function missingOn(a: NetAdapterFacts, c: CapturedNic): string[] {
  const out: string[] = [];
  for (const x of c.addresses) {
    if (!a.addresses.some((y) => y.ip === x.ip && y.prefix === x.prefix)) out.push(`${x.ip}/${x.prefix}`);
  }
  for (const g of c.gateways) if (!a.gateways.includes(g)) out.push(`gateway ${g}`);
  if (c.dns.length && c.dns.join(',') !== a.dns.join(',')) out.push(`dns ${c.dns.join(',')}`);
  return out;
}

export function planNicRestore(captured: CapturedNic[], f: WindowsFacts, removeGhosts = true): NicRestorePlan {
  const actions: NicAction[] = captured.map((c): NicAction => {
    const pv = f.adapters.find((a) => a.mac === c.mac && a.xenvif);
    if (!pv) {
      const old = f.adapters.find((a) => a.mac === c.mac);
      return old ? { kind: 'waiting', mac: c.mac, stillOn: old.name } : { kind: 'waiting', mac: c.mac };
    }
    const missing = missingOn(pv, c);
    return missing.length ? { kind: 'move', mac: c.mac, to: pv.name, ifIndex: pv.ifIndex, missing } : { kind: 'in-place', mac: c.mac, on: pv.name };
  });
  return { actions, ghosts: removeGhosts ? f.ghostAdapters : [] };
}

export function describePlan(p: NicRestorePlan): string {
  const parts = p.actions.map((a) => {
    switch (a.kind) {
      case 'move': return `${a.mac}: ${a.missing.join(', ')} -> ${a.to}`;
      case 'in-place': return `${a.mac}: already on ${a.on}`;
      case 'waiting': return `${a.mac}: no PV adapter yet${a.stillOn ? ` (settings still on ${a.stillOn})` : ''}`;
    }
  });
  if (p.ghosts.length) parts.push(`remove ${p.ghosts.length} hidden adapter(s): ${p.ghosts.map((g) => g.friendlyName).join(', ')}`);
  return parts.join('; ') || 'nothing captured';
}

export function planNeedsChange(p: NicRestorePlan): boolean {
  return p.actions.some((a) => a.kind === 'move') || p.ghosts.length > 0;
}

/**
 * For check mode, where the driver change before `restore` was only predicted: what restore will
 * move once the PV adapter exists (each captured adapter still on its old NIC).
 */
export function predictAfterDriverChange(captured: CapturedNic[], p: NicRestorePlan): string[] {
  return p.actions.flatMap((a) => {
    if (a.kind !== 'waiting' || !a.stillOn) return [];
    const c = captured.find((x) => x.mac === a.mac);
    if (!c) return [];
    const what = [...c.addresses.map((x) => `${x.ip}/${x.prefix}`), ...c.gateways.map((g) => `gateway ${g}`), ...(c.dns.length ? [`dns ${c.dns.join(',')}`] : [])];
    return [`${what.join(', ')} from ${a.stillOn} to the PV adapter with MAC ${a.mac}`];
  });
}
