// JSON Schemas for playbooks and inventories. The playbook schema is assembled from the step
// registry: each step type contributes its argument schema under its key.
//
// Two variants come out of the same builder:
//  - 'editor' (published in schema/, for yaml-language-server): the full shapes, including
//    serial, durations, `when` predicates and step arguments (with `{{ }}` templates allowed).
//  - 'loader' (what loadPlaybook validates with): structure only; the parts whose errors ajv
//    words badly (serial, durations, predicates, step-type keys, step arguments) are `{}` here
//    and checked by hand-written code that says what is wrong in the user's terms.
// node:fs, not node:fs/promises: every `validate` and run loads this module, and fs/promises (with
// readline, fs watchers) loaded after the CLI's V8 tuning is compiled from source (src/util/v8-budget.ts)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JsonSchema } from '../steps/types.js';
import { DURATION_SCHEMA } from './duration.js';
import { propertyDocs } from './schema-docs.js';
import type { StepCatalog } from '../steps/catalog.js';

export type SchemaVariant = 'editor' | 'loader';

export const STEP_COMMON_KEYS = ['name', 'when', 'tags', 'timeout', 'retries', 'delay', 'check_mode', 'register', 'ignore_errors'] as const;
export const PREDICATE_PATH_ROOTS = ['run', 'host', 'vars', 'facts', 'registered'] as const;
export const PREDICATE_OPS = ['equals', 'not_equals', 'in', 'not_in', 'matches', 'exists', 'version', 'truthy'] as const;
export const CONNECTION_TYPES = ['ssh', 'psremoting', 'ssh-powershell', 'none'] as const;

/** A whole-string template, accepted where a non-string is expected (rendered before use). */
export const TEMPLATE_PATTERN = '^\\s*\\{\\{[^{}]*\\}\\}\\s*$';
const template: JsonSchema = { type: 'string', pattern: TEMPLATE_PATTERN };
const duration: JsonSchema = DURATION_SCHEMA; // the one grammar, shared with the parser

const serialItem: JsonSchema = {
  anyOf: [{ type: 'integer', minimum: 1 }, { type: 'string', pattern: '^\\s*(100(\\.0+)?|\\d{1,2}(\\.\\d+)?)\\s*%\\s*$' }],
};

const secretRef: JsonSchema = {
  title: 'secret reference',
  description: 'a secret reference: { env: NAME } or { file: path }',
  oneOf: [
    { type: 'object', properties: { env: { type: 'string', minLength: 1 } }, required: ['env'], additionalProperties: false },
    { type: 'object', properties: { file: { type: 'string', minLength: 1 } }, required: ['file'], additionalProperties: false },
  ],
};

function predicateSchema(): JsonSchema {
  const path = { type: 'string', pattern: `^(${PREDICATE_PATH_ROOTS.join('|')})\\.[^.]` };
  const opValue: Record<string, JsonSchema> = {
    equals: {}, not_equals: {}, in: { type: 'array' }, not_in: { type: 'array' },
    matches: { type: 'string' }, exists: { type: 'boolean' }, version: { type: 'string' }, truthy: { type: 'boolean' },
  };
  return {
    title: 'predicate',
    anyOf: [
      ...PREDICATE_OPS.map((op) => ({
        type: 'object', properties: { path, [op]: opValue[op] }, required: ['path', op], additionalProperties: false,
      })),
      { type: 'object', properties: { any: { type: 'array', items: { $ref: '#/$defs/predicate' } } }, required: ['any'], additionalProperties: false },
      { type: 'object', properties: { all: { type: 'array', items: { $ref: '#/$defs/predicate' } } }, required: ['all'], additionalProperties: false },
      { type: 'object', properties: { not: { $ref: '#/$defs/predicate' } }, required: ['not'], additionalProperties: false },
    ],
  };
}

/**
 * Allow a whole-string template wherever a schema expects a non-string, and any template in
 * strings (a pattern/enum/format cannot be checked before rendering). Editors only: the loader
 * drops errors on template strings instead and validates again after rendering.
 */
