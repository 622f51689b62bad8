// The invalid corpus: one directory per case under test/fixtures/invalid/, holding some of
//   playbook.yml   (default: test/fixtures/valid/minimal.yml)
//   inventory.yml  (default: test/fixtures/valid/minimal-inventory.yml)
//   args.json      { inventories?, extraVars?, limit?, tags?, skipTags?, startAtStep? }
//                  (-i arguments are resolved from the case directory)
//   expected.txt   the exact diagnostics, one `file:line:col: message` per line, file relative
//                  to the case directory
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadProject } from '../../src/load/project.js';
import type { LoadProjectOptions } from '../../src/load/project.js';
import { rigRegistry } from './rig-registry.js';

const ROOT = 'test/fixtures/invalid';
const cases = readdirSync(ROOT, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
const registry = rigRegistry();

describe('invalid corpus', () => {
  it('has at least 30 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  for (const name of cases) {
    it(name, () => {
      const dir = join(ROOT, name);
      const args = existsSync(join(dir, 'args.json')) ? JSON.parse(readFileSync(join(dir, 'args.json'), 'utf8')) as Partial<LoadProjectOptions> : {};
      const playbook = existsSync(join(dir, 'playbook.yml')) ? join(dir, 'playbook.yml') : 'test/fixtures/valid/minimal.yml';
      const inventories = args.inventories ?? [existsSync(join(dir, 'inventory.yml')) ? 'inventory.yml' : '../../valid/minimal-inventory.yml'];
      const r = loadProject({ ...args, playbook, inventories, registry, cwd: dir, run: { id: 'T1' } });
      const got = r.ok ? ['(loaded without errors)'] : r.error.map((d) => {
        const file = d.file.startsWith(dir + '/') ? d.file.slice(dir.length + 1) : d.file;
        return `${file}:${d.line}:${d.col}: ${d.severity === 'warning' ? 'warning: ' : ''}${d.message}`;
      });
      const expected = readFileSync(join(dir, 'expected.txt'), 'utf8').split('\n').filter((l) => l.trim() !== '');
      expect(got).toEqual(expected);
      if (!r.ok) for (const d of r.error) { expect(d.line).toBeGreaterThanOrEqual(1); expect(d.col).toBeGreaterThanOrEqual(1); }
    });
  }
});
