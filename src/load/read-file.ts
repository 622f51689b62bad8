import { readFileSync } from 'node:fs';
import type { Diagnostic } from './diagnostics.js';
import { diagnostic } from './diagnostics.js';

/** Read a user file; a missing or unreadable file is a diagnostic at its line 1. */
export function readUserFile(file: string, what: string): { ok: true; text: string } | { ok: false; diagnostic: Diagnostic } {
  try {
    return { ok: true, text: readFileSync(file, 'utf8') };
  } catch (e) {
    const code = (e as { code?: string }).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : String((e as Error).message);
    return { ok: false, diagnostic: diagnostic({ file, line: 1, col: 1 }, `cannot read ${what}: ${why}`) };
  }
}
