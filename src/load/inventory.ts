// Inventory files → typed Inventory (src/model/inventory.ts). Format: docs/inventory.md.
import { existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve as resolvePath } from 'node:path';
import type { ConnectionSpec, GroupSpec, HostSpec, HypervisorSpec, Inventory, VmSelector } from '../model/inventory.js';
import type { SecretRef } from '../model/secret.js';
import type { SourcePos } from '../model/source.js';
import type { Result } from '../util/result.js';
import { err, ok } from '../util/result.js';
import { newAjv } from './ajv.js';
import { bundledBuiltin, validatorFor } from './validators.js';
import type { ValidateFunction } from './ajv.js';
import { ajvToDiagnostics } from './ajv-errors.js';
import type { Diagnostic } from './diagnostics.js';
import { argDiagnostic, hasErrors, sortDiagnostics } from './diagnostics.js';
import { describeType } from './duration.js';
import { readUserFile } from './read-file.js';
import { buildInventorySchema } from './schema.js';
import { didYouMean } from './suggest.js';
import { diagAt, locate, mapKeys, parseYaml } from './yaml-doc.js';
import { convertAnsibleInventory, looksLikeAnsible, looksLikeAnsibleIni, parseAnsibleIni } from './ansible-inventory.js';
import type { AnsibleEntries } from './ansible-inventory.js';
import type { Path, YamlSource } from './yaml-doc.js';

type Raw = Record<string, unknown>;
const isMap = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);
const asMap = (v: unknown): Raw => (isMap(v) ? v : {});
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
/** A group's `hosts:`: a list of names, or a map of name → definition or nothing (as Ansible writes it). */
const members = (v: unknown): string[] => (isMap(v) ? Object.keys(v) : strings(v));

let validator: ValidateFunction | undefined;
// precompiled at build time when the schema is unchanged (src/load/validators.ts)
// (the inventory schema is the builtin one: the bundle's validator is taken as it is, validators.ts)
const validate = (): ValidateFunction => (validator ??= bundledBuiltin('inventory') ?? validatorFor('inventory', buildInventorySchema(), () => newAjv()));

/** Where an entry was defined (for positions and for "also defined at"). */
interface Origin { src: YamlSource; path: Path }

/** An inventory plus what later stages need to locate problems in it. */
export interface LoadedInventory {
  inventory: Inventory;
  warnings: Diagnostic[];
  /** `host:NAME`, `group:NAME`, `hypervisor:NAME` → where it was (last) defined */
  origins: Map<string, Origin>;
  /** host names in inventory order (file order, then definition order) */
  hostOrder: string[];
}

export function positionOf(loaded: LoadedInventory, kind: 'host' | 'group' | 'hypervisor', name: string, sub: Path = [], which: 'key' | 'value' = 'key'): SourcePos | undefined {
  const o = loaded.origins.get(`${kind}:${name}`);
  return o ? locate(o.src, [...o.path, ...sub], which) : undefined;
}

/**
 * `-i prod` → `inventories/prod.yml` (or `.yaml`) under cwd; anything else is a file path.
 * The returned path is relative to cwd when the user gave a relative one, so messages show it as typed.
 */
export function resolveInventoryArg(arg: string, cwd: string): Result<string, Diagnostic> {
  const abs = (p: string) => (isAbsolute(p) ? p : join(cwd, p));
  const isFile = (p: string) => { try { return statSync(abs(p)).isFile(); } catch { return false; } };
  // Relative to the process's directory, so the loader can open it and messages show it as typed.
  const shown = (p: string) => (isAbsolute(p) ? p : relative(process.cwd(), abs(p)) || p);
  const looksLikePath = arg.includes('/') || arg.includes('\\') || /\.ya?ml$/i.test(arg);
  if (!looksLikePath) {
    for (const ext of ['.yml', '.yaml']) {
      const p = join('inventories', arg + ext);
      if (isFile(p)) return ok(shown(p));
    }
  }
  if (isFile(arg)) return ok(shown(arg));
  if (existsSync(abs(arg))) return err(argDiagnostic('-i', arg, 1, `inventory '${arg}' is not a file`));
  const tried = looksLikePath ? `'${arg}'` : `'inventories/${arg}.yml', 'inventories/${arg}.yaml' or a file '${arg}'`;
  return err(argDiagnostic('-i', arg, 1, `inventory not found: tried ${tried}`));
}

/** `ansible`: the file was in Ansible's YAML format, already converted to entries. */
interface FileData { src: YamlSource; raw: Raw; ansible?: AnsibleEntries }

