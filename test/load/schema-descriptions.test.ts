/**
 * Issue 20 (editors): every property of the published schemas has a description, the schema
 * reference in docs/ is generated from the same text, and durations have ONE grammar: the
 * schema's pattern and the parser accept exactly the same strings.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { newAjv } from '../../src/load/ajv.js';
import { parseDuration } from '../../src/load/duration.js';
import { parsePlaybook } from '../../src/load/playbook.js';
import { schemaReference } from '../../src/load/schema.js';
import { builtinRegistry } from '../../src/steps/registry.js';

const ROOT = join(import.meta.dirname, '..', '..');
const published = (name: string) => JSON.parse(readFileSync(join(ROOT, 'schema', name), 'utf8')) as Record<string, unknown>;

/** Every `properties` entry of a schema, with where it is. */
function properties(schema: unknown, at = '#'): { at: string; prop: Record<string, unknown> }[] {
  const out: { at: string; prop: Record<string, unknown> }[] = [];
  const walk = (node: unknown, path: string): void => {
    if (Array.isArray(node)) { node.forEach((n, i) => walk(n, `${path}/${i}`)); return; }
    if (typeof node !== 'object' || node === null) return;
    for (const [k, v] of Object.entries(node)) {
      if (k === 'examples' || k === 'enum' || k === 'const' || k === 'default') continue;
      if (k === 'properties') {
        for (const [pk, pv] of Object.entries(v as Record<string, unknown>)) {
          out.push({ at: `${path}/properties/${pk}`, prop: pv as Record<string, unknown> });
          walk(pv, `${path}/properties/${pk}`);
        }
      } else walk(v, `${path}/${k}`);
    }
  };
  walk(schema, at);
  return out;
}

describe('schema descriptions', () => {
  for (const file of ['playbook.schema.json', 'inventory.schema.json']) {
    it(`every property of schema/${file} has its own description`, () => {
      const props = properties(published(file));
      expect(props.length).toBeGreaterThan(file.startsWith('playbook') ? 150 : 40);
      const missing = props.filter((p) => typeof p.prop.description !== 'string' || (p.prop.description as string).trim().length < 8).map((p) => p.at);
      expect(missing).toEqual([]);
    });
  }

  it('examples given for a property are valid for it (checked by the schema itself)', () => {
    const ajv = newAjv();
    const bad: string[] = [];
    for (const file of ['playbook.schema.json', 'inventory.schema.json']) {
      const schema = published(file);
      ajv.addSchema(schema, file);
      for (const { at, prop } of properties(schema)) {
        for (const ex of (prop.examples as unknown[] | undefined) ?? []) {
          const v = ajv.compile({ $ref: `${file}${at}` });
          if (!v(ex)) bad.push(`${file}${at}: ${JSON.stringify(ex)} ${ajv.errorsText(v.errors)}`);
        }
      }
    }
    expect(bad).toEqual([]);
  });

  it('docs/schema-reference.md is generated from the same text (run `pvrun schema --docs > docs/schema-reference.md`)', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'schema-reference.md'), 'utf8');
    expect(doc).toBe(schemaReference(builtinRegistry()));
    // and it carries the descriptions, e.g. a step argument's and an inventory key's
    expect(doc).toContain('| `reboot_timeout` | seconds the reboot and the wait for the guest may take');
    expect(doc).toContain('| `host_key_checking` | strict (default');
  });
});

