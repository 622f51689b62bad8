/**
 * Issue 12 item 5: `-f N` goes through the loader (src/load/project.ts), not around it: the loader
 * checks it (a located input error, exit 5), `pvrun validate` shows it in the plan, and the
 * journal's plan record of a real run carries the effective forks. Before, run.ts overrode the
 * engine plays after loading: validate ignored -f and the journal's plan did not say it.
 * Real parts: the CLI in-process; the lab run uses the XAPI simulator over HTTP and a container
 * guest over real SSH (test/e2e/harness.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeUnless } from '../harness/require.js';
import { labSkipReason, pvrun, startLab, type StartedLab } from '../e2e/harness.js';
import { listRunIds, readJournal } from '../../src/journal/read.js';

const PLAY = "'Install Xen guest tools on Linux VMs from the tools ISO'";

describe('-f through the loader: validate', () => {
  it('validate -f 2 shows the effective forks in the plan; without -f the plan line is unchanged', async () => {
    const r = await pvrun(['validate', 'playbooks/linux-tools.yml', '-i', 'example-prod', '-f', '2']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain(`play 1 ${PLAY}: 3 hosts, 3 batches [1, 1, 1], 12 steps, 2 cleanup, forks 2 (-f)`);
    const plain = await pvrun(['validate', 'playbooks/linux-tools.yml', '-i', 'example-prod']);
    expect(plain.code).toBe(0);
    expect(plain.out).toContain(`play 1 ${PLAY}: 3 hosts, 3 batches [1, 1, 1], 12 steps, 2 cleanup\n`);
    expect(plain.out).not.toContain('(-f)');
  });

  it.each([['0'], ['x'], ['1.5'], ['-3']])('validate -f %s: exit 5, located at the flag, no stack trace', async (bad) => {
    const r = await pvrun(['validate', 'playbooks/linux-tools.yml', '-i', 'example-prod', `--forks=${bad}`]);
    expect(r.code).toBe(5);
    expect(r.err).toContain(`<--forks>:1:1: '--forks' wants a whole number ≥ 1, not '${bad}'`);
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(r.out).toBe('');
  });

  it('a bad -f on a run is the same located error, before anything is contacted', async () => {
    const state = mkdtempSync(join(tmpdir(), 'pvrun-forks-bad-'));
    try {
      const r = await pvrun(['playbooks/linux-tools.yml', '-i', 'example-prod', '-f', '0', '--state-dir', state]);
      expect(r.code).toBe(5);
      expect(r.err).toContain("<--forks>:1:1: '--forks' wants a whole number ≥ 1, not '0'");
      expect(listRunIds(state)).toEqual([]);
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  });
});

const skip = labSkipReason();
if (skip) console.warn(`[skipped] forks override lab run: ${skip}`);

describeUnless(skip)('-f through the loader: the journal of a lab run', () => {
  let l: StartedLab;
  beforeAll(async () => {
    l = await startLab([{ name: 'fo-01', distro: 'debian', version: '12' }], 'forks');
  }, 240_000);
  afterAll(async () => {
    await l?.lab.stop();
    if (l) rmSync(l.dir, { recursive: true, force: true });
  });

  it('the plan record says forks 1 with -f 1, and the playbook\'s forks without it', async () => {
    const pb = join(l.dir, 'forks.yml');
    writeFileSync(pb, "- name: forks play\n  hosts: all\n  forks: 3\n  steps:\n    - name: say yes\n      run-script: 'true'\n");
    const planOf = async (extra: string[]): Promise<unknown> => {
      const state = join(l.dir, `state-${extra.length}`);
      const r = await pvrun([pb, '-i', l.inventory, '--state-dir', state, '-y', ...extra]);
      expect(r.code, r.out + r.err).toBe(0);
      const ids = listRunIds(state);
      expect(ids).toHaveLength(1);
      const j = readJournal(state, ids[0]!);
      if (!j.ok) throw new Error(j.error);
      const plan = j.value.records.find((x) => x.kind === 'plan') as { plan: { summary: { plays: unknown[] } } } | undefined;
      return plan?.plan.summary.plays[0];
    };
    expect(await planOf(['-f', '1'])).toMatchObject({ name: 'forks play', hosts: 1, forks: 1, forksFromFlag: true });
    const without = await planOf([]);
    expect(without).toMatchObject({ name: 'forks play', forks: 3 });
    expect(without).not.toHaveProperty('forksFromFlag');
  }, 240_000);
});
