/**
 * Build step (`npm run build`, after tsc): writes build/tsc/load/validators.gen.cjs, the ajv
 * standalone code of the loader's schemas (src/load/validators.ts), next to this compiled file;
 * scripts/bundle.mjs then copies it next to the bundle's chunks in dist/cli/.
 *
 *   node build/tsc/load/gen-validators.js
 *
 * Not run from the sources: the tsx path compiles schemas at first use instead.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { builtinCatalog } from '../steps/catalog.js';
import { loaderSchemas } from './playbook.js';
import { GENERATED_FILE, generateValidatorsCode } from './validators.js';

const out = fileURLToPath(new URL(`./${GENERATED_FILE}`, import.meta.url));
if (import.meta.url.endsWith('.ts')) {
  process.stderr.write('gen-validators: run the compiled copy (node build/tsc/load/gen-validators.js), not the sources\n');
  process.exit(2);
}
const code = await generateValidatorsCode(loaderSchemas(builtinCatalog()));
writeFileSync(out, code);
process.stdout.write(`gen-validators: ${out} (${code.length} bytes)\n`);