export function allowTemplates(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(allowTemplates);
  if (typeof schema !== 'object' || schema === null) return schema;
  const s: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === 'properties' || k === '$defs' || k === 'definitions' || k === 'patternProperties') {
      s[k] = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([pk, pv]) => [pk, allowTemplates(pv)]));
    } else if (['items', 'additionalProperties', 'not', 'anyOf', 'oneOf', 'allOf', 'prefixItems', 'contains', 'if', 'then', 'else'].includes(k)) {
      s[k] = allowTemplates(v);
    } else {
      s[k] = v;
    }
  }
  const types = typeof s.type === 'string' ? [s.type] : Array.isArray(s.type) ? (s.type as string[]) : [];
  const constrainedString = types.includes('string') && ('pattern' in s || 'format' in s || 'enum' in s);
  const nonString = types.some((t) => t !== 'string');
  if ('enum' in s || 'const' in s || nonString || constrainedString) {
    return { anyOf: [s, template] };
  }
  return s;
}

/** Rewrite local `$ref`s of a step schema for its new home under the playbook schema's $defs. */
function rewriteRefs(schema: unknown, home: string): unknown {
  if (Array.isArray(schema)) return schema.map((x) => rewriteRefs(x, home));
  if (typeof schema !== 'object' || schema === null) return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === '$ref' && typeof v === 'string') {
      out[k] = v === '#' ? home
        : v.startsWith('#/$defs/') ? `${home}/$defs/${v.slice('#/$defs/'.length)}`
        : v.startsWith('#/definitions/') ? `${home}/$defs/${v.slice('#/definitions/'.length)}`
        : v;
    } else {
      out[k] = rewriteRefs(v, home);
    }
  }
  return out;
}

function stepArgsSchema(registry: StepCatalog, type: string): JsonSchema {
  const st = registry.steps.get(type)!;
  const home = `#/$defs/step_${type}`;
  // A step schema's own definitions move to the top of its entry so its refs keep working.
  const { $defs, definitions, ...own } = rewriteRefs(st.schema, home) as Record<string, unknown>;
  const defs = { ...(definitions as object | undefined), ...($defs as object | undefined) };
  const extra = Object.keys(defs).length > 0 ? { $defs: Object.fromEntries(Object.entries(defs).map(([k, v]) => [k, allowTemplates(v)])) } : {};
  const args = allowTemplates(own) as JsonSchema;
  if (!st.shorthand) return { title: `steps.${type}`, description: st.description, ...extra, ...args };
  return { title: `steps.${type}`, description: st.description, ...extra, anyOf: [args, { type: ['string', 'number', 'boolean', 'null'] }] };
}

