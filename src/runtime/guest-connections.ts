/**
 * How a run makes its guest connections, and the connections the preflight opened that the run
 * takes over instead of opening them again (issue 17: a second SSH handshake per host cost
 * +0.1–0.26 s of controller CPU and +1.0–1.6 s of server CPU at 20–100 hosts, BENCHMARKS.md).
 *
 * One maker for both, so a kept connection is the one the run would have made: the same mode
 * (a check-mode run's connectors are behind the check gate from birth), the same run tag on every
 * command, the same -vvv debug sink and the same pool of local pwsh processes.
 *
 * The preflight itself never uses an apply-mode connector as it is: it works through a check-gate
 * view (connectors/check-gate.ts, keepOpen), and only calls connect() — so a rehearsal of the
 * gate's promise still holds for the preflight of a real run.
 */
import { randomBytes } from 'node:crypto';
import { createConnector, type CreatedConnector } from '../connectors/factory.js';
import { PwshPool } from '../connectors/powershell/pool.js';
import type { Connector } from '../connectors/types.js';
import type { SecretResolver } from '../hypervisor/pool.js';
import type { HostSpec } from '../model/inventory.js';
import type { TransportMode } from '../model/transport-mode.js';
import type { Result } from '../util/result.js';
import { runTag } from './orphans.js';

export interface GuestConnectionsOptions {
  mode: TransportMode;
  resolveSecret: SecretResolver;
  /** tags every guest command with the run (PVRUN_RUN), so a later process can find leftovers */
  runId?: string;
  /**
   * -vvv: the transports' protocol debug lines are wanted (ssh2's `debug`, costly: off otherwise).
   * They go to the sink `debugTo` sets; a host's lines from before (the preflight's handshake,
   * before the run's journal and reporters exist) wait, and go out when the run takes its connection.
   */
  debug?: boolean;
  /** how long a kept connection may wait for its host before it is closed (default KEPT_IDLE_MS) */
  keptIdleMs?: number;
}

/** a host's debug lines held before the sink exists: enough for a handshake, bounded for a flood */
const EARLY_DEBUG_LINES = 2000;

/**
 * A kept connection not taken within this time is closed; its host logs in again when it starts.
 * The saving of a kept connection is one handshake (a few ms of CPU on each side): it matters in a
 * run of short steps, where hosts start within seconds of the preflight, and not at all in a run
 * whose hosts wait minutes for a fork. So a long first batch does not hold hundreds of idle
 * sessions on its guests for hours.
 */
export const KEPT_IDLE_MS = 120_000;

export class GuestConnections {
  /** this process's part of the run tag: its own commands are not leftovers (runtime/orphans.ts) */
  readonly nonce = randomBytes(4).toString('hex');
  readonly mode: TransportMode;
  private pwsh: PwshPool | undefined;
  /** open connections made before the run started (by the preflight), not yet taken */
  private readonly warm = new Map<string, CreatedConnector>();
  /** each kept connection's idle limit */
  private readonly idle = new Map<string, NodeJS.Timeout>();
  private sink: ((host: string, line: string) => void) | undefined;
  private readonly early = new Map<string, string[]>();

  constructor(private readonly opts: GuestConnectionsOptions) {
    this.mode = opts.mode;
  }

  /** A new, unconnected transport for `host`, in this run's mode; a config problem as text. */
  create(host: HostSpec): Result<CreatedConnector, string> {
    return createConnector(host, {
      mode: this.opts.mode, resolveSecret: this.opts.resolveSecret,
      pwshPool: () => (this.pwsh ??= new PwshPool()),
      ...(this.opts.runId ? { runTag: runTag(this.opts.runId, this.nonce) } : {}),
      ...(this.opts.debug ? { debug: (line: string) => this.debugLine(host.name, line) } : {}),
    });
  }

  /** Where -vvv debug lines go from now on (the run's events). */
  debugTo(sink: (host: string, line: string) => void): void {
    this.sink = sink;
  }

  private debugLine(host: string, line: string): void {
    if (this.sink && !this.warm.has(host)) { this.sink(host, line); return; }
    const held = this.early.get(host) ?? [];
    if (held.length < EARLY_DEBUG_LINES) held.push(line);
    this.early.set(host, held);
  }

  /** Hold an open connection for the run's first use of `host` (a second one for a host is closed). */
  async keep(host: string, c: CreatedConnector): Promise<void> {
    if (this.warm.has(host)) { await c.connector.close(); return; }
    this.warm.set(host, c);
    const t = setTimeout(() => {
      this.idle.delete(host);
      if (this.warm.get(host) !== c) return;
      this.warm.delete(host);
      void c.connector.close();
    }, this.opts.keptIdleMs ?? KEPT_IDLE_MS);
    t.unref(); // never what keeps the process alive
    this.idle.set(host, t);
  }

  private clearIdle(host: string): void {
    const t = this.idle.get(host);
    if (t) clearTimeout(t);
    this.idle.delete(host);
  }

  /**
   * The connection kept for `host`, once (with the warnings its making gave, for the run to tell).
   * It may have dropped meanwhile: a transport reconnects on its next use (SshConnector.ensure).
   * Undefined when none was kept, or it waited longer than the idle limit and was closed.
   */
  take(host: string): CreatedConnector | undefined {
    const c = this.warm.get(host);
    this.warm.delete(host);
    this.clearIdle(host);
    const held = this.early.get(host);
    this.early.delete(host);
    if (held && this.sink) for (const line of held) this.sink(host, line);
    return c;
  }

  /** hosts holding a kept connection (tests, the preflight's count) */
  kept(): string[] {
    return [...this.warm.keys()];
  }

  /** Close what was kept and not taken, then the pwsh processes. */
  async closeAll(): Promise<void> {
    const all = [...this.warm.values()];
    for (const h of [...this.idle.keys()]) this.clearIdle(h);
    this.warm.clear();
    this.early.clear();
    await Promise.all(all.map((c) => c.connector.close()));
    await this.pwsh?.close();
    this.pwsh = undefined;
  }
}
