// Turns vitest's JSON report into the one closing line CI reads, printed last:
//   tests: N passed, N failed, N skipped
// Skipped counts skipped ("pending") and todo tests alike. Under CI a skipped test is a failure
// of the run (exit 1), with each one named: CI installs every prerequisite, so a skip there means
// a test that did not run, and a green run must mean every test ran.
import { existsSync, readFileSync } from 'node:fs';

const [file, rc = '1'] = process.argv.slice(2);
const ci = ['', '0', 'false'].indexOf((process.env.CI ?? '').toLowerCase()) === -1;

if (!file || !existsSync(file)) {
  // the type check (tsc --noEmit) failed, or vitest died, before a report was written
  console.log(`ci: no test report (${file ?? 'none'}): the type check or the test runner failed before reporting`);
  console.log(`tests: 0 passed, 1 failed, 0 skipped`);
  process.exit(1);
}

let r;
try {
  r = JSON.parse(readFileSync(file, 'utf8'));
} catch (e) {
  console.log(`ci: unreadable test report ${file}: ${e.message}`);
  console.log(`tests: 0 passed, 1 failed, 0 skipped`);
  process.exit(1);
}

const skippedNames = [];
const brokenFiles = [];
for (const f of r.testResults ?? []) {
  for (const a of f.assertionResults ?? []) {
    if (a.status === 'pending' || a.status === 'skipped' || a.status === 'todo') {
      skippedNames.push(`${f.name}: ${a.fullName ?? a.title} (${a.status})`);
    }
  }
  // a file that failed to load or whose hooks failed has no failing test of its own
  if (f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed')) {
    brokenFiles.push(`${f.name}: ${(f.message ?? '').split('\n')[0]}`);
  }
}

const passed = r.numPassedTests ?? 0;
const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
let failed = (r.numFailedTests ?? 0) + brokenFiles.length;
// vitest failed (exit code) but no test says why: count that as one failure
if (rc !== '0' && failed === 0) failed = 1;

for (const b of brokenFiles) console.log(`ci: test file failed outside a test: ${b}`);
let code = failed > 0 ? 1 : 0;
if (skipped > 0) {
  for (const s of skippedNames) console.log(`ci: skipped: ${s}`);
  if (ci) {
    console.log(`ci: ${skipped} test(s) skipped under CI: CI must run every test (see test/harness/require.ts)`);
    code = 1;
  }
}
if (passed === 0 && failed === 0) {
  console.log('ci: no test ran');
  code = 1;
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(code);
