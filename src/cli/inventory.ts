import { renameSync, writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import type { Inventory } from '../model/inventory.js';
import { inventoryToPvrunYaml } from '../load/inventory-convert.js';
import { loadInventories, resolveInventoryArg } from '../load/inventory.js';
import { formatDiagnostics, type Diagnostic } from '../load/diagnostics.js';
import { EXIT } from '../engine/exit-codes.js';
import { discoverCommand } from './discover.js';
import type { Io } from './io.js';

export interface InventoryFlags {
  inventory: string[];
  list: boolean;
  graph: boolean;
  fromPool?: string;
  missingTools: boolean;
  tag?: string;
  name?: string;
  yaml: boolean;
  /** write the loaded inventory in pvrun's own format (src/load/inventory-convert.ts), to stdout or `output` */
  convert?: boolean;
  output?: string;
}

/** Resolve every `-i` and load them; diagnostics are printed here, exit 5 on any error. */
export function loadInventoryArgs(args: string[], io: Io): { ok: true; inventory: Inventory; files: string[] } | { ok: false; code: number } {
  const diags: Diagnostic[] = [];
  const files: string[] = [];
  if (args.length === 0) {
    io.err.write('pvrun: no inventory given: use -i NAME (inventories/NAME.yml) or -i FILE\n');
    return { ok: false, code: EXIT.invalid };
  }
  for (const a of args) {
    const r = resolveInventoryArg(a, io.cwd);
    if (r.ok) files.push(r.value);
    else diags.push(r.error);
  }
  if (diags.length) {
    io.err.write(formatDiagnostics(diags) + '\n');
    return { ok: false, code: EXIT.invalid };
  }
  const inv = loadInventories(files);
  if (!inv.ok) {
    io.err.write(formatDiagnostics(inv.error) + '\n');
    return { ok: false, code: EXIT.invalid };
  }
  return { ok: true, inventory: inv.value, files };
}

/** `pvrun inventory -i X --list | --graph | --from-pool P` */
export async function inventoryCommand(flags: InventoryFlags, io: Io): Promise<number> {
  const loaded = loadInventoryArgs(flags.inventory, io);
  if (!loaded.ok) return loaded.code;
  const inv = loaded.inventory;
  if (flags.output !== undefined && !flags.convert) {
    io.err.write('pvrun inventory: -o/--output goes with --convert\n');
    return EXIT.invalid;
  }
  if (flags.convert) return convert(inv, loaded.files, flags.output, io);
  if (flags.fromPool) return discoverCommand(inv, { ...flags, fromPool: flags.fromPool }, io);
  if (flags.graph) {
    io.out.write(graph(inv) + '\n');
    return EXIT.ok;
  }
  io.out.write(JSON.stringify(list(inv), null, 2) + '\n');
  return EXIT.ok;
}

/** `--convert [-o FILE]`: pvrun's own format; the file is written whole or not at all. */
function convert(inv: Inventory, files: string[], output: string | undefined, io: Io): number {
  const text = inventoryToPvrunYaml(inv, { sources: files.map((f) => relative(io.cwd, f) || f) });
  if (output === undefined) { io.out.write(text); return EXIT.ok; }
  const path = resolve(io.cwd, output);
  if (files.some((f) => resolve(io.cwd, f) === path)) {
    io.err.write(`pvrun inventory: -o ${output} is one of the inventories read; write the converted inventory to another file\n`);
    return EXIT.invalid;
  }
  try {
    writeFileSync(`${path}.tmp-${process.pid}`, text);
    renameSync(`${path}.tmp-${process.pid}`, path);
  } catch (e) {
    io.err.write(`pvrun inventory: cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}\n`);
    return EXIT.invalid;
  }
  io.err.write(`pvrun inventory: wrote ${path}\n`);
  return EXIT.ok;
}

/** Ansible-like `--list`: groups with hosts/children/vars, and `_meta.hostvars`. */
export function list(inv: Inventory): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const g of Object.values(inv.groups)) {
    out[g.name] = { hosts: g.hosts, children: g.children, vars: g.vars };
  }
  const all = Object.keys(inv.hosts);
  out['all'] = { ...(out['all'] as object | undefined), hosts: all };
  const hostvars: Record<string, unknown> = {};
  for (const h of Object.values(inv.hosts)) {
    hostvars[h.name] = { ...h.vars, connection: h.connection, ...(h.vm ? { vm: h.vm } : {}), groups: h.groups };
  }
  out['_meta'] = { hostvars };
  return out;
}

/** `--graph`: the group tree, hosts under their groups, like ansible-inventory --graph. */
export function graph(inv: Inventory): string {
  const lines: string[] = ['@all:'];
  const childOf = new Set(Object.values(inv.groups).flatMap((g) => g.children));
  const roots = Object.values(inv.groups).filter((g) => g.name !== 'all' && !childOf.has(g.name)).map((g) => g.name);
  const seen = new Set<string>();
  const walk = (name: string, depth: number): void => {
    const g = inv.groups[name];
    if (!g) return;
    lines.push(`${'  |'.repeat(depth)}--@${name}:`);
    if (seen.has(name)) return;
    seen.add(name);
    for (const c of g.children) walk(c, depth + 1);
    for (const h of g.hosts) lines.push(`${'  |'.repeat(depth + 1)}--${h}`);
  };
  for (const r of roots) walk(r, 1);
  const grouped = new Set(Object.values(inv.groups).flatMap((g) => g.hosts));
  const ungrouped = Object.keys(inv.hosts).filter((h) => !grouped.has(h));
  if (ungrouped.length) {
    lines.push('  |--@ungrouped:');
    for (const h of ungrouped) lines.push(`  |  |--${h}`);
  }
  return lines.join('\n');
}
