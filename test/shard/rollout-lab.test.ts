/**
 * Issue 18 in the lab: one rollout over 4 shard processes (real CLI processes, the XAPI simulator
 * over HTTP as the shared state, real sshd guests). 8 container guests, named so that the host
 * hash puts 2 on each shard.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Lab } from '../../src/lab/lab.js';
import type { RunEvent } from '../../src/engine/events.js';
import { hostShard, shardSlice } from '../../src/shard/partition.js';
import { describeUnless } from '../harness/require.js';
import { cli, guestExec, labSkipReason, startLab } from '../ci/lab-rig.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');

/** 8 names, 2 per shard of 4 (by the same sha256 the CLI uses) */
function names(): string[] {
  const out: string[] = [];
  const per = [0, 0, 0, 0];
  for (let i = 1; out.length < 8; i++) {
    const n = `ro-${String(i).padStart(2, '0')}`;
    const s = hostShard(n, 4);
    if (per[s - 1]! < 2) { per[s - 1]!++; out.push(n); }
  }
  return out;
}
const HOSTS = names();
const slice = (i: number): string[] => shardSlice(HOSTS, { index: i, count: 4 }, 'host', () => 'lab');

const PLAYBOOK = `
- name: rollout
  hosts: all
  serial: [1]
  max_fail_percentage: 10
  on_failure: rollback
  vars: { keep: false, tag: untagged, sleep: 0 }   # defaults: rollback --from-pool loads the playbook without the run's -e
  steps:
    - name: snapshot
      snapshot: { keep: "{{ vars.keep }}" }
    - name: work
      run-script:
        script: "date +%s.%N >> /var/tmp/{{ vars.tag }}.log; if [ -e /var/tmp/fail-me ]; then exit 1; fi; sleep {{ vars.sleep }}"
        timeout: 120
`;

interface Shard { child: ChildProcess; done: Promise<{ code: number | null; signal: string | null; out: string }>; log: string; state: string }

let lab: Lab;
let work: string;
let pb: string;

function shard(i: number, rollout: string, extra: string[] = []): Shard {
  const state = join(work, `${rollout}-s${i}`);
  const log = join(work, `${rollout}-s${i}.log`);
  const fd = openSync(log, 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, pb, '-i', lab.inventoryPath, '--shard', `${i}/4`, '--rollout', rollout, '--state-dir', state, ...extra], {
    cwd: ROOT, stdio: ['ignore', fd, fd],
    env: { ...process.env, CI: '1', PVRUN_ROLLOUT_POLL_MS: '200', PVRUN_ROLLOUT_HEARTBEAT: '1' },
  });
  const done = new Promise<{ code: number | null; signal: string | null; out: string }>((res) => child.on('exit', (code, signal) => res({ code, signal, out: readFileSync(log, 'utf8') })));
  return { child, done, log, state };
}

function events(state: string): RunEvent[] {
  const dir = join(state, 'runs');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.jsonl')).flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n'))
    .filter((l) => l.trim()).map((l) => { try { return JSON.parse(l) as { kind: string; event?: RunEvent }; } catch { return undefined; } })
    .filter((r): r is { kind: string; event: RunEvent } => r?.kind === 'event' && r.event !== undefined).map((r) => r.event);
}
const started = (state: string): string[] => events(state).filter((e) => e.type === 'host-start').map((e) => (e as { host: string }).host);
const ended = (state: string): Extract<RunEvent, { type: 'host-end' }>[] => events(state).filter((e): e is Extract<RunEvent, { type: 'host-end' }> => e.type === 'host-end');
const runIdOf = (state: string): string => readdirSync(join(state, 'runs')).find((f) => f.endsWith('.jsonl'))!.replace(/\.jsonl$/, '');

