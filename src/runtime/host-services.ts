import type { Connector } from '../connectors/types.js';
import { gatherGuestFacts } from '../facts/linux.js';
import { gatherWindowsFacts } from '../facts/windows.js';
import type { FactSources, HostServices } from '../engine/types.js';
import { PoolSessions, type SecretResolver } from '../hypervisor/pool.js';
import type { VmHandle } from '../hypervisor/types.js';
import { gatherVmFacts } from '../facts/vm.js';
import type { HostSpec, Inventory } from '../model/inventory.js';
import type { Intent, StepFailure } from '../steps/types.js';
import { err, ok, type Result } from '../util/result.js';
import { describeLeftovers, waitForLeftovers } from './orphans.js';
import { GuestConnections } from './guest-connections.js';

/**
 * How long a resumed run waits for a killed process's commands. Bounded and then only a warning:
 * a daemon a command started outside systemd (which gives services a clean environment) carries
 * the tag for ever, and must not hold the host back for good.
 */
const LEFTOVER_WAIT_MS = 10 * 60_000;

export interface RuntimeOptions {
  inventory: Inventory;
  check: boolean;
  resolveSecret: SecretResolver;
  /** printed once per distinct message (insecure TLS, host key checking off, …) */
  warn: (message: string) => void;
  /** journal a write-ahead intent; resolves once it is durable */
  intent?: (host: string, step: string, intent: Intent) => void | Promise<void>;
  /** facts read or dropped, for the journal (HostServices.factsSeen) */
  factsSeen?: (host: string, namespace: string, values: Record<string, unknown> | undefined) => void;
  /** tags every guest command with the run (PVRUN_RUN), so a later process can find leftovers */
  runId?: string;
  /**
   * Hosts an earlier, killed process of this run was working on: on first connecting, wait for
   * the commands it left running there (src/runtime/orphans.ts) before any step runs.
   */
  leftoversOf?: ReadonlySet<string>;
  /** -vvv: the guest transport's protocol debug lines, per host (ssh2's `debug`) */
  debug?: (host: string, line: string) => void;
  /**
   * The run's connection maker, with the connections the preflight kept for it; without it one
   * is made here (in the run's mode, with runId and debug as above). Given, it must be in the
   * run's mode; its own runId is the one used, and `debug` (when set) becomes its sink.
   */
  connections?: GuestConnections;
}

/**
 * The real outside world for the engine: one guest connection per host reused for the run,
 * one XAPI session per pool, facts gathered through them. In check mode both are built
 * read-only, so even a buggy step cannot change anything.
 */
export class RuntimeServices implements HostServices {
  private readonly pools: PoolSessions;
  private readonly connectors = new Map<string, Promise<Result<Connector, StepFailure>>>();
  private readonly warned = new Set<string>();
  /** makes each host's transport; holds the preflight's open connections until taken */
  private readonly conns: GuestConnections;
  private readonly leftoversChecked = new Set<string>();

  constructor(private readonly opts: RuntimeOptions) {
    const mode = opts.check ? 'check' : 'apply';
    if (opts.connections && opts.connections.mode !== mode) {
      // a programming error, never a user's: an apply-mode transport in a rehearsal would void the gate
      throw new Error(`RuntimeServices: connections in ${opts.connections.mode} mode for a ${mode} run`);
    }
    this.conns = opts.connections ?? new GuestConnections({
      mode, resolveSecret: opts.resolveSecret,
      ...(opts.runId ? { runId: opts.runId } : {}),
      ...(opts.debug ? { debug: true } : {}),
    });
    if (opts.debug) this.conns.debugTo(opts.debug);
    this.pools = new PoolSessions(opts.inventory.hypervisors, opts.resolveSecret, {
      mode: opts.check ? 'check' : 'apply',
      warn: (pool, message) => this.warnOnce(`pool ${pool}: ${message}`),
    });
  }

  private warnOnce(message: string): void {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    this.opts.warn(message);
  }

  guest(host: HostSpec): Promise<Result<Connector, StepFailure>> {
    let p = this.connectors.get(host.name);
    if (!p) {
      p = this.open(host);
      this.connectors.set(host.name, p);
      // a failed connection is not cached: a later step (after a reboot) tries again
      void p.then((r) => { if (!r.ok) this.connectors.delete(host.name); });
    }
    return p;
  }

