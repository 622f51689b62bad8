// Preload (`node -r bench/lib/gc-count.cjs …`) for the start-up suite: prints `@gc N MS` on stderr
// when the process is about to exit normally — the garbage collections V8 reported
// (PerformanceObserver `gc` entries) and their total duration. It changes no V8 flag, so the
// process still takes Node's and pvrun's code caches (src/util/v8-budget.ts). The entries arrive
// asynchronously: they are collected after the last turn of the event loop (`beforeExit`), so a
// process that calls process.exit() reports nothing.
'use strict';
const { PerformanceObserver } = require('node:perf_hooks');
const entries = [];
const observer = new PerformanceObserver((list) => { for (const e of list.getEntries()) entries.push(e); });
observer.observe({ entryTypes: ['gc'] });
let reported = false;
process.on('beforeExit', () => {
  if (reported) return;
  reported = true;
  setTimeout(() => {
    const ms = entries.reduce((t, e) => t + e.duration, 0);
    process.stderr.write(`@gc ${entries.length} ${ms.toFixed(2)}\n`);
    observer.disconnect();
  }, 5);
});
