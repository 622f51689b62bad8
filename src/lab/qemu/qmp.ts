/**
 * A minimal QMP client (QEMU Machine Protocol, docs/interop/qmp-spec.rst in QEMU): JSON lines
 * over a unix socket; greeting, `qmp_capabilities`, then commands answered in order by
 * `{"return": …}` or `{"error": {"class", "desc"}}`, interleaved with `{"event": …}`.
 */
import { connect, type Socket } from 'node:net';
import { EventEmitter } from 'node:events';
import { err, ok, type Result } from '../../util/result.js';

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

export class QmpClient extends EventEmitter {
  private buf = '';
  private waiting: { resolve: (r: Result<unknown, string>) => void; cmd: string }[] = [];
  private closed = false;

  private constructor(private readonly sock: Socket) {
    super();
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => this.onData(d));
    sock.on('close', () => this.onClose());
    sock.on('error', () => { /* reported as close */ });
  }

  /** Connect (retrying while QEMU has not created the socket yet) and negotiate capabilities. */
  static async connect(path: string, deadlineMs = 60_000): Promise<Result<QmpClient, string>> {
    const end = Date.now() + deadlineMs;
    let last = '';
    while (Date.now() < end) {
      const s = await new Promise<Socket | string>((resolve) => {
        const c = connect(path);
        c.once('connect', () => resolve(c));
        c.once('error', (e) => resolve(e.message));
      });
      if (typeof s !== 'string') {
        const q = new QmpClient(s);
        const greeting = await q.next();
        if (!greeting.ok) return err(greeting.error);
        const caps = await q.execute('qmp_capabilities');
        if (!caps.ok) return err(`qmp_capabilities: ${caps.error}`);
        return ok(q);
      }
      last = s;
      await new Promise((r) => setTimeout(r, 100));
    }
    return err(`QMP socket ${path}: ${last}`);
  }

  private greetingWaiter: ((r: Result<unknown, string>) => void) | undefined;

  private next(): Promise<Result<unknown, string>> {
    return new Promise((resolve) => { this.greetingWaiter = resolve; });
  }

  private onData(d: string): void {
    this.buf += d;
    let i: number;
    while ((i = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, i).trim();
      this.buf = this.buf.slice(i + 1);
      if (!line) continue;
      let msg: Record<string, unknown>;
      try { msg = JSON.parse(line) as Record<string, unknown>; } catch { continue; }
      if ('QMP' in msg) {
        this.greetingWaiter?.(ok(msg));
        this.greetingWaiter = undefined;
      } else if ('event' in msg) {
        this.emit('event', msg as unknown as QmpEvent);
      } else if ('return' in msg || 'error' in msg) {
        const w = this.waiting.shift();
        if (!w) continue;
        if ('error' in msg) {
          const e = msg['error'] as { class?: string; desc?: string };
          w.resolve(err(`${e.class ?? 'Error'}: ${e.desc ?? ''}`));
        } else w.resolve(ok(msg['return']));
      }
    }
  }

  private onClose(): void {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.resolve(err(`QMP connection closed during ${w.cmd}`));
    this.greetingWaiter?.(err('QMP connection closed before the greeting'));
    this.emit('close');
  }

  get isClosed(): boolean {
    return this.closed;
  }

  execute(cmd: string, args?: Record<string, unknown>): Promise<Result<unknown, string>> {
    if (this.closed) return Promise.resolve(err(`QMP connection closed (${cmd})`));
    return new Promise((resolve) => {
      this.waiting.push({ resolve, cmd });
      this.sock.write(JSON.stringify(args ? { execute: cmd, arguments: args } : { execute: cmd }) + '\n');
    });
  }

  close(): void {
    this.sock.destroy();
  }
}
