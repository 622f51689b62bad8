// Secret redaction for every output (logs, events, journal, reports).
//
// Structured first: values are redacted as values (every string, and every object key, of an
// event or journal record) BEFORE they are serialised — JSON.stringify, XML escaping, GitHub's
// workflow-command escaping, Markdown cells — never the serialised text, whose escaping would
// hide the secret from a plain search (`"` becomes `\"`, `&` becomes `&amp;`, `%` becomes `%25`)
// and whose syntax a mask could break (a secret equal to `true` would turn `"check":true` into
// `"check":***`). Only string contents are ever masked; numbers, booleans and markup are not.
//
// Each registered secret is masked as `***` in its plain form, its base64 forms (standard and
// URL-safe, also inside a longer base64 string, e.g. a Basic auth header), its URL-encoded forms,
// and the forms each output format escapes it to (JSON, XML text and attributes, GitHub
// annotation data and properties, Markdown table cells), also one escaping inside another (a
// JSON string inside a JSON string), and each of those inside a shell single-quoted word. So a
// value that already carries an escaped secret (a guest printing a JSON config) is masked too,
// and the late, syntax-aware passes each serialiser runs over its own output (`redactJsonText`,
// and per value in the XML and annotation writers) catch any form the structured pass missed
// without breaking the syntax.

/** Shorter values would mask unrelated text everywhere; they are not registered (documented). */
export const MIN_SECRET_LENGTH = 3;
export const MASK = '***';

/** A text redactor: masks every registered secret form in a string. */
export type RedactFn = (text: string) => string;

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

  /** Mask every form of every secret in a text (for human text; serialised formats use the structured passes). */
  redact(text: string): string {
    if (this.forms.size === 0 || text.length === 0) return text;
    // Longest first, so a value's base64 form is not half-masked by a shorter secret.
    this.re ??= new RegExp([...this.forms].sort((a, b) => b.length - a.length).map(escapeRe).join('|'), 'g');
    return text.replace(this.re, MASK);
  }

  /** Redact every string (and key) inside a JSON-like value: events and journal records, before serialising. */
  redactValue<T>(value: T): T {
    if (this.forms.size === 0) return value;
    return redactValueWith(value, (s) => this.redact(s));
  }

  /** JSON.stringify of the value, redacted as a value, with the late pass over the JSON text. */
  stringify(value: unknown): string {
    if (this.forms.size === 0) return JSON.stringify(value);
    const redact = (s: string): string => this.redact(s);
    return redactJsonText(JSON.stringify(redactValueWith(value, redact)), redact);
  }

  clear(): void {
    this.secrets.clear();
    this.forms.clear();
    this.re = undefined;
  }
}

/**
 * Structured redaction with any text redactor: every string value and every object key of a
 * JSON-like value goes through `redact`; numbers, booleans and null are left as they are (a
 * secret `true` must not touch `"check": true`). Returns a copy; the input is not changed.
 */
export function redactValueWith<T>(value: T, redact: RedactFn): T {
  // Copy on write: a value with nothing to mask is returned as is (every event goes through
  // here once per reporter and for the journal; most hold no secret).
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return redact(v);
    if (Array.isArray(v)) {
      let out: unknown[] | undefined;
      for (let i = 0; i < v.length; i++) {
        const x = walk(v[i]);
        if (x !== v[i]) (out ??= v.slice())[i] = x;
      }
      return out ?? v;
    }
    if (typeof v === 'object' && v !== null) {
      // toJSON objects (a Date) serialise as strings: redact what will be written
      if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return walk((v as { toJSON(): unknown }).toJSON());
      // no entry arrays unless something changed: the common case allocates nothing
      const keys = Object.keys(v);
      const o = v as Record<string, unknown>;
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        const x = o[k];
        const k2 = redact(k);
        const x2 = walk(x);
        if (k2 === k && x2 === x) continue;
        // something changed: copy the entries seen so far as they are, this one and the rest redacted
        const out: [string, unknown][] = [];
        for (let j = 0; j < i; j++) out.push([keys[j]!, o[keys[j]!]]);
        out.push([k2, x2]);
        for (let j = i + 1; j < keys.length; j++) out.push([redact(keys[j]!), walk(o[keys[j]!])]);
        return Object.fromEntries(out);
      }
      return v;
    }
    return v;
  };
  return walk(value) as T;
}

