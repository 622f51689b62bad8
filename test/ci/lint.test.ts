/**
 * The linter (eslint.config.js, `npm run lint`): src/ lints clean, and the rules that matter
 * actually bite. The second part lints small in-memory probes under src/engine/, src/steps/ and
 * src/cli/ with the project's own config: a non-exhaustive switch over a union, a console call
 * and an un-awaited promise must each be reported by its rule, and the console call only where
 * the rule is scoped (the engine and the steps never print; the CLI does).
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');

describe('lint', () => {
  it('src/ has no lint errors (the eslint CLI, as `npm run lint` runs it)', async () => {
    // a child process: typescript-eslint keeps one project service per process, and the probes
    // below need theirs set up differently
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [resolve(ROOT, 'node_modules/eslint/bin/eslint.js'), 'src', '--format', 'json'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
    const ms = Date.now() - t0;
    // 0: clean, 1: problems (listed below); anything else is eslint itself failing
    if (r.status !== 0 && r.status !== 1) throw new Error(`eslint exited ${r.status}: ${r.stderr}`);
    const results = JSON.parse(r.stdout) as ESLint.LintResult[];
    const problems = results.flatMap((x) => x.messages.map((m) => `${x.filePath}:${m.line}:${m.column} ${m.ruleId ?? 'parse'}: ${m.message}`));
    // every .ts file under src/ was linted (a config that matched nothing would also be "clean")
    expect(results.length).toBeGreaterThan(100);
    expect(results.every((x) => x.filePath.endsWith('.ts'))).toBe(true);
    expect(problems).toEqual([]);
    expect(r.status).toBe(0);
    console.log(`eslint src: ${results.length} files in ${(ms / 1000).toFixed(1)}s`);
  }, 300_000);

  it('the rules bite: non-exhaustive switch, console in the engine and steps, floating promise', async () => {
    // The probes exist only in memory: the project service gives them tsconfig.json's program as
    // the default project (same compiler options), so type-aware rules see real types. Only the
    // parser setup is overridden here; the rules are eslint.config.js's own.
    const probes = ['src/engine/__lint_probe__.ts', 'src/steps/__lint_probe__.ts', 'src/cli/__lint_probe__.ts'];
    const eslint = new ESLint({
      cwd: ROOT,
      overrideConfig: {
        files: ['src/**/*.ts'],
        languageOptions: { parserOptions: { projectService: { allowDefaultProject: probes, defaultProject: 'tsconfig.json' } } },
      },
    });
    const code = [
      "export type Light = 'red' | 'green' | 'amber';",
      'export function go(l: Light): number {',
      '  switch (l) {', // line 3: 'amber' is not named; the default does not count for a union
      "    case 'red': return 0;",
      "    case 'green': return 1;",
      '    default: return 2;',
      '  }',
      '}',
      "export function say(): void { console.log('hi'); }", // line 9
      'async function later(): Promise<void> {}',
      'export function fire(): void { later(); }', // line 11
      'export function ok(l: Light): number {',
      '  switch (l) {',
      "    case 'red': return 0;",
      "    case 'green': return 1;",
      "    case 'amber': return 2;",
      '  }',
      '}',
      'export function alsoOk(): void { void later(); }',
      '',
    ].join('\n');
    const found = async (filePath: string): Promise<string[]> => {
      const [r] = await eslint.lintText(code, { filePath });
      return r!.messages.map((m) => `${m.line} ${m.ruleId ?? `parse: ${m.message}`}`);
    };
    expect(await found(probes[0]!)).toEqual([
      '3 @typescript-eslint/switch-exhaustiveness-check',
      '9 no-console',
      '11 @typescript-eslint/no-floating-promises',
    ]);
    expect(await found(probes[1]!)).toEqual([
      '3 @typescript-eslint/switch-exhaustiveness-check',
      '9 no-console',
      '11 @typescript-eslint/no-floating-promises',
    ]);
    // the CLI prints: no-console is not its rule
    expect(await found(probes[2]!)).toEqual([
      '3 @typescript-eslint/switch-exhaustiveness-check',
      '11 @typescript-eslint/no-floating-promises',
    ]);
  }, 300_000);
});
