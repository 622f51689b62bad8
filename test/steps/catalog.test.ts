/**
 * The step catalog (src/steps/catalog.ts: what loading and `pvrun validate` read) and the step
 * registry (src/steps/registry.ts: what the engine runs) describe the same step types: same keys in
 * the same order, and each implementation carries its catalog info unchanged (the loader checks
 * arguments against the catalog's schema, the engine runs the implementation's plan/apply).
 */
import { describe, expect, it } from 'vitest';
import { builtinCatalog, builtinPredicateInfos } from '../../src/steps/catalog.js';
import { builtinRegistry } from '../../src/steps/registry.js';
import { buildPlaybookSchema } from '../../src/load/schema.js';
import { loaderSchemas } from '../../src/load/playbook.js';

const INFO_KEYS = ['type', 'description', 'schema', 'shorthand', 'needs', 'makesRestorePoint', 'resumeCutApply', 'touchesGuest', 'templateContexts'] as const;

describe('step catalog and registry', () => {
  it('list the same step types in the same order', () => {
    expect([...builtinCatalog().steps.keys()]).toEqual([...builtinRegistry().steps.keys()]);
    expect(builtinCatalog().steps.size).toBe(20);
  });

  it('every implementation carries its catalog info unchanged, and adds plan/apply', () => {
    const catalog = builtinCatalog();
    for (const [type, step] of builtinRegistry().steps) {
      const info = catalog.steps.get(type)!;
      for (const k of INFO_KEYS) {
        const a = (step as unknown as Record<string, unknown>)[k];
        const b = (info as unknown as Record<string, unknown>)[k];
        // check/verify are built per predicate list: their functions differ, their data must not
        if (typeof a === 'function') expect(typeof b, `${type}.${k}`).toBe('function');
        else expect(a, `${type}.${k}`).toEqual(b);
      }
      expect(typeof step.plan, type).toBe('function');
      expect(typeof step.apply, type).toBe('function');
      expect('plan' in info, type).toBe(false);
    }
  });

  it('the catalog lists the registry\'s predicates, keys and schemas', () => {
    const reg = builtinRegistry().predicates;
    expect(builtinPredicateInfos.map((p) => p.key)).toEqual([...reg.keys()]);
    for (const p of builtinPredicateInfos) expect(p.schema, p.key).toEqual(reg.get(p.key)!.schema);
  });

  it('give the same playbook schemas and template contexts', () => {
    expect(buildPlaybookSchema(builtinCatalog(), 'editor')).toEqual(buildPlaybookSchema(builtinRegistry(), 'editor'));
    expect(loaderSchemas(builtinCatalog())).toEqual(loaderSchemas(builtinRegistry()));
    const cases: [string, unknown][] = [
      ['run-script', { script: 'echo {{ x }}', unless: { cmd: 'true' } }],
      ['run-script', { script: 'print(1)', interpreter: 'python3' }],
      ['powershell', { script: 'Get-Item', unless: 'Test-Path x' }],
      ['reboot', { test_command: 'true' }],
      ['check', { command: { cmd: 'true' }, file_exists: '/x' }],
      ['verify', { command: 'true' }],
    ];
    for (const [type, args] of cases) {
      const fromCatalog = builtinCatalog().steps.get(type)!.templateContexts!(args);
      expect(fromCatalog.length, type).toBeGreaterThan(0);
      expect(fromCatalog, type).toEqual(builtinRegistry().steps.get(type)!.templateContexts!(args));
    }
  });
});
