import { createServer as createHttp } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import { X509Certificate } from 'node:crypto';
import type { GuestReport, SimHooks } from '../sim-hooks.js';
import type { FaultRule, FaultState } from './fault.js';
import { XapiFault, matches } from './fault.js';
import type { CallCtx } from './methods.js';
import { SIM_METHODS } from './methods.js';
import { SimModel } from './model.js';
import { certificateRecord, taskRecord } from './records.js';
import { selfSignedCert } from './tls.js';
import { parseMethodCall, xmlFailure, xmlSuccess } from './xmlrpc.js';
import type { SimDefinition } from './seed.js';
import { Sessions } from './sessions.js';
import type { Rec } from './store.js';
import { xapiDate } from './store.js';

export interface SimulatorOptions {
  definition: SimDefinition;
  hooks?: SimHooks;
  /** default: the simulator reports each VM's tools state after boot, unless hooks are given */
  autoGuestReports?: boolean;
  port?: number;
  /** serve HTTPS with this key/cert (see selfSignedCert): the first master's certificate */
  tls?: { key: string; cert: string };
  /**
   * the member's own certificate (each XAPI host has its own xapi-ssl.pem, XA
   * doc/content/xapi/internals/certificates.md); default: a fresh self-signed one when tls is set
   */
  memberTls?: { key: string; cert: string };
  /**
   * answer `x-xenapi-request-host-certificate-thumbprint: sha-256:master` with the master's
   * thumbprint (XA ocaml/xapi/api_server.ml:84-105, xapi_globs.ml:1111-1119); false: a pool
   * before that mechanism. Default true.
   */
  thumbprintHeader?: boolean;
  sessionTtlMs?: number;
  bootDelayMs?: number;
  guestReportDelayMs?: number;
}

export interface CallLogEntry {
  method: string;
  /** parameters without the session */
  params: unknown[];
  /** the method only reads (by the simulator's own method table) */
  readOnly: boolean;
  /** which host answered (its role at the time) */
  host: 'master' | 'member';
  /** XAPI error code when it failed */
  error?: string;
  /** set for calls that came over XML-RPC (POST /) */
  protocol?: 'xmlrpc';
  time: number;
}

/**
 * A pool of two hosts behind real HTTP(S) listeners on 127.0.0.1, each with its own certificate:
 * the master answers XAPI JSON-RPC at POST /jsonrpc; the member answers every call with
 * HOST_IS_SLAVE naming the master. `failover()` swaps the roles (the master moves).
 */
export class XapiSimulator {
  readonly model: SimModel;
  readonly sessions: Sessions;
  readonly calls: CallLogEntry[] = [];
  private readonly faults: FaultState[] = [];
  /** listeners of host 0 (the first master) and host 1 (the first member) */
  private servers: (Server | undefined)[] = [];
  private hostCerts: ({ key: string; cert: string } | undefined)[] = [];
  /** which listener is the master now */
  private masterIdx = 0;
  private readonly sockets = new Set<Socket>();
  private stopping = false;
  private readonly opts: SimulatorOptions;

  constructor(opts: SimulatorOptions) {
    this.opts = opts;
    this.model = new SimModel({
      hooks: opts.hooks, autoGuestReports: opts.autoGuestReports,
      bootDelayMs: opts.bootDelayMs, guestReportDelayMs: opts.guestReportDelayMs,
    });
    this.model.seed(opts.definition);
    this.sessions = new Sessions(opts.sessionTtlMs ?? 24 * 3600_000, {
      username: opts.definition.username ?? 'root',
      password: opts.definition.password ?? 'secret',
    });
  }

