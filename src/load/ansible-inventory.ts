/**
 * Ansible's YAML inventory format (ansible-core 2.14 lib/ansible/plugins/inventory/yaml.py
 * _parse_group; host patterns: lib/ansible/plugins/inventory/__init__.py _expand_hostpattern,
 * detect_range, expand_hostname_range; lib/ansible/parsing/utils/addresses.py parse_address),
 * mapped onto pvrun's inventory entries. Format and mapping: docs/inventory.md "Ansible inventories".
 *
 *     all:
 *       vars: { ansible_user: root }
 *       children:
 *         web:
 *           hosts:
 *             web[01:03]:
 *             web-10: { ansible_host: 10.0.0.10, ansible_port: 2222 }
 *
 * Top-level keys are groups; a group is a map of `hosts:` (host pattern → host vars or nothing),
 * `children:` (group name → group, or nothing) and `vars:`. A group or host met several times
 * merges (later values win). `ansible_*` connection variables become pvrun's `connection`
 * settings; the XAPI side comes from pvrun variables (`pvrun_vm`, `pvrun_pool`); what has no
 * meaning for pvrun is a located error (or a located warning when ignoring it is harmless).
 */
import { Document, isScalar, Pair, Scalar, YAMLMap } from 'yaml';
import type { Diagnostic } from './diagnostics.js';
import { diagAt, diagAtOffset } from './yaml-doc.js';
import type { Path, YamlSource } from './yaml-doc.js';
import { describeType } from './duration.js';

type Raw = Record<string, unknown>;
const isMap = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

/** An inventory entry in pvrun's own shape, located in the Ansible file. */
export interface AnsibleEntry { name: string; raw: Raw; origin: { src: YamlSource; path: Path } }

export interface AnsibleEntries { groups: AnsibleEntry[]; hosts: AnsibleEntry[] }

const GROUP_KEYS = new Set(['hosts', 'children', 'vars']);
const PVRUN_SECTIONS = ['hypervisors', 'groups', 'hosts'];

/** More hosts than this from one range pattern is a mistake, not an inventory. */
export const MAX_RANGE_HOSTS = 10_000;

/**
 * Whether a parsed inventory file is in Ansible's YAML format: none of pvrun's sections at the
 * top, and every top-level value a group (nothing, or a map of hosts/children/vars).
 */
export function looksLikeAnsible(value: Raw): boolean {
  const keys = Object.keys(value);
  if (keys.length === 0 || keys.some((k) => PVRUN_SECTIONS.includes(k))) return false;
  return keys.every((k) => {
    const g = value[k];
    return g === null || (isMap(g) && Object.keys(g).every((gk) => GROUP_KEYS.has(gk)));
  });
}

// ---------- host patterns ----------

