/**
 * Issue 17 (start-up): the loader validates with ajv standalone code generated at build time
 * (src/load/gen-validators.ts → validators/, one file per schema and an index, compiled into dist/cli/pvrun.cjs) when it was generated from the same
 * schema, and otherwise compiles a schema only when it is first needed. Here the generated module
 * is made from the sources into a temporary directory, as the build makes it.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { newAjv } from '../../src/load/ajv.js';
import { loaderSchemas, parsePlaybook } from '../../src/load/playbook.js';
import { exportName, GENERATED_INDEX, generateValidatorsCode, generatedFileName, precompiled, useGenerated, validatorFor } from '../../src/load/validators.js';
import { builtinRegistry, makeRegistry } from '../../src/steps/registry.js';
import { rigSteps } from './rig-registry.js';

const REPO = join(import.meta.dirname, '..', '..');

describe('precompiled validators', () => {
  let dir: string;
  let file: string;
  beforeAll(async () => {
    // the generated code requires 'ajv/dist/runtime/…': put it where the repository's
    // node_modules resolve, as dist/load/ is
    dir = mkdtempSync(join(REPO, 'node_modules', '.pvrun-gen-test-'));
    file = join(dir, 'validators');
    mkdirSync(file);
    for (const [name, code] of Object.entries(await generateValidatorsCode(loaderSchemas(builtinRegistry())))) writeFileSync(join(file, name), code);
  }, 120_000);
  afterEach(() => useGenerated(undefined));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('covers the playbook, the inventory and every builtin step type, and is used when the schema is the same', () => {
    useGenerated(file);
    const schemas = loaderSchemas(builtinRegistry());
    expect(Object.keys(schemas)).toEqual(expect.arrayContaining(['playbook', 'inventory', 'step:run-script', 'step:snapshot']));
    // one file per schema, named for its key, and the index the bundle compiles in; nothing else
    expect(readdirSync(file).sort()).toEqual([GENERATED_INDEX, ...Object.keys(schemas).map((k) => generatedFileName(k))].sort());
    for (const [key, schema] of Object.entries(schemas)) {
      const v = precompiled(key, schema);
      expect(v, key).toBeTypeOf('function');
      const gen = createRequire(import.meta.url)(join(file, generatedFileName(key))) as Record<string, unknown>;
      expect(gen['schemaJson']).toBe(JSON.stringify(schema));
      expect(v).toBe(gen[exportName(key)]);
    }
  });

  it('loads only the files of the schemas asked for', () => {
    useGenerated(file);
    const req = createRequire(import.meta.url);
    const inCache = () => Object.keys(req.cache).filter((k) => k.startsWith(file));
    for (const k of inCache()) delete req.cache[k];
    const schemas = loaderSchemas(builtinRegistry());
    expect(precompiled('step:run-script', schemas['step:run-script']!)).toBeTypeOf('function');
    expect(inCache().map((k) => k.slice(file.length + 1))).toEqual([generatedFileName('step:run-script')]);
  });

  // the installed bundle compiles the index in (scripts/bundle.mjs): requiring it must load no
  // validator, each is loaded by its own function, and every file is in it
  it('has an index that names every file and loads each only when asked', () => {
    const req = createRequire(import.meta.url);
    const inCache = () => Object.keys(req.cache).filter((k) => k.startsWith(file)).map((k) => k.slice(file.length + 1)).sort();
    for (const k of Object.keys(req.cache)) if (k.startsWith(file)) delete req.cache[k];
    const index = req(join(file, GENERATED_INDEX)) as Record<string, () => Record<string, unknown>>;
    expect(inCache()).toEqual([GENERATED_INDEX]);
    const schemas = loaderSchemas(builtinRegistry());
    expect(Object.keys(index).sort()).toEqual(Object.keys(schemas).map((k) => generatedFileName(k)).sort());
    const m = index[generatedFileName('step:reboot')]!();
    expect(m[exportName('step:reboot')]).toBeTypeOf('function');
    expect(m['schemaJson']).toBe(JSON.stringify(schemas['step:reboot']));
    expect(inCache()).toEqual([GENERATED_INDEX, generatedFileName('step:reboot')].sort());
  });

  it('is not used for a schema that changed since it was generated (compiled instead)', () => {
    useGenerated(file);
    const st = builtinRegistry().steps.get('run-script')!;
    const edited = { ...st.schema, required: ['script'] } as typeof st.schema;
    expect(precompiled('step:run-script', edited)).toBeUndefined();
    const v = validatorFor('step:run-script', edited, () => newAjv());
    expect(v({ file: '/x' })).toBe(false); // the edit is in force: the stale code would accept this
    expect(precompiled('step:run-script', st.schema)).toBeTypeOf('function');
  });

  it('calls a referenced schema instead of copying its code at every $ref (inlineRefs: false)', async () => {
    // the inventory refers to its connection schema from groups and from hosts: one function each
    const inv = Object.entries(await generateValidatorsCode({ inventory: loaderSchemas(builtinRegistry())['inventory']! }))[0]![1];
    const fns = inv.match(/function validate\d+\(/g) ?? [];
    expect(fns.length).toBeGreaterThan(1);
    expect(newAjv().opts.inlineRefs).toBe(false);
  }, 60_000);

  it('gives the same verdicts and errors as ajv compiling the schema at run time', () => {
    useGenerated(file);
    const schemas = loaderSchemas(builtinRegistry());
    const cases: [string, unknown][] = [
      ['step:run-script', { script: 'true', args: ['a'], env: { A: 'b' } }],
      ['step:run-script', { script: 1, bogus: true, env: { 'bad name': 1 } }],
      ['step:run-script', { unless: { cmd: 'x', check_mode_safe: 'yes' } }],
      ['step:snapshot', { keep: -1, nope: 1 }],
      ['inventory', { hosts: { a: { connection: { type: 'ssh', port: 70000 } } } }],
      ['inventory', { groups: { all: { hosts: ['a'] } }, hosts: { a: {} } }],
      ['playbook', [{ hosts: 'all', steps: [{ 'run-script': 'true' }], forks: 0 }]],
      ['playbook', [{ steps: 'nope' }]],
    ];
    for (const [key, data] of cases) {
      const gen = precompiled(key, schemas[key]!)!;
      const rt = newAjv().compile(schemas[key]!);
      const a = gen(data);
      const b = rt(data);
      expect(a, `${key} ${JSON.stringify(data)}`).toBe(b);
      const strip = (es: typeof gen.errors) => (es ?? []).map((e) => ({ ...e, schema: JSON.stringify(e.schema), parentSchema: JSON.stringify(e.parentSchema) }));
      expect(strip(gen.errors)).toEqual(strip(rt.errors));
    }
  });

  it('without a generated module, only the step types a playbook uses are compiled', () => {
    useGenerated(null);
    // a step type whose schema ajv cannot compile: a playbook that does not use it still loads
    const broken = { ...rigSteps[0]!, type: 'broken-step', schema: { type: 'no-such-json-type' } };
    const reg = makeRegistry([...rigSteps, broken]);
    const ok = parsePlaybook('pb.yml', '- hosts: all\n  steps:\n    - snapshot: {}\n', reg);
    expect(ok.ok).toBe(true);
    // …and one that does use it meets the compile error (a bug in that step type, thrown)
    expect(() => parsePlaybook('pb.yml', '- hosts: all\n  steps:\n    - broken-step: {}\n', reg)).toThrow(/no-such-json-type|type/);
  });
});
