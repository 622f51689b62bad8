/**
 * The loader's JSON Schema validators, without compiling schemas at start-up (issue 17: ajv's
 * code generation was the largest part of a run's start-up, ~0.2–0.45 CPU-s).
 *
 * - The built package carries ajv standalone code for the playbook (loader variant), inventory
 *   and every builtin step's argument schema: one CommonJS file per schema in `validators/` next
 *   to the code that loads it (`dist/cli/validators/`, copied there by scripts/bundle.mjs),
 *   written by `node build/tsc/load/gen-validators.js` right after tsc (`npm run build`). A file
 *   is named for its schema's key (`v_step_run_script.cjs`) and carries the JSON of the schema it
 *   was generated from (`schemaJson`): the running code uses it only if that is exactly the JSON
 *   of the schema it builds, so an edited schema can never be checked by stale code; and a run
 *   loads only the validators it uses (one file of 0.36 MB cost every start-up 13–16 ms, most of
 *   it for schemas a playbook does not use). The check is a string comparison: a hash of the
 *   schemas computed in JavaScript at every start-up cost ~1.2 % of `validate`'s instructions
 *   (issue 17, valgrind), and node:crypto ~15 ms to load.
 * - Otherwise (the tsx dev path, where there is no generated directory; a test's own registry; a
 *   schema changed since the build) the schema is compiled with ajv at first use, and only the
 *   schemas actually used are compiled: a playbook that uses one step type compiles one argument
 *   schema, not all of them.
 * Both ways use the same ajv options (src/load/ajv.ts), so errors are the same.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { JsonSchema } from '../steps/types.js';
import { newAjv, type ValidateFunction } from './ajv.js';

export const GENERATED_DIR = 'validators';
/** The generated directory's index, which the bundle compiles in (scripts/bundle.mjs). */
export const GENERATED_INDEX = 'index.cjs';

/**
 * The generated modules compiled into the installed bundle, by file name, each initialised at
 * first use: scripts/bundle.mjs replaces this `undefined` with a require of the generated
 * `index.cjs` (the build fails if it cannot find this line). Inside dist/cli/pvrun.cjs they are
 * compiled with the rest of the CLI from V8's code cache (src/cli/compile-cache.ts); as files of
 * their own they were compiled from source by every run — ~15 % of `validate`'s CPU profile
 * (issue 17, twelfth pass).
 */
const bundledValidators: Record<string, () => Record<string, unknown>> | undefined = undefined;

/** the generated directory in use; `null`: none (compile at first use) */
let generatedDir: string | null | undefined;
/** generated modules by file name, once loaded (null: no such file) */
const loaded = new Map<string, Record<string, unknown> | null>();

function dirOfGenerated(): string | null {
  if (generatedDir === undefined) {
    const d = fileURLToPath(new URL(`./${GENERATED_DIR}`, import.meta.url));
    generatedDir = existsSync(d) ? d : null; // not built (tsx from the sources): compile at first use
  }
  return generatedDir;
}

/**
 * Use the generated directory at this path instead of the one next to this file (`null`: none at
 * all; `undefined`: back to the default). For tests and the benchmark, which run the sources.
 */
export function useGenerated(path: string | null | undefined): void {
  generatedDir = path;
  loaded.clear();
}