  async start(): Promise<void> {
    const tls = this.opts.tls;
    this.hostCerts = tls ? [tls, this.opts.memberTls ?? selfSignedCert()] : [undefined, undefined];
    this.servers = [await this.listen(0, this.opts.port ?? 0), await this.listen(1, 0)];
    this.model.store.mod('host', this.model.memberRef, { address: '127.0.0.1' });
    const hosts = [this.model.masterRef, this.model.memberRef];
    for (let i = 0; i < 2; i++) {
      const c = this.hostCerts[i];
      if (!c) continue;
      // one `host` Certificate record per host (XA ocaml/idl/datamodel_certificate.ml); a restart
      // from a saved state replaces the old ones (fresh certificates)
      for (const [ref, r] of this.model.store.table('Certificate')) if (r.host === hosts[i]) this.model.store.del('Certificate', ref);
      const x = new X509Certificate(c.cert);
      this.model.store.add('Certificate', certificateRecord({
        type: 'host', host: hosts[i], fingerprint: x.fingerprint256,
        not_before: xapiDate(Date.parse(x.validFrom)), not_after: xapiDate(Date.parse(x.validTo)),
      }));
    }
  }

  /** the certificate (PEM) host 0 or 1 serves: `host.get_server_certificate` */
  serverCertificate(hostRef: string): string {
    // model.masterRef is host 0 (the first master), memberRef host 1, whatever the roles now
    const i = hostRef === this.model.masterRef ? 0 : hostRef === this.model.memberRef ? 1 : -1;
    return this.hostCerts[i]?.cert ?? '';
  }

  /** SHA-256 fingerprints of the hosts' certificates: [host 0, host 1] */
  get fingerprints(): string[] {
    return this.hostCerts.map((c) => (c ? new X509Certificate(c.cert).fingerprint256 : ''));
  }

  /**
   * The master moves to the other host (HA failover or pool.designate_new_master): the old master
   * answers HOST_IS_SLAVE from now on, naming the new one; `pool.master` follows.
   */
  failover(): void {
    this.masterIdx = 1 - this.masterIdx;
    this.model.store.mod('pool', this.model.poolRef, { master: this.masterIdx === 0 ? this.model.masterRef : this.model.memberRef });
    for (const s of this.sockets) s.destroy();
  }

  private roleOf(idx: number): 'master' | 'member' {
    return idx === this.masterIdx ? 'master' : 'member';
  }