/**
 * A value (an event) redacted as a value, made once per value and redactor: the journal and each
 * reporter use the same copy instead of walking the event again each (controller CPU per exec,
 * issue 17). Keyed on the redactor function, so an output with another redactor never gets a
 * copy made by this one. The copy is never changed.
 */
const onceCache = new WeakMap<object, { redact: RedactFn; value: unknown }>();
export function redactedOnce<T extends object>(value: T, redact: RedactFn): T {
  const hit = onceCache.get(value);
  if (hit && hit.redact === redact) return hit.value as T;
  const copy = redactValueWith(value, redact);
  onceCache.set(value, { redact, value: copy });
  return copy;
}

/** A JSON string token in serialised JSON text (keys included). */
const JSON_STRING = /"(?:[^"\\]|\\.)*"/g;

/**
 * The late pass over serialised JSON: only inside string tokens, so the syntax stays valid (never
 * `"check":***`). A token whose decoded value holds a secret is re-encoded masked; a token whose
 * encoded text alone holds one (an escaped form) is masked whole.
 */
export function redactJsonText(json: string, redact: RedactFn): string {
  // No form anywhere in the text: no token holds one either (JSON escaping is per character, and
  // every secret's JSON-escaped form is one of the forms), so one search settles it.
  if (redact(json) === json) return json;
  return json.replace(JSON_STRING, (tok) => {
    const inner = tok.slice(1, -1);
    const decoded = inner.includes('\\') ? (JSON.parse(tok) as string) : inner;
    const masked = redact(decoded);
    if (masked !== decoded) return JSON.stringify(masked);
    return inner !== decoded && redact(inner) !== inner ? JSON.stringify(MASK) : tok;
  });
}

/**
 * One value escaped for a serial format, with a late check: the value is redacted, escaped, and
 * if the escaped text still holds a secret form (an escape sequence that happens to spell one),
 * the whole value is written as the mask. The markup around values is never searched, so a secret
 * that is also a markup word (`testcase`, `error`) cannot break the syntax.
 */
export function escapeRedacted(value: string, escape: (s: string) => string, redact: RedactFn): string {
  const x = escape(redact(value));
  return redact(x) === x ? x : escape(MASK);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** inside a shell single-quoted word: a script shown by --diff quotes any of the forms below */
const shellQuoted = (s: string): string => s.replace(/'/g, `'\\''`);

/** How each output format escapes a string (the forms a secret takes in that output). */
const ESCAPES: ((s: string) => string)[] = [
  shellQuoted,
  (s) => JSON.stringify(s).slice(1, -1), // JSON string contents (RFC 8259 §7)
  (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'), // XML text (XML 1.0 §2.4)
  (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;'), // XML attribute
  (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;'),
  (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;'),
  (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/\n/g, '&#10;'),
  // GitHub workflow command data and properties (actions/toolkit packages/core/src/command.ts)
  (s) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A'),
  (s) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A').replace(/:/g, '%3A').replace(/,/g, '%2C'),
  (s) => s.replace(/\|/g, '\\|').replace(/\r?\n/g, '<br>'), // a Markdown table cell (the job summary)
  (s) => s.replace(/'/g, "''"), // a YAML single-quoted scalar (YAML 1.2 §7.3.2): an inventory line echoed in an error
];

function variants(secret: string): string[] {
  const out = [secret, encodeURIComponent(secret), encodeURIComponent(secret).replace(/%20/g, '+'), encodeURI(secret)];
  // each escaping, and each escaping of an escaped form (a JSON string inside a JSON string, an
  // XML-escaped value in a Markdown cell, …); then each of these single-quoted for a shell
  for (const e1 of ESCAPES) {
    const once = e1(secret);
    out.push(once);
    for (const e2 of ESCAPES) out.push(e2(once));
  }
  out.push(...out.map(shellQuoted));
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
/**
 * The process-wide redactor as one function: every output of a run is given this same function,
 * so an event redacted once for the journal is the same copy for the reporters (redactedOnce is
 * keyed on the function).
 */
export const redactText: RedactFn = (s) => redactor.redact(s);
