/**
 * dist/cli/main.cjs, the installed CLI's entry (bin/pvrun.cjs requires it): loads the bundle
 * dist/cli/pvrun.cjs with V8's code cache (src/cli/compile-cache.ts) and exports what
 * src/cli/main.ts exports. Built by scripts/bundle.mjs as CommonJS (an ES module entry costs
 * Node's ESM loader at every start); a checkout runs src/cli/main.ts instead.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadBundle } from './compile-cache.js';

type Cli = typeof import('./main.js');

const self = fileURLToPath(import.meta.url);
const cli = loadBundle(fileURLToPath(new URL('./pvrun.cjs', import.meta.url)), process.argv.slice(2)).exports as Cli;

export const { main, quietOnClosedPipe, tuneV8ForCli } = cli;

// run directly (`node dist/cli/main.cjs …`: tests, the benchmarks), as src/cli/main.ts is
if (process.argv[1] && realpathSync(process.argv[1]) === self) {
  tuneV8ForCli();
  quietOnClosedPipe();
  void main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