/** ansible-core's detect_range (lib/ansible/plugins/inventory/__init__.py:49): a `[` before a `:` before a `]`. */
function detectRange(s: string): boolean {
  const a = s.indexOf('[');
  const b = s.indexOf(':', a + 1);
  const c = s.indexOf(']', b + 1);
  return a >= 0 && b > a && c > b;
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/**
 * Ansible's expand_hostname_range: `web[01:20]` (zero-padded when the start is), `db-[a:f]`,
 * `[0:10:2]` (a step), several ranges in one name. Returns the names or why the range is wrong.
 */
export function expandHostRange(pattern: string, limit = MAX_RANGE_HOSTS): { names: string[] } | { error: string } {
  if (!detectRange(pattern)) return { names: [pattern] };
  const open = pattern.indexOf('[');
  const close = pattern.indexOf(']', open);
  const head = pattern.slice(0, open);
  const range = pattern.slice(open + 1, close);
  const tail = pattern.slice(close + 1);
  const bounds = range.split(':');
  if (bounds.length !== 2 && bounds.length !== 3) return { error: `host range must be begin:end or begin:end:step, got '[${range}]'` };
  const beg = bounds[0] === '' ? '0' : bounds[0]!;
  const end = bounds[1]!;
  const stepText = bounds[2] ?? '1';
  if (end === '') return { error: `host range must specify an end value, got '[${range}]'` };
  if (!/^\d+$/.test(stepText) || Number(stepText) < 1) return { error: `host range step must be a whole number ≥ 1, got '${stepText}'` };
  const step = Number(stepText);
  let fill = (x: string | number): string => String(x);
  if (beg[0] === '0' && beg.length > 1) {
    if (beg.length !== end.length) return { error: `host range must specify equal-length begin and end formats, got '[${range}]'` };
    fill = (x) => String(x).padStart(beg.length, '0');
  }
  let seq: (string | number)[];
  const ib = beg.length === 1 ? LETTERS.indexOf(beg) : -1;
  const ie = end.length === 1 ? LETTERS.indexOf(end) : -1;
  if (ib >= 0 && ie >= 0) {
    if (ib > ie) return { error: `host range must have begin <= end, got '[${range}]'` };
    seq = [];
    for (let i = ib; i <= ie; i += step) seq.push(LETTERS[i]!);
  } else {
    if (!/^\d+$/.test(beg) || !/^\d+$/.test(end)) return { error: `host range bounds must be numbers or single letters, got '[${range}]'` };
    const b = Number(beg);
    const e = Number(end);
    if ((e - b) / step + 1 > limit) return { error: `host range '[${range}]' gives more than ${limit} hosts` };
    seq = [];
    for (let i = b; i <= e; i += step) seq.push(i);
  }
  const out: string[] = [];
  for (const x of seq) {
    const name = head + fill(x) + tail;
    const sub = expandHostRange(name, limit);
    if ('error' in sub) return sub;
    out.push(...sub.names);
    if (out.length > limit) return { error: `host pattern '${pattern}' gives more than ${limit} hosts` };
  }
  return { names: out };
}

/**
 * A host key of a `hosts:` map: a name or range, optionally with `:port` (ansible-core's
 * parse_address with allow_ranges; `[::1]:22` and bare IPv6 addresses as well).
 */
export function parseHostPattern(key: string): { pattern: string; port?: number } | { error: string } {
  const v6 = /^\[([0-9A-Fa-f:.]+)\](?::(\d+))?$/.exec(key);
  if (v6 && v6[1]!.includes(':') && !/^\d*:\d*(:\d+)?$/.test(v6[1]!)) return { pattern: v6[1]!, ...(v6[2] ? { port: Number(v6[2]) } : {}) };
  // colons outside brackets: one, followed by digits only, is a port; several is a bare IPv6 address
  const outside = key.replace(/\[[^\]]*\]/g, '');
  const colons = (outside.match(/:/g) ?? []).length;
  if (colons === 1) {
    const m = /^(.+):(\d+)$/.exec(key);
    if (!m) return { error: `host '${key}': after ':' comes a port number` };
    const port = Number(m[2]);
    if (port < 1 || port > 65535) return { error: `host '${key}': port ${port} is not in 1–65535` };
    return { pattern: m[1]!, port };
  }
  return { pattern: key };
}

// ---------- variables ----------

