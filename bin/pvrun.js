#!/usr/bin/env node
// Entry point installed as `pvrun`. Runs the compiled CLI (built by `npm ci` via `prepare`);
// falls back to the TypeScript sources through tsx when dist/ is missing (a fresh checkout).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'dist', 'cli', 'main.js');
const entry = existsSync(built) ? built : join(root, 'src', 'cli', 'main.ts');
if (!existsSync(built)) {
  const { register } = await import('tsx/esm/api');
  register();
}
const { main, quietOnClosedPipe } = await import(pathToFileURL(entry).href);
quietOnClosedPipe();
process.exitCode = await main(process.argv.slice(2));