  private listen(idx: number, port: number): Promise<Server> {
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(this.roleOf(idx), req, res);
    const c = this.opts.tls ? (idx === 0 ? this.opts.tls : this.hostCerts[1]!) : undefined;
    const server = c ? createHttps({ key: c.key, cert: c.cert }, handler) : createHttp(handler);
    server.on(this.opts.tls ? 'secureConnection' : 'connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve(server));
    });
  }

  private portOf(s: Server | undefined): number {
    return (s?.address() as AddressInfo | null)?.port ?? 0;
  }

  private get scheme(): string {
    return this.opts.tls ? 'https' : 'http';
  }

  /** the pool master's URL (after failover(): the new master's) */
  get url(): string {
    return `${this.scheme}://127.0.0.1:${this.portOf(this.servers[this.masterIdx])}`;
  }

  /** a pool member: logging in there answers HOST_IS_SLAVE */
  get memberUrl(): string {
    return `${this.scheme}://127.0.0.1:${this.portOf(this.servers[1 - this.masterIdx])}`;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.model.store.wakeAll();
    this.model.dispose();
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => (s ? s.close(() => r()) : r()))));
  }

  // ---------- test & lab API ----------

  addFault(rule: FaultRule): void {
    this.faults.push({ ...rule, seen: 0, fired: 0 });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  setGuestReport(vmUuid: string, report: GuestReport): void {
    this.model.setGuestReport(vmUuid, report);
  }

  /**
   * Per-VM timing and guest behaviour: start/reboot take bootDelayMs (slow boots), the guest
   * reports guestReportDelayMs after boot, and with cleanHangs it ignores clean shutdown/reboot.
   */
  setBootTiming(vmUuid: string, t: { bootDelayMs?: number; guestReportDelayMs?: number; cleanHangs?: boolean }): void {
    const ref = this.model.store.byUuid('VM', vmUuid);
    if (!ref) throw new Error(`no VM ${vmUuid}`);
    Object.assign(this.model.sim(ref), t);
  }

  expireSessions(): void {
    this.sessions.expireAll();
  }

  clearCallLog(): void {
    this.calls.length = 0;
  }

  /** calls that change state (check mode must produce none) */
  get mutatingCalls(): CallLogEntry[] {
    return this.calls.filter((c) => !c.readOnly);
  }

  vm(name: string): { ref: string; rec: Rec } {
    for (const [ref, rec] of this.model.store.table('VM')) {
      if (rec.name_label === name && !rec.is_a_snapshot && !rec.is_a_template) return { ref, rec };
    }
    throw new Error(`no VM named ${name}`);
  }

  record(cls: string, ref: string): Rec | undefined {
    return this.model.store.get(cls, ref);
  }

  /** The "disk content" marker of a VM's first disk (what a guest wrote); revert restores it. */
  diskContent(vmName: string): string | undefined {
    const disk = this.firstDisk(vmName);
    return (disk?.rec.other_config as Record<string, string> | undefined)?.['sim-content'];
  }

  writeDisk(vmName: string, content: string): void {
    const disk = this.firstDisk(vmName);
    if (!disk) throw new Error(`${vmName} has no disk`);
    this.model.store.mod('VDI', disk.ref, { other_config: { ...(disk.rec.other_config as Rec), 'sim-content': content } });
  }

  private firstDisk(vmName: string): { ref: string; rec: Rec } | undefined {
    const { rec } = this.vm(vmName);
    for (const vbd of this.model.refs(rec.VBDs)) {
      const b = this.model.store.get('VBD', vbd);
      if (b?.type === 'Disk' && b.userdevice === '0') {
        const d = this.model.store.get('VDI', String(b.VDI));
        if (d) return { ref: String(b.VDI), rec: d };
      }
    }
    return undefined;
  }

  // ---------- JSON-RPC ----------

  private async handle(role: 'master' | 'member', req: IncomingMessage, res: ServerResponse): Promise<void> {
    const json = req.url === '/jsonrpc' || req.url === '/jsonrpc/';
    const xml = req.url === '/' || req.url === '/RPC2';
    if (req.method !== 'POST' || (!json && !xml)) {
      res.writeHead(req.method === 'POST' ? 404 : 405).end();
      return;
    }
    // XA api_server.ml:84-105: a client asking for the master's certificate thumbprint
    // (`sha-256:master` / `sha-1:master`, xapi_globs.ml:1111-1119) gets it in a response header
    const ask = req.headers['x-xenapi-request-host-certificate-thumbprint'];
    const masterCert = this.hostCerts[this.masterIdx];
    if ((this.opts.thumbprintHeader ?? true) && masterCert && (ask === 'sha-256:master' || ask === 'sha-1:master')) {
      const x = new X509Certificate(masterCert.cert);
      res.setHeader('x-xenapi-response-host-certificate-thumbprint', ask === 'sha-256:master' ? x.fingerprint256 : x.fingerprint);
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let method: string;
    let params: unknown[];
    let succeed: (result: unknown) => void;
    let fail: (code: string, params: string[]) => void;
    if (json) {
      let body: { method?: unknown; params?: unknown; id?: unknown };
      try {
        body = JSON.parse(text);
      } catch {
        res.writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'PARSE_ERROR', data: [] } }));
        return;
      }
      const reply = (payload: Record<string, unknown>) =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: body.id ?? null, ...payload }));
      method = String(body.method ?? '');
      params = Array.isArray(body.params) ? body.params : [];
      succeed = (result) => reply({ result });
      fail = (code, data) => reply({ error: { code: 1, message: code, data } });
    } else {
      try {
        ({ method, params } = parseMethodCall(text));
      } catch (e) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(`bad XML-RPC request: ${(e as Error).message}`);
        return;
      }
      const reply = (body: string) => res.writeHead(200, { 'content-type': 'text/xml' }).end(body);
      succeed = (result) => reply(xmlSuccess(result));
      fail = (code, data) => reply(xmlFailure(code, data));
    }

    const spec = SIM_METHODS[method.startsWith('Async.') ? method.slice(6) : method];
    const entry: CallLogEntry = {
      method,
      params: method === 'session.login_with_password' ? [params[0], '***', ...params.slice(2)] : params.slice(1),
      readOnly: spec ? !spec.mutating && !method.startsWith('Async.') : true,
      host: role,
      time: Date.now(),
      ...(xml ? { protocol: 'xmlrpc' as const } : {}),
    };
    this.calls.push(entry);
    try {
      for (const f of this.faults) {
        if (!matches(f, method)) continue;
        f.seen++;
        if (f.seen <= (f.afterCalls ?? 0) || f.fired >= (f.times ?? Infinity)) continue;
        f.fired++;
        if (f.latencyMs) await new Promise((r) => setTimeout(r, f.latencyMs));
        if (f.drop) {
          req.socket.destroy();
          entry.error = 'DROPPED';
          return;
        }
        if (f.code) throw new XapiFault(f.code, f.params ?? []);
      }
      succeed(await this.dispatch(role, method, params));
    } catch (e) {
      if (!(e instanceof XapiFault)) {
        entry.error = 'INTERNAL_ERROR';
        fail('INTERNAL_ERROR', [String((e as Error).message)]);
        return;
      }
      entry.error = e.code;
      fail(e.code, e.params);
    }
  }

  private async dispatch(role: 'master' | 'member', method: string, params: unknown[]): Promise<unknown> {
    if (role === 'member') {
      // a member refuses everything; it names the master (host:port here, the sim's pool lives on one IP)
      throw new XapiFault('HOST_IS_SLAVE', [`127.0.0.1:${this.portOf(this.servers[this.masterIdx])}`]);
    }
    const isAsync = method.startsWith('Async.');
    const base = isAsync ? method.slice(6) : method;
    const spec = SIM_METHODS[base];
    if (!spec || (isAsync && !spec.async)) throw new XapiFault('MESSAGE_METHOD_UNKNOWN', [method]);
    if (params.length > spec.params.length || params.length < spec.params.length - (spec.optionalTail ?? 0)) {
      throw new XapiFault('MESSAGE_PARAMETER_COUNT_MISMATCH', [method, String(spec.params.length), String(params.length)]);
    }
    if (base === 'session.login_with_password') return this.sessions.login(params[0], params[1]);
    if (base === 'session.logout') {
      this.sessions.logout(params[0]);
      return '';
    }
    this.sessions.check(params[0]);
    const ctx: CallCtx = {
      model: this.model, sessions: this.sessions, stopping: () => this.stopping,
      serverCertificate: (h) => this.serverCertificate(h),
    };
    const args = params.slice(1);
    if (!isAsync) return spec.handler(ctx, args);
    return this.startTask(method, ctx, () => spec.handler(ctx, args));
  }

  /** Async.*: a task record that completes later; its result is XML-RPC-encoded, as in XAPI. */
  private startTask(method: string, _ctx: CallCtx, run: () => unknown): string {
    const store = this.model.store;
    const task = store.add('task', taskRecord({ name_label: method, created: xapiDate(), resident_on: this.model.masterRef }));
    setImmediate(() => {
      void (async () => {
        try {
          const r = await run();
          if (!store.get('task', task)) return;
          const result = typeof r === 'string' && r !== '' ? `<value>${escapeXml(r)}</value>` : '';
          store.mod('task', task, { status: 'success', progress: 1, result, finished: xapiDate() });
        } catch (e) {
          if (!store.get('task', task)) return;
          const info = e instanceof XapiFault ? [e.code, ...e.params] : ['INTERNAL_ERROR', String((e as Error).message)];
          store.mod('task', task, { status: 'failure', progress: 1, error_info: info, finished: xapiDate() });
        }
      })();
    });
    return task;
  }
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
