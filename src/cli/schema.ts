import { buildPlaybookSchema, schemaReference, writeSchemaFiles } from '../load/schema.js';
import { builtinCatalog } from '../steps/catalog.js';
import { EXIT } from '../engine/exit-codes.js';
import type { Io } from './io.js';

/** `pvrun schema [--write]`: the playbook schema assembled from the step catalog (no step implementation is loaded). */
export async function schemaCommand(flags: { write: boolean; docs?: boolean }, io: Io): Promise<number> {
  if (flags.docs) {
    io.out.write(schemaReference(builtinCatalog()));
    return EXIT.ok;
  }
  if (!flags.write) {
    io.out.write(JSON.stringify(buildPlaybookSchema(builtinCatalog(), 'editor'), null, 2) + '\n');
    return EXIT.ok;
  }
  for (const f of await writeSchemaFiles(io.cwd, builtinCatalog())) {
    io.out.write(`${f.changed ? 'wrote' : 'unchanged'} ${f.file}\n`);
  }
  return EXIT.ok;
}
