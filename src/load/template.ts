// `{{ path.to.var }}` substitution — deliberately no expressions, no code, and only three
// filters, all about quoting. A string that is exactly one template keeps the referenced value's
// type (a number stays a number); inside a longer string the value is converted to text.
//
// Shell contexts (a string a step runs as a command on the guest: run-script's `script:` and
// `unless:`, the `command:` predicate) quote every template by default: the value arrives as one
// word, whatever it holds. `{{ x | raw }}` pastes the text as it is (the rare case of a value that
// is itself shell code); `| shell_quote` / `| ps_quote` quote for a POSIX shell / PowerShell
// explicitly. Deferred references (facts.*, registered.*) in a shell context are rewritten to
// carry the quoting filter, so the run-time render quotes them without knowing the context.
import { closest } from './suggest.js';
import { PREDICATE_PATH_ROOTS } from './schema.js';
import { quoteShell } from '../util/shell-quote.js';
import { quotePs } from '../util/ps-quote.js';

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
/** `ref | filter`: at most one filter, one of FILTERS */
const FILTER_RE = /^(.*?)\s*\|\s*([A-Za-z_]+)\s*$/;
export const FILTERS = ['raw', 'shell_quote', 'ps_quote'] as const;
export type Filter = (typeof FILTERS)[number];
const REF_RE = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/;
const WHOLE_RE = /^\s*\{\{(.*?)\}\}\s*$/;

export function isTemplated(v: unknown): boolean {
  return typeof v === 'string' && v.includes('{{');
}

/** Every `{{ }}` reference in a value, valid or not (invalid ones are reported by render). */
export function templateRefs(value: unknown, at: ValuePath = []): TemplateRef[] {
  const out: TemplateRef[] = [];
  walkStrings(value, at, (s, p) => {
    for (const m of s.matchAll(TEMPLATE_RE)) out.push({ at: p, ref: splitFilter(m[1]!).ref, text: m[0], offset: m.index });
  });
  return out;
}

function walkStrings(v: unknown, at: ValuePath, f: (s: string, at: ValuePath) => void): void {
  if (typeof v === 'string') f(v, at);
  else if (Array.isArray(v)) v.forEach((x, i) => walkStrings(x, [...at, i], f));
  else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) walkStrings(x, [...at, k], f);
}

/** How a string in a shell context quotes its templates. */
export type Quoting = 'sh' | 'ps' | 'code';

/** A string of the value (by its path) that a shell or interpreter on the guest runs. */
export interface QuotingContext {
  at: ValuePath;
  quoting: Quoting;
  /** for messages in 'code' contexts, e.g. 'python3' */
  interpreter?: string;
}

export interface RenderOptions {
  /** namespaces known only at run time: their references are left in place */
  defer?: readonly Namespace[];
  /** strings run as shell commands on the guest: their templates are quoted (see the top) */
  contexts?: readonly QuotingContext[];
}

/**
 * A step's shell contexts (StepType.templateContexts) for one host: a 'command' runs in a POSIX
 * shell over ssh and in PowerShell over the PowerShell transports.
 */
export function quotingContexts(
  step: { templateContexts?(args: unknown): { at: ValuePath; kind: 'command' | 'sh' | 'code'; interpreter?: string }[] } | undefined,
  args: unknown,
  connection: unknown,
): QuotingContext[] {
  if (!step?.templateContexts) return [];
  const ps = connection === 'ssh-powershell' || connection === 'psremoting';
  return step.templateContexts(args).map((c) => ({
    at: c.at,
    quoting: c.kind === 'code' ? 'code' : c.kind === 'sh' || !ps ? 'sh' : 'ps',
    ...(c.interpreter !== undefined ? { interpreter: c.interpreter } : {}),
  }));
}

function splitFilter(inner: string): { ref: string; filter?: string } {
  const m = FILTER_RE.exec(inner);
  return m ? { ref: m[1]!.trim(), filter: m[2]! } : { ref: inner.trim() };
}

const sameAt = (a: ValuePath, b: ValuePath) => a.length === b.length && a.every((x, i) => x === b[i]);

function applyFilter(f: Filter | undefined, v: unknown): unknown {
  if (f === 'shell_quote') return quoteShell(toText(v));
  if (f === 'ps_quote') return quotePs(toText(v));
  return v;
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

function checkRef(inner: string): string | undefined {
  const { ref, filter } = splitFilter(inner);
  if (filter !== undefined && !(FILTERS as readonly string[]).includes(filter)) {
    return `only variable references are allowed in templates (no filters or expressions): '{{ ${inner.trim()} }}'`;
  }
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
  const contexts = opts.contexts ?? [];
  const renderString = (s: string, at: ValuePath): unknown => {
    if (!s.includes('{{')) return s;
    const unclosed = s.lastIndexOf('{{') > s.lastIndexOf('}}');
    if (unclosed) {
      const off = s.lastIndexOf('{{');
      errors.push({ at, text: s.slice(off), offset: off, message: "unclosed template: '{{' without '}}'" });
      return s;
    }
    const ctx = contexts.find((c) => sameAt(c.at, at));
    /** one template: its value (typed when `whole`), or its text left in place */
    const one = (inner: string, text: string, offset: number, whole: boolean): { value: unknown } | { keep: string } => {
      const bad = checkRef(inner);
      if (bad) { errors.push({ at, text, offset, message: bad }); return { keep: text }; }
      const { ref } = splitFilter(inner);
      let filter = splitFilter(inner).filter as Filter | undefined;
      if (ctx && filter === undefined) {
        if (ctx.quoting === 'code') {
          errors.push({ at, text, offset, message: `templates in a script run by ${ctx.interpreter ?? 'a non-shell interpreter'} are not quoted automatically: pass the value through 'env:' or 'args:', or write '{{ ${ref} | raw }}' to paste it as code` });
          return { keep: text };
        }
        filter = ctx.quoting === 'sh' ? 'shell_quote' : 'ps_quote';
      }
      if (defer.has(ref.split('.')[0]!)) {
        // rendered at run time by a render that does not know the context: carry the quoting
        return { keep: ctx && splitFilter(inner).filter === undefined ? `{{ ${ref} | ${filter!} }}` : text };
      }
      const r = lookup(ref, scope);
      if (!r.found) { errors.push({ at, text, offset, message: r.message }); return { keep: text }; }
      if (filter === 'raw') return { value: whole ? r.value : toText(r.value) };
      return { value: filter ? applyFilter(filter, r.value) : whole ? r.value : toText(r.value) };
    };
    const whole = WHOLE_RE.exec(s);
    if (whole && !whole[1]!.includes('{{')) {
      const offset = s.indexOf('{{');
      const text = s.slice(offset, s.lastIndexOf('}}') + 2);
      const r = one(whole[1]!, text, offset, true);
      if ('keep' in r) return r.keep === text ? s : s.replace(text, r.keep);
      return r.value;
    }
    return s.replace(TEMPLATE_RE, (text: string, inner: string, offset: number) => {
      const r = one(inner, text, offset, false);
      return 'keep' in r ? r.keep : toText(r.value);
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
