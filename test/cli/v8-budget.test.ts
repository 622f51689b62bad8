// Node's own modules keep their code cache while pvrun's larger V8 interrupt budget is in force
// (src/util/v8-budget.ts, issue 17). Observed in a child Node with --expose-internals, through
// Node's own record of which of its modules were compiled with and without the cache.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const REPO = join(import.meta.dirname, '..', '..');

/** Run `body` (ESM, top-level await) in a child Node; it gets `budget` (src/util/v8-budget.ts) and `usage()`. */
function child(body: string): { withCache: string[]; withoutCache: string[] } {
  const code = [
    "import { createRequire } from 'node:module';",
    "const require = createRequire(import.meta.url);",
    "const { internalBinding } = require('internal/test/binding');",
    `const budget = await import(${JSON.stringify(join(REPO, 'src', 'util', 'v8-budget.ts'))});`,
    body,
    "const u = internalBinding('builtins').getCacheUsage();",
    "process.stdout.write(JSON.stringify({ withCache: [...u.compiledWithCache], withoutCache: [...u.compiledWithoutCache] }));",
  ].join('\n');
  const out = execFileSync(process.execPath, ['--expose-internals', '--no-warnings', '--import', 'tsx', '--input-type=module', '-e', code], { cwd: REPO, encoding: 'utf8' });
  return JSON.parse(out) as { withCache: string[]; withoutCache: string[] };
}

describe('the V8 budget and Node\'s code cache', () => {
  it('a module loaded under the larger budget is compiled without the cache; under withDefaultBudget, with it', () => {
    const u = child([
      'budget.setInterruptBudget(4 * budget.DEFAULT_INTERRUPT_BUDGET);',
      "require('zlib');", // the cost withDefaultBudget avoids: V8 rejects the cache (flag hash)
      "budget.withDefaultBudget(() => require('dns'));",
      "await budget.withDefaultBudget(() => import('node:http2'));",
    ].join('\n'));
    expect(u.withoutCache).toContain('zlib');
    expect(u.withCache).toEqual(expect.arrayContaining(['dns', 'http2']));
    expect(u.withoutCache).not.toContain('dns');
    expect(u.withoutCache).not.toContain('http2');
  }, 60_000);

  it('the larger budget is in force again after withDefaultBudget, also when the load throws', () => {
    const u = child([
      'budget.setInterruptBudget(4 * budget.DEFAULT_INTERRUPT_BUDGET);',
      "try { budget.withDefaultBudget(() => { require('dns'); throw new Error('x'); }); } catch {}",
      "await budget.withDefaultBudget(() => import('node:http2'));",
      "require('zlib');",
    ].join('\n'));
    expect(u.withoutCache).toEqual(['zlib']);
  }, 60_000);

  it('ssh2\'s client and undici load every Node module they need with its cache, under the larger budget', () => {
    const u = child([
      `const ssh2 = await import(${JSON.stringify(join(REPO, 'src', 'connectors', 'ssh', 'ssh2.ts'))});`,
      `const transport = await import(${JSON.stringify(join(REPO, 'src', 'hypervisor', 'xapi', 'transport.ts'))});`,
      'budget.setInterruptBudget(4 * budget.DEFAULT_INTERRUPT_BUDGET);',
      'ssh2.newClient();',
      "ssh2.parseKey('not a key');",
      "const a = transport.makeAgent({}); if (!a.ok) throw new Error(JSON.stringify(a.error)); await a.value.agent.close();",
    ].join('\n'));
    expect(u.withCache).toEqual(expect.arrayContaining(['crypto', 'dns', 'zlib', 'child_process', 'tls', 'http']));
    expect(u.withoutCache).toEqual([]);
  }, 60_000);
});
