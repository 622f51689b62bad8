import type { HypervisorSpec, VmSelector } from '../model/inventory.js';
import type { SecretRef } from '../model/secret.js';
import type { Result } from '../util/result.js';
import { err, ok } from '../util/result.js';
import type { HypervisorFailure, VmHandle, XapiCaller } from './types.js';
import { resolveVm } from './vm-resolve.js';
import { XapiClient } from './xapi/client.js';
import type { TransportMode } from '../model/transport-mode.js';

export type SecretResolver = (ref: SecretRef) => Result<string, string>;

export interface PoolSessionsOptions {
  /** 'check': every handle refuses mutating methods (a rehearsal) */
  mode: TransportMode;
  callTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** printed by the caller (insecure TLS, master redirects), once per pool */
  warn?: (pool: string, message: string) => void;
}

/**
 * One XAPI session per pool for the whole run: logged in on first use, shared by every host's
 * VmHandle, logged out by closeAll(). Concurrent first uses share one login.
 */
export class PoolSessions {
  private readonly clients = new Map<string, Promise<Result<XapiClient, HypervisorFailure>>>();
  private readonly handles = new Map<string, Promise<Result<VmHandle, HypervisorFailure>>>();
  /** one caller per pool, so per-pool lookups (the tools ISO) are shared by its VMs */
  private readonly views = new Map<string, XapiCaller>();

  constructor(
    private readonly hypervisors: Record<string, HypervisorSpec>,
    private readonly secrets: SecretResolver,
    private readonly opts: PoolSessionsOptions,
  ) {}

  client(pool: string): Promise<Result<XapiClient, HypervisorFailure>> {
    let c = this.clients.get(pool);
    if (!c) {
      c = this.open(pool);
      this.clients.set(pool, c);
      // a failed login is not cached either: after a pool outage, a retry logs in again
      const mine = c;
      void mine.then((r) => { if (!r.ok && this.clients.get(pool) === mine) this.clients.delete(pool); });
    }
    return c;
  }

  private async open(pool: string): Promise<Result<XapiClient, HypervisorFailure>> {
    const spec = this.hypervisors[pool];
    if (!spec) return err({ kind: 'transport', message: `no hypervisor '${pool}' in the inventory` });
    const user = typeof spec.username === 'string' ? ok(spec.username) : this.secrets(spec.username);
    if (!user.ok) return err({ kind: 'transport', message: `pool ${pool}: username: ${user.error}` });
    const pwd = this.secrets(spec.password);
    if (!pwd.ok) return err({ kind: 'transport', message: `pool ${pool}: password: ${pwd.error}` });
    const c = XapiClient.create({
      url: spec.url, username: user.value, password: pwd.value, tls: spec.tls, mode: this.opts.mode,
      callTimeoutMs: this.opts.callTimeoutMs, connectTimeoutMs: this.opts.connectTimeoutMs,
    });
    if (!c.ok) return c;
    const l = await c.value.login();
    for (const w of c.value.warnings) this.opts.warn?.(pool, w);
    if (!l.ok) {
      await c.value.close();
      return err({ ...l.error, message: `pool ${pool} (${spec.url}): ${l.error.message}` });
    }
    return ok(c.value);
  }

  /** The host's VM, resolved once per selector for the run. */
  vm(sel: VmSelector): Promise<Result<VmHandle, HypervisorFailure>> {
    const key = `${sel.pool}\u0000${sel.uuid ?? ''}\u0000${sel.name_label ?? ''}`;
    let h = this.handles.get(key);
    if (!h) {
      h = (async () => {
        const c = await this.client(sel.pool);
        if (!c.ok) return c;
        let xapi = this.views.get(sel.pool);
        if (!xapi) {
          xapi = c.value.view(this.opts.mode);
          this.views.set(sel.pool, xapi);
        }
        const r = await resolveVm(xapi, sel);
        if (!r.ok) return r;
        return ok({ pool: sel.pool, ref: r.value.ref, uuid: r.value.uuid, nameLabel: r.value.nameLabel, xapi, metrics: r.value.metrics });
      })();
      this.handles.set(key, h);
      // a failed resolution is not cached: the next host (or a retry) asks again
      void h.then((r) => { if (!r.ok) this.handles.delete(key); });
    }
    return h;
  }

  /** Log out of every pool (best effort) and close the connections. */
  async closeAll(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    this.handles.clear();
    this.views.clear();
    await Promise.all(all.map(async (p) => {
      const c = await p;
      if (c.ok) await c.value.close();
    }));
  }
}
