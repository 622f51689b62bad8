/**
 * Issue 20/16: the habits ansible-playbook users bring — --list-hosts, --list-tasks,
 * --syntax-check, --start-at-task, -K, "did you mean" for subcommands, playbooks found in
 * playbooks/ — and --help on every subcommand, --version.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../harness/cli.js';
import { inventorySecretRefs, PROMPTED_BECOME_PASSWORD, resolveSecret, setPromptedSecret, usePromptedBecomePassword } from '../../src/load/secrets.js';
import { redactor } from '../../src/util/redact.js';
import type { Inventory } from '../../src/model/inventory.js';

const REPO = join(import.meta.dirname, '..', '..');
const env = { ...process.env, CI: 'true', NO_COLOR: '1' };
const pvrun = (args: string[], cwd = REPO) => runCli(args, { cwd, env });

let dir: string;
const home = process.cwd();
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pvrun-habits-'));
  process.chdir(dir); // as a user in their project directory (the loader reads relative to the process)
  mkdirSync(join(dir, 'playbooks'));
  mkdirSync(join(dir, 'inventories'));
  writeFileSync(join(dir, 'inventories', 'lab.yml'), [
    'hypervisors:', '  p: { url: "http://127.0.0.1:1", username: root, password: { env: NOPE } }',
    'hosts:', ...['a1', 'a2', 'a3', 'a4', 'a5'].map((h) => `  ${h}: { vm: { pool: p, name_label: ${h} } }`),
    'groups:', '  web: { hosts: [a1, a2, a3, a4, a5] }', '',
  ].join('\n'));
  const playbook = [
    '- name: tools', '  hosts: web', '  serial: [1, 2]', '  steps:',
    '    - name: take a snapshot', '      snapshot: {}', '      tags: [safety]',
    '    - reboot: guest', '    - name: look', '      verify: { power_state: Running }', '      tags: [check, slow]',
    '  cleanup:', '    - detach-iso:', '',
  ].join('\n');
  writeFileSync(join(dir, 'playbooks', 'tools.yml'), playbook);
  // a playbook file whose name is close to a subcommand: a file is always a playbook
  writeFileSync(join(dir, 'runz'), playbook);
});
afterAll(() => { process.chdir(home); rmSync(dir, { recursive: true, force: true }); });

describe('--list-hosts / --list-tasks / --syntax-check', () => {
  it('--list-hosts prints the hosts of each play batch by batch and contacts nothing', async () => {
    const r = await pvrun(['playbooks/tools.yml', '-i', 'lab', '--list-hosts'], dir);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toBe([
      'playbook: playbooks/tools.yml', '',
      "play #1 'tools': hosts 'web'",
      '  hosts (5) in 3 batches [1, 2, 2]:',
      '    batch 1/3: a1', '    batch 2/3: a2, a3', '    batch 3/3: a4, a5', '',
    ].join('\n'));
    const limited = await pvrun(['playbooks/tools.yml', '-i', 'lab', '--list-hosts', '-l', 'a2:a5'], dir);
    expect(limited.out).toContain('  hosts (2) in 2 batches [1, 1]:\n    batch 1/2: a2\n    batch 2/2: a5\n');
  });

  it('--list-tasks prints the steps with their tags, and which ones --tags leaves out', async () => {
    const r = await pvrun(['playbooks/tools.yml', '-i', 'lab', '--list-tasks', '-t', 'check'], dir);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toContain([
      '  steps (1 of 3 selected):',
      '    1. take a snapshot  (snapshot)  TAGS: [safety]  — not selected',
      '    2. reboot  TAGS: []  — not selected',
      '    3. look  (verify)  TAGS: [check, slow]',
      '  cleanup (1, always run):',
      '    1. detach-iso  TAGS: []',
    ].join('\n'));
    expect(r.out).not.toContain('batch 1/');
    // both at once
    const both = await pvrun(['playbooks/tools.yml', '-i', 'lab', '--list-tasks', '--list-hosts'], dir);
    expect(both.out).toContain('batch 1/3: a1');
    expect(both.out).toContain('3. look  (verify)  TAGS: [check, slow]');
  });

  it('validate prints the plan (hosts per batch, steps), then the counts; --syntax-check is the same', async () => {
    const v = await pvrun(['validate', 'playbooks/tools.yml', '-i', 'lab'], dir);
    expect(v.code).toBe(0);
    expect(v.out).toContain('    batch 2/3: a2, a3\n');
    expect(v.out).toContain('    2. reboot  TAGS: []\n');
    expect(v.out.trimEnd().split('\n').at(-1)).toBe('valid: 1 play, 5 hosts, 3 steps');
    const s = await pvrun(['playbooks/tools.yml', '-i', 'lab', '--syntax-check'], dir);
    expect(s).toEqual(v);
  });

  it('--start-at-task is --start-at-step', async () => {
    const a = await pvrun(['validate', 'playbooks/tools.yml', '-i', 'lab', '--start-at-task', 'look'], dir);
    const b = await pvrun(['validate', 'playbooks/tools.yml', '-i', 'lab', '--start-at-step', 'look'], dir);
    expect(a.code).toBe(0);
    expect(a).toEqual(b);
    expect(a.out).toContain('1 of 3 steps selected');
    const both = await pvrun(['validate', 'playbooks/tools.yml', '-i', 'lab', '--start-at-task', 'look', '--start-at-step', 'reboot'], dir);
    expect(both.code).toBe(5);
    expect(both.err).toContain("--start-at-task 'look' and --start-at-step 'reboot' name different steps");
  });
});

describe('subcommands and playbooks by name', () => {
  it("an unknown subcommand near a real one: exit 5, did you mean (not 'cannot read playbook')", async () => {
    const r = await pvrun(['runz']);
    expect(r.code).toBe(5);
    expect(r.err).toBe("pvrun: unknown command 'runz'; did you mean 'runs'?\nRun 'pvrun --help' for usage.\n");
    expect((await pvrun(['invnetory', '-i', 'example-prod'])).err).toContain("did you mean 'inventory'?");
  });

  it('a file named like a mistyped subcommand is still a playbook', async () => {
    const r = await pvrun(['runz', '-i', 'lab', '--list-hosts'], dir);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toContain('playbook: runz');
  });

  it('playbooks are found in playbooks/ by name, with or without .yml', async () => {
    for (const name of ['tools', 'tools.yml']) {
      const r = await pvrun([name, '-i', 'lab', '--list-hosts'], dir);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toContain('playbook: playbooks/tools.yml');
    }
    const shipped = await pvrun(['validate', 'linux-tools', '-i', 'example-prod']); // in the repository (cwd REPO)
    expect(shipped.code, shipped.err).toBe(0);
    expect(shipped.out).toMatch(/^playbook: (\.\.\/)*.*playbooks\/linux-tools\.yml$/m);
    // not found anywhere: the loader's located error, exit 5
    const none = await pvrun(['nothing-like-this', '-i', 'lab'], dir);
    expect(none.code).toBe(5);
    expect(none.err).toContain('nothing-like-this');
  });
});

describe('--help on every subcommand, --version', () => {
  const commands = [
    ['validate'], ['preflight'], ['inventory'], ['runs'], ['show'], ['rollback'], ['resume'], ['snapshots'], ['snapshots', 'list'], ['snapshots', 'prune'],
    ['schema'], ['lab'], ['lab', 'up'], ['lab', 'down'], ['lab', 'status'], ['playbooks'], ['playbooks', 'list'], ['demo'], ['completion'],
  ];
  it.each(commands)('pvrun %s … --help: usage on stdout, exit 0', async (...words) => {
    const r = await pvrun([...words, '--help']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`^Usage: pvrun ${words[0]}`));
  });

  it('--version is package.json\'s', async () => {
    const r = await pvrun(['--version']);
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe((JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version);
  });
});

describe('-K / --ask-become-pass', () => {
  it('without a terminal: exit 5 and what to do instead', async () => {
    const r = await runCli(['playbooks/tools.yml', '-i', 'lab', '-K'], { cwd: dir, env, stdin: '' });
    expect(r.code).toBe(5);
    expect(r.err).toContain('-K/--ask-become-pass needs a terminal to ask on');
    expect(r.err).toContain('become_password: { env: NAME }');
  });

  it('on a real terminal (a pty): asks without echo, and the typed value is never shown', async () => {
    const secret = 'Sudo-Pa55-' + Math.random().toString(36).slice(2);
    // script(1) gives the CLI a real pty; the run then stops on the inventory's unset pool password (exit 5)
    const child = spawn('script', ['-qefc', `node ${join(REPO, 'bin', 'pvrun.cjs')} playbooks/tools.yml -i lab -K -e shown=${secret}x`, '/dev/null'],
      { cwd: dir, env: { ...env, TERM: 'dumb' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('BECOME password: ') && !child.stdin.writableEnded) child.stdin.end(`${secret}\r`);
    });
    const code = await new Promise<number | null>((done) => child.on('close', done));
    expect(out).toContain('BECOME password: ');
    expect(out).not.toContain(secret); // not echoed, not printed
    expect(code).toBe(5);
    expect(out).toContain("environment variable 'NOPE' is not set");
  }, 60_000);

  it('the prompted password serves hosts without their own, is masked, and is not put in the environment', () => {
    const value = 'prompted-' + Math.random().toString(36).slice(2);
    setPromptedSecret(PROMPTED_BECOME_PASSWORD, value);
    const pos = { file: 'i.yml', line: 1, col: 1 };
    const inv = { hypervisors: {}, groups: {}, hosts: {
      a: { name: 'a', pos, groups: [], vars: {}, connection: { type: 'ssh' } },
      b: { name: 'b', pos, groups: [], vars: {}, connection: { type: 'ssh', become_password: { env: 'OWN' } } },
    } } as unknown as Inventory;
    usePromptedBecomePassword(inv);
    expect(inv.hosts['a']!.connection.become_password).toEqual({ env: PROMPTED_BECOME_PASSWORD });
    expect(inv.hosts['b']!.connection.become_password).toEqual({ env: 'OWN' });
    const ref = inventorySecretRefs(inv).find((r) => r.what.includes("host 'a'"))!;
    expect(resolveSecret(ref.ref)).toEqual({ ok: true, value });
    expect(process.env[PROMPTED_BECOME_PASSWORD]).toBeUndefined();
    expect(redactor.redact(`sudo said ${value}`)).toBe('sudo said ***');
  });
});
