/** Summarise a V8 .cpuprofile (node --cpu-prof): self time by area, file and function. */
import { readFileSync } from 'node:fs';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

export interface ProfileSummary {
  totalMs: number;
  byArea: [string, number][];
  byFile: [string, number][];
  byFunction: [string, number][];
}

export function area(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native/V8)';
  if (url.startsWith('node:')) return 'node core';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return `npm: ${m[1]}`;
  const s = /\/(src\/[^/]+)\//.exec(url);
  if (s) return `pvrun ${s[1]}`;
  return url.replace(/^file:\/\//, '');
}

function shortUrl(url: string): string {
  return url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '').replace(/^.*\/bench\/\.build\//, '');
}

export function summarise(file: string, top = 12): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  const areas = new Map<string, number>();
  const files = new Map<string, number>();
  const fns = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (!n) continue;
    const { functionName: fn, url, lineNumber } = n.callFrame;
    total += us;
    add(areas, area(url, fn), us);
    add(files, url ? shortUrl(url) : fn || '(anonymous)', us);
    add(fns, `${fn || '(anonymous)'} ${url ? `${shortUrl(url)}:${lineNumber + 1}` : ''}`.trim(), us);
  }
  const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) => [k, v / 1000] as [string, number]);
  return { totalMs: total / 1000, byArea: sorted(areas), byFile: sorted(files), byFunction: sorted(fns) };
}

/** For the functions with the most self time: which pvrun/npm frames they were called from. */
export function callers(file: string, fnNames: string[], depth = 6, top = 4): Record<string, [string, number][]> {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  const out: Record<string, Map<string, number>> = {};
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (!n || !fnNames.includes(n.callFrame.functionName)) continue;
    const chain: string[] = [];
    let cur = parent.get(id);
    while (cur !== undefined && chain.length < depth) {
      const c = byId.get(cur)!.callFrame;
      if (c.url && !c.url.startsWith('node:')) chain.push(`${c.functionName || '(anonymous)'} ${shortUrl(c.url)}:${c.lineNumber + 1}`);
      cur = parent.get(cur);
    }
    const key = chain.slice(0, 3).join(' ← ') || '(no JS caller)';
    const m = (out[n.callFrame.functionName] ??= new Map());
    m.set(key, (m.get(key) ?? 0) + us);
  }
  return Object.fromEntries(Object.entries(out).map(([k, m]) => [k, [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([c, v]) => [c, v / 1000] as [string, number])]));
}
