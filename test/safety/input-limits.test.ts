/**
 * Input limits (issue 19 item 7), through the real CLI in its own process (`node --import tsx
 * src/cli/main.ts`, as the crash tests start it: the real stack size and exit path):
 * a nesting bomb, an oversized file, bad UTF-8 and a BOM, in a playbook, an inventory and an
 * `-e @vars.yml` file. Each refusal must be exit 5 with a located `file:line:col` message, no stack
 * trace, and nothing contacted: the inventory's pool is a TCP server on 127.0.0.1 that counts
 * connections (a run that gets past loading does connect to it: checked as a control).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');

interface Run { code: number | null; out: string; err: string }

function pvrun(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1', PVRUN_TEST_XAPI_PASSWORD: 'secret', PVRUN_MAX_INPUT_BYTES: '', PVRUN_MAX_INPUT_DEPTH: '', ...env },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const timer = setTimeout(() => { child.kill('SIGKILL'); rej(new Error(`pvrun ${args.join(' ')}: timeout`)); }, 120_000);
    child.on('close', (code) => { clearTimeout(timer); res({ code, out, err }); });
  });
}

/** a V8 stack frame line, as printed by an uncaught error or the internal-error path */
const STACK_FRAME = /^\s+at .+(:\d+:\d+\)?|\(native\))$/m;

let dir: string;
let server: Server;
let connections = 0;
let inventory: string;

const PLAY_HEAD = '- name: limits\n  hosts: all\n  steps:\n    - snapshot: {}\n  vars:\n';

