/**
 * Durations in playbooks: `30s`, `5m`, `1h`, `250ms`, `7d`, `2w`, combinations like `1h30m`,
 * or a plain number of seconds. Returns milliseconds, or an error message.
 */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export function parseDuration(v: unknown): { ok: true; ms: number } | { ok: false; message: string } {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) return { ok: false, message: `bad duration ${v}: must be a number of seconds ≥ 0` };
    return { ok: true, ms: Math.round(v * 1000) };
  }
  if (typeof v !== 'string') return { ok: false, message: `bad duration: expected e.g. 30s, 5m, 1h or a number of seconds, got ${describeType(v)}` };
  const s = v.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return { ok: true, ms: Math.round(Number(s) * 1000) };
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    matched = re.lastIndex;
  }
  if (s.length === 0 || matched !== s.length) {
    return { ok: false, message: `bad duration '${v}': expected e.g. 30s, 5m, 1h, 1h30m, 7d or a number of seconds` };
  }
  return { ok: true, ms: Math.round(total) };
}

export function describeType(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return `'${v.length > 40 ? v.slice(0, 37) + '...' : v}'`;
  return `${typeof v === 'number' ? 'the number' : typeof v} ${String(v)}`;
}
