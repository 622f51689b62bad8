// Playbook files → typed Playbook (src/model/playbook.ts), with located diagnostics.
import { realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve, sep } from 'node:path';
import type { PlaySpec, Playbook, StepSpec } from '../model/playbook.js';
import type { StepCatalog, StepInfo } from '../steps/catalog.js';
import type { Result } from '../util/result.js';
import { err, ok } from '../util/result.js';
import { newAjv } from './ajv.js';
import type { ValidateFunction } from './ajv.js';
import { ajvToDiagnostics } from './ajv-errors.js';
import type { Diagnostic } from './diagnostics.js';
import { hasErrors, sortDiagnostics } from './diagnostics.js';
import { describeType, parseDuration } from './duration.js';
import { parseWhen } from './predicate.js';
import { readUserFile } from './read-file.js';
import { buildInventorySchema, buildPlaybookSchema, STEP_COMMON_KEYS, TEMPLATE_PATTERN } from './schema.js';
import { bundledBuiltin, validatorFor } from './validators.js';
import type { JsonSchema } from '../steps/types.js';
import { parseSerial } from './serial.js';
import { checkTemplateSyntax } from './template.js';
import { diagAt, diagInScalar, locate, parseYaml } from './yaml-doc.js';
import type { Path, YamlSource } from './yaml-doc.js';

export const DEFAULT_FORKS = 5;
/** between retries when `delay` is not given */
export const DEFAULT_RETRY_DELAY_MS = 5000;

interface Validators {
  playbook: ValidateFunction;
  /** a step type's argument validator, made at first use (src/load/validators.ts) */
  args: { get(type: string): ValidateFunction | undefined };
}
const cache = new WeakMap<StepCatalog, Validators>();

export function validatorsFor(registry: StepCatalog): Validators {
  let v = cache.get(registry);
  if (!v) {
    let ajv: ReturnType<typeof newAjv> | undefined;
    const ajvOf = () => (ajv ??= newAjv());
    const args = new Map<string, ValidateFunction>();
    v = {
      // the builtin catalog's schemas are the bundle's (validators.ts): not rebuilt to compare
      playbook: (registry.builtin ? bundledBuiltin('playbook') : undefined) ?? validatorFor('playbook', buildPlaybookSchema(registry, 'loader'), ajvOf),
      args: {
        get(type) {
          let f = args.get(type);
          if (!f) {
            const st = registry.steps.get(type);
            if (!st) return undefined;
            f = (registry.builtin ? bundledBuiltin(`step:${type}`) : undefined) ?? validatorFor(`step:${type}`, st.schema, ajvOf);
            args.set(type, f);
          }
          return f;
        },
      },
    };
    cache.set(registry, v);
  }
  return v;
}

/** Every schema the loader validates with, by key (what the build precompiles: gen-validators.ts). */
export function loaderSchemas(registry: StepCatalog): Record<string, JsonSchema> {
  const out: Record<string, JsonSchema> = { playbook: buildPlaybookSchema(registry, 'loader'), inventory: buildInventorySchema() };
  for (const [type, st] of registry.steps) out[`step:${type}`] = st.schema;
  return out;
}

/** A loaded playbook plus what later stages need to locate problems in it. */
export interface LoadedPlaybook {
  playbook: Playbook;
  source: YamlSource;
  /** YAML path of each step's arguments (for locating template errors) */
  argsPath: WeakMap<StepSpec, Path>;
}

export function loadPlaybook(file: string, registry: StepCatalog): Result<Playbook, Diagnostic[]> {
  const r = loadPlaybookDetailed(file, registry);
  return r.ok ? ok(r.value.playbook) : r;
}

