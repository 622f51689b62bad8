// `serial:` — batch sizes: `1`, `"25%"`, or a list `[1, 5, "20%"]` (the last size repeats).
import type { SerialItem } from '../model/playbook.js';
import type { Diagnostic } from './diagnostics.js';
import { describeType } from './duration.js';
import { diagAt } from './yaml-doc.js';
import type { Path, YamlSource } from './yaml-doc.js';

export const ALL_AT_ONCE: SerialItem[] = [{ percent: 100 }];

export function parseSerialItem(v: unknown): SerialItem | string {
  const hint = 'expected a host count ≥ 1 or a percentage like "25%"';
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return `bad serial ${v}: a host count must be a whole number`;
    if (v < 1) return `bad serial ${v}: a batch needs at least 1 host`;
    return { count: v };
  }
  if (typeof v === 'string') {
    const s = v.trim();
    if (/^\d+$/.test(s)) return parseSerialItem(Number(s));
    const m = /^(-?\d+(?:\.\d+)?)\s*%$/.exec(s);
    if (m) {
      const p = Number(m[1]);
      if (p <= 0 || p > 100) return `bad serial '${v}': a percentage must be more than 0% and at most 100%`;
      return { percent: p };
    }
    return `bad serial '${v}': ${hint}`;
  }
  return `bad serial: ${hint}, got ${describeType(v)}`;
}

export function parseSerial(v: unknown, src: YamlSource, path: Path, diags: Diagnostic[]): SerialItem[] {
  if (v === undefined || v === null) return ALL_AT_ONCE;
  if (Array.isArray(v)) {
    if (v.length === 0) {
      diags.push(diagAt(src, path, 'bad serial: the list is empty'));
      return ALL_AT_ONCE;
    }
    const out: SerialItem[] = [];
    v.forEach((item, i) => {
      const r = parseSerialItem(item);
      if (typeof r === 'string') diags.push(diagAt(src, [...path, i], r));
      else out.push(r);
    });
    return out.length > 0 ? out : ALL_AT_ONCE;
  }
  const r = parseSerialItem(v);
  if (typeof r === 'string') {
    diags.push(diagAt(src, path, r));
    return ALL_AT_ONCE;
  }
  return [r];
}
