// The one place that knows ajv's CommonJS packaging quirks (default export interop under NodeNext).
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import formatsModule from 'ajv-formats';
import type { FormatsPlugin } from 'ajv-formats';

export type { ErrorObject, ValidateFunction };

const addFormats: FormatsPlugin =
  ((formatsModule as unknown as { default?: FormatsPlugin }).default ?? formatsModule) as FormatsPlugin;

/**
 * allErrors: every problem at once. verbose: errors carry `data` and `parentSchema`, which the
 * translator needs for "did you mean" and to drop errors on `{{ }}` template strings.
 * strict 'log' would print; step schemas come from other modules, so unknown keywords are
 * tolerated rather than thrown at load time.
 */
export function newAjv(): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: false, allowUnionTypes: true });
  addFormats(ajv);
  return ajv;
}
