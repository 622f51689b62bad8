// Mutation fuzzing: damaged playbooks and inventories must never make the loader throw; the
// outcome is either a project or diagnostics whose positions exist in the damaged file.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { formatDiagnostics } from '../../src/load/diagnostics.js';
import { loadProject } from '../../src/load/project.js';
import { rigRegistry } from './rig-registry.js';

const dir = mkdtempSync(join(tmpdir(), 'pvrun-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const registry = rigRegistry();
// Bounded and seeded in CI; PVRUN_FUZZ_RUNS=5000 explores further with a random seed.
const extra = process.env.PVRUN_FUZZ_RUNS ? Number(process.env.PVRUN_FUZZ_RUNS) : undefined;
const runs = (n: number, seed: number) => (extra ? { numRuns: extra } : { numRuns: n, seed });
const timeout = extra ? 600_000 : undefined;

const seeds = {
  playbook: readFileSync('test/fixtures/valid/site.yml', 'utf8'),
  inventory: readFileSync('test/fixtures/valid/inventory.yml', 'utf8'),
};

const RETYPES = ['1', '-5', '0', '"x"', '[]', '{}', 'null', 'true', '"{{ vars.x }}"', '"150%"', '[1, "0%"]', '{ env: X }', '"{{ facts.a }}"', '"web-*:&db"', '&a 1', '*a', '| \n  text'];
const GARBAGE = ['\t', ':', '-', '{', '}', '[', ']', '"', "'", '#', '&', '*', '!', '%', '@', '`', '|', '>', '\n', ' ', '{{', '}}', '\u0000', '\uFEFF', 'é'];

type Mutation =
  | { kind: 'delete-line' | 'duplicate-line' | 'indent' | 'dedent'; line: number }
  | { kind: 'retype'; line: number; value: number }
  | { kind: 'garbage'; at: number; what: number }
  | { kind: 'truncate'; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constantFrom('delete-line' as const, 'duplicate-line' as const, 'indent' as const, 'dedent' as const), line: fc.nat() }),
  fc.record({ kind: fc.constant('retype' as const), line: fc.nat(), value: fc.nat() }),
  fc.record({ kind: fc.constant('garbage' as const), at: fc.nat(), what: fc.nat() }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

function mutate(text: string, m: Mutation): string {
  const lines = text.split('\n');
  const li = 'line' in m ? m.line % lines.length : 0;
  switch (m.kind) {
    case 'delete-line': lines.splice(li, 1); return lines.join('\n');
    case 'duplicate-line': lines.splice(li, 0, lines[li]!); return lines.join('\n');
    case 'indent': lines[li] = '  ' + lines[li]!; return lines.join('\n');
    case 'dedent': lines[li] = lines[li]!.replace(/^ {1,2}/, ''); return lines.join('\n');
    case 'retype': {
      const l = lines[li]!;
      const c = l.indexOf(': ');
      lines[li] = c >= 0 ? l.slice(0, c + 2) + RETYPES[m.value % RETYPES.length]! : l + ': ' + RETYPES[m.value % RETYPES.length]!;
      return lines.join('\n');
    }
    case 'garbage': { const at = m.at % (text.length + 1); return text.slice(0, at) + GARBAGE[m.what % GARBAGE.length]! + text.slice(at); }
    case 'truncate': return text.slice(0, m.at % (text.length + 1));
  }
}

function check(pbText: string, invText: string, n: number): void {
  const pb = join(dir, `pb-${n}.yml`);
  const inv = join(dir, `inv-${n}.yml`);
  writeFileSync(pb, pbText);
  writeFileSync(inv, invText);
  const r = loadProject({ playbook: pb, inventories: [inv], registry, extraVars: ['extra=1'], run: { id: 'F' } });
  const texts: Record<string, string> = { [pb]: pbText, [inv]: invText };
  const diags = r.ok ? r.value.warnings : r.error;
  if (!r.ok) expect(r.error.length).toBeGreaterThan(0);
  for (const d of diags) {
    expect(d.line).toBeGreaterThanOrEqual(1);
    expect(d.col).toBeGreaterThanOrEqual(1);
    expect(d.message.length).toBeGreaterThan(0);
    expect(d.message).not.toMatch(/\n\s+at |TypeError|ReferenceError|undefined is not|Cannot read prop/);
    const t = texts[d.file];
    if (t !== undefined) {
      const lines = t.split('\n');
      expect(d.line).toBeLessThanOrEqual(lines.length);
      expect(d.col).toBeLessThanOrEqual(lines[d.line - 1]!.length + 1);
    }
  }
  expect(() => formatDiagnostics(diags)).not.toThrow();
}

describe('fuzz: mutated playbooks and inventories', () => {
  it('the valid seeds load', () => {
    check(seeds.playbook, seeds.inventory, -1);
  });

  let n = 0;
  it('never throws; diagnostics have positions inside the file (playbook mutations)', () => {
    fc.assert(fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (ms) => {
      check(ms.reduce(mutate, seeds.playbook), seeds.inventory, n++);
    }), runs(200, 20261126));
  }, timeout);

  it('never throws; diagnostics have positions inside the file (inventory mutations)', () => {
    fc.assert(fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (ms) => {
      check(seeds.playbook, ms.reduce(mutate, seeds.inventory), n++);
    }), runs(150, 4242));
  }, timeout);

  it('never throws on arbitrary text', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), fc.string({ maxLength: 200 }), (a, b) => {
      check(a, b, n++);
    }), runs(50, 7));
  }, timeout);
});
