import { buildPlaybookSchema, schemaReference, writeSchemaFiles } from '../load/schema.js';
import { builtinRegistry } from '../steps/registry.js';
import { EXIT } from '../engine/exit-codes.js';
import type { Io } from './io.js';

/** `pvrun schema [--write]`: the playbook schema assembled from the step registry. */
export async function schemaCommand(flags: { write: boolean; docs?: boolean }, io: Io): Promise<number> {
  if (flags.docs) {
    io.out.write(schemaReference(builtinRegistry()));
    return EXIT.ok;
  }
  if (!flags.write) {
    io.out.write(JSON.stringify(buildPlaybookSchema(builtinRegistry(), 'editor'), null, 2) + '\n');
    return EXIT.ok;
  }
  for (const f of await writeSchemaFiles(io.cwd, builtinRegistry())) {
    io.out.write(`${f.changed ? 'wrote' : 'unchanged'} ${f.file}\n`);
  }
  return EXIT.ok;
}
