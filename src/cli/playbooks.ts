// The installed package's own files: its version (package.json, read at run time) and the
// playbooks it ships (`pvrun playbooks list`). Works from the sources (src/cli/) and from the
// bundle (dist/cli/, every chunk of it: scripts/bundle.mjs): both are two levels below the
// package root.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { EXIT } from '../engine/exit-codes.js';
import type { Io } from './io.js';

// yaml loads when playbooks are listed, not with --help/--version (program.ts imports this file; issue 17)
const parseDocument = (...a: Parameters<typeof import('yaml').parseDocument>) => (createRequire(import.meta.url)('yaml') as typeof import('yaml')).parseDocument(...a);

/** The root of the pvrun package (where package.json, playbooks/ and schema/ are). */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The directory of the playbooks shipped with pvrun. */
export const SHIPPED_PLAYBOOKS = join(PACKAGE_ROOT, 'playbooks');

let version: string | undefined;
/** The `version` of pvrun's package.json, read once at run time (never a copy in the code). */
export function packageVersion(): string {
  if (version === undefined) {
    const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version?: unknown };
    version = typeof pkg.version === 'string' ? pkg.version : 'unknown';
  }
  return version;
}

export interface ShippedPlaybook { file: string; path: string; title: string }

/** The shipped playbooks, by file name, each with the name of its first play. */
export function shippedPlaybooks(): ShippedPlaybook[] {
  let names: string[];
  try {
    names = readdirSync(SHIPPED_PLAYBOOKS).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch {
    return [];
  }
  return names.map((file) => {
    const path = join(SHIPPED_PLAYBOOKS, file);
    let title = '';
    try {
      const doc = parseDocument(readFileSync(path, 'utf8')).toJS() as unknown;
      const first = Array.isArray(doc) ? (doc[0] as { name?: unknown } | undefined) : undefined;
      if (first && typeof first.name === 'string') title = first.name;
    } catch {
      // a shipped playbook that does not parse is listed without a title; `pvrun validate` says why
    }
    return { file, path, title };
  });
}

/** `pvrun playbooks list`: where the shipped playbooks are, one per line with its first play's name. */
export function playbooksCommand(sub: 'list', io: Io): number {
  void sub;
  const list = shippedPlaybooks();
  if (list.length === 0) {
    io.err.write(`pvrun: no playbooks found in ${SHIPPED_PLAYBOOKS} (an incomplete installation?)\n`);
    return EXIT.invalid;
  }
  io.out.write(`Playbooks shipped with pvrun ${packageVersion()}, in ${SHIPPED_PLAYBOOKS}:\n`);
  const width = Math.max(...list.map((p) => p.path.length));
  for (const p of list) io.out.write(`  ${p.path.padEnd(width)}  ${p.title}\n`);
  io.out.write(`Run one with: pvrun ${list[0]!.path} -i <inventory> --check\n`);
  return EXIT.ok;
}
