/**
 * Preflight (docs/preflight.md): before batch 1 of a run, check check mode, or `pvrun preflight`,
 * find every pool, VM, key and guest the selected hosts need that is not there — read-only, in
 * parallel (at most `forks` hosts at once), in seconds:
 * - log in to every pool the hosts use (one session per pool, read-only: it refuses mutating
 *   methods), resolve every host's VM and read its power state;
 * - build every host's guest transport with the connectors' own code (reads the key file and the
 *   secrets), and open it once: the SSH handshake, the host key check against known_hosts, the
 *   login. No command runs: `connect()` opens the connection only, and it is called through the
 *   check gate (connectors/check-gate.ts), so it could not run a changing command anyway.
 * - in a run, the connections of the hosts the run starts first are not closed but handed to the
 *   run (runtime/guest-connections.ts): those hosts are not handshaken twice.
 * A VM that is not running is not handshaken (a step may start it); that is said, not failed.
 * Every problem is a value located at the host's or pool's inventory definition.
 */
import pLimit from 'p-limit';
import { existsSync } from 'node:fs';
import { expandHome } from '../connectors/ssh/options.js';
import { checkGate } from '../connectors/check-gate.js';
import type { ConnectorFailure } from '../connectors/types.js';
import type { EnginePlay, EngineStep } from '../engine/types.js';
import { PoolSessions, type SecretResolver } from '../hypervisor/pool.js';
import type { HypervisorFailure } from '../hypervisor/types.js';
import type { HostSpec, Inventory } from '../model/inventory.js';
import type { SourcePos } from '../model/source.js';
import { touchesGuest } from '../steps/types.js';
import { EXIT } from '../engine/exit-codes.js';
import { GuestConnections } from './guest-connections.js';

/** unreachable: exit 4 (the world is not there); invalid: exit 5 (the files disagree with it). */
export type PreflightSeverity = 'unreachable' | 'invalid';

export interface PreflightProblem {
  severity: PreflightSeverity;
  subject: 'pool' | 'host';
  /** pool or host name */
  name: string;
  /** where the pool or host is defined in the inventory, when known */
  pos?: SourcePos;
  /** what was being checked: login, vm, key, guest */
  check: 'login' | 'vm' | 'config' | 'guest';
  message: string;
  /** the hosts this problem stops (for a pool: every selected host on it) */
  hosts: string[];
}

export interface PreflightReport {
  problems: PreflightProblem[];
  /** hosts whose guest was not handshaken, and why (VM not running) */
  notes: string[];
  counts: { hosts: number; pools: number; vms: number; handshakes: number };
  durationMs: number;
}

export interface PreflightOptions {
  inventory: Inventory;
  plays: EnginePlay[];
  resolveSecret: SecretResolver;
  /** insecure TLS, host key checking off, … (once each) */
  warn?: (message: string) => void;
  /** hosts at once (default: the largest `forks` of the plays) */
  forks?: number;
  /** per pool login / call (default 15 s) */
  poolTimeoutMs?: number;
  /**
   * The run's connection maker (a run): the transports are made by it, in the run's mode, and the
   * open connections of the hosts in `keepFor` are kept in it for the run. Without it (`pvrun
   * preflight`) the preflight makes check-mode transports of its own and closes every one.
   */
  connections?: GuestConnections;
  /** hosts whose open connection is kept in `connections` (the ones the run starts first) */
  keepFor?: ReadonlySet<string>;
}

const needsGuest = (s: EngineStep): boolean => s.type.needs === 'guest' || s.type.needs === 'both' || touchesGuest(s.type);
const needsVm = (s: EngineStep): boolean => s.type.needs === 'vm' || s.type.needs === 'both';

/** What each host's plays will ask of it: selected main steps and every cleanup step (always run). */
function needsOf(plays: EnginePlay[]): Map<string, { host: HostSpec; guest: boolean; vm: boolean }> {
  const out = new Map<string, { host: HostSpec; guest: boolean; vm: boolean }>();
  for (const p of plays) {
    const steps = [...p.steps.filter((s) => s.selected), ...p.cleanup];
    const g = steps.some(needsGuest);
    const v = steps.some(needsVm);
    for (const h of p.hosts) {
      const prev = out.get(h.name);
      out.set(h.name, { host: h, guest: (prev?.guest ?? false) || g, vm: (prev?.vm ?? false) || v });
    }
  }
  return out;
}

