// --shard / --shard-by / --rollout and the rollout views: bad input is exit 5 with a clear message, nothing contacted.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli } from '../harness/cli.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const PB = join(ROOT, 'test', 'fixtures', 'valid', 'minimal.yml');
const INV = join(ROOT, 'test', 'fixtures', 'valid', 'minimal-inventory.yml');
const env = { ...process.env, CI: '1', PVRUN_TEST_XAPI_PASSWORD: 'pw-for-tests', PVRUN_SHARD: '' };
const state = mkdtempSync(join(tmpdir(), 'pvrun-shard-flags-'));

describe('shard flags: bad values are input errors (exit 5)', () => {
  // secrets resolve from the process environment: the flags must be refused before that matters
  beforeAll(() => { vi.stubEnv('PVRUN_TEST_XAPI_PASSWORD', ''); });
  const cases: [string, string[], Record<string, string>, RegExp][] = [
    ['i past n', ['--shard', '5/4'], {}, /--shard '5\/4': the shard number i counts from 1 to 4/],
    ['i = 0', ['--shard', '0/2'], {}, /--shard '0\/2': the shard number i counts from 1 to 2/],
    ['not i/n', ['--shard', 'two'], {}, /--shard 'two': want i\/n/],
    ['PVRUN_SHARD', [], { PVRUN_SHARD: '3' }, /PVRUN_SHARD '3': want i\/n/],
    ['--shard-by', ['--shard', '1/2', '--shard-by', 'site'], {}, /--shard-by 'site': want host or pool/],
    ['--shard-by alone', ['--shard-by', 'pool'], {}, /--shard-by needs --shard i\/n/],
    ['--rollout id', ['--shard', '1/2', '--rollout', 'a b;c'], {}, /--rollout 'a b;c': letters, digits/],
  ];
  for (const [name, args, extra, msg] of cases) {
    it(name, async () => {
      const r = await runCli([PB, '-i', INV, '--state-dir', state, ...args], { env: { ...env, ...extra }, cwd: ROOT });
      expect(r.code, r.err).toBe(5);
      expect(r.err).toMatch(msg);
      expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
    });
  }

  it('show and rollback want a run or --rollout; runs --rollout with no such run says where it looked', async () => {
    const show = await runCli(['show', '--state-dir', state], { env, cwd: ROOT });
    expect(show.code).toBe(5);
    expect(show.err).toMatch(/show: give a run .* or --rollout ID/);
    const rb = await runCli(['rollback', '--state-dir', state], { env, cwd: ROOT });
    expect(rb.code).toBe(5);
    expect(rb.err).toMatch(/rollback: give a run .* or --rollout ID/);
    const runs = await runCli(['runs', '--rollout', 'nope', '--state-dir', state], { env, cwd: ROOT });
    expect(runs.code).toBe(5);
    expect(runs.err).toContain(`no run of rollout 'nope' in ${state}`);
  });

  it('validate accepts the flags (the plan is the whole selection; the slice is taken at run time)', async () => {
    const r = await runCli(['validate', PB, '-i', INV, '--shard', '1/2', '--rollout', 'r1'], { env, cwd: ROOT });
    expect(r.code, r.err).toBe(0);
  });
});
