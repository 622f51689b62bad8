// `-e` extra variables, highest precedence. Three forms, as ansible-playbook:
//   -e key=value [key2=value2 …]   values are YAML-typed: 5 → number, true → boolean, [a] → list;
//                                   quote to keep spaces: -e 'msg="hello world"'
//   -e @vars.yml                   a YAML (or JSON) file holding a map
//   -e '{"key": 1}'                a JSON / YAML flow map
import { parse as parseYamlValue } from 'yaml';
import type { Result } from '../util/result.js';
import { err, ok } from '../util/result.js';
import type { Diagnostic } from './diagnostics.js';
import { argDiagnostic } from './diagnostics.js';
import { describeType } from './duration.js';
import { readUserFile } from './read-file.js';
import { diagAt, parseYaml } from './yaml-doc.js';

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parse every `-e` argument in order; later ones win. */
export function parseExtraVars(args: readonly string[]): Result<Record<string, unknown>, Diagnostic[]> {
  const vars: Record<string, unknown> = {};
  const diags: Diagnostic[] = [];
  for (const arg of args) {
    const r = parseExtraVarsArg(arg);
    if (r.ok) Object.assign(vars, r.value);
    else diags.push(...r.error);
  }
  return diags.length > 0 ? err(diags) : ok(vars);
}

export function parseExtraVarsArg(arg: string): Result<Record<string, unknown>, Diagnostic[]> {
  const trimmed = arg.trim();
  if (trimmed === '') return err([argDiagnostic('-e', arg, 1, 'empty extra variable: expected key=value, @file.yml or a {"json": "map"}')]);
  if (trimmed.startsWith('@')) return fromFile(trimmed.slice(1).trim(), arg);
  if (trimmed.startsWith('{')) return fromInline(arg);
  return fromPairs(arg);
}

function checkNames(vars: Record<string, unknown>, bad: (name: string) => Diagnostic): Diagnostic[] {
  return Object.keys(vars).filter((k) => !NAME_RE.test(k)).map(bad);
}

function fromFile(file: string, arg: string): Result<Record<string, unknown>, Diagnostic[]> {
  if (file === '') return err([argDiagnostic('-e', arg, 1, "'@' must be followed by a file name, e.g. -e @vars.yml")]);
  const read = readUserFile(file, 'extra vars file');
  if (!read.ok) return err([read.diagnostic]);
  const parsed = parseYaml(file, read.text);
  if (parsed.diagnostics.length > 0) return err(parsed.diagnostics);
  const v = parsed.value ?? {};
  if (!isMap(v)) return err([diagAt(parsed.source, [], `an extra vars file must hold a map of variables, got ${describeType(v)}`)]);
  const bad = checkNames(v, (k) => diagAt(parsed.source, [k], `invalid variable name '${k}' (letters, digits and _ only)`, 'key'));
  return bad.length > 0 ? err(bad) : ok(v);
}

function fromInline(arg: string): Result<Record<string, unknown>, Diagnostic[]> {
  const parsed = parseYaml('<-e>', arg);
  if (parsed.diagnostics.length > 0) {
    return err(parsed.diagnostics.map((d) => ({ ...d, message: `bad -e map: ${d.message}` })));
  }
  const v = parsed.value;
  if (!isMap(v)) return err([argDiagnostic('-e', arg, 1, `-e must be key=value, @file or a map, got ${describeType(v)}`)]);
  const bad = checkNames(v, (k) => argDiagnostic('-e', arg, Math.max(1, arg.indexOf(k) + 1), `invalid variable name '${k}' (letters, digits and _ only)`));
  return bad.length > 0 ? err(bad) : ok(v);
}

/** `a=1 b="two words"`: whitespace-separated pairs; quotes group, and are kept for YAML typing. */
function fromPairs(arg: string): Result<Record<string, unknown>, Diagnostic[]> {
  const vars: Record<string, unknown> = {};
  const diags: Diagnostic[] = [];
  let i = 0;
  while (i < arg.length) {
    while (i < arg.length && /\s/.test(arg[i]!)) i++;
    if (i >= arg.length) break;
    const start = i;
    let quote: string | undefined;
    while (i < arg.length && (quote !== undefined || !/\s/.test(arg[i]!))) {
      const c = arg[i]!;
      if (quote !== undefined) { if (c === quote) quote = undefined; }
      else if (c === '"' || c === "'") quote = c;
      i++;
    }
    const token = arg.slice(start, i);
    const col = start + 1;
    if (quote !== undefined) { diags.push(argDiagnostic('-e', arg, col, `unclosed ${quote} quote in extra variable`)); break; }
    const eq = token.indexOf('=');
    if (eq < 0) { diags.push(argDiagnostic('-e', arg, col, `expected key=value, got '${token}'`)); continue; }
    const key = token.slice(0, eq);
    if (!NAME_RE.test(key)) { diags.push(argDiagnostic('-e', arg, col, key === '' ? 'missing variable name before =' : `invalid variable name '${key}' (letters, digits and _ only)`)); continue; }
    const raw = token.slice(eq + 1);
    let value: unknown;
    try {
      value = raw === '' ? '' : parseYamlValue(raw);
    } catch {
      // Not valid YAML on its own (e.g. `a=[1`): take the text literally rather than fail.
      value = raw;
    }
    vars[key] = value === null && raw !== '~' && raw !== 'null' ? raw : value;
  }
  return diags.length > 0 ? err(diags) : ok(vars);
}