  private async open(host: HostSpec): Promise<Result<Connector, StepFailure>> {
    // the preflight's open connection when it kept one for this host (connect() is then at once)
    const warm = this.conns.take(host.name);
    const c = warm ? ok(warm) : this.conns.create(host);
    if (!c.ok) return err({ kind: 'config', message: c.error });
    for (const w of c.value.warnings) this.warnOnce(w);
    let r = await c.value.connector.connect();
    // a host the killed process was working on may be mid-reboot (it asked for one): its sshd
    // refuses or resets for a while; retry like every wait for a guest does
    for (let delay = 500, until = Date.now() + 120_000; !r.ok && this.opts.leftoversOf?.has(host.name) && (r.error.kind === 'unreachable' || r.error.kind === 'connection-lost') && Date.now() < until; delay = Math.min(delay * 2, 5000)) {
      await new Promise((res) => setTimeout(res, delay));
      r = await c.value.connector.connect();
    }
    if (!r.ok) return err({ kind: 'guest', failure: r.error });
    const left = await this.awaitLeftovers(host, c.value.connector);
    if (!left.ok) {
      await c.value.connector.close();
      return left;
    }
    return ok(c.value.connector);
  }

  factsSeen(host: string, namespace: string, values: Record<string, unknown> | undefined): void {
    this.opts.factsSeen?.(host, namespace, values);
  }

  /** Once per host of `leftoversOf`: wait for the killed process's commands to end. */
  private async awaitLeftovers(host: HostSpec, c: Connector): Promise<Result<void, StepFailure>> {
    const runId = this.opts.runId;
    // on by default; PVRUN_WAIT_LEFTOVERS=0 turns it off (a guest where the probe itself misbehaves)
    if (process.env['PVRUN_WAIT_LEFTOVERS'] === '0') return ok(undefined);
    if (!runId || !this.opts.leftoversOf?.has(host.name) || this.leftoversChecked.has(host.name) || c.os !== 'linux') return ok(undefined);
    const user = host.connection.user;
    const w = await waitForLeftovers(c, {
      runId, selfNonce: this.conns.nonce, become: user !== undefined && user !== 'root',
      deadline: Date.now() + LEFTOVER_WAIT_MS,
      onWait: (l) => this.opts.warn(`${host.name}: waiting for ${l.length} command(s) the killed pvrun process left running to finish: ${describeLeftovers(l)}`),
    });
    if (!w.ok) {
      if (w.error.kind === 'probe') return err({ kind: 'guest', failure: w.error.failure });
      this.opts.warn(`${host.name}: commands the killed pvrun process started are still running after ${LEFTOVER_WAIT_MS / 60_000} min: ${describeLeftovers(w.error.leftovers)}; going on (a step may meet their locks; a daemon started outside systemd keeps the tag)`);
    }
    this.leftoversChecked.add(host.name);
    if (w.ok && w.value.kind === 'waited') this.opts.warn(`${host.name}: the killed process's commands ended after ${(w.value.ms / 1000).toFixed(1)} s; going on`);
    return ok(undefined);
  }

  async vm(host: HostSpec): Promise<Result<VmHandle, StepFailure>> {
    if (!host.vm) return err({ kind: 'config', message: `host '${host.name}' has no 'vm:' (pool and uuid or name_label) in the inventory` });
    const r = await this.pools.vm(host.vm);
    return r.ok ? r : err({ kind: 'hypervisor', failure: r.error });
  }

  async facts(namespace: string, host: HostSpec, via: FactSources): Promise<Result<Record<string, unknown>, StepFailure>> {
    switch (namespace) {
      case 'guest': {
        const g = await via.guest();
        if (!g.ok) return g;
        // the connector declares the OS it reaches
        const f = g.value.os === 'linux' ? await gatherGuestFacts(g.value, host) : await gatherWindowsFacts(g.value, (line, level) => via.log(line, level));
        return f.ok ? ok(f.value as unknown as Record<string, unknown>) : f;
      }
      case 'vm': {
        const v = await via.vm();
        if (!v.ok) return v;
        return gatherVmFacts(v.value.xapi, v.value.ref);
      }
      default:
        return err({ kind: 'config', message: `unknown fact namespace 'facts.${namespace}' (known: facts.guest, facts.vm)` });
    }
  }

  async intent(host: string, step: string, intent: Intent): Promise<void> {
    await this.opts.intent?.(host, step, intent);
  }

  async release(host: HostSpec): Promise<void> {
    const p = this.connectors.get(host.name);
    this.connectors.delete(host.name);
    const c = p ? await p : undefined;
    if (c?.ok) await c.value.close();
  }

  async closeAll(): Promise<void> {
    const all = [...this.connectors.values()];
    this.connectors.clear();
    await Promise.all(all.map(async (p) => { const c = await p; if (c.ok) await c.value.close(); }));
    await this.pools.closeAll();
    await this.conns.closeAll();
  }
}