/** The export name a schema key gets in its generated file. */
export function exportName(key: string): string {
  return `v_${key.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

/** The generated file's name for a schema key. */
export function generatedFileName(key: string): string {
  return `${exportName(key)}.cjs`;
}

/** The export that holds the JSON of the schema a generated file was made from. */
export const SCHEMA_JSON_EXPORT = 'schemaJson';

/** The bundle's generated modules are in use (not overridden by useGenerated). */
const usingBundled = (): boolean => bundledValidators !== undefined && generatedDir === undefined;

/** A generated module by file name, from the bundle or the generated directory (null: none). */
function generatedModule(name: string): Record<string, unknown> | null {
  if (usingBundled()) return bundledValidators![name]?.() ?? null;
  const dir = dirOfGenerated();
  const file = dir ? `${dir}/${name}` : undefined;
  return file && existsSync(file) ? (createRequire(import.meta.url)(file) as Record<string, unknown>) : null;
}

/** The generated validator for `key`, if there is one built from exactly this schema. */
export function precompiled(key: string, schema: JsonSchema): ValidateFunction | undefined {
  const name = generatedFileName(key);
  let m = loaded.get(name);
  if (m === undefined) loaded.set(name, m = generatedModule(name));
  // stale (the schema was edited since the build): not used, the caller compiles the schema
  if (!m || m[SCHEMA_JSON_EXPORT] !== JSON.stringify(schema)) return undefined;
  const f = m[exportName(key)];
  return typeof f === 'function' ? (f as ValidateFunction) : undefined;
}

/**
 * The bundle's generated validator for `key` of the builtin catalog, taken as it is (undefined
 * outside the bundle, or when there is none). The bundle and its validators come from one build,
 * from the same compiled code (`npm run build`: tsc, gen-validators, then scripts/bundle.mjs from
 * that output), so the builtin schemas are the ones the validators were generated from:
 * building the playbook and inventory schemas with their documentation at every start only to
 * compare them cost ~5 % of `validate` (issue 17, fifteenth pass). test/cli/package.test.ts
 * checks the installed bundle's verdicts against the sources'.
 */
export function bundledBuiltin(key: string): ValidateFunction | undefined {
  if (!usingBundled()) return undefined;
  const name = generatedFileName(key);
  let m = loaded.get(name);
  if (m === undefined) loaded.set(name, m = generatedModule(name));
  const f = m?.[exportName(key)];
  return typeof f === 'function' ? (f as ValidateFunction) : undefined;
}

/**
 * A validator for `schema`: the generated one when it matches, else compiled now with `ajv()`
 * (one ajv per registry is the caller's business, so schemas with the same $id do not clash).
 */
export function validatorFor(key: string, schema: JsonSchema, ajv: () => ReturnType<typeof newAjv>): ValidateFunction {
  return precompiled(key, schema) ?? ajv().compile(schema);
}

/** Whether the generated directory was found (for the benchmark's and tests' reports). */
export function hasGenerated(): boolean {
  return usingBundled() || dirOfGenerated() !== null;
}

/**
 * The generated files for these schemas (key → schema): file name → CommonJS source, ajv
 * standalone code of one schema each. Used by gen-validators.ts at build time only.
 */
export async function generateValidatorsCode(schemas: Record<string, JsonSchema>): Promise<Record<string, string>> {
  const standalone = await import('ajv/dist/standalone/index.js');
  const standaloneCode = ((standalone as unknown as { default: { default?: unknown } }).default.default ?? standalone.default) as
    (ajv: ReturnType<typeof newAjv>, refs: Record<string, string>) => string;
  const out: Record<string, string> = {};
  for (const [key, schema] of Object.entries(schemas)) {
    // one ajv per schema: a file holds only what its own schema needs
    const ajv = newAjv({ source: true });
    const name = exportName(key);
    ajv.addSchema(schema, name);
    const code = standaloneCode(ajv, { [name]: name });
    out[generatedFileName(key)] =
      `// Generated by src/load/gen-validators.ts at build time (ajv standalone code of '${key}'). Do not edit.\n${code}\n` +
      `exports.${SCHEMA_JSON_EXPORT} = ${JSON.stringify(JSON.stringify(schema))};\n`;
  }
  out[GENERATED_INDEX] = generatedIndex(Object.keys(out));
  return out;
}

/**
 * The index's source: each file behind a function, so a bundle initialises only the validators
 * a run uses (a static `require` is what lets esbuild bundle them at all).
 */
export function generatedIndex(files: readonly string[]): string {
  const entries = files.map((f) => `  ${JSON.stringify(f)}: () => require(${JSON.stringify(`./${f}`)}),\n`).join('');
  return `// Generated by src/load/gen-validators.ts at build time. Do not edit.\n'use strict';\nmodule.exports = {\n${entries}};\n`;
}
