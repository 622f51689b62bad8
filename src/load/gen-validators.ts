/**
 * Build step (`npm run build`, after tsc): writes build/tsc/load/validators/, the ajv standalone
 * code of the loader's schemas, one file per schema (src/load/validators.ts), next to this
 * compiled file; scripts/bundle.mjs then copies the directory next to the bundle's chunks in
 * dist/cli/.
 *
 *   node build/tsc/load/gen-validators.js
 *
 * Not run from the sources: the tsx path compiles schemas at first use instead.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtinCatalog } from '../steps/catalog.js';
import { loaderSchemas } from './playbook.js';
import { GENERATED_DIR, generateValidatorsCode } from './validators.js';

const out = fileURLToPath(new URL(`./${GENERATED_DIR}`, import.meta.url));
if (import.meta.url.endsWith('.ts')) {
  process.stderr.write('gen-validators: run the compiled copy (node build/tsc/load/gen-validators.js), not the sources\n');
  process.exit(2);
}
const files = await generateValidatorsCode(loaderSchemas(builtinCatalog()));
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
let bytes = 0;
for (const [name, code] of Object.entries(files)) {
  writeFileSync(join(out, name), code);
  bytes += code.length;
}
process.stdout.write(`gen-validators: ${out} (${Object.keys(files).length} files, ${bytes} bytes)\n`);