function file(name: string, content: string | Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

/** exit 5, the message at file:line:col, no stack trace, no connection to the pool */
async function expectRefused(r: Run, where: string, message: RegExp, before: number): Promise<void> {
  expect(r.err + r.out).not.toMatch(STACK_FRAME);
  expect(r.err).not.toMatch(/internal error/);
  expect(r.err).toContain(`${where}: `);
  const line = r.err.split('\n').find((l) => l.startsWith(`${where}: `)) ?? '';
  expect(line).toMatch(message);
  expect(r.code).toBe(5);
  await new Promise((s) => setTimeout(s, 100));
  expect(connections).toBe(before);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pvrun-limits-'));
  server = createServer((sock) => { connections++; sock.destroy(); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  inventory = file('inventory.yml', [
    'hypervisors:', '  pool-a:', `    url: http://127.0.0.1:${port}`, '    username: root',
    '    password: { env: PVRUN_TEST_XAPI_PASSWORD }', 'hosts:', '  web-1:', '    vm: { pool: pool-a, name_label: web-1 }', '',
  ].join('\n'));
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('input limits: refused with a located error, exit 5, nothing contacted', () => {
  it('10,000 nested block sequences in a playbook', async () => {
    // `- - - … x`: each `- ` opens a block sequence inside the previous one (20 KB of text)
    const pb = file('deep-block.yml', `${PLAY_HEAD}    x:\n      ${'- '.repeat(10_000)}x\n`);
    const before = connections;
    const r = await pvrun([pb, '-i', inventory, '--check']);
    // depth 1 list of plays, 2 the play, 3 vars, 4 the first '- ' (line 7, col 7): the 65th level is the 62nd '- '
    await expectRefused(r, `${pb}:7:${7 + 61 * 2}`, /nesting deeper than 64 levels/, before);
  });

  it('10,000 nested flow sequences in an inventory', async () => {
    const inv = file('deep-inv.yml', `hosts:\n  web-1:\n    vars:\n      x: ${'['.repeat(10_000)}${']'.repeat(10_000)}\n`);
    const before = connections;
    const r = await pvrun(['validate', 'test/fixtures/valid/minimal.yml', '-i', inv]);
    // the top map 1, hosts' map 2, web-1's 3, vars' 4, the first '[' (col 10) 5: the 65th level is the 61st '['
    await expectRefused(r, `${inv}:4:${10 + 60}`, /nesting deeper than 64 levels/, before);
    // the echoed line is a window around the column, not 20,000 characters
    expect(Math.max(...r.err.split('\n').map((l) => l.length))).toBeLessThan(300);
  });

  it('a nesting bomb in -e @vars.yml', async () => {
    const vars = file('deep-vars.yml', `a: ${'{b: '.repeat(5_000)}1${'}'.repeat(5_000)}\n`);
    const before = connections;
    const r = await pvrun(['test/fixtures/valid/minimal.yml', '-i', inventory, '-e', `@${vars}`, '--check']);
    // a 1, the first '{' (col 4) 2: the 65th level is the 64th '{', 4 characters apart
    await expectRefused(r, `${vars}:1:${4 + 63 * 4}`, /nesting deeper than 64 levels/, before);
  });

  it('a 20 MB playbook is refused before it is read', async () => {
    const lines: string[] = [PLAY_HEAD];
    let size = PLAY_HEAD.length;
    for (let i = 0; size < 20 * 1024 * 1024; i++) {
      const l = `    v${i}: "a value long enough to make the file big, number ${i}"\n`;
      lines.push(l);
      size += l.length;
    }
    const pb = file('big.yml', lines.join(''));
    const before = connections;
    const started = Date.now();
    const r = await pvrun([pb, '-i', inventory, '--check']);
    await expectRefused(r, `${pb}:1:1`, /the playbook is 20 MiB, over the 4 MiB input limit \(PVRUN_MAX_INPUT_BYTES raises it\)/, before);
    console.log(`[input-limits] 20 MB playbook refused in ${Date.now() - started} ms (process start included)`);
  });

  it('an oversized inventory', async () => {
    const inv = file('big-inv.yml', `hosts:\n  web-1:\n    vars:\n      pad: "${'x'.repeat(5 * 1024 * 1024)}"\n`);
    const before = connections;
    const r = await pvrun(['test/fixtures/valid/minimal.yml', '-i', inv, '--check']);
    await expectRefused(r, `${inv}:1:1`, /the inventory is 5 MiB, over the 4 MiB input limit/, before);
  });

  it('a byte that is not UTF-8 in a playbook: located at that byte', async () => {
    const pb = file('latin1.yml', Buffer.concat([
      Buffer.from(PLAY_HEAD), Buffer.from('    greeting: "caf'), Buffer.from([0xe9]), Buffer.from('"\n'),
    ]));
    const before = connections;
    const r = await pvrun([pb, '-i', inventory, '--check']);
    const offset = PLAY_HEAD.length + '    greeting: "caf'.length;
    await expectRefused(r, `${pb}:6:19`, new RegExp(`the playbook is not valid UTF-8: byte 0xE9 at byte offset ${offset}`), before);
  });

  it('bad UTF-8 after multi-byte characters: the column counts characters', async () => {
    const inv = file('bad-inv.yml', Buffer.concat([
      Buffer.from('hosts:\n  web-1:\n    vars: { n: "ééé'), Buffer.from([0xc3, 0x28]), Buffer.from('" }\n'),
    ]));
    const before = connections;
    const r = await pvrun(['validate', 'test/fixtures/valid/minimal.yml', '-i', inv]);
    await expectRefused(r, `${inv}:3:20`, /the inventory is not valid UTF-8: byte 0xC3/, before);
  });

  it('a UTF-16 file says so', async () => {
    const vars = file('utf16.yml', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('a: 1\n', 'utf16le')]));
    const before = connections;
    const r = await pvrun(['test/fixtures/valid/minimal.yml', '-i', inventory, '-e', `@${vars}`, '--check']);
    await expectRefused(r, `${vars}:1:1`, /not valid UTF-8: byte 0xFF at byte offset 0 \(the file looks UTF-16/, before);
  });
});

describe('input limits: configurable', () => {
  it('PVRUN_MAX_INPUT_BYTES lowers the size limit', async () => {
    const before = connections;
    const r = await pvrun(['test/fixtures/valid/minimal.yml', '-i', inventory, '--check'], { PVRUN_MAX_INPUT_BYTES: '40' });
    await expectRefused(r, 'test/fixtures/valid/minimal.yml:1:1', /the playbook is \d+ bytes, over the 40 bytes input limit/, before);
  });

  it('PVRUN_MAX_INPUT_DEPTH raises the depth limit (and lowers it)', async () => {
    const pb = file('depth100.yml', `${PLAY_HEAD}    x: ${'['.repeat(100)}${']'.repeat(100)}\n`);
    const ok = await pvrun(['validate', pb, '-i', inventory], { PVRUN_MAX_INPUT_DEPTH: '200' });
    expect(ok.err).toBe('');
    expect(ok.code).toBe(0);
    const before = connections;
    const low = await pvrun(['validate', 'test/fixtures/valid/minimal.yml', '-i', inventory], { PVRUN_MAX_INPUT_DEPTH: '2' });
    // list of plays 1, the play 2, its steps list 3 (line 4, col 5)
    await expectRefused(low, 'test/fixtures/valid/minimal.yml:4:5', /nesting deeper than 2 levels/, before);
  });

  it('a bad limit value is a usage error (exit 5)', async () => {
    const r = await pvrun(['validate', 'test/fixtures/valid/minimal.yml', '-i', inventory], { PVRUN_MAX_INPUT_BYTES: 'lots' });
    expect(r.err).toContain("pvrun: PVRUN_MAX_INPUT_BYTES must be a size in bytes (e.g. 4194304, 512K, 16M), not 'lots'");
    expect(r.err).not.toMatch(STACK_FRAME);
    expect(r.code).toBe(5);
  });
});

describe('a UTF-8 byte order mark is accepted', () => {
  it('in a playbook, an inventory and a vars file; the run goes on to contact the pool (the control)', async () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    const pb = file('bom.yml', Buffer.concat([bom, Buffer.from(`${PLAY_HEAD}    a: 1\n`)]));
    const vars = file('bom-vars.yml', Buffer.concat([bom, Buffer.from('from_vars: loaded\n')]));
    const inv = file('bom-inv.yml', Buffer.concat([bom, Buffer.from('# a comment first\n'), readFileSync(inventory)]));
    const v = await pvrun(['validate', pb, '-i', inv, '-e', `@${vars}`]);
    expect(v.err).toBe('');
    expect(v.code).toBe(0);
    // a position after a BOM counts from the first character after it
    const badPb = file('bom-bad.yml', Buffer.concat([bom, Buffer.from('- hosts: all\n  hostz: x\n')]));
    const bad = await pvrun(['validate', badPb, '-i', inv]);
    expect(bad.err).toMatch(new RegExp(`^${badPb.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2:3: `, 'm'));
    expect(bad.code).toBe(5);
    // the control: past loading, the run does contact the pool's address
    const before = connections;
    const run = await pvrun([pb, '-i', inv, '-e', `@${vars}`, '--check']);
    expect(run.code).not.toBe(5);
    expect(connections).toBeGreaterThan(before);
  });
});
