import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { newAjv } from '../../src/load/ajv.js';
import { buildInventorySchema, buildPlaybookSchema, schemaFiles } from '../../src/load/schema.js';
import { validatorsFor } from '../../src/load/playbook.js';
import { builtinRegistry } from '../../src/steps/registry.js';
import { parse } from 'yaml';
import { makeRegistry } from '../../src/steps/registry.js';
import { rigRegistry, rigSteps } from './rig-registry.js';

describe('published schemas', () => {
  it('schema/*.schema.json are up to date with the builtin registry (run `pvrun schema --write`)', () => {
    for (const [name, text] of Object.entries(schemaFiles(builtinRegistry()))) {
      expect(readFileSync(`schema/${name}`, 'utf8'), `schema/${name} is stale: run \`pvrun schema --write\``).toBe(text);
    }
  });

  it('the builtin registry assembles into schemas ajv compiles (editor and loader)', () => {
    expect(() => newAjv().compile(buildPlaybookSchema(builtinRegistry(), 'editor'))).not.toThrow();
    expect(() => validatorsFor(builtinRegistry())).not.toThrow();
  });

  it('the editor schema accepts the valid examples', () => {
    const ajv = newAjv();
    const pb = ajv.compile(buildPlaybookSchema(rigRegistry(), 'editor'));
    const inv = ajv.compile(buildInventorySchema());
    expect(pb(parse(readFileSync('test/fixtures/valid/site.yml', 'utf8'))), JSON.stringify(pb.errors)).toBe(true);
    expect(inv(parse(readFileSync('test/fixtures/valid/inventory.yml', 'utf8'))), JSON.stringify(inv.errors)).toBe(true);
  });

  it('the editor schema rejects what the loader rejects: two step types, bad serial, bad predicate path', () => {
    const pb = newAjv().compile(buildPlaybookSchema(rigRegistry(), 'editor'));
    const play = (extra: object, step: object = { snapshot: {} }) => [{ hosts: 'all', steps: [step], ...extra }];
    expect(pb(play({}))).toBe(true);
    expect(pb(play({}, { snapshot: {}, reboot: 'guest' }))).toBe(false);
    expect(pb(play({ serial: '150%' }))).toBe(false);
    expect(pb(play({ serial: [1, '20%'] }))).toBe(true);
    expect(pb(play({}, { snapshot: {}, when: { path: 'foo.x', equals: 1 } }))).toBe(false);
    expect(pb(play({}, { snapshot: {}, timeout: '5m' }))).toBe(true);
    expect(pb(play({}, { reboot: { wait: '{{ vars.w }}' } }))).toBe(true);
    expect(pb(play({}, { reboot: { wait: 'abc' } }))).toBe(false);
  });

  it('each step type contributes its args schema under its key', () => {
    const s = buildPlaybookSchema(rigRegistry(), 'editor') as { $defs: Record<string, { properties?: Record<string, unknown> }> };
    expect(Object.keys(s.$defs.step!.properties!)).toEqual(expect.arrayContaining(['snapshot', 'reboot', 'run-script', 'attach-iso', 'name', 'when', 'register']));
    expect(s.$defs['step_attach-iso']).toBeDefined();
  });

  it('a step schema with its own $defs/$ref keeps working inside the playbook schema', () => {
    const withRefs = {
      ...rigSteps[0]!,
      type: 'tagged',
      schema: { type: 'object', properties: { tag: { $ref: '#/$defs/tag' } }, $defs: { tag: { type: 'string', minLength: 2 } }, additionalProperties: false },
    };
    const pb = newAjv().compile(buildPlaybookSchema(makeRegistry([withRefs]), 'editor'));
    expect(pb([{ hosts: 'all', steps: [{ tagged: { tag: 'ok' } }] }])).toBe(true);
    expect(pb([{ hosts: 'all', steps: [{ tagged: { tag: 'x' } }] }])).toBe(false);
    expect(pb([{ hosts: 'all', steps: [{ tagged: { tag: '{{ vars.t }}' } }] }])).toBe(true);
  });
});
