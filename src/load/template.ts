// `{{ path.to.var }}` substitution — deliberately no filters, no expressions, no code.
// A string that is exactly one template keeps the referenced value's type (a number stays a
// number); inside a longer string the value is converted to text.
import { closest } from './suggest.js';
import { PREDICATE_PATH_ROOTS } from './schema.js';

export type Namespace = (typeof PREDICATE_PATH_ROOTS)[number];
export const NAMESPACES: readonly Namespace[] = PREDICATE_PATH_ROOTS;

/** Template scope: the five namespaces (absent ones are simply undefined). */
export type TemplateScope = Partial<Record<Namespace, unknown>>;

/** Location inside the rendered value: keys / indexes from its root. */
export type ValuePath = (string | number)[];

export interface TemplateRef {
  /** where in the value the string holding the template is */
  at: ValuePath;
  /** the dotted reference, e.g. 'vars.iso_name' */
  ref: string;
  /** the template text as written, e.g. '{{ vars.iso_name }}' */
  text: string;
  /** offset of the template text in its string */
  offset: number;
}

export interface TemplateError {
  at: ValuePath;
  text: string;
  offset: number;
  message: string;
}

const TEMPLATE_RE = /\{\{(.*?)\}\}/g;
const REF_RE = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/;
const WHOLE_RE = /^\s*\{\{(.*?)\}\}\s*$/;

export function isTemplated(v: unknown): boolean {
  return typeof v === 'string' && v.includes('{{');
}

/** Every `{{ }}` reference in a value, valid or not (invalid ones are reported by render). */
export function templateRefs(value: unknown, at: ValuePath = []): TemplateRef[] {
  const out: TemplateRef[] = [];
  walkStrings(value, at, (s, p) => {
    for (const m of s.matchAll(TEMPLATE_RE)) out.push({ at: p, ref: m[1]!.trim(), text: m[0], offset: m.index });
  });
  return out;
}

function walkStrings(v: unknown, at: ValuePath, f: (s: string, at: ValuePath) => void): void {
  if (typeof v === 'string') f(v, at);
  else if (Array.isArray(v)) v.forEach((x, i) => walkStrings(x, [...at, i], f));
  else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) walkStrings(x, [...at, k], f);
}

export interface RenderOptions {
  /** namespaces known only at run time: their references are left in place */
  defer?: readonly Namespace[];
}

type Lookup = { found: true; value: unknown } | { found: false; message: string };

/** Look a dotted reference up in the scope. */
export function lookup(ref: string, scope: TemplateScope): Lookup {
  const segs = ref.split('.');
  let cur: unknown = scope;
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i]!;
    const container = cur;
    if (Array.isArray(container) && /^\d+$/.test(seg)) cur = container[Number(seg)];
    else if (typeof container === 'object' && container !== null && Object.hasOwn(container, seg)) cur = (container as Record<string, unknown>)[seg];
    else cur = undefined;
    if (cur === undefined) {
      const here = segs.slice(0, i).join('.');
      const keys = typeof container === 'object' && container !== null && !Array.isArray(container) ? Object.keys(container) : [];
      const near = closest(seg, keys);
      const hint = near === undefined ? '' : ` (did you mean '${here}.${near}'?)`;
      return { found: false, message: `undefined variable '${ref}'${hint}` };
    }
  }
  return { found: true, value: cur };
}

function checkRef(ref: string): string | undefined {
  if (!REF_RE.test(ref)) {
    return ref.length === 0 ? 'empty template {{ }}'
      : `only variable references are allowed in templates (no filters or expressions): '{{ ${ref} }}'`;
  }
  const root = ref.split('.')[0]!;
  if (!(NAMESPACES as readonly string[]).includes(root)) {
    return `template reference '${ref}' must start with ${NAMESPACES.map((n) => n + '.').join(', ')}${ref.includes('.') ? '' : ` (did you mean 'vars.${ref}'?)`}`;
  }
  if (!ref.includes('.')) return `template reference '${ref}' names a whole namespace; name a variable inside it, e.g. '${ref}.something'`;
  return undefined;
}

function toText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === null) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/**
 * Render every template in `value`. Returns the rendered value and the errors (undefined
 * references, bad syntax), each with its place in the value.
 */
export function render(value: unknown, scope: TemplateScope, opts: RenderOptions = {}): { value: unknown; errors: TemplateError[] } {
  const errors: TemplateError[] = [];
  const defer = new Set<string>(opts.defer ?? []);
  const renderString = (s: string, at: ValuePath): unknown => {
    if (!s.includes('{{')) return s;
    const unclosed = s.lastIndexOf('{{') > s.lastIndexOf('}}');
    if (unclosed) {
      const off = s.lastIndexOf('{{');
      errors.push({ at, text: s.slice(off), offset: off, message: "unclosed template: '{{' without '}}'" });
      return s;
    }
    const whole = WHOLE_RE.exec(s);
    if (whole && !whole[1]!.includes('{{')) {
      const ref = whole[1]!.trim();
      const bad = checkRef(ref);
      const offset = s.indexOf('{{');
      const text = s.slice(offset, s.lastIndexOf('}}') + 2);
      if (bad) { errors.push({ at, text, offset, message: bad }); return s; }
      if (defer.has(ref.split('.')[0]!)) return s;
      const r = lookup(ref, scope);
      if (!r.found) { errors.push({ at, text, offset, message: r.message }); return s; }
      return r.value;
    }
    return s.replace(TEMPLATE_RE, (text: string, inner: string, offset: number) => {
      const ref = inner.trim();
      const bad = checkRef(ref);
      if (bad) { errors.push({ at, text, offset, message: bad }); return text; }
      if (defer.has(ref.split('.')[0]!)) return text;
      const r = lookup(ref, scope);
      if (!r.found) { errors.push({ at, text, offset, message: r.message }); return text; }
      return toText(r.value);
    });
  };
  const walk = (v: unknown, at: ValuePath): unknown => {
    if (typeof v === 'string') return renderString(v, at);
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...at, i]));
    if (typeof v === 'object' && v !== null) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = walk(x, [...at, k]);
      return out;
    }
    return v;
  };
  return { value: walk(value, []), errors };
}

/** Syntax problems only (bad references, filters, unclosed braces): nothing is looked up. */
export function checkTemplateSyntax(value: unknown): TemplateError[] {
  return render(value, {}, { defer: NAMESPACES }).errors;
}

/**
 * Run-time rendering for the engine (its RenderFn shape): everything is known now, so every
 * reference must resolve; the first problem is returned with its reference.
 */
export function renderAll(value: unknown, scope: TemplateScope): { ok: true; value: unknown } | { ok: false; error: { ref: string; message: string } } {
  const r = render(value, scope);
  const e = r.errors[0];
  if (e) return { ok: false, error: { ref: e.text.replace(/^\{\{\s*|\s*\}\}$/g, ''), message: e.message } };
  return { ok: true, value: r.value };
}