/** Connection variables and where they go (the ssh connection plugin's aliases included). */
const CONN_VARS: Record<string, 'address' | 'port' | 'user' | 'key'> = {
  ansible_host: 'address', ansible_ssh_host: 'address',
  ansible_port: 'port', ansible_ssh_port: 'port',
  ansible_user: 'user', ansible_ssh_user: 'user', ansible_remote_user: 'user',
  ansible_ssh_private_key_file: 'key', ansible_private_key_file: 'key',
};
const SECRET_VARS: Record<string, string> = {
  ansible_password: 'password', ansible_ssh_pass: 'password', ansible_ssh_password: 'password',
  ansible_become_password: 'become_password', ansible_become_pass: 'become_password',
  ansible_ssh_private_key_passphrase: 'passphrase',
};
/** Variables Ansible uses that do not matter to pvrun: kept out of the vars, with a warning. */
const IGNORED_VARS = new Set([
  'ansible_python_interpreter', 'ansible_become_method', 'ansible_become_exe', 'ansible_become_flags',
  'ansible_ssh_common_args', 'ansible_ssh_extra_args', 'ansible_sftp_extra_args', 'ansible_scp_extra_args',
  'ansible_ssh_pipelining', 'ansible_pipelining', 'ansible_shell_executable', 'ansible_winrm_transport',
  'ansible_winrm_server_cert_validation', 'ansible_psrp_cert_validation', 'ansible_winrm_kerberos_delegation',
  'ansible_group_priority',
]);
const CONNECTION_KEYS = new Set(['type', 'address', 'port', 'user', 'key', 'passphrase', 'password', 'agent', 'host_key_checking',
  'known_hosts', 'proxy_jump', 'become_password', 'transport', 'https', 'connect_timeout']);
const SECRET_KEYS = new Set(['passphrase', 'password', 'become_password']);

/** What a pvrun_connection value must be (the connection object of src/load/schema.ts), or undefined when it is. */
function badConnectionValue(key: string, v: unknown): string | undefined {
  const oneOf = (xs: string[]) => (typeof v === 'string' && xs.includes(v) ? undefined : xs.join(', '));
  switch (key) {
    case 'type': return oneOf(['ssh', 'psremoting', 'ssh-powershell', 'none']);
    case 'host_key_checking': return oneOf(['strict', 'accept-new', 'off']);
    case 'transport': return oneOf(['wsman', 'ssh']);
    case 'port': return Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535 ? undefined : 'a port number 1–65535';
    case 'agent': case 'https': return typeof v === 'boolean' ? undefined : 'true or false';
    case 'connect_timeout': return typeof v === 'number' && v >= 0 ? undefined : 'a number of seconds';
    case 'passphrase': case 'password': case 'become_password': return undefined;
    default: return typeof v === 'string' && v !== '' ? undefined : 'a non-empty string';
  }
}

interface Mapped { vars: Raw; connection: Raw; vm?: Raw; pool?: string; shellType?: string; connectionType?: string }

const isSecretRef = (v: unknown): boolean =>
  isMap(v) && Object.keys(v).length === 1 && ((typeof v.env === 'string' && v.env !== '') || (typeof v.file === 'string' && v.file !== ''));