function describeHv(f: HypervisorFailure): string {
  return f.kind === 'xapi' ? `${f.code}: ${f.message}` : f.message;
}

/** A failed handshake (refused, timed out, wrong host key, login refused) is `unreachable`, as the engine's guest gate counts it. */
const describeGuest = (f: ConnectorFailure): string => `${f.kind}: ${f.message}`;

export async function preflight(opts: PreflightOptions): Promise<PreflightReport> {
  const started = Date.now();
  const warned = new Set<string>();
  const warn = (m: string): void => { if (!warned.has(m)) { warned.add(m); opts.warn?.(m); } };
  const timeout = opts.poolTimeoutMs ?? 15_000;
  // read-only sessions: the XAPI client refuses every mutating method
  const pools = new PoolSessions(opts.inventory.hypervisors, opts.resolveSecret, {
    mode: 'check', callTimeoutMs: timeout, connectTimeoutMs: timeout,
    warn: (pool, m) => warn(`pool ${pool}: ${m}`),
  });
  const own = opts.connections === undefined;
  const conns = opts.connections ?? new GuestConnections({ mode: 'check', resolveSecret: opts.resolveSecret });
  const problems: PreflightProblem[] = [];
  const notes: string[] = [];
  const counts = { hosts: 0, pools: 0, vms: 0, handshakes: 0 };
  const needs = needsOf(opts.plays);
  counts.hosts = needs.size;

  // 1. every pool the hosts use: one login each, in parallel
  const poolHosts = new Map<string, string[]>();
  for (const { host } of needs.values()) {
    if (!host.vm) continue;
    poolHosts.set(host.vm.pool, [...(poolHosts.get(host.vm.pool) ?? []), host.name]);
  }
  const poolOk = new Map<string, boolean>();
  await Promise.all([...poolHosts].map(async ([pool, hosts]) => {
    const c = await pools.client(pool);
    counts.pools++;
    poolOk.set(pool, c.ok);
    if (!c.ok) {
      const hv = opts.inventory.hypervisors[pool];
      problems.push({
        severity: 'unreachable', subject: 'pool', name: pool, ...(hv ? { pos: hv.pos } : {}), check: 'login',
        message: describeHv(c.error), hosts,
      });
    }
  }));

  // 2. every host, at most `forks` at once: its VM, then its guest transport
  const forks = Math.max(1, opts.forks ?? Math.max(1, ...opts.plays.map((p) => p.forks)));
  const limit = pLimit(forks);
  try {
    await Promise.all([...needs.values()].map(({ host, guest, vm }) => limit(async () => {
      const at = { pos: host.pos };
      let running = true;
      if (host.vm) {
        if (!poolOk.get(host.vm.pool)) return; // reported once, under the pool
        const h = await pools.vm(host.vm);
        counts.vms++;
        if (!h.ok) {
          const notThere = h.error.kind === 'vm-not-found' || h.error.kind === 'vm-ambiguous' || h.error.kind === 'bad-record';
          problems.push({ severity: notThere ? 'invalid' : 'unreachable', subject: 'host', name: host.name, ...at, check: 'vm', message: describeHv(h.error), hosts: [host.name] });
          return;
        }
        const ps = await h.value.xapi.call<string>('VM.get_power_state', [h.value.ref]);
        if (ps.ok && ps.value !== 'Running') running = false;
        if (guest && !running) notes.push(`${host.name}: guest not checked: the VM is ${ps.ok ? ps.value : 'not running'} (a step may start it)`);
      } else if (vm) {
        problems.push({ severity: 'invalid', subject: 'host', name: host.name, ...at, check: 'config', message: `host '${host.name}' has no 'vm:' (pool and uuid or name_label), and the play has VM steps`, hosts: [host.name] });
        return;
      }
      if (!guest || !running) return;
      const c = conns.create(host);
      if (!c.ok) {
        problems.push({ severity: 'invalid', subject: 'host', name: host.name, ...at, check: 'config', message: c.error, hosts: [host.name] });
        return;
      }
      for (const w of c.value.warnings) warn(w);
      // a known_hosts file named in the inventory that is not there: every host key would be
      // "unknown" under strict checking; that is the inventory's mistake (5), not the guest's (4)
      const kh = host.connection.known_hosts;
      if ((host.connection.type === 'ssh' || host.connection.type === 'ssh-powershell') && kh && (host.connection.host_key_checking ?? 'strict') === 'strict' && !existsSync(expandHome(kh))) {
        await c.value.connector.close();
        problems.push({ severity: 'invalid', subject: 'host', name: host.name, ...at, check: 'config', message: `known_hosts file ${kh}: no such file (host_key_checking: strict)`, hosts: [host.name] });
        return;
      }
      let keep = false;
      try {
        counts.handshakes++;
        // through the gate even when the run's transport is an apply-mode one: the preflight reads only
        const r = await checkGate(c.value.connector, { why: 'preflight', keepOpen: true }).connect();
        if (!r.ok) problems.push({ severity: 'unreachable', subject: 'host', name: host.name, ...at, check: 'guest', message: describeGuest(r.error), hosts: [host.name] });
        keep = r.ok && !own && (opts.keepFor?.has(host.name) ?? false);
      } finally {
        if (keep) await conns.keep(host.name, c.value);
        else await c.value.connector.close();
      }
    })));
  } finally {
    await pools.closeAll();
    if (own) await conns.closeAll();
  }
  const order = (p: PreflightProblem): string => `${p.severity === 'invalid' ? 0 : 1}${p.subject === 'pool' ? 0 : 1}${p.name}`;
  problems.sort((a, b) => order(a).localeCompare(order(b)));
  notes.sort();
  return { problems, notes, counts, durationMs: Date.now() - started };
}

