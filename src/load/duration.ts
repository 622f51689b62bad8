/**
 * The one duration grammar of pvrun: `30s`, `5m`, `1h`, `250ms`, `7d`, `2w`, combinations like
 * `1h30m`, or a plain number of seconds (`90`, `1.5`), with surrounding blanks allowed.
 *
 * This module owns it: the JSON Schema (`DURATION_PATTERN`, used by the published playbook schema
 * and by the step argument schemas through `DURATION_SCHEMA`) and the parser (`parseDuration`,
 * used by the loader, the steps and `snapshots prune --older-than`) are built from the same unit
 * table, so an editor and the loader accept exactly the same strings
 * (test/load/schema-descriptions.test.ts checks both over a corpus).
 */
export const DURATION_UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
export type DurationUnit = keyof typeof DURATION_UNIT_MS;

// `ms` before `m`: a regex alternation takes the first unit that matches.
const UNITS = (Object.keys(DURATION_UNIT_MS) as DurationUnit[]).sort((a, b) => b.length - a.length).join('|');
const NUMBER = '\\d+(\\.\\d+)?';

/** A whole duration string (JSON Schema `pattern`, ECMA-262 syntax). */
export const DURATION_PATTERN = `^\\s*(${NUMBER}|(${NUMBER}(${UNITS}))+)\\s*$`;

export const DURATION_DESCRIPTION = 'a duration: a number of seconds, or amounts with units ms, s, m, h, d, w (250ms, 30s, 5m, 1h30m, 7d, 2w)';

/** The schema of a duration value, for the playbook schema and step argument schemas. */
export const DURATION_SCHEMA = {
  description: DURATION_DESCRIPTION,
  examples: ['30s', '5m', '1h30m', '7d', 90],
  anyOf: [{ type: 'number', minimum: 0 }, { type: 'string', pattern: DURATION_PATTERN }],
};

const WHOLE = new RegExp(DURATION_PATTERN, 'u');
const PART = new RegExp(`(${NUMBER})(${UNITS})`, 'gu');

export function parseDuration(v: unknown): { ok: true; ms: number } | { ok: false; message: string } {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) return { ok: false, message: `bad duration ${v}: must be a number of seconds ≥ 0` };
    return { ok: true, ms: Math.round(v * 1000) };
  }
  if (typeof v !== 'string') return { ok: false, message: `bad duration: expected e.g. 30s, 5m, 1h or a number of seconds, got ${describeType(v)}` };
  if (!WHOLE.test(v)) {
    return { ok: false, message: `bad duration '${v}': expected e.g. 30s, 5m, 1h, 1h30m, 7d or a number of seconds` };
  }
  const s = v.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return { ok: true, ms: Math.round(Number(s) * 1000) };
  let total = 0;
  for (const m of s.matchAll(PART)) total += Number(m[1]) * DURATION_UNIT_MS[m[3] as DurationUnit];
  return { ok: true, ms: Math.round(total) };
}

export function describeType(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return `'${v.length > 40 ? v.slice(0, 37) + '...' : v}'`;
  return `${typeof v === 'number' ? 'the number' : typeof v} ${String(v)}`;
}