/** Split one vars map (a host's or a group's) into pvrun vars, connection settings and the VM. */
function mapVars(src: YamlSource, at: Path, vars: Raw, who: string, diags: Diagnostic[]): Mapped {
  const out: Mapped = { vars: {}, connection: {} };
  const err = (k: string, msg: string, severity: 'error' | 'warning' = 'error') => diags.push(diagAt(src, [...at, k], msg, 'key', severity));
  for (const [k, v] of Object.entries(vars)) {
    const templated = typeof v === 'string' && v.includes('{{');
    if (k in CONN_VARS || k in SECRET_VARS || k === 'ansible_connection' || k === 'ansible_shell_type' || k === 'ansible_winrm_scheme' || k === 'ansible_become' || k === 'ansible_become_user') {
      if (templated) { err(k, `${k} of ${who}: templates are not evaluated in connection settings; give the value itself`); continue; }
    }
    const field = CONN_VARS[k];
    if (field === 'port') {
      const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
      if (!Number.isInteger(n) || n < 1 || n > 65535) err(k, `${k} of ${who} must be a port number 1–65535, got ${describeType(v)}`);
      else out.connection.port = n;
    } else if (field) {
      if (typeof v !== 'string' || v === '') err(k, `${k} of ${who} must be a non-empty string, got ${describeType(v)}`);
      else out.connection[field] = v;
    } else if (k in SECRET_VARS) {
      err(k, `${k} of ${who}: pvrun never reads secrets from inventories; use pvrun_connection: { ${SECRET_VARS[k]}: { env: NAME } } (or { file: path })`);
    } else if (k === 'ansible_connection') {
      if (v === 'ssh' || v === 'smart' || v === 'paramiko' || v === 'ansible.builtin.ssh' || v === 'ansible.netcommon.paramiko_ssh') out.connectionType = 'ssh';
      else if (v === 'winrm' || v === 'ansible.builtin.winrm' || v === 'psrp' || v === 'ansible.builtin.psrp') out.connectionType = 'psremoting';
      else err(k, `ansible_connection '${String(v)}' of ${who} has no meaning for pvrun: it reaches guests over ssh (ssh, smart, paramiko) or PowerShell remoting (winrm, psrp)`);
    } else if (k === 'ansible_shell_type') {
      if (v === 'powershell' || v === 'cmd') out.shellType = 'powershell';
      else if (typeof v === 'string' && ['sh', 'bash', 'csh', 'fish'].includes(v)) out.shellType = 'sh';
      else err(k, `ansible_shell_type '${String(v)}' of ${who} has no meaning for pvrun (sh, bash or powershell)`);
    } else if (k === 'ansible_winrm_scheme') {
      if (v === 'https') out.connection.https = true;
      else if (v === 'http') out.connection.https = false;
      else err(k, `ansible_winrm_scheme of ${who} must be http or https, got ${describeType(v)}`);
    } else if (k === 'ansible_become') {
      if (typeof v !== 'boolean' && v !== 'yes' && v !== 'no' && v !== 'true' && v !== 'false') err(k, `ansible_become of ${who} must be true or false, got ${describeType(v)}`);
      else err(k, `ansible_become of ${who} is ignored: in pvrun each step that needs root says so (become: true on the step)`, 'warning');
    } else if (k === 'ansible_become_user') {
      if (v !== 'root') err(k, `ansible_become_user '${String(v)}' of ${who} has no meaning for pvrun: become always means root`);
    } else if (IGNORED_VARS.has(k)) {
      err(k, `${k} of ${who} is ignored: it has no meaning for pvrun`, 'warning');
    } else if (k === 'pvrun_vm') {
      if (!isMap(v)) err(k, `pvrun_vm of ${who} must be a map { pool, uuid } or { pool, name_label }, got ${describeType(v)}`);
      else {
        const bad = Object.keys(v).filter((x) => !['pool', 'uuid', 'name_label'].includes(x));
        if (bad.length > 0) err(k, `pvrun_vm of ${who}: unknown key '${bad[0]}' (pool, uuid, name_label)`);
        else if (typeof v.pool !== 'string') err(k, `pvrun_vm of ${who} needs pool: <hypervisor name>`);
        else out.vm = v;
      }
    } else if (k === 'pvrun_pool') {
      if (typeof v !== 'string' || v === '') err(k, `pvrun_pool of ${who} must be a hypervisor name, got ${describeType(v)}`);
      else out.pool = v;
    } else if (k === 'pvrun_connection') {
      if (!isMap(v)) { err(k, `pvrun_connection of ${who} must be a map of connection settings, got ${describeType(v)}`); continue; }
      for (const [ck, cv] of Object.entries(v)) {
        if (!CONNECTION_KEYS.has(ck)) { diags.push(diagAt(src, [...at, k, ck], `unknown connection setting '${ck}' in pvrun_connection of ${who}`, 'key')); continue; }
        if (SECRET_KEYS.has(ck) && !isSecretRef(cv)) {
          diags.push(diagAt(src, [...at, k, ck], `'${ck}' must be a secret reference, { env: NAME } or { file: path }`, 'value'));
          continue;
        }
        const bad = badConnectionValue(ck, cv);
        if (bad) { diags.push(diagAt(src, [...at, k, ck], `'${ck}' in pvrun_connection of ${who} must be ${bad}, got ${describeType(cv)}`, 'value')); continue; }
        out.connection[ck] = cv;
      }
    } else if (k.startsWith('ansible_')) {
      err(k, `${k} of ${who} has no meaning for pvrun`);
    } else {
      out.vars[k] = v;
    }
  }
  return out;
}

