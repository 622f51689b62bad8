// ajv errors → located diagnostics worded for humans. anyOf/oneOf noise is reduced to the
// branch that matches the value's type; errors on `{{ }}` template strings are dropped (they
// are checked again after rendering).
import type { ErrorObject } from './ajv.js';
import type { Diagnostic } from './diagnostics.js';
import { describeType } from './duration.js';
import { closest, didYouMean } from './suggest.js';
import { diagAt } from './yaml-doc.js';
import { withoutSecretLiterals, withoutSecretValue } from './secrets.js';
import { describeSecretValue, SECRET_KEYS } from '../model/secret.js';
import type { Path, YamlSource } from './yaml-doc.js';

export interface TranslateOptions {
  /** prefix of instance paths (when validating a sub-value such as a step's args) */
  basePath?: Path;
  /** names the value for messages when the error is at the base itself, e.g. "arguments of 'snapshot'" */
  baseLabel?: string;
  /** set when validating a step's arguments: words base-level errors as "argument" errors */
  stepType?: string;
  /** step-type keys, to word unknown keys in a step as unknown step types */
  stepTypes?: ReadonlySet<string>;
}

export function pointerToPath(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer.slice(1).split('/').map((s) => {
    const u = s.replace(/~1/g, '/').replace(/~0/g, '~');
    return /^(0|[1-9]\d*)$/.test(u) ? Number(u) : u;
  });
}

const hasTemplate = (v: unknown): boolean => typeof v === 'string' && v.includes('{{');

/** Keep the errors that explain the problem; see the module comment. */
export function reduceErrors(errors: readonly ErrorObject[]): ErrorObject[] {
  let errs = errors.filter((e) => !hasTemplate(e.data));
  // Outer combinators first, so dropping a wrong branch also drops its nested combinators.
  const combinators = errs.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf')
    .sort((a, b) => a.schemaPath.length - b.schemaPath.length);
  const dropped = new Set<ErrorObject>();
  const added: ErrorObject[] = [];
  for (const c of combinators) {
    if (dropped.has(c)) continue;
    const prefix = c.schemaPath + '/';
    const branchErrs = errs.filter((e) => !dropped.has(e) && e.schemaPath.startsWith(prefix));
    if (c.keyword === 'oneOf' && branchErrs.length === 0) continue; // matched several: keep it
    dropped.add(c);
    const title = (c.parentSchema as { title?: string } | undefined)?.title;
    if (title === 'secret reference') {
      // Whatever is wrong inside a secret reference, the fix is the same: show the two forms.
      for (const e of branchErrs) dropped.add(e);
      added.push({ ...c, keyword: 'x-secret', params: {} });
      continue;
    }
    const byBranch = new Map<string, ErrorObject[]>();
    for (const e of branchErrs) {
      const b = e.schemaPath.slice(prefix.length).split('/')[0]!;
      byBranch.set(b, [...(byBranch.get(b) ?? []), e]);
    }
    // A branch is "of the wrong kind" when it rejects the value's type or its enum outright at this path.
    const wrongKind = (es: ErrorObject[]) => es.some((e) => e.instancePath === c.instancePath &&
      (e.keyword === 'type' || e.keyword === 'enum' || e.keyword === 'const'));
    const right = [...byBranch.values()].filter((es) => !wrongKind(es));
    for (const e of branchErrs) dropped.add(e);
    if (right.length > 0) {
      const best = right.reduce((a, b) => (b.length < a.length ? b : a));
      for (const e of best) dropped.delete(e);
    } else {
      // No branch fits the value's type: one merged "must be X or Y" error.
      const expected = new Set<string>();
      for (const es of byBranch.values()) for (const e of es) {
        if (e.instancePath !== c.instancePath) continue;
        if (e.keyword === 'type') for (const t of ([] as string[]).concat(e.params.type as string | string[])) expected.add(typeWord(t));
        if (e.keyword === 'enum') expected.add(`one of ${(e.params.allowedValues as unknown[]).map(String).join(', ')}`);
        if (e.keyword === 'const') expected.add(JSON.stringify(e.params.allowedValue));
      }
      added.push({ ...c, keyword: 'x-expected', params: { expected: [...expected] } });
    }
  }
  errs = [...errs.filter((e) => !dropped.has(e)), ...added];
  return errs;
}

