import { createWriteStream } from 'node:fs';
import { eventJson } from '../engine/events.js';
import type { Redact, Reporter } from './types.js';

/**
 * `--json [file]`: one JSON object per event per line (schema: schema/events.schema.json).
 * The event is redacted as a value before it is serialised, then the JSON text gets the late,
 * string-only pass: a secret's JSON-escaped form cannot slip through, and a secret equal to
 * `true` or a number never touches the JSON syntax.
 */
export function createJsonReporter(target: NodeJS.WritableStream | string, redact: Redact): Reporter {
  const out = typeof target === 'string' ? createWriteStream(target, { flags: 'w' }) : target;
  return {
    event(e) {
      // the same redacted text the journal writes, made once per event (src/engine/events.ts)
      out.write(eventJson(e, redact) + '\n');
    },
    close: () => new Promise<void>((resolve) => {
      if (typeof target === 'string') (out as ReturnType<typeof createWriteStream>).end(() => resolve());
      else resolve();
    }),
  };
}
