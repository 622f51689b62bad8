/**
 * PowerShell quoting. Every value that goes into a PowerShell script passes through here; no
 * script is built by pasting an unescaped value into a template.
 *
 * Single-quoted strings are literal in PowerShell: no `$` expansion, no backtick escapes. The only
 * character that ends one is a single quote, and PowerShell's tokenizer counts four characters as
 * single quotes: ' (U+0027), ‘ (U+2018), ’ (U+2019), ‚ (U+201A), ‛ (U+201B). Inside the string any
 * of them is written by doubling it, so doubling each one keeps the exact text.
 */

const SINGLE_QUOTES = /['\u2018\u2019\u201A\u201B]/g;

/** A PowerShell single-quoted string literal whose value is exactly `s`. */
export function quotePs(s: string): string {
  return `'${s.replace(SINGLE_QUOTES, (q) => q + q)}'`;
}

/** `@('a','b')`: an array literal of quoted strings (always an array, also for 0 or 1 items). */
export function quotePsArray(items: readonly string[]): string {
  return `@(${items.map(quotePs).join(',')})`;
}

/**
 * A value for a script: strings quoted, numbers and booleans as PowerShell literals. Anything
 * else (objects, arrays of objects) goes through JSON and ConvertFrom-Json, so the script sees
 * the same data without a hand-written literal syntax.
 */
export function psLiteral(v: unknown): string {
  if (v === null || v === undefined) return '$null';
  if (typeof v === 'string') return quotePs(v);
  if (typeof v === 'boolean') return v ? '$true' : '$false';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`cannot put ${v} into a PowerShell script`);
    return String(v);
  }
  return `(ConvertFrom-Json -InputObject ${quotePs(JSON.stringify(v))})`;
}

/** `-EncodedCommand` takes the script as base64 of its UTF-16LE bytes. */
export function encodeCommand(script: string): string {
  return Buffer.from(script, 'utf16le').toString('base64');
}

/** The inverse of encodeCommand (tests, -v output). */
export function decodeCommand(b64: string): string {
  return Buffer.from(b64, 'base64').toString('utf16le');
}

/**
 * One line of PowerShell that runs `script` (any text, any number of lines): the script travels
 * as base64 of UTF-8, which has no quotes or newlines, and is compiled on the far side. Used where
 * a channel is line-oriented (node-powershell writes commands to pwsh's stdin line by line).
 */
export function oneLine(script: string, opts: { dotSource?: boolean } = {}): string {
  const b64 = Buffer.from(script, 'utf8').toString('base64');
  return `${opts.dotSource ? '.' : '&'} ([scriptblock]::Create([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('${b64}'))))`;
}
