// Secret redaction for every output (logs, events, journal, reports). Each registered secret is
// masked as `***` in its plain form, its base64 forms (standard and URL-safe, also when it sits
// inside a longer base64 string, e.g. a Basic auth header) and its URL-encoded forms.

/** Shorter values would mask unrelated text everywhere; they are not registered (documented). */
export const MIN_SECRET_LENGTH = 3;
export const MASK = '***';

export class Redactor {
  private readonly secrets = new Set<string>();
  private readonly forms = new Set<string>();
  private re: RegExp | undefined;

  /** Register a secret value. Returns false when it was too short to register. */
  add(secret: string): boolean {
    if (secret.length < MIN_SECRET_LENGTH || this.secrets.has(secret)) return secret.length >= MIN_SECRET_LENGTH;
    this.secrets.add(secret);
    for (const f of variants(secret)) if (f.length >= MIN_SECRET_LENGTH) this.forms.add(f);
    this.re = undefined;
    return true;
  }

  get size(): number {
    return this.secrets.size;
  }

  redact(text: string): string {
    if (this.forms.size === 0 || text.length === 0) return text;
    // Longest first, so a value's base64 form is not half-masked by a shorter secret.
    this.re ??= new RegExp([...this.forms].sort((a, b) => b.length - a.length).map(escapeRe).join('|'), 'g');
    return text.replace(this.re, MASK);
  }

  /** Redact every string inside a JSON-like value (for events and journal records). */
  redactValue<T>(value: T): T {
    if (this.forms.size === 0) return value;
    const walk = (v: unknown): unknown => {
      if (typeof v === 'string') return this.redact(v);
      if (Array.isArray(v)) return v.map(walk);
      if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
      return v;
    };
    return walk(value) as T;
  }

  clear(): void {
    this.secrets.clear();
    this.forms.clear();
    this.re = undefined;
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function variants(secret: string): string[] {
  const out = [secret, encodeURIComponent(secret), encodeURIComponent(secret).replace(/%20/g, '+'), encodeURI(secret)];
  const bytes = Buffer.from(secret, 'utf8');
  // The secret may start at any byte offset of a longer base64 payload: for each of the three
  // alignments keep only the characters determined by the secret's bytes alone.
  for (let k = 0; k < 3; k++) {
    const b64 = Buffer.concat([Buffer.alloc(k), bytes]).toString('base64');
    const start = Math.ceil((8 * k) / 6);
    const end = Math.floor((8 * (k + bytes.length)) / 6);
    const core = b64.slice(start, end);
    // Very short cores would match unrelated base64 text.
    if (core.length >= 4) out.push(core, core.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return [...new Set(out)];
}

/** The process-wide redactor: secrets resolved anywhere are registered here. */
export const redactor = new Redactor();
