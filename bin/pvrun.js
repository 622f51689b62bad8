#!/usr/bin/env node
// Entry point installed as `pvrun`.
// - Installed package (npm pack / npm install -g): runs the compiled CLI in dist/, built on
//   `prepack`; the package ships no sources and needs no dev dependency at run time.
// - A checkout (src/ present): runs the TypeScript sources through tsx (a dev dependency), so a
//   dist/ left over from an earlier `npm pack` is never run stale.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'dist', 'cli', 'main.js');
const source = join(root, 'src', 'cli', 'main.ts');
let entry = built;
if (existsSync(source)) {
  try {
    const { register } = await import('tsx/esm/api');
    register();
    entry = source;
  } catch {
    // a checkout without dev dependencies: the compiled copy, if there is one
  }
}
if (!existsSync(entry)) {
  process.stderr.write(`pvrun: ${built} is missing: run 'npm run build' (or 'npm ci' then 'npx pvrun' in a checkout)\n`);
  process.exit(70);
}
const { main, quietOnClosedPipe, tuneV8ForCli } = await import(pathToFileURL(entry).href);
tuneV8ForCli();
quietOnClosedPipe();
process.exitCode = await main(process.argv.slice(2));
