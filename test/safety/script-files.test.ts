/**
 * Issue 19 item 5: run-script files are controller files. They resolve inside the playbook's
 * directory (or a play's `script_roots`); anything escaping it through `..`, a symlink or an
 * absolute path is refused at validate time (located, exit 5). A script file's contents are
 * never shown: output and journal name its path and sha256.
 *
 * Real parts: the real CLI on real files; the lab's container guests over real SSH for the runs.
 */
import { describeUnless } from '../harness/require.js';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labSkipReason, pvrun, recapOutcomes, startLab, type StartedLab } from '../e2e/harness.js';
import { sshExec } from '../lab/helpers.js';
import { runScriptStep } from '../../src/steps/linux/run-script.js';
import { err } from '../../src/util/result.js';
import type { StepContext } from '../../src/steps/types.js';

const INV = join(import.meta.dirname, '..', 'fixtures', 'valid', 'minimal-inventory.yml');
/** looks like a shadow line: run by sh, every line would come back in an error message */
const SECRET = 'root:$6$SECRETHASHxyz$abc:19000:0:99999:7:::\n';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'pvrun-sf-'));
  mkdirSync(join(root, 'pb', 'scripts'), { recursive: true });
  mkdirSync(join(root, 'shared'));
  writeFileSync(join(root, 'outside.txt'), SECRET);
  writeFileSync(join(root, 'shared', 'common.sh'), 'echo shared\n');
  writeFileSync(join(root, 'pb', 'scripts', 'ok.sh'), 'echo ok\n');
  symlinkSync(join(root, 'outside.txt'), join(root, 'pb', 'scripts', 'link.sh'));
  symlinkSync(join(root, 'shared'), join(root, 'pb', 'shared-link'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function playbook(name: string, steps: string, extra = ''): string {
  const p = join(root, 'pb', `${name}.yml`);
  writeFileSync(p, `- hosts: all\n${extra}  steps:\n${steps}`);
  return p;
}

describe('validate refuses script files outside the playbook directory (located, exit 5)', () => {
  it.each([
    ['dotdot', '    - run-script: { file: ../../../../../../../../etc/shadow }\n', 3, 27, /script file '\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/etc\/shadow' is outside the playbook directory .*\/pb \(\/etc\/shadow\): run-script files must live next to the playbook, or under a directory listed in the play's script_roots/],
    ['dotdot-near', '    - run-script: { file: ../outside.txt }\n', 3, 27, /script file '\.\.\/outside\.txt' is outside the playbook directory/],
    ['symlink', '    - run-script: { file: scripts/link.sh }\n', 3, 27, /script file 'scripts\/link\.sh' is outside the playbook directory .* through a symlink to .*\/outside\.txt/],
    ['symlinked-dir', '    - run-script: { file: shared-link/common.sh }\n', 3, 27, /script file 'shared-link\/common\.sh' is outside the playbook directory .* through a symlink to .*\/shared\/common\.sh/],
    ['absolute', '    - run-script: { file: /etc/passwd }\n', 3, 27, /script file '\/etc\/passwd' is outside the playbook directory/],
    ['template', '    - run-script: { file: "{{ vars.f }}" }\n', 4, 27, /a script file must be a literal path .* not a template/, '  vars: { f: ok.sh }\n'],
    ['missing', '    - run-script:\n        file: scripts/nope.sh\n', 4, 15, /script file 'scripts\/nope\.sh': no such file/],
    ['cleanup', '    - run-script: { file: scripts/ok.sh }\n  cleanup:\n    - run-script: { file: ../outside.txt }\n', 5, 27, /is outside the playbook directory/],
    ['bad root', '    - run-script: { file: scripts/ok.sh }\n', 2, 18, /script root '\.\.\/nowhere' does not exist/, '  script_roots: [../nowhere]\n'],
  ])('%s', async (name, steps, line, col, message, extra = '') => {
    const pb = playbook(name, steps, extra);
    const r = await pvrun(['validate', pb, '-i', INV]);
    expect(r.code).toBe(5);
    const first = r.err.split('\n')[0]!;
    expect(first.startsWith(`${pb}:${line}:${col}: `), r.err).toBe(true);
    expect(first).toMatch(message);
    expect(r.err + r.out).not.toContain('SECRETHASH');
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it('inside the playbook directory, or under a listed script root (also through a symlink into it), is valid', async () => {
    const pb = playbook('fine', '    - run-script: { file: scripts/ok.sh }\n    - run-script: { file: ../shared/common.sh }\n    - run-script: { file: shared-link/common.sh }\n',
      '  script_roots: [../shared]\n');
    const r = await pvrun(['validate', pb, '-i', INV]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
  });
});

describe('the step reads only what the loader resolved', () => {
  const ctx = {
    check: false, log: () => undefined, signal: new AbortController().signal,
    guest: async () => err({ kind: 'config', message: 'no guest in this test' }),
  } as unknown as StepContext;

  it('a relative path (not through the loader) is refused, not read from the working directory', async () => {
    const r = await runScriptStep.apply(ctx, { file: 'test/fixtures/valid/minimal.yml' }, { kind: 'change', summary: '' });
    expect(r).toMatchObject({ kind: 'failed', reason: expect.stringMatching(/not resolved by the playbook loader/) });
  });

  it('a path that is a symlink now (changed since loading) is refused', async () => {
    const r = await runScriptStep.apply(ctx, { file: join(root, 'pb', 'scripts', 'link.sh') }, { kind: 'change', summary: '' });
    expect(r).toMatchObject({ kind: 'failed', reason: expect.stringMatching(/now resolves to another path/) });
    expect(JSON.stringify(r)).not.toContain('SECRETHASH');
  });
});

const skip = labSkipReason();
if (skip) console.warn(`[skipped] script-file lab tests: ${skip}`);

describeUnless(skip)('runs in the lab', () => {
  let l: StartedLab;
  beforeAll(async () => {
    l = await startLab([{ name: 'deb-01', distro: 'debian', version: '12' }], 'scriptfiles');
  }, 180_000);
  afterAll(async () => {
    await l?.lab.stop();
    if (l) rmSync(l.dir, { recursive: true, force: true });
  });

  it('a real run of a playbook naming a controller file outside its directory contacts nothing and shows nothing of it', async () => {
    const pb = playbook('steal', '    - run-script: { file: ../outside.txt }\n');
    const state = join(l.dir, 'pvrun-steal');
    const g = l.lab.guests.info('deb-01')!;
    const r = await pvrun([pb, '-i', l.inventory, '--state-dir', state]);
    expect(r.code).toBe(5);
    expect(r.err).toMatch(/steal\.yml:3:27: script file '\.\.\/outside\.txt' is outside the playbook directory/);
    expect(r.out + r.err).not.toContain('SECRETHASH');
    let journals: string[] = [];
    try { journals = readdirSync(join(state, 'runs')); } catch { /* no run started: nothing journaled */ }
    for (const j of journals) expect(readFileSync(join(state, 'runs', j), 'utf8')).not.toContain('SECRETHASH');
    expect((await sshExec(g, 'ls /tmp | grep -c pvrun-script; true')).stdout.trim()).toBe('0');
  }, 120_000);

  it('a script file next to the playbook: --diff and the run name its path and sha256, never its contents', async () => {
    const body = '#!/bin/sh\n# TOKEN-IN-COMMENT do not show\necho ran-from-file > /root/ran-from-file\n';
    writeFileSync(join(root, 'pb', 'scripts', 'install.sh'), body);
    const sha = createHash('sha256').update(body).digest('hex');
    const pb = playbook('install', '    - name: run the file\n      run-script: { file: scripts/install.sh, become: true }\n');
    const real = join(root, 'pb', 'scripts', 'install.sh');

    const check = await pvrun([pb, '-i', l.inventory, '--check', '--diff', '--state-dir', join(l.dir, 'pvrun-c')]);
    expect(check.out).toContain(`deb-01 [run the file] would-change: would run script file ${real} (sha256 ${sha}) as root`);
    expect(check.out).toContain(`(file ${real}, ${body.length} bytes, sha256 ${sha})`);
    expect(check.out + check.err).not.toContain('TOKEN-IN-COMMENT');
    expect(check.code).toBe(0);

    const state = join(l.dir, 'pvrun-r');
    const r = await pvrun([pb, '-i', l.inventory, '--state-dir', state]);
    expect(r.out).toContain(`deb-01 [run the file] changed: script ran (exit 0, file ${real} sha256 ${sha})`);
    expect(recapOutcomes(r.out)).toEqual({ 'deb-01': 'changed' });
    expect(r.out + r.err).not.toContain('TOKEN-IN-COMMENT');
    const journal = readdirSync(join(state, 'runs')).filter((f) => f.endsWith('.jsonl'));
    expect(journal).toHaveLength(1);
    const text = readFileSync(join(state, 'runs', journal[0]!), 'utf8');
    expect(text).toContain(sha);
    expect(text).not.toContain('TOKEN-IN-COMMENT');
    expect((await sshExec(l.lab.guests.info('deb-01')!, 'cat /root/ran-from-file')).stdout).toBe('ran-from-file\n');
  }, 180_000);
});