function typeWord(t: string): string {
  switch (t) {
    case 'object': return 'a map';
    case 'array': return 'a list';
    case 'integer': return 'an integer';
    case 'number': return 'a number';
    case 'boolean': return 'true or false';
    case 'null': return 'empty';
    case 'string': return 'a string';
    default: return t;
  }
}

function joinOr(words: string[]): string {
  const u = [...new Set(words)];
  if (u.length <= 1) return u[0] ?? 'something else';
  return `${u.slice(0, -1).join(', ')} or ${u[u.length - 1]}`;
}

function subject(path: Path, label: string | undefined, isBase: boolean): string {
  if (isBase && label) return label;
  const last = path[path.length - 1];
  if (last === undefined) return label ?? 'the document';
  if (typeof last === 'number') {
    const parent = path[path.length - 2];
    return parent === undefined ? `item ${last + 1}` : `item ${last + 1} of '${String(parent)}'`;
  }
  return `'${last}'`;
}

function context(e: ErrorObject, path: Path): string {
  const title = (e.parentSchema as { title?: string } | undefined)?.title;
  const last = path[path.length - 1];
  if (title === 'hypervisor' || title === 'group' || title === 'host') return `${title} '${String(last)}'`;
  if (title) return title;
  return typeof last === 'string' ? `'${last}'` : 'map';
}

/** `parent.child` names of the properties of object-valued properties. */
function nestedKeys(schema: unknown): string[] {
  const out: string[] = [];
  const props = (schema as { properties?: Record<string, unknown> } | undefined)?.properties ?? {};
  for (const [name, sub] of Object.entries(props)) {
    const s = sub as { properties?: object; anyOf?: unknown[]; oneOf?: unknown[] };
    const branches = [s, ...(s.anyOf ?? []), ...(s.oneOf ?? [])] as { properties?: object }[];
    for (const b of branches) for (const k of Object.keys(b.properties ?? {})) out.push(`${name}.${k}`);
  }
  return out;
}

