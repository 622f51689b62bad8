// `when:` predicates — typed data, not a code language (see src/model/playbook.ts).
import type { Predicate } from '../model/playbook.js';
import type { Diagnostic } from './diagnostics.js';
import { describeType } from './duration.js';
import { PREDICATE_OPS, PREDICATE_PATH_ROOTS } from './schema.js';
import { didYouMean } from './suggest.js';
import { diagAt } from './yaml-doc.js';
import type { Path, YamlSource } from './yaml-doc.js';

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const VERSION_RE = /^\s*(>=|<=|>|<|==|!=|=)?\s*\d+(\.\d+)*\s*$/;
const ALL_KEYS = ['path', ...PREDICATE_OPS, 'any', 'all', 'not'];

/** `when:` is one predicate or a list (all must hold). */
export function parseWhen(v: unknown, src: YamlSource, path: Path, diags: Diagnostic[]): Predicate[] {
  if (v === undefined || v === null) return [];
  const items = Array.isArray(v) ? v : [v];
  const out: Predicate[] = [];
  items.forEach((item, i) => {
    const p = parsePredicate(item, src, Array.isArray(v) ? [...path, i] : path, diags);
    if (p) out.push(p);
  });
  return out;
}

export function parsePredicate(v: unknown, src: YamlSource, path: Path, diags: Diagnostic[]): Predicate | undefined {
  if (!isMap(v)) {
    diags.push(diagAt(src, path, `a 'when' predicate must be a map like { path: vars.mode, equals: offline }, got ${describeType(v)}`));
    return undefined;
  }
  const keys = Object.keys(v);
  let bad = false;
  for (const k of keys) {
    if (!ALL_KEYS.includes(k)) {
      diags.push(diagAt(src, [...path, k], `unknown key '${k}' in predicate${didYouMean(k, ALL_KEYS)}`, 'key'));
      bad = true;
    }
  }
  if (bad) return undefined;
  const combinator = keys.filter((k) => k === 'any' || k === 'all' || k === 'not');
  if (combinator.length > 0) {
    if (keys.length !== 1) {
      diags.push(diagAt(src, [...path, keys.find((k) => k !== combinator[0])!], `'${combinator[0]!}' must be the only key of its predicate`, 'key'));
      return undefined;
    }
    const k = combinator[0]!;
    const inner = v[k];
    if (k === 'not') {
      const p = parsePredicate(inner, src, [...path, k], diags);
      return p ? { not: p } : undefined;
    }
    if (!Array.isArray(inner) || inner.length === 0) {
      diags.push(diagAt(src, [...path, k], `'${k}' takes a non-empty list of predicates, got ${describeType(inner)}`));
      return undefined;
    }
    const ps = inner.map((p, i) => parsePredicate(p, src, [...path, k, i], diags));
    if (ps.some((p) => p === undefined)) return undefined;
    return k === 'any' ? { any: ps as Predicate[] } : { all: ps as Predicate[] };
  }
  const ops = keys.filter((k) => (PREDICATE_OPS as readonly string[]).includes(k));
  if (!('path' in v)) {
    diags.push(diagAt(src, path, `predicate is missing 'path' (e.g. { path: facts.os.family, in: [redhat] })`, 'key'));
    return undefined;
  }
  const p = v.path;
  if (typeof p !== 'string' || !new RegExp(`^(${PREDICATE_PATH_ROOTS.join('|')})\\.[^.\\s]`).test(p)) {
    diags.push(diagAt(src, [...path, 'path'], `predicate path ${describeType(p)} must start with ${PREDICATE_PATH_ROOTS.map((r) => r + '.').join(', ')}`));
    return undefined;
  }
  if (ops.length !== 1) {
    diags.push(ops.length === 0
      ? diagAt(src, path, `predicate needs one test besides 'path': ${PREDICATE_OPS.join(', ')}`, 'key')
      : diagAt(src, [...path, ops[1]!], `predicate has two tests: '${ops[0]!}' and '${ops[1]!}'`, 'key'));
    return undefined;
  }
  const op = ops[0]! as (typeof PREDICATE_OPS)[number];
  const val = v[op];
  const at = [...path, op];
  const fail = (msg: string) => { diags.push(diagAt(src, at, msg)); return undefined; };
  switch (op) {
    case 'equals': return { path: p, equals: val };
    case 'not_equals': return { path: p, not_equals: val };
    case 'in': case 'not_in':
      if (!Array.isArray(val)) return fail(`'${op}' takes a list, got ${describeType(val)}`);
      return op === 'in' ? { path: p, in: val } : { path: p, not_in: val };
    case 'matches':
      if (typeof val !== 'string') return fail(`'matches' takes a regular expression string, got ${describeType(val)}`);
      try { new RegExp(val); } catch { return fail(`'matches' is not a valid regular expression: ${describeType(val)}`); }
      return { path: p, matches: val };
    case 'exists': case 'truthy':
      if (typeof val !== 'boolean') return fail(`'${op}' takes true or false, got ${describeType(val)}`);
      return op === 'exists' ? { path: p, exists: val } : { path: p, truthy: val };
    case 'version': {
      const s = typeof val === 'number' ? String(val) : val;
      if (typeof s !== 'string' || !VERSION_RE.test(s)) return fail(`'version' takes a comparison like ">= 9.0", got ${describeType(val)}`);
      return { path: p, version: s };
    }
  }
}