describe('the hand-written tables in docs/ list the same keys as the schemas', () => {
  /** the backquoted keys in the first column of the table(s) between two headings */
  const tableKeys = (file: string, from: string, to: string): string[] => {
    const text = readFileSync(join(ROOT, 'docs', file), 'utf8');
    const part = text.slice(text.indexOf(from), text.indexOf(to, text.indexOf(from) + from.length));
    return part.split('\n').filter((l) => l.startsWith('| `')).flatMap((l) => [...l.split('|')[1]!.matchAll(/`([a-z_]+)(?::[^`]*)?`/g)].map((m) => m[1]!)).sort();
  };
  const keysOf = (schema: Record<string, unknown>, title: string): string[] => {
    let found: string[] | undefined;
    const walk = (n: unknown): void => {
      if (found || typeof n !== 'object' || n === null) return;
      const o = n as Record<string, unknown>;
      if (o.title === title && o.properties) { found = Object.keys(o.properties as object).sort(); return; }
      Object.values(o).forEach(walk);
    };
    walk(schema);
    return found!;
  };
  const playbook = published('playbook.schema.json');
  const inventory = published('inventory.schema.json');
  it('playbook.md: play keys and the steps\' common keys', () => {
    expect(tableKeys('playbook.md', '## Play keys', '### serial')).toEqual(keysOf(playbook, 'play'));
    const stepTypes = Object.keys((playbook.$defs as Record<string, unknown>)).filter((k) => k.startsWith('step_')).map((k) => k.slice(5));
    expect(tableKeys('playbook.md', '## Steps', 'Errors:')).toEqual(keysOf(playbook, 'step').filter((k) => !stepTypes.includes(k)));
  });
  it('inventory.md: groups, hosts, connection', () => {
    expect(tableKeys('inventory.md', '## connection', 'Settings merge')).toEqual(keysOf(inventory, 'connection'));
    expect(tableKeys('inventory.md', '## hosts', '## connection')).toEqual(keysOf(inventory, 'host'));
    expect(tableKeys('inventory.md', '## groups', '- `all` always exists')).toEqual(keysOf(inventory, 'group'));
  });
});

// ── durations ─────────────────────────────────────────────────────────────────────────────────
const ACCEPTED = ['250ms', '30s', '5m', '1h', '7d', '2w', '1h30m', '1w2d3h4m5s6ms', '1.5h', '0.5s', '90', '2.5', '0', '0s', ' 5m ', '\t10s', '5m\n', '01m', '10ms5s'];
const REJECTED = ['', ' ', 'abc', '5 m', '5mm', '5M', '5S', '1y', '-5s', '-5', '1e3', '1e3s', 'ms', 's', '.5s', '5.s', '5.', '1h 30m', '1,5h', '5sec', '5 minutes', 'm5', '1h-30m', '５s'];

describe('one duration grammar', () => {
  const schema = published('playbook.schema.json');
  const defs = schema.$defs as Record<string, Record<string, unknown>>;
  const stepArg = (type: string, prop: string) => {
    // the arguments object, under the shorthand's and the templates' anyOf
    const find = (s: Record<string, unknown>): Record<string, unknown> | undefined =>
      (s.properties as Record<string, unknown> | undefined)?.[prop] as Record<string, unknown> | undefined
      ?? ((s.anyOf as Record<string, unknown>[] | undefined) ?? []).map(find).find((x) => x !== undefined);
    return find(defs[`step_${type}`]!)!;
  };
  const ajv = newAjv();
  // the playbook's own durations (timeout, delay) and step arguments (snapshot timeout, vm-setting shutdown_timeout)
  const validators = {
    'playbook $defs.duration': ajv.compile(defs.duration!),
    'snapshot.timeout': ajv.compile(stepArg('snapshot', 'timeout') as object),
    'vm-setting.shutdown_timeout': ajv.compile(stepArg('vm-setting', 'shutdown_timeout') as object),
  };

  it.each([...ACCEPTED.map((d) => [d, true] as const), ...REJECTED.map((d) => [d, false] as const)])('%j: accepted=%s by the parser and by every schema pattern', (d, accepted) => {
    expect(parseDuration(d).ok).toBe(accepted);
    for (const [where, v] of Object.entries(validators)) expect(v(d), where).toBe(accepted);
  });

  it('the loader reads a step timeout in days and weeks, as the schema says', () => {
    const r = parsePlaybook('p.yml', '- hosts: all\n  steps:\n    - snapshot: {}\n      timeout: 1w1d\n', builtinRegistry());
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.value.playbook.plays[0]!.steps[0]!.timeoutMs).toBe(8 * 86_400_000);
  });

  it('numbers: seconds ≥ 0 in both; negative numbers in neither', () => {
    expect(parseDuration(90)).toEqual({ ok: true, ms: 90_000 });
    for (const v of Object.values(validators)) { expect(v(90)).toBe(true); expect(v(-1)).toBe(false); }
    expect(parseDuration(-1).ok).toBe(false);
  });

  it('no other module spells the units: the grammar lives in src/load/duration.ts only', () => {
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const f of readdirSync(dir)) {
        const p = join(dir, f);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts')) files.push(p);
      }
    };
    walk(join(ROOT, 'src'));
    const spelled = files.filter((f) => !f.endsWith(join('load', 'duration.ts')) && /\(ms\|s\|m\|h|\bms\|s\|m\b/.test(readFileSync(f, 'utf8')));
    expect(spelled.map((f) => f.slice(ROOT.length + 1))).toEqual([]);
  });
});