export function buildPlaybookSchema(registry: StepCatalog, variant: SchemaVariant = 'editor'): JsonSchema {
  const editor = variant === 'editor';
  const types = [...registry.steps.keys()].sort();
  const loose = (s: JsonSchema): JsonSchema => (editor ? s : {});
  // Keys here must stay in step with STEP_COMMON_KEYS.
  const stepProps: Record<string, JsonSchema> = {
    name: { type: 'string' },
    when: loose({ anyOf: [{ $ref: '#/$defs/predicate' }, { type: 'array', items: { $ref: '#/$defs/predicate' } }] }),
    tags: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
    timeout: loose({ $ref: '#/$defs/duration' }),
    retries: { type: 'integer', minimum: 0 },
    delay: loose({ $ref: '#/$defs/duration' }),
    check_mode: { type: 'boolean' },
    register: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: 'a variable name (letters, digits, _)' },
    ignore_errors: { type: 'boolean' },
  };
  for (const t of types) stepProps[t] = editor ? { $ref: `#/$defs/step_${t}`, description: registry.steps.get(t)!.description } : {};
  const step: JsonSchema = {
    title: 'step',
    type: 'object',
    properties: stepProps,
    additionalProperties: false,
    // Exactly one step-type key; the loader reports this itself in plain words.
    ...(editor && types.length > 0 ? { oneOf: types.map((t) => ({ required: [t] })) } : {}),
  };
  const defs: Record<string, JsonSchema> = { step };
  if (editor) {
    defs.duration = duration;
    defs.serial_item = serialItem;
    defs.predicate = predicateSchema();
    for (const t of types) defs[`step_${t}`] = stepArgsSchema(registry, t);
  }
  const play: JsonSchema = {
    title: 'play',
    type: 'object',
    properties: {
      name: { type: 'string' },
      hosts: { type: 'string', minLength: 1, description: 'host pattern: names, groups, globs, a:b union, a:&b intersection, a:!b exclusion' },
      vars: { type: ['object', 'null'] },
      serial: loose({ anyOf: [{ $ref: '#/$defs/serial_item' }, { type: 'array', minItems: 1, items: { $ref: '#/$defs/serial_item' } }] }),
      max_fail_percentage: { type: 'number', minimum: 0, maximum: 100 },
      forks: { type: 'integer', minimum: 1 },
      on_failure: { enum: ['rollback', 'stop', 'continue'] },
      steps: { type: 'array', items: { $ref: '#/$defs/step' } },
      cleanup: { type: ['array', 'null'], items: { $ref: '#/$defs/step' } },
      script_roots: { type: 'array', items: { type: 'string', minLength: 1 }, description: "directories besides the playbook's own that run-script files may come from (relative to the playbook)" },
    },
    required: ['hosts', 'steps'],
    additionalProperties: false,
  };
  defs.play = play;
  return withDocs({
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'playbook',
    description: 'A pvrun playbook: a list of plays.',
    type: 'array',
    items: { $ref: '#/$defs/play' },
    $defs: defs,
  });
}

/** Titled schemas whose properties are documented under a section of propertyDocs(). */
const SECTION_OF_TITLE: Record<string, string> = { 'secret reference': 'secret' };

/** The description of the first alternative that has one (a step schema's own words under allowTemplates' anyOf). */
function liftedDescription(node: Record<string, unknown>): string | undefined {
  for (const k of ['anyOf', 'oneOf', 'allOf'] as const) {
    const alts = node[k];
    if (!Array.isArray(alts)) continue;
    for (const a of alts) {
      if (typeof a !== 'object' || a === null) continue;
      const d = (a as { description?: unknown }).description ?? liftedDescription(a as Record<string, unknown>);
      if (typeof d === 'string') return d;
    }
  }
  return undefined;
}

/**
 * Put propertyDocs() on every property of a schema (a deep copy): its description, and examples
 * where the table has some. The key of a property is `<section>.<name>…`, the section being the
 * nearest titled schema above it (docs/schema-reference.md is generated from the result).
 */
export function withDocs(schema: JsonSchema): JsonSchema {
  const copy = structuredClone(schema) as Record<string, unknown>;
  const docs = propertyDocs();
  forEachProperty(copy, (key, pv) => {
    if (typeof pv !== 'object' || pv === null) return;
    const p = pv as Record<string, unknown>;
    const doc = docs[key];
    // a pattern's own description words it in error messages: it stays
    const own = typeof p.description === 'string' && 'pattern' in p ? p.description : undefined;
    const description = own ?? doc?.description ?? (p.description as string | undefined) ?? liftedDescription(p);
    if (description !== undefined) p.description = description;
    if (doc?.examples && !('examples' in p)) p.examples = doc.examples;
  });
  return copy as JsonSchema;
}

/**
 * Calls `visit` for every property of a schema, depth first in schema order, with its key
 * `<section>.<name>…` (the section being the nearest titled schema above it), before walking into
 * the property's own schema — so a visit may edit what is walked next.
 */