export function ajvToDiagnostics(errors: readonly ErrorObject[], src: YamlSource, opts: TranslateOptions = {}): Diagnostic[] {
  const base = opts.basePath ?? [];
  const out: Diagnostic[] = [];
  const literals: string[] = [];
  for (const e of reduceErrors(errors)) {
    const rel = pointerToPath(e.instancePath);
    const path = [...base, ...rel];
    const isBase = rel.length === 0;
    const what = subject(path, opts.baseLabel, isBase);
    if (SECRET_KEYS.has(String(path.at(-1))) && (typeof e.data === 'string' || typeof e.data === 'number')) literals.push(String(e.data));
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = String(e.params.additionalProperty);
        const props = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
        const ctx = context(e, path);
        if (ctx === 'step' && opts.stepTypes) {
          const common = props.filter((p) => !opts.stepTypes!.has(p));
          const data = e.data as Record<string, unknown>;
          const hasType = Object.keys(data).some((k) => opts.stepTypes!.has(k));
          const nearCommon = didYouMean(key, common);
          if (hasType || nearCommon) out.push(diagAt(src, [...path, key], `unknown key '${key}' in step${nearCommon || didYouMean(key, opts.stepTypes)}`, 'key'));
          else out.push(diagAt(src, [...path, key], `unknown step type '${key}'${didYouMean(key, opts.stepTypes)}`, 'key'));
        } else if (isBase && opts.stepType) {
          out.push(diagAt(src, [...path, key], `unknown argument '${key}' for '${opts.stepType}'${didYouMean(key, props)}`, 'key'));
        } else {
          // A key that belongs one level down (`address` instead of `connection: { address }`).
          const nested = nestedKeys(e.parentSchema);
          const leaf = closest(key, nested.map((n) => n.slice(n.indexOf('.') + 1)));
          const full = leaf === undefined ? undefined : nested.find((n) => n.endsWith('.' + leaf));
          const hint = didYouMean(key, props) || (full ? ` (did you mean '${full}'?)` : '');
          out.push(diagAt(src, [...path, key], `unknown key '${key}' in ${ctx}${hint}`, 'key'));
        }
        break;
      }
      case 'required':
        out.push(diagAt(src, path, isBase && opts.stepType
          ? `'${opts.stepType}' is missing required argument '${String(e.params.missingProperty)}'`
          : `${context(e, path)} is missing required key '${String(e.params.missingProperty)}'`, 'key'));
        break;
      case 'type': {
        const title = (e.parentSchema as { title?: string } | undefined)?.title;
        if (title === 'step' && typeof e.data === 'string') {
          const name = e.data.split(':')[0]!.trim();
          const known = opts.stepTypes?.has(name);
          out.push(diagAt(src, path, known
            ? `a step is a map: write '${name}:' followed by its arguments (e.g. '- ${name}: {}')`
            : `a step is a map with a step-type key, got ${describeType(e.data)}${didYouMean(name, opts.stepTypes ?? [])}`));
          break;
        }
        const types = ([] as string[]).concat(e.params.type as string | string[]).filter((t) => t !== 'null');
        out.push(diagAt(src, path, `${what} must be ${joinOr(types.map(typeWord))}, got ${describeType(e.data)}`));
        break;
      }
      case 'x-secret':
        // a literal secret is refused without being echoed, in the message or the source line
        out.push(withoutSecretValue(diagAt(src, path, `${what} must be a secret reference, { env: NAME } or { file: path }, got ${describeSecretValue(e.data)}`)));
        break;
      case 'x-expected':
        out.push(diagAt(src, path, `${what} must be ${joinOr(e.params.expected as string[])}, got ${describeType(e.data)}`));
        break;
      case 'enum': {
        const allowed = (e.params.allowedValues as unknown[]).map(String);
        out.push(diagAt(src, path, `${what} must be one of ${allowed.join(', ')}; got ${describeType(e.data)}${typeof e.data === 'string' ? didYouMean(e.data, allowed) : ''}`));
        break;
      }
      case 'const':
        out.push(diagAt(src, path, `${what} must be ${JSON.stringify(e.params.allowedValue)}, got ${describeType(e.data)}`));
        break;
      case 'minimum': case 'maximum': case 'exclusiveMinimum': case 'exclusiveMaximum': {
        const op = { minimum: '≥', maximum: '≤', exclusiveMinimum: '>', exclusiveMaximum: '<' }[e.keyword];
        out.push(diagAt(src, path, `${what} must be ${op} ${String(e.params.limit)}, got ${String(e.data)}`));
        break;
      }
      case 'minLength':
        out.push(diagAt(src, path, e.params.limit === 1 ? `${what} must not be empty` : `${what} must be at least ${String(e.params.limit)} characters`));
        break;
      case 'maxLength':
        out.push(diagAt(src, path, `${what} must be at most ${String(e.params.limit)} characters`));
        break;
      case 'minItems':
        out.push(diagAt(src, path, `${what} must have at least ${String(e.params.limit)} item${e.params.limit === 1 ? '' : 's'}`));
        break;
      case 'maxItems':
        out.push(diagAt(src, path, `${what} must have at most ${String(e.params.limit)} items`));
        break;
      case 'pattern': {
        // Schemas describe their patterns in words ("an http:// or https:// URL").
        const d = (e.parentSchema as { description?: string } | undefined)?.description;
        out.push(diagAt(src, path, d ? `${what} must be ${d}, got ${describeType(e.data)}` : `${what} has an invalid format: ${describeType(e.data)}`));
        break;
      }
      case 'format':
        out.push(diagAt(src, path, `${what} is not a valid ${String(e.params.format)}: ${describeType(e.data)}`));
        break;
      case 'oneOf':
        out.push(diagAt(src, path, `${what} matches more than one allowed form`));
        break;
      default:
        out.push(diagAt(src, path, `${what} ${e.message ?? 'is invalid'}`));
    }
  }
  return withoutSecretLiterals(out, literals); // another error's echoed line may show a literal secret
}