/** 5 when any problem is bad input (fixing the files comes first), else 4; 0 without problems. */
export function preflightExitCode(r: PreflightReport): number {
  if (r.problems.some((p) => p.severity === 'invalid')) return EXIT.invalid;
  if (r.problems.length) return EXIT.unreachable;
  return EXIT.ok;
}

const where = (p: PreflightProblem): string => (p.pos ? ` (${p.pos.file}:${p.pos.line}:${p.pos.col})` : '');

/** The grouped, located report: bad input first, then what could not be reached. */
export function formatPreflight(r: PreflightReport, redact: (s: string) => string = (s) => s): string {
  const lines: string[] = [];
  const secs = (r.durationMs / 1000).toFixed(1);
  const checked = `${r.counts.pools} pool(s), ${r.counts.vms} VM(s), ${r.counts.handshakes} guest handshake(s), ${r.counts.hosts} host(s)`;
  if (!r.problems.length) {
    lines.push(`preflight ok: ${checked} in ${secs}s`);
  } else {
    const stopped = new Set(r.problems.flatMap((p) => p.hosts));
    lines.push(`preflight failed: ${r.problems.length} problem(s) stop ${stopped.size} of ${r.counts.hosts} host(s); nothing was started or changed (${checked} checked in ${secs}s)`);
    for (const [sev, title] of [['invalid', 'bad input (fix the inventory or its files)'], ['unreachable', 'unreachable']] as const) {
      const ps = r.problems.filter((p) => p.severity === sev);
      if (!ps.length) continue;
      lines.push(`  ${title}:`);
      for (const p of ps) {
        const hosts = p.subject === 'pool' ? ` — hosts: ${p.hosts.join(', ')}` : '';
        lines.push(`    ${p.subject} ${p.name}${where(p)}: ${p.check}: ${p.message.split('\n')[0]}${hosts}`);
      }
    }
  }
  for (const n of r.notes) lines.push(`  note: ${n}`);
  return redact(lines.join('\n'));
}
