import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithSshd } from '../../harness/sshd.js';
import { describeUnless } from '../../harness/require.js';
import { NOPASSWD_USER, ensureTestUsers, removeTestUsers, testUsersSkipReason } from '../../harness/users.js';
import { runScriptStep } from '../../../src/steps/linux/run-script.js';
import { makeCtx, runStep } from './ctx.js';
import { startGuest, type TestGuest } from './guest.js';

describeWithSshd('run-script step', () => {
  let g: TestGuest;
  beforeAll(async () => { g = await startGuest(); });
  afterAll(async () => { await g?.stop(); });

  it('runs an inline script with quoted args and env, and returns its output as data', async () => {
    const ctx = makeCtx(g.host, g.connector);
    // its own upload directory, so scripts of tests running at the same time do not count
    const tmp = `/tmp/pvrun-rs-test-${process.pid}`;
    await g.connector.exec(`mkdir -p ${tmp}`);
    const { plan, apply } = await runStep(runScriptStep, ctx, {
      script: 'printf "%s|" "$@"; echo "$GREETING"; echo warn >&2',
      args: ["it's", 'a b', '$(false)'],
      env: { GREETING: 'hello "there"' },
      remote_tmp: tmp,
    });
    expect(plan.kind).toBe('change');
    expect(apply).toMatchObject({
      kind: 'changed',
      data: { stdout: `it's|a b|$(false)|hello "there"\n`, stderr: 'warn\n', exit_code: 0 },
    });
    // an inline shell script is not uploaded at all (one round trip)
    const left = await g.connector.exec(`ls -A ${tmp} | wc -l`);
    expect(left.ok && left.value.stdout.trim()).toBe('0');

    // another interpreter gets an upload, which is removed afterwards
    const py = await runStep(runScriptStep, makeCtx(g.host, g.connector), {
      script: 'import sys\nprint("|".join(sys.argv[1:]))', interpreter: 'python3', args: ["it's", 'a b'], remote_tmp: tmp,
    });
    expect(py.apply).toMatchObject({ kind: 'changed', data: { stdout: "it's|a b\n", exit_code: 0 } });
    const gone = await g.connector.exec(`ls -A ${tmp} | wc -l; rmdir ${tmp}`);
    expect(gone.ok && gone.value.stdout.trim()).toBe('0');
  });

  it('uploads a local file and runs it with the given interpreter', async () => {
    const f = join(g.sshd.dir, 'local.sh');
    writeFileSync(f, 'echo "bash ${BASH_VERSINFO[0]}"; exit 0\n');
    const { apply } = await runStep(runScriptStep, makeCtx(g.host, g.connector), { file: f, interpreter: '/bin/bash' });
    expect(apply?.kind).toBe('changed');
    expect(apply && 'data' in apply && String(apply.data?.['stdout'])).toMatch(/^bash \d+\n$/);
  });

  it('honours ok_codes', async () => {
    const ctx = makeCtx(g.host, g.connector);
    const a = await runStep(runScriptStep, ctx, { script: 'exit 3', ok_codes: [0, 3] });
    expect(a.apply).toMatchObject({ kind: 'changed', data: { exit_code: 3 } });
    const b = await runStep(runScriptStep, ctx, { script: 'echo nope >&2; exit 4' });
    expect(b.apply).toMatchObject({ kind: 'failed', data: { exit_code: 4, stderr: 'nope\n' } });
    expect(b.apply?.kind === 'failed' && b.apply.reason).toMatch(/exit 4.*nope/);
  });

  it('creates: runs once, then is ok; check mode predicts both without running anything', async () => {
    const marker = join(g.sshd.dir, 'created');
    const args = { script: `echo ran >> ${marker}.log; touch ${marker}`, creates: marker };
    const check = makeCtx(g.host, g.checkConnector, { check: true });
    expect((await runStep(runScriptStep, check, args)).plan.kind).toBe('change');
    expect(existsSync(`${marker}.log`)).toBe(false);

    const first = await runStep(runScriptStep, makeCtx(g.host, g.connector), args);
    expect(first.apply?.kind).toBe('changed');
    const second = await runStep(runScriptStep, makeCtx(g.host, g.connector), args);
    expect(second.plan).toEqual({ kind: 'ok', summary: `not needed: ${marker} exists` });
    expect(second.apply).toBeUndefined();
    expect((await runStep(runScriptStep, check, args)).plan.kind).toBe('ok');
    expect(readFileSync(`${marker}.log`, 'utf8')).toBe('ran\n');
  });

  it('unless: a passing read-only command means the script is not needed', async () => {
    const f = join(g.sshd.dir, 'unless-flag');
    const args = { script: `echo x > ${f}`, unless: `grep -q x ${f}` };
    expect((await runStep(runScriptStep, makeCtx(g.host, g.connector), args)).apply?.kind).toBe('changed');
    expect((await runStep(runScriptStep, makeCtx(g.host, g.connector), args)).plan.kind).toBe('ok');
  });

  it('the check-mode connector refuses to run the script even if apply were called', async () => {
    const f = join(g.sshd.dir, 'never');
    const ctx = makeCtx(g.host, g.checkConnector, { check: true });
    const r = await runScriptStep.apply(ctx, { script: `touch ${f}` }, { kind: 'change', summary: '' });
    expect(r.kind).toBe('failed');
    expect(r.kind === 'failed' && r.reason).toMatch(/check-mode-refused/);
    expect(existsSync(f)).toBe(false);
  });

  it('timeout kills the script', async () => {
    const pidf = join(g.sshd.dir, 'script.pid');
    const { apply } = await runStep(runScriptStep, makeCtx(g.host, g.connector), { script: `echo $$ > ${pidf}; sleep 60`, timeout: 1 });
    expect(apply?.kind === 'failed' && apply.reason).toMatch(/^timeout:/);
    const pid = Number(readFileSync(pidf, 'utf8'));
    let dead = false;
    for (let i = 0; i < 100 && !dead; i++) {
      dead = !existsSync(`/proc/${pid}`) || /\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      if (!dead) await new Promise((r) => setTimeout(r, 100));
    }
    expect(dead).toBe(true);
  });

  it('a connection dropped mid-script fails the step as unreachable, and the next step reconnects', async () => {
    const started = join(g.sshd.dir, 'long.started');
    const ctx = makeCtx(g.host, g.connector);
    const running = runStep(runScriptStep, ctx, { script: `touch ${started}; sleep 30` });
    for (let i = 0; i < 200 && !existsSync(started); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await g.sshd.killConnections()).toBeGreaterThan(0);
    const { apply } = await running;
    expect(apply).toMatchObject({ kind: 'failed', unreachable: true });
    expect(apply?.kind === 'failed' && apply.reason).toMatch(/^connection-lost:/);
    const next = await runStep(runScriptStep, ctx, { script: 'echo back' });
    expect(next.apply).toMatchObject({ kind: 'changed', data: { stdout: 'back\n' } });
  });

});

