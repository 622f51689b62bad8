// Records which of Node's own modules a process compiled with and without Node's code cache
// (issue 17: pvrun's V8 tuning must not make Node compile its modules from source,
// src/util/v8-budget.ts). Needs --expose-internals:
//
//   PVRUN_CODE_CACHE_TRACE=/tmp/cc.json node --expose-internals --import ./test/harness/code-cache-usage.mjs dist/cli/main.cjs validate …
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';

const out = process.env.PVRUN_CODE_CACHE_TRACE;
if (out) {
  const { internalBinding } = createRequire(import.meta.url)('internal/test/binding');
  process.on('exit', () => {
    const u = internalBinding('builtins').getCacheUsage();
    writeFileSync(out, JSON.stringify({ withCache: [...u.compiledWithCache], withoutCache: [...u.compiledWithoutCache] }));
  });
}
