// Reading the user's files (playbooks, inventories, `-e @vars.yml`) with input limits: a size
// cap checked before anything is read, strict UTF-8 (a bad byte is a located error, not a silent
// U+FFFD), and a UTF-8 byte order mark accepted and dropped. The nesting-depth limit is applied
// by the YAML layer (yaml-doc.ts), before the document is built.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { Diagnostic } from './diagnostics.js';
import { diagnostic } from './diagnostics.js';

export interface InputLimits {
  /** largest file accepted, in bytes */
  maxBytes: number;
  /** deepest nesting of YAML collections accepted */
  maxDepth: number;
}

export const DEFAULT_INPUT_LIMITS: Readonly<InputLimits> = { maxBytes: 4 * 1024 * 1024, maxDepth: 64 };
export const MAX_BYTES_ENV = 'PVRUN_MAX_INPUT_BYTES';
export const MAX_DEPTH_ENV = 'PVRUN_MAX_INPUT_DEPTH';

let current: InputLimits = { ...DEFAULT_INPUT_LIMITS };

/** The limits in force for this process (set once per CLI invocation from its environment). */
export function inputLimits(): Readonly<InputLimits> {
  return current;
}

export function setInputLimits(l: Partial<InputLimits>): void {
  current = { ...DEFAULT_INPUT_LIMITS, ...l };
}

/** "4194304", "4M", "512k", "1MiB" → bytes; undefined when not a positive size. */
export function parseByteSize(text: string): number | undefined {
  const m = /^\s*(\d+)\s*(k|kb|kib|m|mb|mib|g|gb|gib)?\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = (m[2] ?? '').toLowerCase()[0];
  const n = Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/**
 * The limits from the environment (PVRUN_MAX_INPUT_BYTES, PVRUN_MAX_INPUT_DEPTH), or a message
 * saying which variable holds what bad value.
 */
export function inputLimitsFromEnv(env: NodeJS.ProcessEnv): { ok: true; limits: InputLimits } | { ok: false; message: string } {
  const limits: InputLimits = { ...DEFAULT_INPUT_LIMITS };
  const bytes = env[MAX_BYTES_ENV];
  if (bytes !== undefined && bytes !== '') {
    const n = parseByteSize(bytes);
    if (n === undefined) return { ok: false, message: `${MAX_BYTES_ENV} must be a size in bytes (e.g. 4194304, 512K, 16M), not '${bytes}'` };
    limits.maxBytes = n;
  }
  const depth = env[MAX_DEPTH_ENV];
  if (depth !== undefined && depth !== '') {
    const n = Number(depth);
    // the YAML composer and the loader recurse per level: past a few thousand the stack would not hold
    if (!/^\s*\d+\s*$/.test(depth) || n < 1 || n > 1000) return { ok: false, message: `${MAX_DEPTH_ENV} must be a whole number from 1 to 1000, not '${depth}'` };
    limits.maxDepth = n;
  }
  return { ok: true, limits };
}

const fmtBytes = (n: number): string =>
  n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1).replace(/\.0$/, '')} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1).replace(/\.0$/, '')} KiB` : `${n} bytes`;

/**
 * Read a user file; a missing, unreadable, oversized or non-UTF-8 file is a diagnostic (at the
 * offending byte for bad UTF-8, at line 1 otherwise). A leading UTF-8 BOM is dropped.
 */
export function readUserFile(file: string, what: string): { ok: true; text: string } | { ok: false; diagnostic: Diagnostic } {
  const { maxBytes } = current;
  let buf: Buffer;
  try {
    buf = readCapped(file, maxBytes);
  } catch (e) {
    if (e instanceof TooLarge) {
      const size = e.size !== undefined ? ` is ${fmtBytes(e.size)},` : '';
      return { ok: false, diagnostic: diagnostic({ file, line: 1, col: 1 }, `the ${what}${size} over the ${fmtBytes(maxBytes)} input limit (${MAX_BYTES_ENV} raises it)`) };
    }
    const code = (e as { code?: string }).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : String((e as Error).message);
    return { ok: false, diagnostic: diagnostic({ file, line: 1, col: 1 }, `cannot read ${what}: ${why}`) };
  }
  const bad = firstInvalidUtf8(buf);
  if (bad !== undefined) return { ok: false, diagnostic: utf8Diagnostic(file, what, buf, bad) };
  // fatal: never a silent U+FFFD; the decoder drops a leading BOM (ignoreBOM: false)
  return { ok: true, text: new TextDecoder('utf-8', { fatal: true }).decode(buf) };
}

class TooLarge extends Error {
  constructor(readonly size: number | undefined) { super('too large'); }
}

/** The file's bytes, refusing more than `max` before reading them (stat first; pipes by count). */
function readCapped(file: string, max: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    if (st.isFile() && st.size > max) throw new TooLarge(st.size);
    const chunks: Buffer[] = [];
    let total = 0;
    const chunk = Buffer.allocUnsafe(64 * 1024);
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      total += n;
      if (total > max) throw new TooLarge(st.isFile() ? Math.max(st.size, total) : undefined);
      chunks.push(Buffer.from(chunk.subarray(0, n)));
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}

/**
 * Byte offset of the first byte that does not start or continue a well-formed UTF-8 sequence
 * (Unicode 15 table 3-7: no overlongs, no surrogates, nothing past U+10FFFF); undefined if valid.
 */
export function firstInvalidUtf8(b: Uint8Array): number | undefined {
  let i = 0;
  const n = b.length;
  while (i < n) {
    const c = b[i]!;
    if (c < 0x80) { i++; continue; }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) { need = 2; if (c === 0xe0) lo = 0xa0; else if (c === 0xed) hi = 0x9f; }
    else if (c >= 0xf0 && c <= 0xf4) { need = 3; if (c === 0xf0) lo = 0x90; else if (c === 0xf4) hi = 0x8f; }
    else return i;
    for (let k = 1; k <= need; k++) {
      const d = b[i + k];
      if (d === undefined) return i; // cut short at the end of the file
      const min = k === 1 ? lo : 0x80;
      const max = k === 1 ? hi : 0xbf;
      if (d < min || d > max) return i;
    }
    i += need + 1;
  }
  return undefined;
}

function utf8Diagnostic(file: string, what: string, buf: Buffer, offset: number): Diagnostic {
  // (lastIndexOf with a negative start would count from the end)
  const lineStart = offset === 0 ? 0 : buf.lastIndexOf(0x0a, offset - 1) + 1;
  let line = 1;
  for (let k = 0; k < lineStart; k++) if (buf[k] === 0x0a) line++;
  let lineEnd = buf.indexOf(0x0a, offset);
  if (lineEnd < 0) lineEnd = buf.length;
  const hasBom = lineStart === 0 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf;
  const before = buf.subarray(hasBom ? 3 : lineStart, offset).toString('utf8'); // valid up to offset
  const shown = new TextDecoder('utf-8').decode(buf.subarray(lineStart, lineEnd)).replace(/^\uFEFF/, '');
  const byte = buf[offset]!.toString(16).toUpperCase().padStart(2, '0');
  const utf16 = offset === 0 && ((buf[0] === 0xff && buf[1] === 0xfe) || (buf[0] === 0xfe && buf[1] === 0xff));
  const hint = utf16 ? ' (the file looks UTF-16: save it as UTF-8)' : ' (save the file as UTF-8)';
  return diagnostic({ file, line, col: before.length + 1 }, `the ${what} is not valid UTF-8: byte 0x${byte} at byte offset ${offset}${hint}`, shown);
}