describeWithSshd('run-script step: become, logged in as an unprivileged user', () => {
  // a real user with a real NOPASSWD sudoers rule (test/harness/users.ts): without become the
  // script runs as that user, so only a working become can print uid 0
  describeUnless(testUsersSkipReason())('as pvrun-test', () => {
    let g: TestGuest;
    let uid = 0;
    beforeAll(async () => {
      uid = ensureTestUsers().nopasswd.uid;
      g = await startGuest({ sshd: { user: NOPASSWD_USER } });
    });
    afterAll(async () => { await g?.stop(); removeTestUsers(); });

    it('become runs the script as root; without become it runs as the user', async () => {
      const ctx = makeCtx(g.host, g.connector);
      const plain = await runStep(runScriptStep, ctx, { script: 'id -u' });
      expect(plain.apply).toMatchObject({ kind: 'changed', data: { stdout: `${uid}\n`, exit_code: 0 } });
      expect(uid).not.toBe(0);
      const root = await runStep(runScriptStep, ctx, { script: 'id -u; id -un', become: true });
      expect(root.apply).toMatchObject({ kind: 'changed', data: { stdout: '0\nroot\n', exit_code: 0 } });
    });

    it('become applies to an uploaded script too (another interpreter)', async () => {
      const { apply } = await runStep(runScriptStep, makeCtx(g.host, g.connector), {
        script: 'import os\nprint(os.getuid())', interpreter: 'python3', become: true,
      });
      expect(apply).toMatchObject({ kind: 'changed', data: { stdout: '0\n', exit_code: 0 } });
    });
  });
});
