/**
 * A watchdog for every test file (vitest setupFiles): a test file that hangs must end as a
 * failure with its name and its process tree printed, never hold CI until its 90-minute limit.
 *
 * Why it exists: stop 27's CI ran past 5,400 s with the last file result printed at about a third
 * of the suite's usual time, and nothing said which file hung. vitest's testTimeout and
 * hookTimeout cannot fire when a test blocks its worker's event loop (a synchronous child process
 * that never ends, an uninterruptible wait), and a file may set its own long timeouts.
 *
 * How: the test worker stamps a shared clock every second; a worker thread (its own event loop,
 * so a blocked test cannot stop it) checks the stamp. When the test thread has not stamped for
 * BLOCKED_MS, or the file has run for FILE_MS, it writes what it knows to stdout (the test's name,
 * the process tree under this worker, with each process's wait channel, and the tail of what an
 * in-process `pvrun` printed, test/harness/cli.ts) and kills this worker
 * process and its children. vitest then reports the file as failed and goes on with the next.
 *
 * Limits (env, for a run by hand): PVRUN_TEST_BLOCKED_S (default 300), PVRUN_TEST_FILE_S (default
 * 1,500: the slowest file takes ~350 s on the CI machine, so this is 4× that).
 */
import { Worker } from 'node:worker_threads';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import { CLI_TRAIL } from './watchdog-trail.js';

const seconds = (name: string, dflt: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : dflt;
};
const BLOCKED_MS = seconds('PVRUN_TEST_BLOCKED_S', 300) * 1000;
const FILE_MS = seconds('PVRUN_TEST_FILE_S', 1500) * 1000;

// [0] last stamp of the test thread (ms since start), [1] 1 once the file is done
const shared = new Int32Array(new SharedArrayBuffer(8));
// [0] the name of the running test, NUL-padded (the watchdog reads it when it fires)
const nameBuf = new Uint8Array(new SharedArrayBuffer(1024));
const t0 = Date.now();
const stamp = (): void => { Atomics.store(shared, 0, Date.now() - t0); };
stamp();

const WATCHDOG = `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const { execFileSync } = require('node:child_process');
const { shared, nameBuf, t0, blockedMs, fileMs, file, pid, trailPath } = workerData;
// stdout: CI shows the tail of what the run printed there
const say = (s) => { try { writeSync(1, s); } catch {} };
const tree = (pids) => {
  // only this worker and its descendants, arguments cut short (a pwsh -EncodedCommand is kilobytes)
  try {
    return execFileSync('ps', ['-o', 'pid,ppid,etimes,stat,wchan:24,args', '--forest', '-p', [pid, ...pids].join(',')], { encoding: 'utf8', timeout: 10000 })
      .split('\\n').filter((l) => l.length > 0).map((l) => l.length > 240 ? l.slice(0, 237) + '...' : l).join('\\n');
  } catch (e) { return 'ps failed: ' + e.message; }
};
const descendants = () => {
  // this worker's descendants, deepest last, read from /proc (ps may be gone or slow)
  const fs = require('node:fs');
  const kids = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\\d+$/.test(d)) continue;
    try {
      const st = fs.readFileSync('/proc/' + d + '/stat', 'utf8');
      const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid).push(Number(d));
    } catch {}
  }
  const out = [];
  const walk = (p) => { for (const k of kids.get(p) ?? []) { out.push(k); walk(k); } };
  walk(pid);
  return out;
};
const timer = setInterval(() => {
  if (Atomics.load(shared, 1) === 1) { clearInterval(timer); return; }
  const now = Date.now() - t0;
  const quiet = now - Atomics.load(shared, 0);
  const why = quiet > blockedMs ? 'its event loop has been blocked for ' + Math.round(quiet / 1000) + ' s'
    : now > fileMs ? 'it has run for ' + Math.round(now / 1000) + ' s (limit ' + fileMs / 1000 + ' s)' : null;
  if (!why) return;
  clearInterval(timer);
  const name = Buffer.from(nameBuf).toString('utf8').replace(/\\0+$/, '');
  say('\\n[watchdog] ' + file + ': ' + why + '; killing it.\\n[watchdog] running test: ' + (name || '(none: a hook or the file itself)') + '\\n');
  const pids = descendants();
  say('[watchdog] processes (pid ' + pid + ' is this test worker):\\n' + tree(pids) + '\\n');
  try {
    const lines = require('node:fs').readFileSync(trailPath, 'utf8').split('\\n').slice(-60);
    say('[watchdog] the last lines an in-process pvrun printed (' + trailPath + '):\\n' + lines.join('\\n') + '\\n');
  } catch { say('[watchdog] no in-process pvrun ran in this file\\n'); }
  for (const k of pids.reverse()) { try { process.kill(k, 'SIGKILL'); } catch {} }
  process.kill(pid, 'SIGKILL');
}, 2000);
`;

let dog: Worker | undefined;
let beat: NodeJS.Timeout | undefined;

beforeAll(() => {
  const file = expect.getState().testPath ?? '(unknown file)';
  dog = new Worker(WATCHDOG, {
    eval: true,
    workerData: { shared, nameBuf, t0, blockedMs: BLOCKED_MS, fileMs: FILE_MS, file, pid: process.pid, trailPath: CLI_TRAIL },
  });
  dog.unref();
  beat = setInterval(stamp, 1000);
  beat.unref();
});

beforeEach(() => {
  stamp();
  const name = Buffer.from(expect.getState().currentTestName ?? '').subarray(0, nameBuf.length - 1);
  nameBuf.fill(0);
  nameBuf.set(name);
});

afterAll(async () => {
  Atomics.store(shared, 1, 1);
  if (beat) clearInterval(beat);
  await dog?.terminate();
  rmSync(CLI_TRAIL, { force: true });
});
