import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { XAPI_METHODS } from '../../src/hypervisor/xapi/index.js';
import { SIM_METHODS } from '../../src/lab/xapi-sim/index.js';

// ../shared/xapi/xenapi.json relative to the repository root (CI has it at the same place)
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const apiPath = resolve(repoRoot, '../shared/xapi/xenapi.json');

interface ApiClass { name: string; messages: { name: string; params: { type: string }[] }[] }

function loadApi(): Map<string, string[]> {
  const api = JSON.parse(readFileSync(apiPath, 'utf8')) as ApiClass[];
  const m = new Map<string, string[]>();
  for (const c of api) for (const msg of c.messages) m.set(`${c.name}.${msg.name}`, msg.params.map((p) => p.type));
  return m;
}

function mismatches(table: Record<string, { params: readonly string[] }>, api: Map<string, string[]>): string[] {
  const out: string[] = [];
  for (const [name, spec] of Object.entries(table)) {
    const want = api.get(name);
    if (!want) out.push(`${name}: not in xenapi.json`);
    else if (JSON.stringify(want) !== JSON.stringify(spec.params)) out.push(`${name}: ours ${JSON.stringify(spec.params)} vs xenapi.json ${JSON.stringify(want)}`);
  }
  return out;
}

describe('method tables against xenapi.json', () => {
  it('finds xenapi.json', () => {
    expect(existsSync(apiPath), apiPath).toBe(true);
  });

  it('every method the client can call exists with the same parameter types', () => {
    const api = loadApi();
    expect(Object.keys(XAPI_METHODS).length).toBeGreaterThan(50);
    expect(mismatches(XAPI_METHODS, api)).toEqual([]);
  });

  it('every method the simulator answers exists with the same parameter types', () => {
    const api = loadApi();
    expect(Object.keys(SIM_METHODS).length).toBeGreaterThan(100);
    expect(mismatches(SIM_METHODS, api)).toEqual([]);
  });

  it('every method the client can call is answered by the simulator (with the same async flag)', () => {
    const missing = Object.entries(XAPI_METHODS)
      .filter(([n, s]) => !SIM_METHODS[n] || (s.async && !SIM_METHODS[n]!.async))
      .map(([n]) => n);
    expect(missing).toEqual([]);
  });

  it('the check detects a wrong table entry (the test can fail)', () => {
    const api = loadApi();
    expect(mismatches({ 'VM.snapshot': { params: ['session ref', 'VM ref', 'string'] }, 'VM.frobnicate': { params: [] } }, api))
      .toHaveLength(2);
  });
});
