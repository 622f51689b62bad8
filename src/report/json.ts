import { createWriteStream } from 'node:fs';
import { eventJson } from '../engine/events.js';
import { TurnBuffer } from '../util/turn-buffer.js';
import type { Redact, Reporter } from './types.js';

/**
 * `--json [file]`: one JSON object per event per line (schema: schema/events.schema.json).
 * The event is redacted as a value before it is serialised, then the JSON text gets the late,
 * string-only pass: a secret's JSON-escaped form cannot slip through, and a secret equal to
 * `true` or a number never touches the JSON syntax.
 *
 * The lines of one turn of the event loop (every host's events in it) go out in one write: a
 * write per event was a measurable share of the controller's CPU per exec (issue 17). A reader
 * of the stream sees each line at most one turn later; close() and the process's exit write
 * what is left.
 */
export function createJsonReporter(target: NodeJS.WritableStream | string, redact: Redact): Reporter {
  const out = typeof target === 'string' ? createWriteStream(target, { flags: 'w' }) : target;
  // stdout to a file or a pipe is written synchronously on Linux: an exit between two turns
  // still gets its lines out
  const buffer = new TurnBuffer((text) => out.write(text));
  return {
    event(e) {
      // the same redacted text the journal writes, made once per event (src/engine/events.ts)
      buffer.add(eventJson(e, redact) + '\n');
    },
    close: () => new Promise<void>((resolve) => {
      buffer.drain();
      if (typeof target === 'string') (out as ReturnType<typeof createWriteStream>).end(() => resolve());
      else resolve();
    }),
  };
}