function forEachProperty(schema: unknown, visit: (key: string, property: unknown) => void): void {
  const walk = (node: unknown, prefix: string): void => {
    if (Array.isArray(node)) { node.forEach((n) => walk(n, prefix)); return; }
    if (typeof node !== 'object' || node === null) return;
    const n = node as Record<string, unknown>;
    if (typeof n.title === 'string') prefix = SECTION_OF_TITLE[n.title] ?? n.title;
    for (const [k, v] of Object.entries(n)) {
      if (k === 'properties' && typeof v === 'object' && v !== null) {
        for (const [pk, pv] of Object.entries(v as Record<string, unknown>)) {
          const key = `${prefix}.${pk}`;
          visit(key, pv);
          walk(pv, key);
        }
      } else if (k === '$defs') {
        for (const d of Object.values(v as Record<string, unknown>)) walk(d, prefix);
      } else if (typeof v === 'object' && v !== null && k !== 'examples' && k !== 'default' && k !== 'const' && k !== 'enum') {
        walk(v, prefix);
      }
    }
  };
  const title = (schema as { title?: unknown } | null)?.title;
  walk(schema, typeof title === 'string' ? title : '');
}

export function buildInventorySchema(): JsonSchema {
  const str = { type: 'string', minLength: 1 };
  const connectionObject: JsonSchema = {
    title: 'connection',
    type: 'object',
    properties: {
      type: { enum: [...CONNECTION_TYPES] },
      address: str,
      port: { type: 'integer', minimum: 1, maximum: 65535 },
      user: str,
      key: str,
      passphrase: { $ref: '#/$defs/secret' },
      password: { $ref: '#/$defs/secret' },
      agent: { type: 'boolean' },
      host_key_checking: { enum: ['strict', 'accept-new', 'off'] },
      known_hosts: str,
      proxy_jump: str,
      become_password: { $ref: '#/$defs/secret' },
      transport: { enum: ['wsman', 'ssh'] },
      https: { type: 'boolean' },
      connect_timeout: { type: 'number', minimum: 0 },
    },
    additionalProperties: false,
  };
  // `connection: ssh` is shorthand for `connection: { type: ssh }`.
  const connection: JsonSchema = { anyOf: [{ enum: [...CONNECTION_TYPES] }, connectionObject] };
  const names = { type: 'array', items: { type: 'string', minLength: 1 } };
  const host: JsonSchema = {
    title: 'host',
    type: ['object', 'null'],
    properties: {
      vars: { type: ['object', 'null'] },
      groups: names,
      connection,
      vm: {
        title: 'vm',
        type: 'object',
        properties: { pool: str, uuid: { type: 'string', pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$', description: 'a VM UUID' }, name_label: str },
        required: ['pool'],
        additionalProperties: false,
      },
    },
    additionalProperties: false,
  };
  return withDocs({
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'inventory',
    type: 'object',
    properties: {
      hypervisors: {
        type: ['object', 'null'],
        additionalProperties: {
          title: 'hypervisor',
          type: 'object',
          properties: {
            url: { type: 'string', pattern: '^https?://', description: 'an http:// or https:// URL' },
            username: { anyOf: [str, { $ref: '#/$defs/secret' }] },
            password: { $ref: '#/$defs/secret' },
            tls: {
              title: 'tls',
              type: 'object',
              properties: {
                ca: str,
                fingerprint: { type: 'string', pattern: '^([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$', description: 'a SHA-256 fingerprint (64 hex digits, colons allowed)' },
                insecure: { type: 'boolean' },
              },
              additionalProperties: false,
            },
          },
          required: ['url', 'username', 'password'],
          additionalProperties: false,
        },
      },
      groups: {
        type: ['object', 'null'],
        additionalProperties: {
          title: 'group',
          type: ['object', 'null'],
          properties: {
            children: names,
            // a list of names, or (as Ansible writes it) a map of host name → its definition or nothing
            hosts: { anyOf: [names, { type: 'object', additionalProperties: { $ref: '#/$defs/host' } }] },
            vars: { type: ['object', 'null'] },
            connection,
            source: { enum: ['xapi'] },
            pool: str,
            filters: {
              title: 'filters',
              type: 'object',
              properties: { missing_tools: { type: 'boolean' }, tag: str, name: str },
              additionalProperties: false,
            },
          },
          additionalProperties: false,
        },
      },
      hosts: { type: ['object', 'null'], additionalProperties: { $ref: '#/$defs/host' } },
    },
    additionalProperties: false,
    $defs: { secret: secretRef, host },
  });
}

/** File name → JSON text of every published schema. */
export function schemaFiles(registry: StepCatalog): Record<string, string> {
  return {
    'playbook.schema.json': JSON.stringify(buildPlaybookSchema(registry, 'editor'), null, 2) + '\n',
    'inventory.schema.json': JSON.stringify(buildInventorySchema(), null, 2) + '\n',
  };
}

/**
 * `pvrun schema --write`: regenerate schema/*.schema.json under `rootDir` from `registry`.
 * Returns each file with whether its content changed.
 */
export async function writeSchemaFiles(rootDir: string, registry: StepCatalog): Promise<{ file: string; changed: boolean }[]> {
  const dir = join(rootDir, 'schema');
  mkdirSync(dir, { recursive: true });
  const out: { file: string; changed: boolean }[] = [];
  for (const [name, text] of Object.entries(schemaFiles(registry))) {
    const file = join(dir, name);
    let before: string | undefined;
    try {
      before = readFileSync(file, 'utf8');
    } catch {
      // not written yet
    }
    if (before !== text) writeFileSync(file, text);
    out.push({ file, changed: before !== text });
  }
  return out;
}

export interface PropertyEntry {
  /** `<section>.<name>…` as in propertyDocs() */
  key: string;
  description: string | undefined;
  examples: unknown[] | undefined;
}

/** Every property of a (documented) schema, once per key, in schema order. */
export function propertyEntries(schema: JsonSchema): PropertyEntry[] {
  const out = new Map<string, PropertyEntry>();
  forEachProperty(schema, (key, pv) => {
    const p = (typeof pv === 'object' && pv !== null ? pv : {}) as Record<string, unknown>;
    if (!out.has(key)) out.set(key, { key, description: p.description as string | undefined, examples: p.examples as unknown[] | undefined });
  });
  return [...out.values()];
}

/**
 * docs/schema-reference.md: generated from the published schemas, hence from propertyDocs() and
 * the step types' own schemas (`pvrun schema --docs > docs/schema-reference.md`).
 */
export function schemaReference(registry: StepCatalog): string {
  const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const example = (x: unknown): string => '`' + cell(typeof x === 'string' ? x : JSON.stringify(x)) + '`';
  const lines = [
    '# Schema reference',
    '',
    '<!-- generated by `pvrun schema --docs > docs/schema-reference.md` from src/load/schema-docs.ts and the',
    '     step types\' schemas; test/load/schema-descriptions.test.ts fails when it is stale. Do not edit. -->',
    '',
    'Every key of a playbook and an inventory, with the text editors show on hover',
    '(schema/playbook.schema.json, schema/inventory.schema.json). Prose and examples in context:',
    '[playbook.md](playbook.md), [inventory.md](inventory.md).',
    '',
    `**Durations** (timeout, delay, keep, …): ${DURATION_SCHEMA.description}.`,
  ];
  for (const [title, schema] of [['Playbook', buildPlaybookSchema(registry, 'editor')], ['Inventory', buildInventorySchema()]] as const) {
    lines.push('', `## ${title}`);
    let section = '';
    for (const e of propertyEntries(schema)) {
      const sec = e.key.startsWith('steps.') ? e.key.split('.').slice(0, 2).join('.') : e.key.slice(0, e.key.indexOf('.'));
      if (sec !== section) {
        section = sec;
        lines.push('', `### ${sec.startsWith('steps.') ? `step \`${sec.slice(6)}\`` : sec}`, '', '| key | meaning | examples |', '| --- | --- | --- |');
      }
      lines.push(`| \`${e.key.slice(sec.length + 1)}\` | ${cell(e.description ?? '')} | ${(e.examples ?? []).map(example).join(' ')} |`);
    }
  }
  return lines.join('\n') + '\n';
}