export function loadPlaybookDetailed(file: string, registry: StepCatalog): Result<LoadedPlaybook, Diagnostic[]> {
  const read = readUserFile(file, 'playbook');
  if (!read.ok) return err([read.diagnostic]);
  return parsePlaybook(file, read.text, registry);
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isWholeTemplate = (v: unknown): v is string => typeof v === 'string' && new RegExp(TEMPLATE_PATTERN).test(v);

/** Parse playbook text (`file` is only used in positions). */
export function parsePlaybook(file: string, text: string, registry: StepCatalog): Result<LoadedPlaybook, Diagnostic[]> {
  const parsed = parseYaml(file, text);
  if (parsed.diagnostics.length > 0) return err(sortDiagnostics(parsed.diagnostics));
  const src = parsed.source;
  const value = parsed.value;
  const diags: Diagnostic[] = [];
  if (value === null || value === undefined) return err([diagAt(src, [], 'the playbook is empty: expected a list of plays')]);
  if (!Array.isArray(value)) {
    return err([diagAt(src, [], `a playbook is a list of plays (start each play with '- '), got ${describeType(value)}`)]);
  }
  const v = validatorsFor(registry);
  const stepTypes = new Set(registry.steps.keys());
  if (!v.playbook(value)) diags.push(...ajvToDiagnostics(v.playbook.errors ?? [], src, { stepTypes }));

  const argsPath = new WeakMap<StepSpec, Path>();
  const plays: PlaySpec[] = [];
  value.forEach((raw, i) => {
    if (!isMap(raw)) return; // reported by the schema
    plays.push(parsePlay(raw, src, [i], registry, v, diags, argsPath));
  });
  if (plays.length === 0 && !hasErrors(diags)) diags.push(diagAt(src, [], 'the playbook has no plays'));
  const sorted = sortDiagnostics(diags);
  if (hasErrors(sorted)) return err(sorted);
  return ok({ playbook: { file, plays }, source: src, argsPath });
}

function parsePlay(raw: Record<string, unknown>, src: YamlSource, path: Path, registry: StepCatalog, v: Validators, diags: Diagnostic[], argsPath: WeakMap<StepSpec, Path>): PlaySpec {
  const hosts = typeof raw.hosts === 'string' ? raw.hosts : '';
  const steps = Array.isArray(raw.steps) ? raw.steps : [];
  const cleanup = Array.isArray(raw.cleanup) ? raw.cleanup : [];
  const parseSteps = (list: unknown[], key: string): StepSpec[] => {
    const out: StepSpec[] = [];
    list.forEach((s, i) => {
      if (!isMap(s)) return;
      const st = parseStep(s, src, [...path, key, i], registry, v, diags, argsPath);
      if (st) out.push(st);
    });
    return out;
  };
  const scriptRoots = scriptRootsOf(raw, src, path, diags);
  const play: PlaySpec = {
    name: typeof raw.name === 'string' ? raw.name : hosts,
    hosts,
    vars: isMap(raw.vars) ? raw.vars : {},
    serial: parseSerial(raw.serial, src, [...path, 'serial'], diags),
    forks: typeof raw.forks === 'number' && Number.isInteger(raw.forks) && raw.forks >= 1 ? raw.forks : DEFAULT_FORKS,
    steps: parseSteps(steps, 'steps'),
    cleanup: parseSteps(cleanup, 'cleanup'),
    pos: locate(src, path),
  };
  for (const e of checkTemplateSyntax(play.vars)) diags.push(diagInScalar(src, [...path, 'vars', ...e.at], e.offset, e.text, e.message));
  for (const st of [...play.steps, ...play.cleanup]) resolveScriptFile(st, scriptRoots, src, argsPath, diags);
  if (typeof raw.max_fail_percentage === 'number') play.maxFailPercentage = raw.max_fail_percentage;
  if (raw.on_failure === 'rollback' || raw.on_failure === 'stop' || raw.on_failure === 'continue') play.onFailure = raw.on_failure;
  const names = new Map<string, Path>();
  for (const [key, list] of [['steps', steps], ['cleanup', cleanup]] as const) {
    list.forEach((s, i) => {
      if (!isMap(s) || typeof s.register !== 'string') return;
      const at: Path = [...path, key, i, 'register'];
      const prev = names.get(s.register);
      if (prev) diags.push(diagAt(src, at, `'${s.register}' is already registered by an earlier step (line ${locate(src, prev).line})`));
      else names.set(s.register, at);
    });
  }
  return play;
}

/** Shorthand (`reboot: guest`) → argument map; null means "no arguments". */
export function expandShorthand(st: StepInfo, value: unknown): { ok: true; args: unknown } | { ok: false; message: string } {
  if (isMap(value) || Array.isArray(value) || isWholeTemplate(value)) return { ok: true, args: value };
  if (st.shorthand) {
    try {
      return { ok: true, args: st.shorthand(value as string | number | boolean | null) };
    } catch (e) {
      return { ok: false, message: `invalid shorthand for '${st.type}': ${e instanceof Error ? e.message : String(e)}` };
    }
  }
  return { ok: true, args: value === null ? {} : value };
}

/** Validate a step's (expanded) arguments; errors on `{{ }}` template strings are left for after rendering. */
export function validateArgs(st: StepInfo, args: unknown, src: YamlSource, at: Path, v: Validators, diags: Diagnostic[]): boolean {
  if (isWholeTemplate(args)) return true;
  const validate = v.args.get(st.type)!;
  if (validate(args)) return true;
  const found = ajvToDiagnostics(validate.errors ?? [], src, { basePath: at, baseLabel: `arguments of '${st.type}'`, stepType: st.type });
  diags.push(...found);
  return found.length === 0;
}

function parseStep(raw: Record<string, unknown>, src: YamlSource, path: Path, registry: StepCatalog, v: Validators, diags: Diagnostic[], argsPath: WeakMap<StepSpec, Path>): StepSpec | undefined {
  const keys = Object.keys(raw);
  const typeKeys = keys.filter((k) => registry.steps.has(k));
  if (typeKeys.length === 0) {
    const common = new Set<string>(STEP_COMMON_KEYS);
    // An unknown key already reported as "unknown step type" explains this step.
    if (keys.every((k) => common.has(k))) {
      const types = [...registry.steps.keys()];
      const list = types.length > 6 ? `${types.slice(0, 6).join(', ')}, …` : types.join(', ');
      diags.push(diagAt(src, path, `step has no step-type key (one of: ${list || 'none registered'})`, 'key'));
    }
    return undefined;
  }
  if (typeKeys.length > 1) {
    const quoted = typeKeys.map((k) => `'${k}'`);
    const msg = typeKeys.length === 2 ? `step has two step-type keys: ${quoted[0]!} and ${quoted[1]!}`
      : `step has ${typeKeys.length} step-type keys: ${quoted.slice(0, -1).join(', ')} and ${quoted[quoted.length - 1]!}`;
    diags.push(diagAt(src, [...path, typeKeys[1]!], msg, 'key'));
    return undefined;
  }
  const type = typeKeys[0]!;
  const st = registry.steps.get(type)!;
  const at: Path = [...path, type];
  for (const e of checkTemplateSyntax(raw[type])) diags.push(diagInScalar(src, [...at, ...e.at], e.offset, e.text, e.message));
  const exp = expandShorthand(st, raw[type]);
  let args: unknown = raw[type];
  if (!exp.ok) diags.push(diagAt(src, at, exp.message));
  else {
    args = exp.args;
    validateArgs(st, args, src, at, v, diags);
  }
  const tags = typeof raw.tags === 'string' ? [raw.tags] : Array.isArray(raw.tags) ? raw.tags.filter((t): t is string => typeof t === 'string') : [];
  const retries = typeof raw.retries === 'number' && Number.isInteger(raw.retries) && raw.retries >= 0 ? raw.retries : 0;
  const step: StepSpec = {
    type,
    args,
    name: typeof raw.name === 'string' ? raw.name : type,
    when: parseWhen(raw.when, src, [...path, 'when'], diags),
    tags,
    retries,
    delayMs: DEFAULT_RETRY_DELAY_MS,
    ignoreErrors: raw.ignore_errors === true,
    pos: locate(src, path),
  };
  for (const key of ['timeout', 'delay'] as const) {
    if (raw[key] === undefined || raw[key] === null) continue;
    const d = parseDuration(raw[key]);
    if (!d.ok) diags.push(diagAt(src, [...path, key], d.message));
    else if (key === 'timeout') step.timeoutMs = d.ms;
    else step.delayMs = d.ms;
  }
  if (step.timeoutMs === 0) diags.push(diagAt(src, [...path, 'timeout'], `bad duration: a timeout must be more than 0`));
  if (typeof raw.check_mode === 'boolean') step.checkMode = raw.check_mode;
  if (typeof raw.register === 'string') step.register = raw.register;
  argsPath.set(step, at);
  return step;
}

// ---- script files --------------------------------------------------------------------------
// A run-script `file:` is a file of the controller, read and run as root on the guests. It must
// live in the playbook's directory or under a play's `script_roots` (relative to the playbook):
// resolved here, at load (so `pvrun validate` refuses it with a located error), to its real path
// (symlinks followed, `..` gone), which is what the step then reads (and checks again).

function realDir(p: string): string {
  try { return realpathSync(p); } catch { return resolve(p); }
}

/** The playbook's own directory first, then the play's script_roots (each an existing directory). */
function scriptRootsOf(raw: Record<string, unknown>, src: YamlSource, path: Path, diags: Diagnostic[]): string[] {
  const base = realDir(dirname(resolve(src.file)));
  const roots = [base];
  if (!Array.isArray(raw.script_roots)) return roots; // a wrong type is reported by the schema
  raw.script_roots.forEach((r, i) => {
    if (typeof r !== 'string' || r === '') return;
    const abs = resolve(base, r);
    let real: string;
    try {
      real = realpathSync(abs);
      if (!statSync(real).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      diags.push(diagAt(src, [...path, 'script_roots', i], `script root '${r}' ${code === 'ENOENT' ? 'does not exist' : 'is not a directory'} (${abs})`));
      return;
    }
    roots.push(real);
  });
  return roots;
}

function resolveScriptFile(step: StepSpec, roots: string[], src: YamlSource, argsPath: WeakMap<StepSpec, Path>, diags: Diagnostic[]): void {
  if (step.type !== 'run-script' || !isMap(step.args) || !('file' in step.args)) return;
  const file = step.args.file;
  if (typeof file !== 'string') return; // reported by the schema
  const at: Path = [...(argsPath.get(step) ?? []), 'file'];
  const base = roots[0]!;
  const where = roots.length > 1 ? `the playbook directory ${base} or a script root (${roots.slice(1).join(', ')})` : `the playbook directory ${base}`;
  if (file.includes('{{')) {
    diags.push(diagAt(src, at, `a script file must be a literal path (it is checked against ${where} when the playbook is loaded), not a template`));
    return;
  }
  const abs = resolve(base, file);
  let real: string;
  try {
    real = realpathSync(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    diags.push(diagAt(src, at, `script file '${file}': ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(code ?? (e as Error).message)} (${abs})`));
    return;
  }
  const inside = roots.some((r) => real === r || real.startsWith(r.endsWith(sep) ? r : r + sep));
  if (!inside) {
    const how = real !== abs ? ` through a symlink to ${real}` : isAbsolute(file) ? '' : ` (${real})`;
    diags.push(diagAt(src, at, `script file '${file}' is outside ${where}${how}: run-script files must live next to the playbook, or under a directory listed in the play's script_roots`));
    return;
  }
  try {
    if (!statSync(real).isFile()) { diags.push(diagAt(src, at, `script file '${file}' is not a regular file (${real})`)); return; }
  } catch (e) {
    diags.push(diagAt(src, at, `script file '${file}': ${(e as Error).message}`));
    return;
  }
  step.args = { ...step.args, file: real };
}
