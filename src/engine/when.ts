import type { Predicate } from '../model/playbook.js';
import { getPath, hasPath } from '../util/path.js';
import { parseConstraint, satisfies } from '../util/version.js';

/** The namespaces (e.g. 'guest' of facts.guest.*) a predicate reads, so facts load lazily. */
export function predicatePaths(preds: Predicate[]): string[] {
  const out: string[] = [];
  const walk = (p: Predicate): void => {
    if ('any' in p) p.any.forEach(walk);
    else if ('all' in p) p.all.forEach(walk);
    else if ('not' in p) walk(p.not);
    else out.push(p.path);
  };
  preds.forEach(walk);
  return out;
}

/** Loose equality that lets YAML `1` match a fact "1" and `true` match "true". */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || a === undefined || b === undefined) return false;
  if (typeof a === 'object' || typeof b === 'object') return JSON.stringify(a) === JSON.stringify(b);
  return String(a) === String(b);
}

/** Evaluate `when` (all of the list must hold). Pure: the scope already holds the facts needed. */
export function evaluateWhen(preds: Predicate[], scope: Record<string, unknown>): { pass: boolean; why: string } {
  for (const p of preds) {
    const r = evaluate(p, scope);
    if (!r.pass) return r;
  }
  return { pass: true, why: '' };
}

function evaluate(p: Predicate, scope: Record<string, unknown>): { pass: boolean; why: string } {
  if ('any' in p) {
    const rs = p.any.map((q) => evaluate(q, scope));
    return rs.some((r) => r.pass) ? { pass: true, why: '' } : { pass: false, why: `none of: ${rs.map((r) => r.why).join('; ')}` };
  }
  if ('all' in p) return evaluateWhen(p.all, scope);
  if ('not' in p) {
    const r = evaluate(p.not, scope);
    return r.pass ? { pass: false, why: `not (${describe(p.not)})` } : { pass: true, why: '' };
  }
  const actual = getPath(scope, p.path);
  const shown = actual === undefined ? 'undefined' : JSON.stringify(actual);
  const fail = (why: string) => ({ pass: false, why: `${p.path} ${why}` });
  if ('equals' in p) return same(actual, p.equals) ? ok() : fail(`is ${shown}, not ${JSON.stringify(p.equals)}`);
  if ('not_equals' in p) return !same(actual, p.not_equals) ? ok() : fail(`is ${shown}`);
  if ('in' in p) return p.in.some((v) => same(actual, v)) ? ok() : fail(`is ${shown}, not one of ${JSON.stringify(p.in)}`);
  if ('not_in' in p) return !p.not_in.some((v) => same(actual, v)) ? ok() : fail(`is ${shown}`);
  if ('matches' in p) return typeof actual === 'string' && new RegExp(p.matches).test(actual) ? ok() : fail(`is ${shown}, does not match /${p.matches}/`);
  if ('exists' in p) return hasPath(scope, p.path) === p.exists ? ok() : fail(p.exists ? 'is not defined' : 'is defined');
  if ('truthy' in p) return Boolean(actual) === p.truthy ? ok() : fail(`is ${shown}`);
  if ('version' in p) {
    const c = parseConstraint(p.version);
    if (!c) return fail(`has a bad version constraint '${p.version}'`);
    return actual !== undefined && actual !== null && satisfies(String(actual), c) ? ok() : fail(`is ${shown}, not ${p.version}`);
  }
  return fail('has no comparison');
}

const ok = () => ({ pass: true, why: '' });

function describe(p: Predicate): string {
  return JSON.stringify(p);
}
