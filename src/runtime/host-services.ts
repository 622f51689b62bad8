import type { Connector } from '../connectors/types.js';
import { createConnector } from '../connectors/factory.js';
import { gatherGuestFacts } from '../connectors/linux-facts.js';
import { PwshPool } from '../connectors/powershell/pool.js';
import { windowsFacts } from '../steps/windows/common.js';
import type { HostServices } from '../engine/types.js';
import { PoolSessions, type SecretResolver } from '../hypervisor/pool.js';
import type { VmHandle } from '../hypervisor/types.js';
import { readVmFacts } from '../hypervisor/vm-facts.js';
import type { HostSpec, Inventory } from '../model/inventory.js';
import type { Intent, StepContext, StepFailure } from '../steps/types.js';
import { err, ok, type Result } from '../util/result.js';

export interface RuntimeOptions {
  inventory: Inventory;
  check: boolean;
  resolveSecret: SecretResolver;
  /** printed once per distinct message (insecure TLS, host key checking off, …) */
  warn: (message: string) => void;
  /** journal a write-ahead intent; resolves once it is durable */
  intent?: (host: string, step: string, intent: Intent) => void | Promise<void>;
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
  /** local pwsh processes holding the psremoting sessions, shared by every such host */
  private pwsh: PwshPool | undefined;

  constructor(private readonly opts: RuntimeOptions) {
    this.pools = new PoolSessions(opts.inventory.hypervisors, opts.resolveSecret, {
      readOnly: opts.check,
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
    const c = createConnector(host, {
      checkMode: this.opts.check, resolveSecret: this.opts.resolveSecret,
      pwshPool: () => (this.pwsh ??= new PwshPool()),
    });
    if (!c.ok) return err({ kind: 'config', message: c.error });
    for (const w of c.value.warnings) this.warnOnce(w);
    const r = await c.value.connector.connect();
    if (!r.ok) return err({ kind: 'guest', failure: r.error });
    return ok(c.value.connector);
  }

  async vm(host: HostSpec): Promise<Result<VmHandle, StepFailure>> {
    if (!host.vm) return err({ kind: 'config', message: `host '${host.name}' has no 'vm:' (pool and uuid or name_label) in the inventory` });
    const r = await this.pools.vm(host.vm);
    return r.ok ? r : err({ kind: 'hypervisor', failure: r.error });
  }

  async facts(namespace: string, host: HostSpec, ctx: StepContext): Promise<Result<Record<string, unknown>, StepFailure>> {
    switch (namespace) {
      case 'guest': {
        const g = await ctx.guest();
        if (!g.ok) return g;
        // the transport tells the OS: PowerShell connectors reach Windows guests
        const f = g.value.kind === 'ssh' ? await gatherGuestFacts(g.value, host) : await windowsFacts(ctx);
        return f.ok ? ok(f.value as unknown as Record<string, unknown>) : f;
      }
      case 'vm': {
        const v = await ctx.vm();
        if (!v.ok) return v;
        const f = await readVmFacts(v.value.xapi, v.value.ref);
        return f.ok ? ok(f.value as unknown as Record<string, unknown>) : err({ kind: 'hypervisor', failure: f.error });
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
    await this.pwsh?.close();
  }
}