function parseInventoryFile(file: string, diags: Diagnostic[]): FileData | undefined {
  const read = readUserFile(file, 'inventory');
  if (!read.ok) { diags.push(read.diagnostic); return undefined; }
  return parseInventoryText(file, read.text, diags);
}

export function parseInventoryText(file: string, text: string, diags: Diagnostic[]): FileData | undefined {
  // Ansible's INI format (a `hosts` file): docs/inventory.md
  if (looksLikeAnsibleIni(file, text)) {
    const ini = parseAnsibleIni(file, text, diags);
    return { src: ini.src, raw: {}, ansible: convertAnsibleInventory(ini.src, ini.value, diags) };
  }
  const parsed = parseYaml(file, text);
  if (parsed.diagnostics.length > 0) { diags.push(...parsed.diagnostics); return undefined; }
  const src = parsed.source;
  const value = parsed.value ?? {};
  if (!isMap(value)) {
    diags.push(diagAt(src, [], `an inventory is a map with hypervisors:, groups: and hosts:, got ${describeType(value)}`));
    return undefined;
  }
  // Ansible's YAML format (top-level groups with hosts:/children:/vars:): docs/inventory.md
  if (looksLikeAnsible(value)) return { src, raw: {}, ansible: convertAnsibleInventory(src, value, diags) };
  const v = validate();
  if (!v(value)) diags.push(...ajvToDiagnostics(v.errors ?? [], src));
  anchorPaths(value, file);
  return { src, raw: value };
}

/**
 * Relative file paths in an inventory (key, known_hosts, tls.ca, `{ file: }` secrets) are relative
 * to the inventory file, not to the working directory (docs/inventory.md): rewritten here to
 * paths the process can open (kept as written when the file is in the working directory).
 */
function anchorPaths(doc: Raw, file: string): void {
  const dir = dirname(resolvePath(file));
  if (dir === process.cwd()) return;
  const fix = (p: unknown): unknown => {
    if (typeof p !== 'string' || p === '' || isAbsolute(p) || p.startsWith('~')) return p;
    const abs = join(dir, p);
    const rel = relative(process.cwd(), abs);
    return rel.startsWith('..') || isAbsolute(rel) ? abs : rel;
  };
  const secret = (m: Raw, k: string): void => { if (isMap(m[k]) && typeof m[k].file === 'string') m[k].file = fix(m[k].file); };
  const conn = (owner: unknown): void => {
    if (!isMap(owner) || !isMap(owner.connection)) return;
    const c = owner.connection;
    for (const k of ['key', 'known_hosts']) if (typeof c[k] === 'string') c[k] = fix(c[k]);
    for (const k of ['password', 'passphrase', 'become_password']) secret(c, k);
  };
  for (const hv of Object.values(asMap(doc.hypervisors))) {
    if (!isMap(hv)) continue;
    secret(hv, 'username');
    secret(hv, 'password');
    if (isMap(hv.tls) && typeof hv.tls.ca === 'string') hv.tls.ca = fix(hv.tls.ca);
  }
  for (const g of Object.values(asMap(doc.groups))) {
    conn(g);
    if (isMap(g) && isMap(g.hosts)) for (const h of Object.values(g.hosts)) conn(h);
  }
  for (const h of Object.values(asMap(doc.hosts))) conn(h);
}

interface Entry { name: string; raw: Raw; origin: Origin }

const sameValue = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

function fmtPos(o: Origin, which: 'key' | 'value' = 'key'): string {
  const p = locate(o.src, o.path, which);
  return `${p.file}:${p.line}:${p.col}`;
}

export function loadInventories(paths: readonly string[]): Result<Inventory, Diagnostic[]> {
  const r = loadInventoriesDetailed(paths);
  return r.ok ? ok(r.value.inventory) : r;
}

export function loadInventoriesDetailed(paths: readonly string[]): Result<LoadedInventory, Diagnostic[]> {
  const diags: Diagnostic[] = [];
  const files: FileData[] = [];
  for (const p of paths) {
    const f = parseInventoryFile(p, diags);
    if (f) files.push(f);
  }
  return buildInventory(paths, files, diags);
}

/** Inventory from texts (tests, fuzzing): `[file, text]` pairs. */
export function parseInventories(texts: readonly (readonly [string, string])[]): Result<LoadedInventory, Diagnostic[]> {
  const diags: Diagnostic[] = [];
  const files: FileData[] = [];
  for (const [file, text] of texts) {
    const f = parseInventoryText(file, text, diags);
    if (f) files.push(f);
  }
  return buildInventory(texts.map(([f]) => f), files, diags);
}

