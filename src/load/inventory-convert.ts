/**
 * An inventory as loaded (from pvrun's format, Ansible's YAML or INI, or several files merged)
 * written back in pvrun's own format (`pvrun inventory --convert`): loading the output gives the
 * same hypervisors, groups (members, children, vars, connection, dynamic sources), hosts (vars,
 * merged connection settings, VM, groups in precedence order). What Ansible implied is spelled
 * out: each host's `vm` (from `pvrun_pool` and the host's name), `ungrouped`, host:port ports.
 * A host's `connection` lists only what differs from what its groups give it, and its address
 * only when it is not its name, so the file stays as short as the source.
 */
import { Document } from 'yaml';
import type { Inventory } from '../model/inventory.js';

type Raw = Record<string, unknown>;

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
const nonEmpty = (o: Raw): boolean => Object.keys(o).length > 0;

export function inventoryToPvrunYaml(inv: Inventory, opts: { sources?: string[] } = {}): string {
  const out: Raw = {};

  const hv: Raw = {};
  for (const h of Object.values(inv.hypervisors)) {
    hv[h.name] = { url: h.url, username: h.username, password: h.password, ...(nonEmpty(h.tls as Raw) ? { tls: h.tls } : {}) };
  }
  if (nonEmpty(hv)) out.hypervisors = hv;

  // Groups in the loaded order (the order settings of groups at the same depth merge in).
  const groups: Raw = {};
  for (const g of Object.values(inv.groups)) {
    const e: Raw = {};
    if (g.source) {
      e.source = 'xapi';
      e.pool = g.source.pool;
      const f: Raw = {};
      if (g.source.missing_tools !== undefined) f.missing_tools = g.source.missing_tools;
      if (g.source.tag !== undefined) f.tag = g.source.tag;
      if (g.source.name !== undefined) f.name = g.source.name;
      if (nonEmpty(f)) e.filters = f;
    }
    // 'all' holds every host already (the loader fills it); a dynamic group is filled at run time
    if (g.name !== 'all' && !g.source && g.hosts.length) e.hosts = [...g.hosts];
    if (g.children.length) e.children = [...g.children];
    if (nonEmpty(g.vars)) e.vars = g.vars;
    if (nonEmpty(g.connection as Raw)) e.connection = g.connection;
    groups[g.name] = e;
  }
  if (nonEmpty(groups)) out.groups = groups;

  const hosts: Raw = {};
  for (const h of Object.values(inv.hosts)) {
    // what its groups give it, in its precedence order (h.groups is sorted that way)
    const inherited: Raw = { type: 'ssh' };
    for (const g of h.groups) Object.assign(inherited, inv.groups[g]?.connection ?? {});
    const own: Raw = {};
    for (const [k, v] of Object.entries(h.connection as unknown as Raw)) {
      if (k === 'address' && v === h.name && inherited.address === undefined) continue;
      if (!(k in inherited) || !same(inherited[k], v)) own[k] = v;
    }
    const e: Raw = {};
    if (nonEmpty(own)) e.connection = own;
    if (h.vm) e.vm = { pool: h.vm.pool, ...(h.vm.uuid !== undefined ? { uuid: h.vm.uuid } : { name_label: h.vm.name_label }) };
    if (nonEmpty(h.vars)) e.vars = h.vars;
    hosts[h.name] = e;
  }
  if (nonEmpty(hosts)) out.hosts = hosts;

  const doc = new Document(out);
  const from = opts.sources?.length ? ` from ${opts.sources.join(', ')}` : '';
  doc.commentBefore = ` pvrun inventory (docs/inventory.md), converted by \`pvrun inventory --convert\`${from}`;
  return doc.toString({ lineWidth: 0 });
}
