// Per-host variable scope. Precedence, lowest first (a later layer replaces a whole top-level
// variable, no deep merge — as Ansible's default `hash_behaviour: replace`):
//   play vars < group vars ('all', then shallower before deeper groups, then inventory order)
//   < host vars < extra vars (-e)
// Variables may refer to other variables (`snap: "pre-{{ vars.ticket }}"`); they are resolved
// lazily, in dependency order, and a cycle is an error.
import type { HostSpec, Inventory } from '../model/inventory.js';
import type { Namespace, TemplateError, TemplateScope } from './template.js';
import { render, templateRefs } from './template.js';

/** Where a variable's value was written, for error positions. */
export interface VarLayer {
  /** 'play', 'group:web', 'host:web-1', 'extra' */
  label: string;
  vars: Record<string, unknown>;
}

export function hostVarLayers(playVars: Record<string, unknown>, inv: Inventory, host: HostSpec, extra: Record<string, unknown>): VarLayer[] {
  const layers: VarLayer[] = [{ label: 'play', vars: playVars }];
  // host.groups is already ordered 'all', shallow → deep, inventory order (src/load/inventory.ts).
  for (const g of host.groups) {
    const spec = inv.groups[g];
    if (spec && Object.keys(spec.vars).length > 0) layers.push({ label: `group:${g}`, vars: spec.vars });
  }
  layers.push({ label: `host:${host.name}`, vars: host.vars });
  layers.push({ label: 'extra', vars: extra });
  return layers;
}

export interface MergedVars {
  vars: Record<string, unknown>;
  /** variable name → label of the layer that won */
  from: Map<string, string>;
}

export function mergeVars(layers: readonly VarLayer[]): MergedVars {
  const vars: Record<string, unknown> = {};
  const from = new Map<string, string>();
  for (const l of layers) {
    for (const [k, v] of Object.entries(l.vars)) {
      vars[k] = v;
      from.set(k, l.label);
    }
  }
  return { vars, from };
}

export interface VarError {
  name: string;
  /** the layer the variable came from */
  label: string;
  error: TemplateError;
}

/** Render templates inside variable values, with `vars.*` references resolved first. */
export function resolveVars(merged: MergedVars, base: TemplateScope, defer: readonly Namespace[]): { vars: Record<string, unknown>; errors: VarError[] } {
  const raw = merged.vars;
  const done: Record<string, unknown> = {};
  const state = new Map<string, 'visiting' | 'done'>();
  const errors: VarError[] = [];
  const inCycle = new Set<string>();
  const resolve = (name: string, chain: string[]): void => {
    const st = state.get(name);
    if (st === 'done') return;
    const label = merged.from.get(name) ?? 'play';
    if (st === 'visiting') {
      const cycle = [...chain.slice(chain.indexOf(name)), name];
      for (const c of cycle) inCycle.add(c);
      errors.push({ name, label, error: { at: [], text: '', offset: 0, message: `variables refer to each other in a cycle: ${cycle.map((c) => 'vars.' + c).join(' → ')}` } });
      return;
    }
    state.set(name, 'visiting');
    for (const r of templateRefs(raw[name])) {
      const segs = r.ref.split('.');
      if (segs[0] === 'vars' && segs[1] !== undefined && Object.hasOwn(raw, segs[1])) resolve(segs[1], [...chain, name]);
    }
    if (state.get(name) === 'done') return; // resolved while reporting a cycle
    // `raw` underneath only matters for "did you mean" and for members of a reported cycle.
    const r = render(raw[name], { ...base, vars: { ...raw, ...done } }, { defer });
    for (const e of r.errors) {
      // "undefined vars.x" for a member of a reported cycle is noise.
      const ref = /^\{\{\s*vars\.([^.\s}]+)/.exec(e.text)?.[1];
      if (ref !== undefined && inCycle.has(ref)) continue;
      errors.push({ name, label, error: e });
    }
    done[name] = r.value;
    state.set(name, 'done');
  };
  for (const name of Object.keys(raw)) resolve(name, []);
  // Keep the original key order.
  const vars: Record<string, unknown> = {};
  for (const k of Object.keys(raw)) vars[k] = done[k];
  return { vars, errors };
}
