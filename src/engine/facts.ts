import type { HostSpec } from '../model/inventory.js';
import type { FactCache, StepFailure } from '../steps/types.js';
import type { Result } from '../util/result.js';
import type { FactSources, HostServices } from './types.js';

/**
 * Facts are gathered once per host per run and namespace, on first use, and dropped after a
 * reboot or a revert (the step that changes the machine calls invalidate()).
 */
export class HostFacts implements FactCache {
  private cache = new Map<string, Promise<Result<Record<string, unknown>, StepFailure>>>();
  /** successfully loaded values, for the template scope */
  readonly loaded: Record<string, Record<string, unknown>> = {};

  constructor(
    private readonly services: HostServices,
    private readonly host: HostSpec,
    private readonly via: () => FactSources,
  ) {}

  /** Gathered now, bypassing (and not changing) the cache: a resumed cut step's guard. */
  async fresh(namespaces: string[]): Promise<Result<Record<string, Record<string, unknown>>, StepFailure>> {
    const out: Record<string, Record<string, unknown>> = {};
    for (const ns of namespaces) {
      const r = await this.services.facts(ns, this.host, this.via());
      if (!r.ok) return r;
      out[ns] = r.value;
    }
    return { ok: true, value: out };
  }

  /** Facts an earlier process of the run had read (pvrun resume): current until dropped. */
  seed(facts: Record<string, Record<string, unknown>>): void {
    for (const [ns, values] of Object.entries(facts)) {
      this.loaded[ns] = values;
      this.cache.set(ns, Promise.resolve({ ok: true as const, value: values }));
    }
  }

  get(namespace: string): Promise<Result<Record<string, unknown>, StepFailure>> {
    let p = this.cache.get(namespace);
    if (!p) {
      p = this.services.facts(namespace, this.host, this.via()).then((r) => {
        if (r.ok) {
          this.loaded[namespace] = r.value;
          this.services.factsSeen?.(this.host.name, namespace, r.value);
        }
        else this.cache.delete(namespace); // a failed gather is retried by the next reader
        return r;
      });
      this.cache.set(namespace, p);
    }
    return p;
  }

  invalidate(namespace?: string): void {
    if (namespace === undefined) {
      if (this.cache.size > 0) this.services.factsSeen?.(this.host.name, '*', undefined);
      this.cache.clear();
      for (const k of Object.keys(this.loaded)) delete this.loaded[k];
    } else {
      if (this.cache.has(namespace)) this.services.factsSeen?.(this.host.name, namespace, undefined);
      this.cache.delete(namespace);
      delete this.loaded[namespace];
    }
  }
}

/** `facts.guest.os.family` → 'guest'; the namespaces referenced by a list of dotted paths. */
export function factNamespaces(paths: string[]): string[] {
  const out = new Set<string>();
  for (const p of paths) {
    const m = /^facts\.([A-Za-z0-9_-]+)/.exec(p);
    if (m) out.add(m[1]!);
  }
  return [...out];
}

/** Dotted references inside `{{ }}` of any string in a value. */
export function templatePaths(value: unknown): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') {
      // a quoting filter may follow the reference (src/load/template.ts): `{{ registered.x | shell_quote }}`
      for (const m of v.matchAll(/\{\{\s*([A-Za-z0-9_.-]+)\s*(?:\|\s*[A-Za-z_]+\s*)?\}\}/g)) out.push(m[1]!);
    } else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(value);
  return out;
}
