/**
 * Issue 20: the live progress line (batch i/n, done, ok/changed/failed/rolled back, elapsed, ETA,
 * a spinner; hosts rolling back or in cleanup marked), colour decided apart from live progress
 * (Node's colour support detection: FORCE_COLOR, NO_COLOR, TERM=dumb, a terminal or not), and the
 * -v levels. Real runs: the CLI against the XAPI simulator over HTTP (VM steps), and over a real
 * sshd on 127.0.0.1 (guest steps), rendered into the terminal harness.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WriteStream } from 'node:tty';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XapiSimulator } from '../../src/lab/xapi-sim/index.js';
import { newAjv } from '../../src/load/ajv.js';
import { createTtyReporter, humanDisplay, progressLine } from '../../src/report/tty.js';
import { runCli } from '../harness/cli.js';
import { FakeTerminal } from '../harness/terminal.js';
import { describeWithSshd, startSshd, type SshdHandle } from '../harness/sshd.js';
import { knownHostsFor } from '../connectors/ssh/helpers.js';

const SGR_COLOUR = /\x1b\[(?:3\d|9\d|1|2|22|39)m/; // picocolors' colours, bold, dim (log-update's own cursor codes are not SGR)
const baseEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color', ...extra };
  for (const k of ['CI', 'NO_COLOR', 'FORCE_COLOR', 'GITHUB_ACTIONS', 'NODE_DISABLE_COLORS']) if (!(k in extra)) delete env[k];
  return env;
};

describe('colour and live progress are two decisions', () => {
  const matrix: [string, NodeJS.ProcessEnv][] = [
    ['a terminal', {}], ['NO_COLOR=1', { NO_COLOR: '1' }], ['NO_COLOR empty', { NO_COLOR: '' }], ['TERM=dumb', { TERM: 'dumb' }],
    ['FORCE_COLOR=0', { FORCE_COLOR: '0' }], ['FORCE_COLOR=1', { FORCE_COLOR: '1' }], ['FORCE_COLOR empty', { FORCE_COLOR: '' }],
    ['FORCE_COLOR=3 with NO_COLOR', { FORCE_COLOR: '3', NO_COLOR: '1' }], ['FORCE_COLOR=false', { FORCE_COLOR: 'false' }],
    ['TERM=dumb FORCE_COLOR=1', { TERM: 'dumb', FORCE_COLOR: '1' }], ['CI', { CI: 'true' }], ['GitHub Actions', { CI: 'true', GITHUB_ACTIONS: 'true' }],
    ['no TERM', { TERM: undefined }],
  ];
  it.each(matrix)('%s: colour as Node\'s tty.hasColors() says, on a terminal and on a pipe', (_name, extra) => {
    const env = baseEnv(extra);
    if (extra['TERM'] === undefined && 'TERM' in extra) delete env['TERM'];
    const node = WriteStream.prototype.hasColors.call({} as WriteStream, 16, { ...env, ...(env['FORCE_COLOR'] !== undefined ? { NO_COLOR: undefined } : {}) });
    expect(humanDisplay({ isTTY: true }, env).color).toBe(node);
    // a pipe: colour only when forced
    expect(humanDisplay({ isTTY: false }, env).color).toBe(env['FORCE_COLOR'] !== undefined && node);
    // live progress: a terminal that can move its cursor, not CI; NO_COLOR / FORCE_COLOR do not matter
    expect(humanDisplay({ isTTY: true }, env).live).toBe(env['TERM'] !== 'dumb' && !env['CI']);
    expect(humanDisplay({ isTTY: false }, env).live).toBe(false);
  });

  it('the progress line reads as the issue asks', () => {
    expect(progressLine({ batch: 2, batches: 3, done: 3, total: 8, tally: { ok: 2, changed: 1, failed: 0, rolledBack: 0 }, elapsedMs: 24_000 }))
      .toBe('batch 2/3 · 3/8 done · ok 2 · changed 1 · failed 0 · rolled back 0 · 0:24 · ETA ~0:40');
    expect(progressLine({ batch: 1, batches: 1, done: 0, total: 2, tally: { ok: 0, changed: 0, failed: 0, rolledBack: 0 }, elapsedMs: 3_000 })).toMatch(/ · 0:03 · ETA …$/);
  });
});

describe('a live region taller than the terminal', () => {
  it('shows the hosts rolling back first, as many as fit, and how many more run', async () => {
    const term = new FakeTerminal(100, 10);
    const rep = createTtyReporter(term as unknown as NodeJS.WriteStream, { verbose: 0, diff: false, redact: (x) => x, check: false, color: false });
    const time = new Date().toISOString();
    const hosts = Array.from({ length: 20 }, (_, i) => `h${String(i + 1).padStart(2, '0')}`);
    rep.event({ type: 'run-start', runId: 'r', playbook: 'p.yml', inventories: [], check: false, time, plays: [{ name: 'p', hosts: 20, batches: [20] }] });
    rep.event({ type: 'play-start', play: 'p', index: 0, hosts, batches: [hosts], time });
    rep.event({ type: 'batch-start', play: 'p', index: 0, hosts, time });
    for (const h of hosts) rep.event({ type: 'host-start', host: h, time });
    rep.event({ type: 'rollback-start', host: 'h17', reason: 'x failed', time });
    await rep.close();
    const screen = term.frames.at(-1)!.split('\n').filter((l) => l.trim() !== '');
    expect(screen.length).toBeLessThanOrEqual(10);
    const region = screen.slice(screen.findIndex((l) => l.includes(' · 0/20 done · ')));
    expect(region[1]).toMatch(/^ {2}↺ h17 {2}ROLLING BACK/);
    expect(region.at(-1)).toBe('  … and 15 more running');
    expect(region.length).toBe(1 + 5 + 1);
  });
});

describe('live progress of a real run against the simulator over HTTP', () => {
  let sim: XapiSimulator;
  let dir: string;
  let inv: string;
  let pb: string;
  beforeAll(async () => {
    sim = new XapiSimulator({
      definition: { pool: 'p1', password: 'sekret-pw', vms: [
        { name: 'web-01', os: 'Ubuntu 22.04', power: 'Running', tools: 'agent' },
        { name: 'web-02', os: 'Ubuntu 22.04', power: 'Running', tools: 'agent' },
        { name: 'db-01', os: 'Rocky Linux 9', power: 'Halted', tools: 'none' },
        { name: 'web-03', os: 'Ubuntu 22.04', power: 'Running', tools: 'agent' },
      ] },
      guestReportDelayMs: 0,
    });
    await sim.start();
    dir = mkdtempSync(join(tmpdir(), 'pvrun-progress-'));
    writeFileSync(join(dir, 'pw'), 'sekret-pw\n');
    inv = join(dir, 'inv.yml');
    writeFileSync(inv, [
      'hypervisors:', `  p1: { url: ${sim.url}, username: root, password: { file: ${join(dir, 'pw')} } }`,
      'hosts:', ...['web-01', 'web-02', 'db-01', 'web-03'].map((h) => `  ${h}: { connection: none, vm: { pool: p1, name_label: ${h} } }`), '',
    ].join('\n'));
    pb = join(dir, 'site.yml');
    // db-01 is halted: its check fails after the snapshot, so it is rolled back, then cleaned up
    writeFileSync(pb, [
      '- name: rollout', '  hosts: all', '  serial: [1, 3]', '  steps:',
      '    - name: restore point', '      snapshot: { keep: false }',
      '    - name: must be running', '      check: { power_state: Running }',
      '  cleanup:', '    - name: eject', '      detach-iso:', '',
    ].join('\n'));
  });
  afterAll(async () => {
    await sim?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const run = async (env: NodeJS.ProcessEnv) => {
    const term = new FakeTerminal(140, 40);
    const r = await runCli([pb, '-i', inv, '--state-dir', join(dir, 'state'), '-y'], { cwd: dir, env, out: term });
    return { r, term };
  };

  it('batch i/n, done, counters, elapsed and ETA, a spinner; rolling back and cleanup marked', async () => {
    const { r, term } = await run(baseEnv());
    expect(r.code, term.text().join('\n') + r.err).toBe(2);
    const progress = term.frames.flatMap((f) => f.split('\n')).filter((l) => / · \d+\/4 done · /.test(l));
    expect(progress.length).toBeGreaterThan(0);
    for (const l of progress) expect(l).toMatch(/^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] (batch [12]\/2 · )?[0-4]\/4 done · ok \d · changed \d · failed \d · rolled back \d · \d+:\d\d · ETA (…|~\d+:\d\d|0:00)$/);
    // after the canary: batch 2 of 2, one host done and changed
    expect(progress.some((l) => l.includes('batch 2/2 · 1/4 done · ok 0 · changed 1 · failed 0 · rolled back 0 · '))).toBe(true);
    // the end: every host done, db-01 counted as rolled back
    expect(progress.some((l) => l.includes('batch 2/2 · 4/4 done · ok 0 · changed 3 · failed 0 · rolled back 1 · ') && l.endsWith('ETA 0:00'))).toBe(true);
    const lines = term.frames.flatMap((f) => f.split('\n'));
    expect(lines.some((l) => /^ {2}↺ db-01 {2}ROLLING BACK\b/.test(l))).toBe(true);
    expect(lines.some((l) => /^ {2}⌫ db-01 {2}cleanup: eject\b/.test(l))).toBe(true);
    expect(lines.some((l) => /^ {2}⌫ web-01 {2}cleanup: eject\b/.test(l))).toBe(true);
    expect(lines.some((l) => /^ {2}⟳ web-0[123] {2}(restore point|must be running)\b/.test(l))).toBe(true);
    // the live region is redrawn in place: never two progress lines on one screen; gone at the end
    for (const f of term.frames) expect(f.split('\n').filter((l) => / · \d+\/4 done · /.test(l)).length).toBeLessThanOrEqual(1);
    expect(term.text().filter((l) => l.includes('/4 done'))).toEqual([]);
    expect(term.raw).toMatch(SGR_COLOUR);
  });

  it('NO_COLOR: no colour, and still the live progress', async () => {
    const { r, term } = await run(baseEnv({ NO_COLOR: '1' }));
    expect(r.code).toBe(2);
    expect(term.frames.some((f) => / · 4\/4 done · /.test(f))).toBe(true);
    expect(term.raw).not.toMatch(SGR_COLOUR);
  });

  it('TERM=dumb: plain lines, no live region, no colour; FORCE_COLOR=1 on a pipe: coloured plain lines', async () => {
    const dumb = await run(baseEnv({ TERM: 'dumb' }));
    expect(dumb.r.code).toBe(2);
    expect(dumb.term.raw).not.toContain('done · ');
    expect(dumb.term.raw).not.toMatch(SGR_COLOUR);
    expect(dumb.term.text().some((l) => /^\d\d:\d\d:\d\d db-01 ROLLBACK/.test(l))).toBe(true);
    const piped = await runCli([pb, '-i', inv, '--state-dir', join(dir, 'state')], { cwd: dir, env: baseEnv({ FORCE_COLOR: '1', CI: 'true' }) });
    expect(piped.code).toBe(2);
    expect(piped.out).toMatch(SGR_COLOUR);
    const plain = await runCli([pb, '-i', inv, '--state-dir', join(dir, 'state')], { cwd: dir, env: baseEnv({ CI: 'true' }) });
    expect(plain.out).not.toMatch(SGR_COLOUR);
  });
});

describeWithSshd('-v levels over a real sshd', () => {
  let sshd: SshdHandle;
  let dir: string;
  let inv: string;
  let pb: string;
  beforeAll(async () => {
    sshd = await startSshd();
    dir = mkdtempSync(join(tmpdir(), 'pvrun-verbose-'));
    inv = join(dir, 'inv.yml');
    writeFileSync(inv, `hosts:\n  g1:\n    connection: { type: ssh, address: 127.0.0.1, port: ${sshd.port}, user: ${sshd.user}, key: ${sshd.clientKeyPath}, known_hosts: ${knownHostsFor(sshd)}, host_key_checking: strict }\n`);
    pb = join(dir, 'site.yml');
    // unmount reads the whole mount table in a read-only probe: one line per mount
    writeFileSync(pb, `- name: v\n  hosts: all\n  steps:\n    - name: say\n      run-script: echo changed-something-$((40+2))\n    - name: unmount\n      unmount: ${join(dir, 'not-mounted')}\n`);
  });
  afterAll(async () => {
    await sshd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const out = async (...v: string[]) => {
    const r = await runCli([pb, '-i', inv, '--state-dir', join(dir, 'state'), ...v], { cwd: dir, env: baseEnv({ CI: 'true' }) });
    expect(r.code, r.out + r.err).toBe(0);
    return r.out.split('\n').map((l) => l.replace(/^\d\d:\d\d:\d\d /, ''));
  };
  // the probe prints `mount=<source> <target>` per line of /proc/self/mounts (src/steps/linux/mounts.ts)
  const mountLines = (ls: string[]) => ls.filter((l) => /^g1 \[unmount\] log: mount=\S+ \//.test(l));

  it('-v: starts and what changed, not the mount table; -vv: the commands too; -vvv: everything', async () => {
    const v0 = await out();
    expect(v0.some((l) => l.startsWith('g1 [say] start'))).toBe(false);
    const v1 = await out('-v');
    expect(v1).toContain('g1 [say] start');
    expect(v1).toContain('g1 [say] log: changed-something-42');
    expect(v1.filter((l) => l.includes('log: $ '))).toEqual([]);
    expect(mountLines(v1)).toEqual([]);
    const v2 = await out('-vv');
    expect(v2.some((l) => l.startsWith('g1 [say] log: $ '))).toBe(true);
    expect(v2.some((l) => l.startsWith('g1 [unmount] log: $ '))).toBe(true);
    expect(mountLines(v2)).toEqual([]);
    const v3 = await out('-vvv');
    expect(mountLines(v3).length).toBeGreaterThan(3);
    // and the SSH transport's own debug lines (ssh2's), at -vvv only
    expect(v3.some((l) => l.startsWith('g1 [ssh transport] log: '))).toBe(true);
    // the handshake among them, though the run took over the preflight's connection (issue 17):
    // its lines were held until the run took it, and not lost
    expect(v3.some((l) => /^g1 \[ssh transport\] log: .*(KEXINIT|Handshake completed)/i.test(l)), v3.filter((l) => l.includes('[ssh transport]')).slice(0, 5).join('\n')).toBe(true);
    expect([...v1, ...v2].some((l) => l.includes('[ssh transport]'))).toBe(false);
    expect(v3.length).toBeGreaterThan(v2.length);
  });

  it('--json events with a level validate against schema/events.schema.json', async () => {
    const r = await runCli([pb, '-i', inv, '--state-dir', join(dir, 'state'), '--json', '-vvv'], { cwd: dir, env: baseEnv({ CI: 'true' }) });
    expect(r.code, r.err).toBe(0);
    const events = r.out.trim().split('\n').map((l) => JSON.parse(l) as { type: string; level?: number });
    expect(new Set(events.filter((e) => e.type === 'step-output').map((e) => e.level ?? 1))).toEqual(new Set([1, 2, 3]));
    const validate = newAjv().compile(JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'schema', 'events.schema.json'), 'utf8')) as object);
    const bad = events.filter((e) => !validate(e)).map((e) => `${JSON.stringify(e).slice(0, 120)} ${JSON.stringify(validate.errors)}`);
    expect(bad).toEqual([]);
  });
});
