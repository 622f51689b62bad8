import { createWriteStream } from 'node:fs';
import type { Redact, Reporter } from './types.js';

/** `--json [file]`: one JSON object per event per line (schema: schema/events.schema.json). */
export function createJsonReporter(target: NodeJS.WritableStream | string, redact: Redact): Reporter {
  const out = typeof target === 'string' ? createWriteStream(target, { flags: 'w' }) : target;
  return {
    event(e) {
      out.write(redact(JSON.stringify(e)) + '\n');
    },
    close: () => new Promise<void>((resolve) => {
      if (typeof target === 'string') (out as ReturnType<typeof createWriteStream>).end(() => resolve());
      else resolve();
    }),
  };
}
