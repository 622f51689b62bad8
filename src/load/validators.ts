/**
 * The loader's JSON Schema validators, without compiling schemas at start-up (issue 17: ajv's
 * code generation was the largest part of a run's start-up, ~0.2–0.45 CPU-s).
 *
 * - The built package carries ajv standalone code for the playbook (loader variant), inventory
 *   and every builtin step's argument schema: `validators.gen.cjs` next to the code that loads it
 *   (`dist/cli/`, copied there by scripts/bundle.mjs), written by `node
 *   build/tsc/load/gen-validators.js` right after tsc (`npm run build`). Each validator there is
 *   stored with a hash of the schema it was generated from and is used only when the schema the
 *   running code builds has the same hash, so an edited schema can never be checked by stale code.
 * - Otherwise (the tsx dev path, where there is no generated file; a test's own registry; a
 *   schema changed since the build) the schema is compiled with ajv at first use, and only the
 *   schemas actually used are compiled: a playbook that uses one step type compiles one argument
 *   schema, not all of them.
 * Both ways use the same ajv options (src/load/ajv.ts), so errors are the same.
 */
import { createRequire } from 'node:module';
import type { JsonSchema } from '../steps/types.js';
import { newAjv, type ValidateFunction } from './ajv.js';

export const GENERATED_FILE = 'validators.gen.cjs';

interface Generated {
  /** export name → hash of the schema it was generated from */
  __hashes: Record<string, string>;
  [name: string]: unknown;
}

let generated: Generated | null | undefined;

function loadGenerated(): Generated | null {
  if (generated !== undefined) return generated;
  try {
    generated = createRequire(import.meta.url)(`./${GENERATED_FILE}`) as Generated;
  } catch {
    generated = null; // not built (tsx from the sources): compile at first use
  }
  return generated;
}

/**
 * A 53-bit hash of a schema's JSON (cyrb53) plus its length: enough to notice a schema edited
 * since the build, and cheap (node:crypto costs ~15 ms to load at start-up).
 */
/**
 * Use the generated module at this path instead of the one next to this file (`null`: none at
 * all; `undefined`: back to the default). For tests and the benchmark, which run the sources.
 */
export function useGenerated(path: string | null | undefined): void {
  generated = path === undefined ? undefined : path === null ? null : createRequire(import.meta.url)(path) as Generated;
}

export function schemaHash(schemaJson: string): string {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < schemaJson.length; i++) {
    const c = schemaJson.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return `${(4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36)}-${schemaJson.length}`;
}

/** The export name a schema key gets in the generated module. */
export function exportName(key: string): string {
  return `v_${key.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

/** The generated validator for `key`, if there is one built from exactly this schema. */
export function precompiled(key: string, schema: JsonSchema): ValidateFunction | undefined {
  const g = loadGenerated();
  if (!g) return undefined;
  const name = exportName(key);
  const want = g.__hashes[name];
  if (want === undefined || want !== schemaHash(JSON.stringify(schema))) return undefined;
  const fn = g[name];
  return typeof fn === 'function' ? (fn as ValidateFunction) : undefined;
}

/**
 * A validator for `schema`: the generated one when it matches, else compiled now with `ajv()`
 * (one ajv per registry is the caller's business, so schemas with the same $id do not clash).
 */
export function validatorFor(key: string, schema: JsonSchema, ajv: () => ReturnType<typeof newAjv>): ValidateFunction {
  return precompiled(key, schema) ?? ajv().compile(schema);
}

/** Whether the generated module was found (for the benchmark's and tests' reports). */
export function hasGenerated(): boolean {
  return loadGenerated() !== null;
}

/**
 * The CommonJS source of the generated module for these schemas (key → schema): ajv standalone
 * code plus the hashes. Used by gen-validators.ts at build time only.
 */
export async function generateValidatorsCode(schemas: Record<string, JsonSchema>): Promise<string> {
  const standalone = await import('ajv/dist/standalone/index.js');
  const standaloneCode = ((standalone as unknown as { default: { default?: unknown } }).default.default ?? standalone.default) as
    (ajv: ReturnType<typeof newAjv>, refs: Record<string, string>) => string;
  const ajv = newAjv({ source: true });
  const refs: Record<string, string> = {};
  const hashes: Record<string, string> = {};
  for (const [key, schema] of Object.entries(schemas)) {
    const name = exportName(key);
    ajv.addSchema(schema, name);
    refs[name] = name;
    hashes[name] = schemaHash(JSON.stringify(schema));
  }
  const code = standaloneCode(ajv, refs);
  return `// Generated by src/load/gen-validators.ts at build time (ajv standalone code). Do not edit.\n${code}\nexports.__hashes = ${JSON.stringify(hashes)};\n`;
}
