/**
 * A tiny Chrome DevTools Protocol client over `--remote-debugging-pipe` (no WebSocket, no
 * dependency): Chromium reads commands on fd 3 and writes answers and events on fd 4, each a
 * JSON message ended by a NUL byte (chromium: content/browser/devtools/devtools_pipe_handler.cc).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

export const CHROMIUM = '/usr/bin/chromium';

interface Message { id?: number; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown>; error?: { message: string }; sessionId?: string }

export class Browser {
  private next = 1;
  private readonly waiting = new Map<number, { ok: (r: Record<string, unknown>) => void; ko: (e: Error) => void }>();
  private readonly listeners: ((m: Message) => void)[] = [];
  readonly events: Message[] = [];
  stderr = '';

  private constructor(private readonly proc: ChildProcess, private readonly input: Writable, output: Readable, private readonly profile: string) {
    let buf = Buffer.alloc(0);
    output.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      let i: number;
      while ((i = buf.indexOf(0)) >= 0) {
        const m = JSON.parse(buf.subarray(0, i).toString('utf8')) as Message;
        buf = buf.subarray(i + 1);
        if (m.id !== undefined && this.waiting.has(m.id)) {
          const w = this.waiting.get(m.id)!;
          this.waiting.delete(m.id);
          if (m.error) w.ko(new Error(m.error.message)); else w.ok(m.result ?? {});
        } else {
          this.events.push(m);
          for (const l of this.listeners) l(m);
        }
      }
    });
    proc.stderr?.on('data', (d: Buffer) => { this.stderr += d.toString(); });
  }

  /**
   * Headless Chromium with no way out: every host name resolves to nothing
   * (`--host-resolver-rules`), no sandbox (root), a throw-away profile.
   */
  static launch(extraArgs: string[] = []): Browser {
    const profile = mkdtempSync(join(tmpdir(), 'pvrun-chromium-'));
    const proc = spawn(CHROMIUM, [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-extensions',
      '--host-resolver-rules=MAP * ~NOTFOUND', `--user-data-dir=${profile}`, '--remote-debugging-pipe', ...extraArgs, 'about:blank',
    ], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    return new Browser(proc, proc.stdio[3] as Writable, proc.stdio[4] as Readable, profile);
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
    const id = this.next++;
    const p = new Promise<Record<string, unknown>>((ok, ko) => {
      const timer = setTimeout(() => { this.waiting.delete(id); ko(new Error(`CDP ${method}: no answer in ${timeoutMs} ms; chromium stderr: ${this.stderr.slice(-2000)}`)); }, timeoutMs);
      this.waiting.set(id, { ok: (r) => { clearTimeout(timer); ok(r); }, ko: (e) => { clearTimeout(timer); ko(e); } });
    });
    this.input.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    return p;
  }

  /** The first event with this method (already seen, or to come). */
  waitFor(method: string, timeoutMs = 60_000): Promise<Message> {
    const seen = this.events.find((m) => m.method === method);
    if (seen) return Promise.resolve(seen);
    return new Promise((ok, ko) => {
      const timer = setTimeout(() => ko(new Error(`no ${method} event in ${timeoutMs} ms`)), timeoutMs);
      this.listeners.push((m) => { if (m.method === method) { clearTimeout(timer); ok(m); } });
    });
  }

  /** A new page target, attached (flat sessions). */
  async page(): Promise<Page> {
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank' }) as { targetId: string };
    const { sessionId } = await this.send('Target.attachToTarget', { targetId, flatten: true }) as { sessionId: string };
    return new Page(this, sessionId);
  }

  async close(): Promise<void> {
    try { await this.send('Browser.close', {}, undefined, 5000); } catch { /* killed below */ }
    await new Promise<void>((done) => {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) return done();
      const t = setTimeout(() => { this.proc.kill('SIGKILL'); }, 5000);
      this.proc.once('exit', () => { clearTimeout(t); done(); });
    });
    rmSync(this.profile, { recursive: true, force: true });
  }
}

export class Page {
  constructor(private readonly browser: Browser, readonly sessionId: string) {}

  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return this.browser.send(method, params, this.sessionId);
  }

  /** Events of this page's session. */
  events(method: string): Record<string, unknown>[] {
    return this.browser.events.filter((m) => m.sessionId === this.sessionId && m.method === method).map((m) => m.params ?? {});
  }

  async eval<T>(expression: string): Promise<T> {
    const r = await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }) as { result: { value: T }; exceptionDetails?: { text: string; exception?: { description?: string } } };
    if (r.exceptionDetails) throw new Error(`page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value;
  }
}
