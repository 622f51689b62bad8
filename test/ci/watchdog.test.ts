/**
 * The per-file watchdog (test/harness/watchdog.ts) against the hangs it exists for: a file whose
 * test blocks the event loop on a synchronous child, and a file that outlives its time limit.
 * A nested vitest runs three fixture files one at a time with short limits; each hung file must
 * be killed with its name, its running test, its process tree and the tail of what an in-process
 * pvrun printed, and the run must go on
 * to the next file and end with a failing exit code.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const config = fileURLToPath(new URL('../fixtures/watchdog/vitest.config.ts', import.meta.url));
const vitest = fileURLToPath(new URL('../../node_modules/vitest/vitest.mjs', import.meta.url));

it('kills a blocked file and a file past its limit, names them, and the run goes on', () => {
  const r = spawnSync(process.execPath, [vitest, 'run', '--config', config, '--reporter=default'], {
    encoding: 'utf8', timeout: 150_000,
    env: { ...process.env, CI: 'true', NO_COLOR: '1', FORCE_COLOR: '0', PVRUN_TEST_BLOCKED_S: '4', PVRUN_TEST_FILE_S: '10' },
  });
  const out = r.stdout + r.stderr;
  // a killed worker cannot remove its trail file (its afterAll never runs): this test does
  for (const m of out.matchAll(/in-process pvrun printed \((\S+)\)/g)) rmSync(m[1]!, { force: true });
  expect(r.error, out).toBeUndefined();
  expect(r.status, out).not.toBe(0);
  // the blocked one: its name, its test, the sleep that blocks it, killed
  expect(out).toMatch(/\[watchdog\] \S*a-blocks\.case\.ts: its event loop has been blocked for \d+ s; killing it\./);
  expect(out).toContain('[watchdog] running test: waits on a synchronous child forever');
  expect(out).toMatch(/\\_ sleep 600/);
  // the slow one: killed at the file limit, not blocked
  expect(out).toMatch(/\[watchdog\] \S*b-long\.case\.ts: it has run for \d+ s \(limit 10 s\); killing it\./);
  expect(out).toContain('[watchdog] running test: awaits longer than the file may run');
  // … with the tail of what its in-process pvrun printed; the blocked one ran none
  expect(out).toMatch(/\[watchdog\] the last lines an in-process pvrun printed \(\S+\):\n\n== pvrun --version .*\n\d+\.\d+\.\d+\n== exit 0/);
  expect(out).toContain('[watchdog] no in-process pvrun ran in this file');
  // the run went on: the last file passed, and no test of the killed files passed
  expect(out).toMatch(/✓ c-fine\.case\.ts/);
  expect(out).toMatch(/Tests\s+1 passed \(3\)/);
  // the sleep was killed with its worker, not left behind
  const left = spawnSync('pgrep', ['-f', '^sleep 600$'], { encoding: 'utf8' });
  expect(left.stdout.trim()).toBe('');
}, 180_000);
