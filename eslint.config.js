// ESLint 9 flat config, type-aware (typescript-eslint's project service reads tsconfig.json).
// The rule set is deliberately small: only rules that catch real bugs in this code base, so
// `npm run lint` stays fast enough for CI's two slow cores. See docs/architecture.md, "Lint".
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    // Build output and dependencies.
    ignores: ['dist/**', 'node_modules/**', 'coverage/**'],
  },
  {
    files: ['src/**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Every switch on a union names every member; a `default:` does not count as covering
      // the union (a new member must fail the lint where it is not handled). Switches on
      // non-union types (string, number) need no default.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', {
        considerDefaultExhaustiveForUnions: false,
        requireDefaultForNonUnion: false,
        allowDefaultCaseForExhaustiveSwitch: true,
      }],
      // A promise nobody awaits loses its rejection (an unhandled rejection ends the process) and
      // its ordering; mark a deliberate fire-and-forget with `void`.
      '@typescript-eslint/no-floating-promises': 'error',
      // Two cheap syntactic rules the code already follows and names in its (justified)
      // eslint-disable comments; with them on, reportUnusedDisableDirectives can flag stale ones.
      '@typescript-eslint/no-explicit-any': 'error',
      'no-control-regex': 'error',
    },
  },
  {
    // The engine and the steps never print: events and results carry everything, and the
    // CLI's renderers decide what reaches the terminal. This rule is the guard (no global
    // console patching).
    files: ['src/engine/**/*.ts', 'src/steps/**/*.ts'],
    rules: {
      'no-console': 'error',
    },
  },
);
