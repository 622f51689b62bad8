import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lockRun } from '../../src/journal/lock.js';

const dir = mkdtempSync(join(tmpdir(), 'pvrun-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('run lock', () => {
  it('a run held by a live process is refused, naming the pid; release() frees it', () => {
    const a = lockRun(dir, 'r1');
    expect(a.ok).toBe(true);
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
    writeFileSync(join(dir, 'runs', 'r2.lock'), String(child.pid));
    const b = lockRun(dir, 'r2');
    expect(b).toEqual({ ok: false, pid: child.pid });
    child.kill('SIGKILL');
    if (a.ok) a.release();
    expect(existsSync(join(dir, 'runs', 'r1.lock'))).toBe(false);
  });

  it('a lock left by a killed process is stale and taken over', () => {
    writeFileSync(join(dir, 'runs', 'r3.lock'), '999999999');
    const c = lockRun(dir, 'r3');
    expect(c.ok).toBe(true);
    if (c.ok) c.release();
  });
});
