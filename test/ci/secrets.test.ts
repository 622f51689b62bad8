/**
 * Secrets never leave pvrun: a full lab rollout with a known XAPI password and become password
 * (from the environment, as CI passes them) whose guest script prints them in every form, one
 * host failing with them in its error; then every byte pvrun wrote — stdout, stderr, the
 * journal, JUnit, JSON events, the GitHub annotations and job summary, `runs` and `show -v` —
 * is searched for the secrets and their base64 and URL-encoded forms.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeUnless } from '../harness/require.js';
import { parse, stringify } from 'yaml';
import type { Lab } from '../../src/lab/lab.js';
import { listRunIds } from '../../src/journal/read.js';
import { cli, labSkipReason, startLab } from './lab-rig.js';
import { validateJunit } from './junit-schema.js';
import { newAjv } from '../../src/load/ajv.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const skip = labSkipReason();

// characters that URL-encoding and base64 change, so each form is a distinct string to look for
const XAPI_PASSWORD = 'Xa/pi p@ss+w0rd=42&ok?';
const BECOME_PASSWORD = 'b3c0me:s3cr3t/ü';

/** the forms the issue names: plain, base64 (standard, URL-safe, unpadded), URL-encoded */
export function forms(secret: string): string[] {
  const b64 = Buffer.from(secret).toString('base64');
  return [...new Set([
    secret, b64, b64.replace(/=+$/, ''), b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''),
    encodeURIComponent(secret), encodeURIComponent(secret).replace(/%20/g, '+'), encodeURI(secret),
  ])];
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

describeUnless(skip)('secrets (lab)', () => {
  let lab: Lab;
  let work: string;
  beforeAll(async () => {
    lab = await startLab();
    work = mkdtempSync(join(tmpdir(), 'pvrun-secrets-'));
    // The lab draws a random XAPI password; give the simulator ours (test-only reach into it).
    (lab.sim as unknown as { sessions: { creds: { password: string } } }).sessions.creds.password = XAPI_PASSWORD;
  }, 300_000);
  afterAll(async () => { await lab?.stop(); });

  it('a full rollout writes none of them anywhere', async () => {
    // the inventory takes both secrets from the environment, as CI passes them
    const inv = parse(readFileSync(lab.inventoryPath, 'utf8')) as Record<string, Record<string, Record<string, unknown>>>;
    inv['hypervisors']!['lab']!['password'] = { env: 'PVRUN_TEST_XAPI_PASSWORD' };
    (inv['groups']!['linux']!['connection'] as Record<string, unknown>)['become_password'] = { env: 'PVRUN_TEST_BECOME_PASSWORD' };
    const invPath = join(work, 'inventory.yml');
    writeFileSync(invPath, stringify(inv));
    // the guest prints every form of both secrets; ci-03 fails with them on stderr (rolled back)
    const echo = [...forms(XAPI_PASSWORD), ...forms(BECOME_PASSWORD)].map((f) => `printf '%s\\n' '${f.replace(/'/g, `'\\''`)}'`).join('; ');
    const playbook = [{
      name: 'secrets rollout', hosts: 'linux', serial: [1, '50%'], on_failure: 'rollback',
      steps: [
        { name: 'skip VMs with tools', check: { management_agent_detected: false, otherwise: 'skip-host' } },
        { name: 'snapshot', snapshot: { keep: false } },
        { name: 'insert ISO', 'attach-iso': {} },
        { name: 'mount', mount: { path: '/mnt', become: true } },
        { name: 'install', 'run-script': { script: '/mnt/Linux/install.sh -n', become: true } },
        { name: 'print secrets', 'run-script': { script: `${echo}; ${echo} >&2; [ "{{ host.name }}" != ci-03 ]`, become: true } },
        { name: 'unmount', unmount: { path: '/mnt', become: true } },
        { name: 'eject', 'detach-iso': {} },
      ],
      cleanup: [{ name: 'unmount if mounted', unmount: { path: '/mnt', become: true } }, { name: 'eject if inserted', 'detach-iso': {} }],
    }];
    const pbPath = join(work, 'secrets.yml');
    writeFileSync(pbPath, stringify(playbook));
    const state = join(work, 'state');
    const env = {
      ...process.env, PVRUN_TEST_XAPI_PASSWORD: XAPI_PASSWORD, PVRUN_TEST_BECOME_PASSWORD: BECOME_PASSWORD,
      CI: 'true', GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: join(work, 'summary.md'),
    };
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), pbPath, '-i', invPath, '--state-dir', state,
      '-vv', '--json', join(work, 'events.jsonl'), '--junit', join(work, 'junit.xml')], { cwd: ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));

    // the run really did what it should: two hosts changed, ci-03 failed and was rolled back
    expect(code, stdout.slice(-4000) + stderr).toBe(2);
    expect(stdout).toMatch(/ci-03\s+rolled-back/);
    expect(stdout).toMatch(/ci-01\s+changed/);
    // and the secrets were really there to leak: the masked step output is in the journal
    const id = listRunIds(state).at(-1)!;
    const journal = readFileSync(join(state, 'runs', `${id}.jsonl`), 'utf8');
    expect(journal).toContain('***');
    // a real run's reports: JUnit against the JUnit schema, every JSON event against ours
    expect(validateJunit(readFileSync(join(work, 'junit.xml'), 'utf8'))).toEqual([]);
    const validate = newAjv().compile(JSON.parse(readFileSync(join(ROOT, 'schema', 'events.schema.json'), 'utf8')) as object);
    const lines = readFileSync(join(work, 'events.jsonl'), 'utf8').trim().split('\n');
    expect(lines.length).toBeGreaterThan(50);
    for (const l of lines) expect(validate(JSON.parse(l)), `${l}\n${JSON.stringify(validate.errors?.slice(0, 3))}`).toBe(true);

    const show = await cli(['show', id, '--state-dir', state, '-v'], env);
    const runs = await cli(['runs', '--state-dir', state], env);
    expect(show.code).toBe(0);
    const written: Record<string, string> = {
      stdout, stderr, 'show -v': show.out + show.err, runs: runs.out + runs.err,
      ...Object.fromEntries([...filesUnder(state), ...filesUnder(work).filter((f) => !f.startsWith(state) && f !== pbPath && f !== invPath)]
        .map((f) => [f, readFileSync(f, 'latin1') + readFileSync(f, 'utf8')])),
    };
    expect(Object.keys(written).length).toBeGreaterThanOrEqual(8);
    const found: string[] = [];
    for (const secret of [XAPI_PASSWORD, BECOME_PASSWORD]) {
      for (const f of forms(secret)) {
        for (const [where, text] of Object.entries(written)) if (text.includes(f)) found.push(`${JSON.stringify(f)} in ${where}`);
      }
    }
    expect(found).toEqual([]);
  }, 600_000);
});
