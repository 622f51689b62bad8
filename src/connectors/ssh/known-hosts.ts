/**
 * known_hosts handling as OpenSSH does it: plain and hashed (`|1|salt|hmac`) host fields,
 * `[host]:port` for non-22 ports, comma lists, `*`/`?` wildcards, `!` negation, `@revoked`.
 * The lookup is pure (text in, verdict out); only append() touches the file.
 */
import { createHash, createHmac } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface KnownKey {
  type: string;
  /** base64 of the key blob */
  b64: string;
  revoked: boolean;
}

export type HostKeyVerdict =
  | { kind: 'match' }
  | { kind: 'unknown' }
  /** the host is known, with other key(s); `expected` are their fingerprints */
  | { kind: 'changed'; expected: string[] }
  | { kind: 'revoked' };

/** The name a host is recorded under: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type is the first SSH string inside the blob. */
export function keyTypeOfBlob(blob: Buffer): string {
  if (blob.length < 4) return '';
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

function globToRegExp(pattern: string): RegExp {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i');
}

/** Does the host field of a known_hosts line cover `name`? */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
    return mac === hash;
  }
  let matched = false;
  for (const raw of field.split(',')) {
    const negated = raw.startsWith('!');
    const pat = negated ? raw.slice(1) : raw;
    if (globToRegExp(pat).test(name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

interface ParsedLine extends KnownKey {
  /** the host field, matched by hostFieldMatches (patterns compiled once per text, below) */
  matches(name: string): boolean;
}

/** One host pattern, compiled: a plain name is compared, only wildcards build a RegExp. */
function patternMatcher(field: string): (name: string) => boolean {
  if (field.startsWith('|1|')) return (name) => hostFieldMatches(field, name);
  const pats = field.split(',').map((raw) => {
    const negated = raw.startsWith('!');
    const pat = negated ? raw.slice(1) : raw;
    const test: (n: string) => boolean = /[*?]/.test(pat)
      ? ((re) => (n: string) => re.test(n))(globToRegExp(pat))
      : ((lower) => (n: string) => n.toLowerCase() === lower)(pat.toLowerCase());
    return { negated, test };
  });
  return (name) => {
    let matched = false;
    for (let i = 0; i < pats.length; i++) {
      const p = pats[i]!;
      if (p.test(name)) {
        if (p.negated) return false;
        matched = true;
      }
    }
    return matched;
  };
}

/**
 * A known_hosts text, parsed: its lines, and an index of the lines whose host field is a plain
 * list of names (no wildcard, no `!`, not hashed — what `accept-new` and ssh-keyscan write) by
 * each name in lower case. Only the other lines are matched one by one. Every connection looks
 * its host up twice; matching all N lines each time, in code V8 has not optimised yet, made a
 * fresh iterator result per line and per pattern (~1 MB of garbage for 50 hosts with one line
 * each, issue 17; BENCHMARKS.md, fourteenth pass).
 */
interface ParsedText {
  lines: ParsedLine[];
  /** lower-case name → indices of the plain lines naming it, in file order */
  byName: Map<string, number[]>;
  /** indices of the lines matched one by one (wildcards, negations, hashed names) */
  scan: number[];
}

function parseText(text: string): ParsedText {
  const lines: ParsedLine[] = [];
  const byName = new Map<string, number[]>();
  const scan: number[] = [];
  for (const line0 of text.split('\n')) {
    const line = line0.trim();
    if (!line || line.startsWith('#')) continue;
    const parts = line.split(/\s+/);
    let revoked = false;
    if (parts[0]?.startsWith('@')) {
      const marker = parts.shift();
      if (marker === '@cert-authority') continue;
      revoked = marker === '@revoked';
    }
    const [field, type, b64] = parts;
    if (!field || !type || !b64) continue;
    const index = lines.length;
    lines.push({ type, b64, revoked, matches: patternMatcher(field) });
    if (field.startsWith('|1|') || /[*?!]/.test(field)) {
      scan.push(index);
      continue;
    }
    for (const name of field.split(',')) {
      const key = name.toLowerCase();
      const at = byName.get(key);
      if (!at) byName.set(key, [index]);
      else if (at[at.length - 1] !== index) at.push(index); // `a,a`: the line once
    }
  }
  return { lines, byName, scan };
}

/**
 * Parsed known_hosts texts, most recent last. Every connection of a run looks its host up in the
 * same file (twice: algorithms, then the key): parsing it once instead of per lookup keeps a
 * 1,000-host run from doing 2,000 parses of a 1,000-line file (issue 17; BENCHMARKS.md hot spot 5).
 */
const parsedTexts = new Map<string, ParsedText>();
function parsed(text: string): ParsedText {
  let p = parsedTexts.get(text);
  if (!p) {
    p = parseText(text);
    if (parsedTexts.size >= 8) parsedTexts.delete(parsedTexts.keys().next().value!);
    parsedTexts.set(text, p);
  }
  return p;
}

/** Keys recorded for `name` in known_hosts text, in file order (cert-authority lines are not host keys). */
export function keysFor(text: string, name: string): KnownKey[] {
  const p = parsed(text);
  const plain = p.byName.get(name.toLowerCase());
  let at: readonly number[] = plain ?? [];
  if (p.scan.length > 0) {
    const hits = plain ? plain.slice() : [];
    for (let i = 0; i < p.scan.length; i++) if (p.lines[p.scan[i]!]!.matches(name)) hits.push(p.scan[i]!);
    if (plain && hits.length > plain.length) hits.sort((a, b) => a - b);
    at = hits;
  }
  const out: KnownKey[] = [];
  for (let i = 0; i < at.length; i++) {
    const l = p.lines[at[i]!]!;
    out.push({ type: l.type, b64: l.b64, revoked: l.revoked });
  }
  return out;
}

/** Compare the key the server presented with what known_hosts says about `name`. */
export function verifyHostKey(text: string, name: string, blob: Buffer): HostKeyVerdict {
  const keys = keysFor(text, name);
  const b64 = blob.toString('base64');
  if (keys.some((k) => k.revoked && k.b64 === b64)) return { kind: 'revoked' };
  if (keys.some((k) => !k.revoked && k.b64 === b64)) return { kind: 'match' };
  const others = keys.filter((k) => !k.revoked);
  if (others.length === 0) return { kind: 'unknown' };
  // A different key, of the same type or not: OpenSSH's "REMOTE HOST IDENTIFICATION HAS
  // CHANGED". A server that stopped offering the recorded type is treated as changed too,
  // because the connector asks for the recorded types first (see preferredHostKeyAlgorithms).
  return { kind: 'changed', expected: others.map((k) => fingerprint(Buffer.from(k.b64, 'base64'))) };
}

const DEFAULT_ALGOS = [
  'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521',
  'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa',
];

/** Ask for key types we already know first, so a known host is checked against its own key. */
export function preferredHostKeyAlgorithms(text: string, name: string): string[] {
  const first: string[] = [];
  for (const k of keysFor(text, name)) {
    const algos = k.type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [k.type];
    for (const a of algos) if (DEFAULT_ALGOS.includes(a) && !first.includes(a)) first.push(a);
  }
  return [...first, ...DEFAULT_ALGOS.filter((a) => !first.includes(a))];
}

// Read at every lookup on purpose: timestamps are too coarse to tell a rewritten file from the
// one read before, and a key check must see the file as it is. Parsing is what is cached (by text).
export function readKnownHosts(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Record a new key (accept-new). O_APPEND keeps concurrent writers' lines whole. */
export function appendKnownHost(path: string, name: string, blob: Buffer): void {
  if (!existsSync(dirname(path))) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const text = readKnownHosts(path);
  const sep = text.length > 0 && !text.endsWith('\n') ? '\n' : '';
  appendFileSync(path, `${sep}${name} ${keyTypeOfBlob(blob)} ${blob.toString('base64')}\n`, { mode: 0o600 });
}