/** Connection type from ansible_connection + ansible_shell_type (ssh + powershell: PowerShell over ssh). */
function connectionOf(m: Mapped): Raw {
  const c: Raw = { ...m.connection };
  if (m.connectionType === 'psremoting') c.type = 'psremoting';
  else if (m.shellType === 'powershell') c.type = 'ssh-powershell';
  else if (m.connectionType === 'ssh' || m.shellType === 'sh') c.type = 'ssh';
  return c;
}

/**
 * Secrets written as literals (`ansible_password: hunter2`, a `pvrun_connection` password) are
 * errors; before any message is made, they are masked as `***` in the lines messages show.
 */
function maskLiteralSecrets(src: YamlSource, value: unknown, depth = 0): void {
  if (!isMap(value) || depth > 200) return;
  for (const [k, v] of Object.entries(value)) {
    const secret = k in SECRET_VARS || SECRET_KEYS.has(k);
    if (secret && typeof v === 'string' && v.length > 0) src.lines = src.lines.map((l) => l.split(v).join('***'));
    else maskLiteralSecrets(src, v, depth + 1);
  }
}

// ---------- groups and hosts ----------

interface GroupAcc { name: string; hosts: string[]; children: string[]; vars: Raw; connection: Raw; pool?: string; origin: Path; shellType?: string; connectionType?: string }
interface HostAcc { name: string; vars: Raw; connection: Raw; vm?: Raw; pool?: string; origin: Path; shellType?: string; connectionType?: string }

