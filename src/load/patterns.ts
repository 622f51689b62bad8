// Host patterns, as in `hosts:` and `--limit`: names, groups, globs (`web-*`), union `a:b`
// (or `a,b`), intersection `a:&b`, exclusion `a:!b`. As in Ansible, the order of terms does not
// matter: union of the plain terms, then intersections, then exclusions. The result is in
// inventory order.
import type { Inventory } from '../model/inventory.js';
import { didYouMean } from './suggest.js';

export interface PatternProblem {
  /** offset of the offending term in the pattern text */
  offset: number;
  message: string;
}

export interface PatternResult {
  hosts: string[];
  problems: PatternProblem[];
  /** the pattern names a dynamic group (source: xapi) whose hosts are only known at run time */
  dynamic: boolean;
}

interface Term { op: 'or' | 'and' | 'not'; text: string; offset: number }

function splitTerms(pattern: string): Term[] {
  const terms: Term[] = [];
  const re = /[^:,]+/g;
  for (const m of pattern.matchAll(re)) {
    let text = m[0];
    let offset = m.index;
    const lead = text.length - text.trimStart().length;
    text = text.trim();
    offset += lead;
    let op: Term['op'] = 'or';
    if (text.startsWith('&')) op = 'and';
    else if (text.startsWith('!')) op = 'not';
    if (op !== 'or') { text = text.slice(1).trim(); offset += 1; }
    terms.push({ op, text, offset });
  }
  return terms;
}

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (const c of glob) {
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Hosts of a group, children included. */
export function groupHosts(inv: Inventory, group: string): Set<string> {
  const out = new Set<string>();
  for (const [name, h] of Object.entries(inv.hosts)) if (h.groups.includes(group)) out.add(name);
  return out;
}

export function matchPattern(pattern: string, inv: Inventory, hostOrder: readonly string[] = Object.keys(inv.hosts)): PatternResult {
  const problems: PatternProblem[] = [];
  let dynamic = false;
  const terms = splitTerms(pattern);
  if (terms.length === 0) return { hosts: [], problems: [{ offset: 0, message: 'empty host pattern' }], dynamic };
  const hostNames = Object.keys(inv.hosts);
  const groupNames = Object.keys(inv.groups);
  const resolve = (t: Term): Set<string> | undefined => {
    if (t.text === '') {
      problems.push({ offset: t.offset, message: `empty term in host pattern '${pattern}'` });
      return undefined;
    }
    if (t.text === 'all' || t.text === '*') return new Set(hostNames);
    if (inv.hosts[t.text]) return new Set([t.text]);
    if (inv.groups[t.text]) {
      if (inv.groups[t.text]!.source) dynamic = true;
      return groupHosts(inv, t.text);
    }
    if (/[*?]/.test(t.text)) {
      const re = globToRegExp(t.text);
      const out = new Set<string>(hostNames.filter((h) => re.test(h)));
      for (const g of groupNames.filter((g) => re.test(g))) for (const h of groupHosts(inv, g)) out.add(h);
      if (out.size === 0) problems.push({ offset: t.offset, message: `'${t.text}' matches no host or group` });
      return out;
    }
    problems.push({ offset: t.offset, message: `unknown host or group '${t.text}'${didYouMean(t.text, [...groupNames, ...hostNames])}` });
    return undefined;
  };
  let acc = new Set<string>();
  const ors = terms.filter((t) => t.op === 'or');
  if (ors.length === 0) acc = new Set(hostNames); // `!web` alone means "all but web"
  for (const t of ors) for (const h of resolve(t) ?? []) acc.add(h);
  for (const t of terms.filter((x) => x.op === 'and')) {
    const s = resolve(t) ?? new Set<string>();
    acc = new Set([...acc].filter((h) => s.has(h)));
  }
  for (const t of terms.filter((x) => x.op === 'not')) for (const h of resolve(t) ?? []) acc.delete(h);
  return { hosts: hostOrder.filter((h) => acc.has(h)), problems, dynamic };
}