function poolConfig(): Record<string, string> {
  const pool = [...lab.sim.model.store.table('pool').values()][0]!;
  return pool['other_config'] as Record<string, string>;
}
async function until(what: string, f: () => boolean, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
/** the recap's host lines of a plain-text output */
function recapLines(out: string): string[] {
  const lines = out.split('\n');
  const i = lines.findIndex((l) => l.startsWith('RECAP'));
  return lines.slice(i + 1).filter((l) => /^ {2}\S+ +(ok|changed|skipped|failed|unreachable|rolled-back|needs-attention) /.test(l));
}
const guestLog = async (host: string, tag: string): Promise<string[]> => (await guestExec(lab, host, `cat /var/tmp/${tag}.log 2>/dev/null || true`)).stdout.trim().split('\n').filter(Boolean);

const skip = labSkipReason();
describeUnless(skip)('one rollout over 4 shard processes (lab)', () => {
  beforeAll(async () => {
    lab = await startLab({ guests: HOSTS.map((name) => ({ name, distro: 'debian', version: '12' })) });
    work = mkdtempSync(join(tmpdir(), 'pvrun-rollout-'));
    pb = join(work, 'pb.yml');
    writeFileSync(pb, PLAYBOOK);
  }, 300_000);
  afterAll(async () => { await lab?.stop(); });

  it('4 shards at once: disjoint slices, every host once, the canary first, the merged recap as one process\'s', async () => {
    const shards = [1, 2, 3, 4].map((i) => shard(i, 'R1', ['-e', 'tag=r1', '-e', 'sleep=1']));
    const results = await Promise.all(shards.map((s) => s.done));
    for (const r of results) expect(r.code, r.out).toBe(0);
    // each shard ran exactly its slice; together every host once
    const ran = shards.map((s) => ended(s.state).map((e) => e.host));
    ran.forEach((hosts, i) => expect(hosts).toEqual(slice(i + 1)));
    expect(ran.flat().sort()).toEqual([...HOSTS].sort());
    for (const h of HOSTS) expect(await guestLog(h, 'r1'), h).toHaveLength(1);
    // the canary: one shard claimed it; its first host ended before any other shard started a host
    const claim = poolConfig()['pvrun.rollout.R1.canary'];
    expect(poolConfig()['pvrun.rollout.R1.canary.result']).toBe('ok');
    const canary = Number(/shard=(\d)\/4/.exec(claim ?? '')![1]);
    const canaryEnd = ended(shards[canary - 1]!.state)[0]!.time;
    const early: string[] = [];
    for (const [i, s] of shards.entries()) {
      if (i + 1 === canary) continue;
      const first = events(s.state).find((e) => e.type === 'host-start') as { time: string };
      if (first.time < canaryEnd) early.push(`shard ${i + 1} started ${first.time}, canary ended ${canaryEnd}`);
      // a shard that came up before the canary's end waited for it (a late one finds the result there)
      const runStart = (events(s.state).find((e) => e.type === 'run-start') as { time: string }).time;
      if (runStart < canaryEnd) expect(results[i]!.out).toContain(`waiting for the canary batch of shard ${canary}/4`);
    }
    expect(early).toEqual([]);
    for (let i = 1; i <= 4; i++) expect(poolConfig()[`pvrun.rollout.R1.shard.${i}`]).toMatch(/^state=done;t=.*;hosts=2$/);

    // the merged record equals what one process running the whole rollout reports
    const merged = await cli(['runs', '--rollout', 'R1', ...shards.flatMap((s) => ['--state-dir', s.state])], { ...process.env, CI: '1' }, ROOT);
    expect(merged.code, merged.err).toBe(0);
    const one = await cli([pb, '-i', lab.inventoryPath, '-e', 'tag=r1-one', '-e', 'sleep=0', '--state-dir', join(work, 'one')], { ...process.env, CI: '1' }, ROOT);
    expect(one.code, one.out + one.err).toBe(0);
    expect(recapLines(merged.out)).toHaveLength(8);
    expect(recapLines(merged.out)).toEqual([...recapLines(one.out)].sort());
    expect(merged.out).toMatch(/RECAP {2}run rollout R1 {2}[\d.]+s {2}exit 0/);
    // a folder of CI artifacts (the four state dirs under one root) gives the same
    const fromRoot = await cli(['show', '--rollout', 'R1', '--state-dir', work], { ...process.env, CI: '1' }, ROOT);
    expect(recapLines(fromRoot.out)).toEqual(recapLines(merged.out));
  }, 300_000);

  it('a failure over the rollout\'s budget in one shard stops the others at their next batch', async () => {
    // shard 1 first, so it holds the canary; the failing host is shard 2's first
    const failing = slice(2)[0]!;
    await guestExec(lab, failing, 'touch /var/tmp/fail-me');
    try {
      const s1 = shard(1, 'R2', ['-e', 'tag=r2', '-e', 'sleep=6']);
      await until('shard 1 to claim the canary', () => poolConfig()['pvrun.rollout.R2.canary'] !== undefined);
      const rest = [2, 3, 4].map((i) => shard(i, 'R2', ['-e', 'tag=r2', '-e', 'sleep=6']));
      const [r1, r2, r3, r4] = await Promise.all([s1, ...rest].map((s) => s.done));
      expect(poolConfig()['pvrun.rollout.R2.canary.result']).toBe('ok');
      expect(poolConfig()[`pvrun.rollout.R2.fail.${failing}`]).toMatch(/^shard=2;run=.*;outcome=rolled-back$/);
      expect(r2!.code, r2!.out).toBe(2);
      // shards 3 and 4 were inside their first batch when it failed: their second host never started
      for (const [i, r] of [[3, r3!], [4, r4!]] as const) {
        expect(r.code, r.out).toBe(2);
        expect(started(rest[i - 2]!.state)).toEqual([slice(i)[0]]);
        expect(r.out).toMatch(/rollout R2: 1 of 8 hosts failed across the shards \(12\.5% > max_fail_percentage 10\): no further batch starts in any shard/);
        expect(poolConfig()[`pvrun.rollout.R2.shard.${i}`]).toMatch(/^state=stopped;/);
      }
      expect(r1!.code, r1!.out).not.toBe(null);
      const merged = await cli(['runs', '--rollout', 'R2', '--state-dir', work], { ...process.env, CI: '1' }, ROOT);
      expect(merged.out).toMatch(/exit 2/);
      expect(recapLines(merged.out).filter((l) => l.includes('rolled-back')).map((l) => l.trim().split(/\s+/)[0])).toEqual([failing]);
    } finally {
      await guestExec(lab, failing, 'rm -f /var/tmp/fail-me');
    }
  }, 300_000);

  it('a shard SIGKILLed mid-rollout: the others go on and report it stale; resume of that shard finishes its slice', async () => {
    const s1 = shard(1, 'R3', ['-e', 'tag=r3', '-e', 'sleep=8']);
    await until('shard 1 to claim the canary', () => poolConfig()['pvrun.rollout.R3.canary'] !== undefined);
    const victim = shard(3, 'R3', ['-e', 'tag=r3', '-e', 'sleep=8']);
    await until('shard 3 to be inside its first host\'s work step', () => events(victim.state).some((e) => e.type === 'step-start' && (e as { step: string }).step === 'work'));
    victim.child.kill('SIGKILL');
    // shards 2 and 4 come up once its heartbeat (every 1 s here) is older than 4 beats: they must call it stale
    const killedAt = Date.now();
    await victim.done;
    await new Promise((r) => setTimeout(r, Math.max(0, killedAt + 5000 - Date.now())));
    const rest = [2, 4].map((i) => shard(i, 'R3', ['-e', 'tag=r3', '-e', 'sleep=8']));
    const [r1, r3, r2, r4] = await Promise.all([s1, victim, ...rest].map((s) => s.done));
    expect(r3!.signal).toBe('SIGKILL');
    for (const r of [r1!, r2!, r4!]) expect(r.code, r.out).toBe(0);
    // they saw its heartbeat stop, and said how to finish its slice
    const run3 = runIdOf(victim.state);
    expect(`${r2!.out}\n${r4!.out}`).toMatch(new RegExp(`shard 3/4 \\(run ${run3}\\) has not reported for \\d+s .*pvrun resume ${run3}`));
    expect(poolConfig()['pvrun.rollout.R3.shard.3']).toMatch(/^state=running;/);
    const before = await cli(['runs', '--rollout', 'R3', '--state-dir', work], { ...process.env, CI: '1' }, ROOT);
    expect(before.out).toContain(`UNFINISHED: shard 3/4 (run ${run3}) did not end`);
    expect(recapLines(before.out)).toHaveLength(6);

    const resumed = await cli(['resume', run3, '--state-dir', victim.state], { ...process.env, CI: '1', PVRUN_ROLLOUT_POLL_MS: '200' }, ROOT);
    expect(resumed.code, resumed.out + resumed.err).toBe(0);
    expect(ended(victim.state).map((e) => e.host).sort()).toEqual([...slice(3)].sort());
    expect(poolConfig()['pvrun.rollout.R3.shard.3']).toMatch(/^state=done;/);
    const after = await cli(['runs', '--rollout', 'R3', '--state-dir', work], { ...process.env, CI: '1' }, ROOT);
    expect(after.out).not.toContain('UNFINISHED');
    expect(recapLines(after.out)).toHaveLength(8);
    expect(after.out).toMatch(/RECAP {2}run rollout R3 .* exit 0/);
    for (const h of [...slice(1), ...slice(2), ...slice(4), slice(3)[1]!]) expect(await guestLog(h, 'r3'), h).toHaveLength(1);
  }, 300_000);

  it('rollback --rollout reverts every shard\'s hosts: from the journals (CI artifacts), and from the pool markers', async () => {
    const env = { ...process.env, CI: '1' };
    const run4 = async (id: string, tag: string): Promise<Shard[]> => {
      const shards = [1, 2, 3, 4].map((i) => shard(i, id, ['-e', `tag=${tag}`, '-e', 'sleep=0', '-e', 'keep=true']));
      for (const r of await Promise.all(shards.map((x) => x.done))) expect(r.code, r.out).toBe(0);
      for (const h of HOSTS) expect(await guestLog(h, tag), h).toHaveLength(1);
      return shards;
    };
    await run4('R4', 'r4');
    const rb = await cli(['rollback', '--rollout', 'R4', '--state-dir', work, '-y'], env, ROOT);
    expect(rb.code, rb.out + rb.err).toBe(0);
    expect(rb.out.match(/== rollout R4: run /g)).toHaveLength(4);
    for (const h of HOSTS) expect(await guestLog(h, 'r4'), h).toEqual([]);

    // the journals are gone (the artifacts expired): the rollout's keys name the runs, the snapshots' markers the rest
    const r5 = await run4('R5', 'r5');
    for (const x of r5) rmSync(x.state, { recursive: true, force: true });
    const rbp = await cli(['rollback', '--rollout', 'R5', '--from-pool', '-i', lab.inventoryPath, '--playbook', pb, '--state-dir', join(work, 'rb5'), '-y'], env, ROOT);
    expect(rbp.code, rbp.out + rbp.err).toBe(0);
    expect(rbp.out.match(/== rollout R5: run /g)).toHaveLength(4);
    for (const h of HOSTS) expect(await guestLog(h, 'r5'), h).toEqual([]);
  }, 400_000);

  it('--check --rollout: the shard rehearses its slice and reports the rollout\'s markers; nothing is written to the pool', async () => {
    const env = { ...process.env, CI: '1' };
    // a rollout with markers on the pool (R1 ran in the first test; run one here if this test runs alone)
    if (poolConfig()['pvrun.rollout.RC.canary'] === undefined) {
      const rs = [1, 2, 3, 4].map((i) => shard(i, 'RC', ['-e', 'tag=rc', '-e', 'sleep=0']));
      for (const r of await Promise.all(rs.map((x) => x.done))) expect(r.code, r.out).toBe(0);
    }
    const before = lab.sim.calls.length;
    const r = await cli([pb, '-i', lab.inventoryPath, '--check', '--shard', '2/4', '--rollout', 'RC', '--state-dir', join(work, 'check')], env, ROOT);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/rollout RC \(check mode: read only, no claim, no wait\): canary: shard \d ok; failures: 0; shards: 1 done, 2 done, 3 done, 4 done/);
    expect(recapLines(r.out).map((l) => l.trim().split(/\s+/)[0])).toEqual(slice(2));
    const calls = lab.sim.calls.slice(before);
    expect(calls.some((c) => c.method === 'pool.get_other_config')).toBe(true);
    expect(calls.filter((c) => !c.readOnly).map((c) => c.method)).toEqual([]);
  }, 300_000);
});
