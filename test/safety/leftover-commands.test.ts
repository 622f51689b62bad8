/**
 * Issue 11 (the crash test once ended "resume exit 2" after a kill: the dpkg database was locked).
 * A killed pvrun does not kill the commands it started on a guest: sshd lets a command without a
 * terminal run on. A `pvrun resume` that re-ran the step at once met the first installer's lock
 * (like dpkg's "frontend lock was locked by another process") and failed a host that was fine.
 * Now every command carries PVRUN_RUN=<run>/<process>, and resume waits for the killed
 * process's leftovers on each host it was working on before re-running anything
 * (src/runtime/orphans.ts).
 *
 * The installer here is a stand-in with dpkg's locking contract: `flock -n` fails at once when
 * the lock is held (dpkg does not wait for its lock either: dpkg(1), "frontend lock").
 * Real lab guests (real sshd), pvrun in its own process, SIGKILL while the installer runs.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../../src/lab/lab.js';
import { leftoverProbe, parseLeftovers } from '../../src/runtime/orphans.js';
import { describeUnless } from '../harness/require.js';
import { cli, guestExec, labSkipReason, startLab } from '../ci/lab-rig.js';

const ROOT = resolve(import.meta.dirname, '..', '..');

const PLAYBOOK = `
- name: an installer that holds a lock, as dpkg does
  hosts: all
  steps:
    - name: snapshot
      snapshot: { keep: false }
    - name: install (slow, takes the lock or fails)
      run-script:
        script: "flock -n /var/tmp/pvrun-test.lock -c 'echo start >> /var/tmp/pvrun-test.runs; sleep 8; echo done > /var/tmp/pvrun-test.installed'"
        creates: /var/tmp/pvrun-test.installed
        timeout: 120
`;

function journalText(state: string): string {
  try {
    const runs = join(state, 'runs');
    const f = readdirSync(runs).find((n) => n.endsWith('.jsonl'));
    return f ? readFileSync(join(runs, f), 'utf8') : '';
  } catch { return ''; }
}

describe('leftover commands: the probe (a real shell, no lab)', () => {
  it('finds processes of the same run started by another pvrun process, not its own, not other runs', async () => {
    const probe = leftoverProbe('20261205T001000Z-ab12', 'self');
    const sleeper = (tag: string) => spawn('sleep', ['20'], { env: { ...process.env, PVRUN_RUN: tag }, stdio: 'ignore' });
    const old = sleeper('20261205T001000Z-ab12/dead');
    const mine = sleeper('20261205T001000Z-ab12/self');
    const other = sleeper('20261205T001000Z-ffff/dead');
    // a quoting attack in the tag of another run must not match or break the probe
    const odd = sleeper("20261205T001000Z-ab12'; echo pwned; '/x");
    // a daemon the killed run's installer started (its own session, tag in its environ): not waited for
    const daemon = spawn('setsid', ['sleep', '20'], { env: { ...process.env, PVRUN_RUN: '20261205T001000Z-ab12/dead' }, stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 200));
      const out = await new Promise<string>((res) => {
        const p = spawn('/bin/sh', ['-c', probe], { env: { ...process.env, PVRUN_RUN: '20261205T001000Z-ab12/self' } });
        let s = '';
        p.stdout.on('data', (d: Buffer) => { s += d.toString(); });
        p.on('close', () => res(s));
      });
      const pids = parseLeftovers(out).map((l) => l.pid);
      expect(pids).toEqual([old.pid]);
      expect(out).not.toContain('pwned');
      expect(parseLeftovers(out)[0]!.command).toBe('sleep 20');
    } finally {
      for (const c of [old, mine, other, odd, daemon]) c.kill();
    }
  });
});

const skip = labSkipReason();
describeUnless(skip)('leftover commands after a SIGKILL (lab)', () => {
  let lab: Lab;
  let work: string;
  beforeAll(async () => {
    lab = await startLab({ guests: [{ name: 'lo-01', distro: 'debian', version: '12' }] });
    work = mkdtempSync(join(tmpdir(), 'pvrun-leftover-'));
  }, 300_000);
  afterAll(async () => { await lab?.stop(); });

  it('resume waits for the killed run\'s installer instead of failing on its lock; the installer ran once', async () => {
    const pb = join(work, 'pb.yml');
    writeFileSync(pb, PLAYBOOK);
    const state = join(work, 'state');
    const fd = openSync(join(work, 'run.log'), 'a');
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), pb, '-i', lab.inventoryPath, '--state-dir', state], {
      cwd: ROOT, stdio: ['ignore', fd, fd], env: { ...process.env, CI: '1' },
    });
    const exited = new Promise<string | null>((res) => child.on('exit', (_c, sig) => res(sig)));
    // kill as soon as the installer runs on the guest (its first line is written)
    let killed = false;
    for (let i = 0; i < 600 && !killed; i++) {
      const r = await guestExec(lab, 'lo-01', 'cat /var/tmp/pvrun-test.runs 2>/dev/null || true', 10_000);
      if (r.stdout.includes('start')) { child.kill('SIGKILL'); killed = true; } else await new Promise((res) => setTimeout(res, 100));
    }
    expect(killed, readFileSync(join(work, 'run.log'), 'utf8')).toBe(true);
    expect(await exited).toBe('SIGKILL');
    expect(journalText(state)).toContain('install (slow');
    // the installer goes on without pvrun
    const still = await guestExec(lab, 'lo-01', 'test -e /var/tmp/pvrun-test.installed && echo installed || echo running');
    expect(still.stdout.trim()).toBe('running');

    // the wait is on by default (PVRUN_WAIT_LEFTOVERS=0 would turn it off)
    const rs = await cli(['resume', 'last', '--state-dir', state, '-i', lab.inventoryPath], { ...process.env, CI: '1' }, ROOT);
    const text = rs.out + rs.err;
    expect(rs.code, text).toBe(0);
    expect(text).toMatch(/lo-01: waiting for \d+ command\(s\) the killed pvrun process left running to finish: pid \d+ \(.*flock/);
    expect(text).toContain("the killed process's commands ended after");
    // it ran once: the resumed step found it installed (`creates`) and did not start a second one
    const runs = await guestExec(lab, 'lo-01', 'cat /var/tmp/pvrun-test.runs; cat /var/tmp/pvrun-test.installed');
    expect(runs.stdout.trim().split('\n')).toEqual(['start', 'done']);
  }, 300_000);
});
