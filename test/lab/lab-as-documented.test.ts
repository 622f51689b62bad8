/**
 * Issue 20: the lab as README and docs/lab.md tell it. In a directory holding the checked-in
 * inventories/lab.yml and playbooks/linux-tools.yml (a user's checkout): `pvrun lab up`, then
 * `pvrun playbooks/linux-tools.yml -i lab` works (the lab keeps the UUIDs and ports that file
 * names; its paths are relative to the file, so the run works from any directory); `lab up` with
 * the ports taken fails at once with exit 4 and the ports named, starting nothing; `pvrun demo`
 * keeps its journal where `pvrun runs` / `pvrun show last` find it.
 * Real parts: the lab (container guests, real sshd, XAPI simulator), the CLI in-process, and the
 * lab's background process as `lab up` starts it. Uses the lab's fixed ports 22100-22108.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeUnless } from '../harness/require.js';
import { runCli } from '../harness/cli.js';
import { labSkipReason } from './helpers.js';
import { recapOutcomes } from '../e2e/harness.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const skip = labSkipReason();

function checkout(): string {
  const d = mkdtempSync(join(tmpdir(), 'pvrun-labdoc-'));
  mkdirSync(join(d, 'inventories'));
  mkdirSync(join(d, 'playbooks'));
  copyFileSync(join(ROOT, 'inventories', 'lab.yml'), join(d, 'inventories', 'lab.yml'));
  copyFileSync(join(ROOT, 'playbooks', 'linux-tools.yml'), join(d, 'playbooks', 'linux-tools.yml'));
  return d;
}

const listen = (port: number): Promise<Server> => new Promise((res, rej) => {
  const s = createServer();
  s.once('error', rej);
  s.listen(port, '127.0.0.1', () => res(s));
});

describeUnless(skip)('the lab as documented', () => {
  let work: string;
  let other: string;
  beforeAll(() => {
    work = checkout();
    other = checkout();
  });
  afterAll(async () => {
    await runCli(['lab', 'down'], { cwd: work });
    for (const d of [work, other]) if (d) rmSync(d, { recursive: true, force: true });
  }, 120_000);

  it('`lab up` with one of its ports taken: exit 4, the port named, nothing started', async () => {
    const squatter = await listen(22103);
    try {
      const r = await runCli(['lab', 'up'], { cwd: work });
      expect(r.code, r.out + r.err).toBe(4);
      expect(r.err).toMatch(/ports already in use on 127\.0\.0\.1: 22103 \(another lab or another process/);
      expect(r.err).toMatch(/nothing was started/);
      expect(existsSync(join(work, '.lab', 'lab.json'))).toBe(false);
    } finally {
      await new Promise<void>((res) => squatter.close(() => res()));
    }
  }, 60_000);

  it('`lab up`, then `pvrun playbooks/linux-tools.yml -i lab` runs the rollout', async () => {
    const up = await runCli(['lab', 'up'], { cwd: work });
    expect(up.code, up.out + up.err).toBe(0);
    expect(up.out).toMatch(/every guest answered with its own host key/);
    expect(up.out).toMatch(/pvrun playbooks\/linux-tools\.yml -i lab\n/);
    const r = await runCli(['playbooks/linux-tools.yml', '-i', 'lab', '--state-dir', join(work, '.pvrun')], { cwd: work });
    const text = r.out + r.err;
    expect(text).not.toMatch(/no VM with uuid|HOST KEY CHANGED|preflight failed/);
    expect(recapOutcomes(r.out), text).toEqual({
      'web-01': 'changed', 'web-02': 'changed', 'db-01': 'changed', 'db-02': 'skipped',
      'app-01': 'changed', 'app-02': 'changed', 'app-03': 'changed', 'legacy-01': 'rolled-back',
    });
    expect(r.code).toBe(2); // legacy-01's installer fails by design (the lab's fault)
  }, 600_000);

  it('the generated inventory works from another directory too (its paths are absolute)', async () => {
    // process.cwd() is the repository, not `work`. (The run above, with -i lab, read
    // inventories/lab.yml's ../.lab/… paths relative to that file while process.cwd() was the repository.)
    expect(process.cwd()).not.toBe(work);
    const r = await runCli(['preflight', join(ROOT, 'playbooks', 'linux-tools.yml'), '-i', join(work, '.lab', 'inventory.yml')]);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/preflight ok: 1 pool\(s\), 8 VM\(s\)/);
  }, 120_000);

  it('a second `lab up` elsewhere while this one runs: exit 4, never a lab that says ready', async () => {
    const r = await runCli(['lab', 'up'], { cwd: other });
    expect(r.code, r.out + r.err).toBe(4);
    expect(r.err).toMatch(/ports already in use on 127\.0\.0\.1: 22100, 22101, 22102, 22103, 22104, 22105, 22106, 22107, 22108/);
    expect(r.out).not.toMatch(/lab up \(pid/);
    expect(existsSync(join(other, '.lab', 'lab.json'))).toBe(false);
  }, 60_000);

  it('`pvrun demo` (free ports, beside the running lab) keeps its journal: `pvrun runs` and `show last` find it', async () => {
    const d = await runCli(['demo'], { cwd: other });
    expect(d.out, d.out + d.err).toMatch(/`pvrun runs` lists them, `pvrun show last` shows the last one/);
    expect(d.code, d.out + d.err).toBe(2);
    // its two runs (linux-tools.yml on 8 VMs, windows-tools.yml on the Windows-like one when pwsh is there)
    const runs = await runCli(['runs'], { cwd: other });
    expect(runs.out).toMatch(/linux-tools\.yml/);
    const show = await runCli(['show', 'last'], { cwd: other });
    expect(show.code, show.out + show.err).toBe(0);
    expect(show.out).toMatch(/^run \d{8}T\d{6}Z-[0-9a-f]+: \S+(linux|windows)-tools\.yml\n/);
    expect(show.out).toMatch(/exit \d/);
  }, 600_000);
});
