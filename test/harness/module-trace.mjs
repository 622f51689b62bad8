// Records every module a Node process loads, for tests and the start-up benchmark that check what a
// command imports (issue 17: `pvrun --help` / `validate` must not load the step implementations,
// connectors, lab, ssh2 or node-powershell).
//
//   PVRUN_MODULE_TRACE=/tmp/list node --import ./test/harness/module-trace.mjs dist/cli/main.cjs --help
//
// One line per module: `esm <url>` for every module that goes through the ESM loader (a load hook,
// registered with module.register), `cjs <path>` for every CommonJS module in require's cache at
// exit (those loaded by require() from CommonJS code do not pass the ESM hooks on Node 20), and
// `builtin <name>` for every one of Node's own modules loaded by then (process.moduleLoadList).
import Module, { register } from 'node:module';
import { appendFileSync, writeFileSync } from 'node:fs';

const out = process.env.PVRUN_MODULE_TRACE;
if (out) {
  writeFileSync(out, '');
  const hooks = `
import { appendFileSync } from 'node:fs';
let out;
export function initialize(data) { out = data.out; }
export async function load(url, context, next) {
  appendFileSync(out, 'esm ' + url + '\\n');
  return next(url, context);
}`;
  register('data:text/javascript,' + encodeURIComponent(hooks), import.meta.url, { data: { out } });
  process.on('exit', () => {
    const cjs = Object.keys(Module._cache).map((f) => `cjs ${f}\n`).join('');
    // Node's own modules, as the process loaded them (`builtin child_process`): required ones do
    // not pass the hooks either
    const builtins = process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => `builtin ${m.slice(13)}\n`).join('');
    appendFileSync(out, cjs + builtins);
  });
}
