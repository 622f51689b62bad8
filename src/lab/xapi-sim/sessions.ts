import { randomUUID } from 'node:crypto';
import { XapiFault } from './fault.js';

interface Session { user: string; lastUsed: number }

/** Sessions with inactivity expiry (XAPI: 24 h, and the oldest go past 500 per user). */
export class Sessions {
  private readonly map = new Map<string, Session>();
  logins = 0;

  constructor(private ttlMs: number, private readonly creds: { username: string; password: string }) {}

  login(user: unknown, pwd: unknown): string {
    if (user !== this.creds.username || pwd !== this.creds.password) {
      throw new XapiFault('SESSION_AUTHENTICATION_FAILED', [String(user), 'Authentication failure']);
    }
    const ref = `OpaqueRef:${randomUUID()}`;
    this.map.set(ref, { user: String(user), lastUsed: Date.now() });
    this.logins++;
    return ref;
  }

  /** raise SESSION_INVALID unless the session is live; touch it */
  check(ref: unknown): void {
    const s = typeof ref === 'string' ? this.map.get(ref) : undefined;
    if (!s || Date.now() - s.lastUsed > this.ttlMs) {
      if (typeof ref === 'string') this.map.delete(ref);
      throw new XapiFault('SESSION_INVALID', [String(ref)]);
    }
    s.lastUsed = Date.now();
  }

  logout(ref: unknown): void {
    this.check(ref);
    this.map.delete(String(ref));
  }

  /** tests: every session is gone, as after a toolstack restart */
  expireAll(): void {
    this.map.clear();
  }

  setTtl(ms: number): void {
    this.ttlMs = ms;
  }

  get live(): number {
    return this.map.size;
  }
}
