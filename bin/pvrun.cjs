#!/usr/bin/env node
// Entry point installed as `pvrun`. CommonJS: an ES module here would make Node 20 load its ESM
// loader on every start (issue 17, start-up; scripts/bundle.mjs).
// - Installed package (npm pack / npm install -g): runs the compiled CLI in dist/, built on
//   `prepack`; the package ships no sources and needs no dev dependency at run time.
// - A checkout (src/ present): runs the TypeScript sources through tsx (a dev dependency), so a
//   dist/ left over from an earlier `npm pack` is never run stale.
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');

const root = join(__dirname, '..');
const built = join(root, 'dist', 'cli', 'main.cjs');
const source = join(root, 'src', 'cli', 'main.ts');

/** Runs the CLI's exports; sets the exit code when main() resolves. */
function start(cli) {
  cli.tuneV8ForCli();
  cli.quietOnClosedPipe();
  void cli.main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}

function startBuilt() {
  if (!existsSync(built)) {
    process.stderr.write(`pvrun: ${built} is missing: run 'npm run build' (or 'npm ci' then 'npx pvrun' in a checkout)\n`);
    process.exit(70);
  }
  start(require(built));
}

if (existsSync(source)) {
  import('tsx/esm/api').then(
    ({ register }) => {
      register();
      return import(pathToFileURL(source).href).then(start);
    },
    // a checkout without dev dependencies: the compiled copy, if there is one
    () => startBuilt(),
  );
} else {
  startBuilt();
}
