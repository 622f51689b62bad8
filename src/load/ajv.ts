// The one place that knows ajv's CommonJS packaging quirks (default export interop under NodeNext).
// ajv is required at first use, not imported: a built pvrun validates with precompiled code
// (src/load/validators.ts) and never loads ajv's compiler (~90 files) at start-up (issue 17).
import { createRequire } from 'node:module';
import type { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import type { FormatsPlugin } from 'ajv-formats';

export type { ErrorObject, ValidateFunction };

let loaded: { Ajv2020: typeof Ajv2020; addFormats: FormatsPlugin } | undefined;
function load(): NonNullable<typeof loaded> {
  if (!loaded) {
    const require = createRequire(import.meta.url);
    const formatsModule = require('ajv-formats') as FormatsPlugin & { default?: FormatsPlugin };
    loaded = {
      Ajv2020: (require('ajv/dist/2020.js') as { Ajv2020: typeof Ajv2020 }).Ajv2020,
      addFormats: formatsModule.default ?? formatsModule,
    };
  }
  return loaded;
}

/**
 * allErrors: every problem at once. verbose: errors carry `data` and `parentSchema`, which the
 * translator needs for "did you mean" and to drop errors on `{{ }}` template strings.
 * strict 'log' would print; step schemas come from other modules, so unknown keywords are
 * tolerated rather than thrown at load time.
 * inlineRefs false: a `$ref` becomes a call to one function per referenced schema instead of a
 * copy of its code at every use. The inventory schema refers to its connection and vars schemas
 * from groups and hosts alike; inlined, its generated validator was 121 KB, now 85 KB, and every
 * `validate` and run compiles it at start-up (issue 17; ~3 % of `validate`'s CPU, BENCHMARKS.md).
 * Verdicts and errors are the same (test/load/precompiled-validators.test.ts, the loader tests).
 */
export function newAjv(o: { source?: boolean } = {}): Ajv2020 {
  // source: keep the generated code for ajv standalone output (build time only, src/load/validators.ts)
  const { Ajv2020, addFormats } = load();
  const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: false, allowUnionTypes: true, inlineRefs: false, ...(o.source ? { code: { source: true } } : {}) });
  addFormats(ajv);
  return ajv;
}