/** Convert a parsed Ansible YAML inventory into pvrun entries; problems go to `diags`, located. */
export function convertAnsibleInventory(src: YamlSource, value: Raw, diags: Diagnostic[]): AnsibleEntries {
  maskLiteralSecrets(src, value);
  const groups = new Map<string, GroupAcc>();
  const hosts = new Map<string, HostAcc>();
  const group = (name: string, at: Path): GroupAcc => {
    let g = groups.get(name);
    if (!g) { g = { name, hosts: [], children: [], vars: {}, connection: {}, origin: at }; groups.set(name, g); }
    return g;
  };

  const parseGroup = (name: string, data: unknown, at: Path): void => {
    const g = group(name, at);
    if (data === null || data === undefined) return;
    if (!isMap(data)) { diags.push(diagAt(src, at, `group '${name}' must be a map with hosts:, children: or vars:, got ${describeType(data)}`)); return; }
    // yaml.py _parse_group: a section written as one string is a map of that one name
    data = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, GROUP_KEYS.has(k) && typeof v === 'string' ? { [v]: null } : v]));
    if (!isMap(data)) return;
    for (const key of Object.keys(data)) {
      if (!GROUP_KEYS.has(key)) diags.push(diagAt(src, [...at, key], `unexpected key '${key}' in group '${name}': only vars, children and hosts are valid`, 'key'));
    }
    // in the file's key order, as yaml.py reads them (a host's vars: later listings win)
    for (const section of Object.keys(data)) {
      if (section === 'vars' && data.vars !== undefined && data.vars !== null) {
        if (!isMap(data.vars)) diags.push(diagAt(src, [...at, 'vars'], `vars of group '${name}' must be a map, got ${describeType(data.vars)}`));
        else {
          const m = mapVars(src, [...at, 'vars'], data.vars, `group '${name}'`, diags);
          Object.assign(g.vars, m.vars);
          Object.assign(g.connection, m.connection);
          if (m.pool) g.pool = m.pool;
          if (m.shellType) g.shellType = m.shellType;
          if (m.connectionType) g.connectionType = m.connectionType;
          if (m.vm) diags.push(diagAt(src, [...at, 'vars', 'pvrun_vm'], `pvrun_vm belongs to a host; on group '${name}' use pvrun_pool (VMs found by host name)`, 'key'));
        }
      }
      if (section === 'children' && data.children !== undefined && data.children !== null) {
        if (!isMap(data.children)) diags.push(diagAt(src, [...at, 'children'], `children of group '${name}' must be a map of group names, got ${describeType(data.children)}`));
        else {
          for (const [child, cdata] of Object.entries(data.children)) {
            if (!g.children.includes(child)) g.children.push(child);
            parseGroup(child, cdata, [...at, 'children', child]);
          }
        }
      }
      if (section === 'hosts' && data.hosts !== undefined && data.hosts !== null) {
        if (!isMap(data.hosts)) {
          diags.push(diagAt(src, [...at, 'hosts'], `hosts of group '${name}' must be a map of host names (each with its vars or nothing), got ${describeType(data.hosts)}`));
          continue;
        }
        for (const [key, hdata] of Object.entries(data.hosts)) {
          const hat: Path = [...at, 'hosts', key];
          const p = parseHostPattern(key);
          if ('error' in p) { diags.push(diagAt(src, hat, p.error, 'key')); continue; }
          const ex = expandHostRange(p.pattern);
          if ('error' in ex) { diags.push(diagAt(src, hat, ex.error, 'key')); continue; }
          if (hdata !== null && hdata !== undefined && !isMap(hdata)) {
            diags.push(diagAt(src, hat, `host '${key}' in group '${name}' must be a map of its vars or nothing, got ${describeType(hdata)}`));
            continue;
          }
          const m = isMap(hdata) ? mapVars(src, hat, hdata, `host '${key}'`, diags) : undefined;
          for (const hname of ex.names) {
            let h = hosts.get(hname);
            if (!h) { h = { name: hname, vars: {}, connection: {}, origin: hat }; hosts.set(hname, h); }
            if (!g.hosts.includes(hname)) g.hosts.push(hname);
            if (p.port !== undefined) h.connection.port = p.port;
            if (!m) continue;
            Object.assign(h.vars, m.vars);
            Object.assign(h.connection, m.connection);
            if (m.vm) h.vm = m.vm;
            if (m.pool) h.pool = m.pool;
            if (m.shellType) h.shellType = m.shellType;
            if (m.connectionType) h.connectionType = m.connectionType;
          }
        }
      }
    }
  };

  for (const [name, data] of Object.entries(value)) parseGroup(name, data, [name]);

  // Ansible's implicit 'ungrouped': hosts that are in no group but 'all'.
  const grouped = new Set<string>();
  for (const g of groups.values()) if (g.name !== 'all') for (const h of g.hosts) grouped.add(h);
  const ungrouped = [...hosts.keys()].filter((h) => !grouped.has(h));
  const all = groups.get('all');
  if (all && ungrouped.length > 0) {
    const u = group('ungrouped', all.origin);
    for (const h of ungrouped) if (!u.hosts.includes(h)) u.hosts.push(h);
  }
  if (all) {
    // pvrun's 'all' has every host and no children: its children here are top-level groups there
    all.hosts = [];
    all.children = [];
  }
  // 'all' cannot be a child in pvrun; in Ansible it is everyone's parent already
  for (const g of groups.values()) {
    if (g.name !== 'all' && g.children.includes('all')) {
      diags.push(diagAt(src, [...g.origin, 'children', 'all'], `group 'all' cannot be a child of '${g.name}': every group is already in 'all'`, 'key'));
      g.children = g.children.filter((c) => c !== 'all');
    }
  }

  const entries: AnsibleEntries = { groups: [], hosts: [] };
  for (const g of groups.values()) {
    const raw: Raw = { hosts: g.hosts, children: g.children, vars: g.vars, connection: connectionOf(g) };
    if (g.pool) raw.pvrun_pool = g.pool;
    entries.groups.push({ name: g.name, raw, origin: { src, path: g.origin } });
  }
  for (const h of hosts.values()) {
    const raw: Raw = { vars: h.vars, connection: connectionOf(h) };
    if (h.vm) raw.vm = h.vm;
    else if (h.pool) raw.vm = { pool: h.pool, name_label: h.name };
    entries.hosts.push({ name: h.name, raw, origin: { src, path: h.origin } });
  }
  return entries;
}