function buildInventory(paths: readonly string[], files: FileData[], diags: Diagnostic[]): Result<LoadedInventory, Diagnostic[]> {
  const hypervisors = new Map<string, Entry>();
  const groups = new Map<string, Entry[]>();
  const hosts = new Map<string, Entry>();
  const implicit = new Map<string, Entry>();
  const replace = (kind: string, map: Map<string, Entry>, e: Entry) => {
    const prev = map.get(e.name);
    if (prev && !sameValue(prev.raw, e.raw)) {
      diags.push(diagAt(e.origin.src, e.origin.path, `${kind} '${e.name}' is also defined at ${fmtPos(prev.origin)}; this later definition wins`, 'key', 'warning'));
    }
    if (prev) map.delete(e.name); // re-insert: order follows the winning definition
    map.set(e.name, e);
  };
  for (const { src, raw, ansible } of files) {
    if (ansible) {
      for (const e of ansible.groups) groups.set(e.name, [...(groups.get(e.name) ?? []), e]);
      for (const e of ansible.hosts) replace('host', hosts, e);
      continue;
    }
    // Hosts a group lists as a map: a definition there declares the host; a bare name declares it
    // unless it is declared elsewhere (below, once every file's hosts: sections are known).
    for (const gname of mapKeys(src, ['groups'])) {
      const members = asMap(asMap(raw.groups)[gname]).hosts;
      if (!isMap(members)) continue;
      for (const hname of mapKeys(src, ['groups', gname, 'hosts'])) {
        if (!(hname in members)) continue;
        const origin: Origin = { src, path: ['groups', gname, 'hosts', hname] };
        if (isMap(members[hname])) replace('host', hosts, { name: hname, raw: members[hname], origin });
        else if (!implicit.has(hname)) implicit.set(hname, { name: hname, raw: {}, origin });
      }
    }
    for (const section of ['hypervisors', 'groups', 'hosts'] as const) {
      const m = asMap(raw[section]);
      for (const name of mapKeys(src, [section])) {
        if (!(name in m)) continue;
        const e: Entry = { name, raw: asMap(m[name]), origin: { src, path: [section, name] } };
        if (section === 'hypervisors') replace('hypervisor', hypervisors, e);
        else if (section === 'hosts') replace('host', hosts, e);
        else groups.set(name, [...(groups.get(name) ?? []), e]);
      }
    }
  }
  for (const [name, e] of implicit) if (!hosts.has(name)) hosts.set(name, e);
  const origins = new Map<string, Origin>();

  // Hypervisors.
  const hvOut: Record<string, HypervisorSpec> = {};
  for (const [name, e] of hypervisors) {
    origins.set(`hypervisor:${name}`, e.origin);
    const tls = asMap(e.raw.tls);
    hvOut[name] = {
      name,
      url: typeof e.raw.url === 'string' ? e.raw.url : '',
      username: (e.raw.username ?? '') as string | SecretRef,
      password: (e.raw.password ?? { env: '' }) as SecretRef,
      tls: {
        ...(typeof tls.ca === 'string' ? { ca: tls.ca } : {}),
        ...(typeof tls.fingerprint === 'string' ? { fingerprint: tls.fingerprint } : {}),
        ...(tls.insecure === true ? { insecure: true } : {}),
      },
      pos: locate(e.origin.src, e.origin.path, 'key'),
    };
    if (tls.insecure === true && (typeof tls.ca === 'string' || typeof tls.fingerprint === 'string')) {
      diags.push(diagAt(e.origin.src, [...e.origin.path, 'tls', 'insecure'], `tls.insecure cannot be combined with tls.ca or tls.fingerprint`, 'key'));
    }
  }

  // Groups: several definitions of one group merge (members union, vars/connection key-wise, later wins).
  const groupOut: Record<string, GroupSpec> = {};
  /** Ansible inventories: `pvrun_pool` of a group, its hosts' VMs found by host name */
  const groupPool = new Map<string, string>();
  for (const [name, defs] of groups) {
    const g: GroupSpec = { name, children: [], hosts: [], vars: {}, connection: {}, pos: locate(defs[0]!.origin.src, defs[0]!.origin.path, 'key') };
    const keyOrigin = new Map<string, Origin>();
    for (const e of defs) {
      for (const c of strings(e.raw.children)) if (!g.children.includes(c)) g.children.push(c);
      for (const h of members(e.raw.hosts)) if (!g.hosts.includes(h)) g.hosts.push(h);
      if (typeof e.raw.pvrun_pool === 'string') groupPool.set(name, e.raw.pvrun_pool);
      for (const [field, target] of [['vars', g.vars], ['connection', g.connection as Raw]] as const) {
        const val = field === 'connection' ? normalizeConnection(e.raw.connection) : asMap(e.raw.vars);
        for (const [k, v] of Object.entries(val)) {
          const prevO = keyOrigin.get(`${field}.${k}`);
          if (prevO && k in target && !sameValue(target[k], v)) {
            diags.push(diagAt(e.origin.src, [...e.origin.path, field, k], `${field}.${k} of group '${name}' is also set at ${fmtPos(prevO)}; this later value wins`, 'key', 'warning'));
          }
          target[k] = v;
          keyOrigin.set(`${field}.${k}`, { src: e.origin.src, path: [...e.origin.path, field, k] });
        }
      }
      if (e.raw.source === 'xapi') {
        const f = asMap(e.raw.filters);
        g.source = {
          kind: 'xapi',
          pool: typeof e.raw.pool === 'string' ? e.raw.pool : '',
          ...(typeof f.missing_tools === 'boolean' ? { missing_tools: f.missing_tools } : {}),
          ...(typeof f.tag === 'string' ? { tag: f.tag } : {}),
          ...(typeof f.name === 'string' ? { name: f.name } : {}),
        };
      }
      checkGroupSource(e, hypervisors, diags);
    }
    groupOut[name] = g;
    origins.set(`group:${name}`, defs[defs.length - 1]!.origin);
  }
  if (!groupOut.all) {
    groupOut.all = { name: 'all', children: [], hosts: [], vars: {}, connection: {}, pos: { file: paths[0] ?? '', line: 1, col: 1 } };
  }

  // Membership references.
  const groupNames = Object.keys(groupOut);
  const hostNames = [...hosts.keys()];
  for (const [name, defs] of groups) {
    for (const e of defs) {
      strings(e.raw.children).forEach((c, i) => {
        const at: Path = [...e.origin.path, 'children', i];
        if (c === 'all') diags.push(diagAt(e.origin.src, at, `group 'all' cannot be a child of '${name}': every group is already in 'all'`));
        else if (!groupOut[c]) diags.push(diagAt(e.origin.src, at, `unknown group '${c}' in children of '${name}'${didYouMean(c, groupNames)}`));
      });
      members(e.raw.hosts).forEach((h, i) => {
        if (!hosts.has(h)) diags.push(diagAt(e.origin.src, [...e.origin.path, 'hosts', i], `unknown host '${h}' in group '${name}'${didYouMean(h, hostNames)} (declare it under hosts:)`));
      });
    }
  }
  for (const [name, e] of hosts) {
    strings(e.raw.groups).forEach((gname, i) => {
      if (!groupOut[gname]) diags.push(diagAt(e.origin.src, [...e.origin.path, 'groups', i], `unknown group '${gname}' in groups of host '${name}'${didYouMean(gname, groupNames)}`));
    });
    if (groupOut[name]) {
      diags.push(diagAt(e.origin.src, e.origin.path, `'${name}' is both a host and a group; host patterns could not tell them apart`, 'key'));
    }
  }

  // Cycles in children, reported once each at the child entry that closes the cycle.
  const parents = new Map<string, string[]>();
  for (const g of Object.values(groupOut)) {
    for (const c of g.children) if (groupOut[c] && c !== 'all') parents.set(c, [...(parents.get(c) ?? []), g.name]);
  }
  const childRef = (g: string, c: string): Origin | undefined => {
    for (const e of groups.get(g) ?? []) {
      const i = strings(e.raw.children).indexOf(c);
      if (i >= 0) return { src: e.origin.src, path: [...e.origin.path, 'children', i] };
    }
    return undefined;
  };
  const cyclic = new Set<string>();
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (g: string, stack: string[]) => {
    if (state.get(g) === 'done') return;
    state.set(g, 'visiting');
    for (const c of groupOut[g]?.children ?? []) {
      if (!groupOut[c] || c === 'all') continue;
      if (state.get(c) === 'visiting') {
        const from = stack.indexOf(c);
        const cycle = from >= 0 ? [...stack.slice(from), g, c] : [g, c]; // [g, g]: a group that is its own child
        for (const n of cycle) cyclic.add(n);
        const at = childRef(g, c);
        if (at) diags.push(diagAt(at.src, at.path, `group cycle: ${cycle.join(' → ')}`));
        continue;
      }
      visit(c, [...stack, g]);
    }
    state.set(g, 'done');
  };
  for (const g of groupNames) visit(g, []);

  // Depth: 'all' is 0, a group without parents 1, a child one more than its deepest parent.
  const depthMemo = new Map<string, number>();
  const depth = (g: string): number => {
    if (g === 'all') return 0;
    const m = depthMemo.get(g);
    if (m !== undefined) return m;
    depthMemo.set(g, 1); // guards cycles (already reported)
    const ps = (parents.get(g) ?? []).filter((p) => !cyclic.has(p) || !cyclic.has(g));
    const d = ps.length === 0 ? 1 : 1 + Math.max(...ps.map(depth));
    depthMemo.set(g, d);
    return d;
  };
  const groupIndex = new Map(groupNames.map((g, i) => [g, i]));

  // Hosts.
  const hostOut: Record<string, HostSpec> = {};
  for (const [name, e] of hosts) {
    origins.set(`host:${name}`, e.origin);
    const direct = new Set<string>(strings(e.raw.groups).filter((g) => groupOut[g]));
    for (const g of Object.values(groupOut)) if (g.hosts.includes(name)) direct.add(g.name);
    const all = new Set<string>(['all']);
    const up = (g: string) => {
      if (all.has(g)) return;
      all.add(g);
      for (const p of parents.get(g) ?? []) up(p);
    };
    for (const g of direct) up(g);
    // Precedence order: 'all' first, then shallow to deep, then inventory order; later wins.
    const ordered = [...all].sort((a, b) => depth(a) - depth(b) || groupIndex.get(a)! - groupIndex.get(b)!);
    const conn: Raw = { type: 'ssh' };
    for (const g of ordered) Object.assign(conn, groupOut[g]!.connection);
    Object.assign(conn, normalizeConnection(e.raw.connection));
    conn.address ??= name;
    const spec: HostSpec = {
      name,
      vars: asMap(e.raw.vars),
      connection: conn as unknown as ConnectionSpec,
      groups: ordered,
      pos: locate(e.origin.src, e.origin.path, 'key'),
    };
    // An Ansible host without pvrun_vm: the VM named like the host on its deepest group's pvrun_pool.
    const pool = [...ordered].reverse().map((g) => groupPool.get(g)).find((p) => p !== undefined);
    if (!isMap(e.raw.vm) && pool !== undefined) e.raw.vm = { pool, name_label: name };
    const vm = asMap(e.raw.vm);
    if (isMap(e.raw.vm)) {
      const sel: VmSelector = { pool: typeof vm.pool === 'string' ? vm.pool : '' };
      if (typeof vm.uuid === 'string') sel.uuid = vm.uuid;
      if (typeof vm.name_label === 'string') sel.name_label = vm.name_label;
      spec.vm = sel;
      if (typeof vm.pool === 'string' && !hypervisors.has(vm.pool)) {
        diags.push(diagAt(e.origin.src, [...e.origin.path, 'vm', 'pool'], `unknown hypervisor '${vm.pool}' in vm.pool of host '${name}'${didYouMean(vm.pool, hypervisors.keys())}`));
      }
      if ((sel.uuid === undefined) === (sel.name_label === undefined)) {
        diags.push(diagAt(e.origin.src, [...e.origin.path, 'vm'], sel.uuid === undefined
          ? `vm of host '${name}' needs uuid or name_label`
          : `vm of host '${name}' has both uuid and name_label: give only one`, 'key'));
      }
    }
    hostOut[name] = spec;
  }
  // 'all' lists every host, in inventory order.
  groupOut.all!.hosts = [...hosts.keys()];

  const all = sortDiagnostics(diags);
  if (hasErrors(all)) return err(all);
  return ok({
    inventory: { files: [...paths], hypervisors: hvOut, groups: groupOut, hosts: hostOut },
    warnings: all,
    origins,
    hostOrder: [...hosts.keys()],
  });
}

/** `connection: ssh` is shorthand for `{ type: ssh }`. */
function normalizeConnection(v: unknown): Raw {
  if (typeof v === 'string') return { type: v };
  return asMap(v);
}

function checkGroupSource(e: Entry, hypervisors: Map<string, Entry>, diags: Diagnostic[]): void {
  const { src, path } = e.origin;
  if (e.raw.source === 'xapi') {
    if (typeof e.raw.pool !== 'string') diags.push(diagAt(src, [...path, 'source'], `group '${e.name}' with source: xapi needs pool: <hypervisor name>`, 'key'));
    else if (!hypervisors.has(e.raw.pool)) diags.push(diagAt(src, [...path, 'pool'], `unknown hypervisor '${e.raw.pool}' in pool of group '${e.name}'${didYouMean(e.raw.pool, hypervisors.keys())}`));
  } else {
    for (const k of ['pool', 'filters']) {
      if (k in e.raw) diags.push(diagAt(src, [...path, k], `'${k}' only applies to a dynamic group (source: xapi)`, 'key'));
    }
  }
}