// ---------- Ansible's INI format ----------

/**
 * Whether a file is in Ansible's INI format: not named .yml/.yaml/.json, and its first line that
 * is not blank or a comment is a `[section]` header or a host line (no YAML `key:` at its end
 * or `key: value`).
 */
export function looksLikeAnsibleIni(file: string, text: string): boolean {
  if (/\.(ya?ml|json)$/i.test(file)) return false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('[')) return /^\[[^\]]+\]\s*([#;].*)?$/.test(line);
    return !/:\s*$|:\s/.test(line.replace(/\s[#;].*$/, '')) || /\s\S+=/.test(line);
  }
  return false;
}

/** ini.py _parse_value: what Python's ast.literal_eval makes of the text, or the text itself. */
function iniValue(v: string): unknown {
  if (/^[-+]?\d+$/.test(v)) return Number(v);
  if (/^[-+]?(\d+\.\d*|\.\d+)([eE][-+]?\d+)?$/.test(v)) return Number(v);
  if (v === 'True') return true;
  if (v === 'False') return false;
  if (v === 'None') return null;
  const q = /^(['"])(.*)\1$/.exec(v);
  if (q) return q[2];
  if (/^[[{]/.test(v)) {
    try { return JSON.parse(v.replace(/'/g, '"').replace(/\bTrue\b/g, 'true').replace(/\bFalse\b/g, 'false').replace(/\bNone\b/g, 'null')) as unknown; } catch { /* a string */ }
  }
  return v;
}

interface Token { text: string; start: number; end: number }

/** shlex.split(line, comments=True) with offsets: whitespace separates, quotes group and go. */
function shlexTokens(line: string, base: number): Token[] | { error: string } {
  const out: Token[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i]!)) i++;
    if (i >= line.length || line[i] === '#') break;
    const start = i;
    let text = '';
    while (i < line.length && !/\s/.test(line[i]!)) {
      const c = line[i]!;
      if (c === '"' || c === "'") {
        const close = line.indexOf(c, i + 1);
        if (close < 0) return { error: 'No closing quotation' };
        text += line.slice(i + 1, close);
        i = close + 1;
      } else { text += c; i++; }
    }
    out.push({ text, start: base + start, end: base + i });
  }
  return out;
}

/**
 * Ansible's INI inventory (ansible-core lib/ansible/plugins/inventory/ini.py _parse) read into
 * the YAML format's structure, with a document whose nodes point into the INI text, so the
 * YAML format's conversion and messages (file:line:col) serve both.
 */
export function parseAnsibleIni(file: string, text: string, diags: Diagnostic[]): { src: YamlSource; value: Raw } {
  const doc = new Document({});
  const root = new YAMLMap();
  doc.contents = root;
  const lines = text.split('\n');
  const lineStarts: number[] = [];
  { let o = 0; for (const l of lines) { lineStarts.push(o); o += l.length + 1; } }
  const src: YamlSource = { file, text, lines, lineStarts, doc: doc as unknown as YamlSource['doc'] };
  const value: Raw = {};
  const scalar = (v: unknown, start: number, end: number): Scalar => { const s = new Scalar(v); s.range = [start, end, end]; return s; };
  const mapAt = (start: number): YAMLMap => { const m = new YAMLMap(); m.range = [start, start, start]; return m; };
  const child = (parent: YAMLMap, pv: Raw, key: string, start: number, end: number): [YAMLMap, Raw] => {
    let pair = parent.items.find((p) => isScalar(p.key) && p.key.value === key) as Pair<Scalar, YAMLMap> | undefined;
    if (!pair) {
      pair = new Pair(scalar(key, start, end), mapAt(start)) as Pair<Scalar, YAMLMap>;
      parent.items.push(pair);
      pv[key] = {};
    }
    return [pair.value!, pv[key] as Raw];
  };
  // messages are made at the end, once literal secrets are masked in the lines they show
  const pending: [number, string][] = [];
  const err = (offset: number, message: string) => pending.push([offset, message]);
  let group = 'ungrouped';
  let state = 'hosts';
  const [g0, v0] = child(root, value, 'ungrouped', 0, 0);
  let groupNode = g0;
  let groupValue = v0;
  for (let n = 0; n < lines.length; n++) {
    const raw = lines[n]!;
    const lead = raw.length - raw.trimStart().length;
    const line = raw.trim();
    const at = lineStarts[n]! + lead;
    if (line === '' || line[0] === '#' || line[0] === ';') continue;
    const m = /^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$/.exec(line);
    if (m) {
      group = m[1]!;
      state = m[2] ?? 'hosts';
      if (!['hosts', 'children', 'vars'].includes(state)) { err(at, `section [${group}:${state}] has unknown type: ${state} (hosts, children or vars)`); state = 'skip'; continue; }
      [groupNode, groupValue] = child(root, value, group, at + 1, at + 1 + group.length);
      continue;
    }
    if (line.startsWith('[') && line.endsWith(']')) { err(at, `invalid section entry '${line}': no spaces or other invalid characters in a section name`); state = 'skip'; continue; }
    if (state === 'skip') continue;
    if (state === 'hosts') {
      const toks = shlexTokens(line, at);
      if ('error' in toks) { err(at, `host definition '${line}': ${toks.error}`); continue; }
      if (toks.length === 0) continue;
      const [hostsNode, hostsValue] = child(groupNode, groupValue, 'hosts', at, at);
      const host = toks[0]!;
      const vars = mapAt(toks[1]?.start ?? host.start);
      const varsValue: Raw = {};
      for (const t of toks.slice(1)) {
        const eq = t.text.indexOf('=');
        if (eq < 0) { err(t.start, `expected key=value host variable assignment, got '${t.text}'`); continue; }
        const k = t.text.slice(0, eq);
        const v = iniValue(t.text.slice(eq + 1));
        vars.items.push(new Pair(scalar(k, t.start, t.start + k.length), scalar(v, t.start + k.length + 1, t.end)));
        varsValue[k] = v;
      }
      const hasVars = toks.length > 1;
      hostsNode.items.push(new Pair(scalar(host.text, host.start, host.end), hasVars ? vars : null));
      hostsValue[host.text] = hasVars ? { ...(isMap(hostsValue[host.text]) ? hostsValue[host.text] as Raw : {}), ...varsValue } : (hostsValue[host.text] ?? null);
    } else if (state === 'vars') {
      const eq = line.indexOf('=');
      if (eq < 0) { err(at, `expected key=value in [${group}:vars], got '${line}'`); continue; }
      const k = line.slice(0, eq).trim();
      const vtext = line.slice(eq + 1).trim();
      const [varsNode, varsValue] = child(groupNode, groupValue, 'vars', at, at);
      varsNode.items.push(new Pair(scalar(k, at, at + k.length), scalar(iniValue(vtext), at + line.indexOf(vtext, eq), at + line.length)));
      varsValue[k] = iniValue(vtext);
    } else {
      const name = line.replace(/\s*[#;].*$/, '');
      const [chNode, chValue] = child(groupNode, groupValue, 'children', at, at);
      chNode.items.push(new Pair(scalar(name, at, at + name.length), null));
      chValue[name] = null;
    }
  }
  maskLiteralSecrets(src, value);
  for (const [offset, message] of pending) diags.push(diagAtOffset(src, offset, message));
  if (Object.keys(value.ungrouped as Raw).length === 0) {
    delete value.ungrouped;
    root.items = root.items.filter((p) => !(isScalar(p.key) && p.key.value === 'ungrouped'));
  }
  return { src, value };
}
