/**
 * Crash safety in the lab: a rollout in a child process is SIGKILLed at random instants; after
 * each kill, `pvrun resume` must bring every VM to done, and `pvrun rollback` must bring every VM
 * back to its snapshot, running, with the CD empty; then `snapshots prune` leaves no pvrun
 * snapshot. Last, a rollback from the snapshot markers alone after the state directory is gone.
 *
 * Each case starts its own lab (nothing one case leaves behind can fail the next), and every
 * look at a guest waits for it the way pvrun does (src/runtime/wait-guest.ts, through the rig).
 * Each case expects one exact exit code per command.
 *
 * PVRUN_CRASH_RUNS sets the number of kills (default 10: the 2-core CI box). The random seed is
 * printed as `seed=<n>` at the start of the case and in every failure message; replay a failure
 * with PVRUN_TEST_SEED=<n> (PVRUN_CRASH_SEED is still read).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Lab } from '../../src/lab/lab.js';
import { listRunIds, readJournal } from '../../src/journal/read.js';
import { runHistory } from '../../src/journal/history.js';
import { Journal } from '../../src/journal/journal.js';
import { newRunId } from '../../src/journal/run-id.js';
import { XapiClient } from '../../src/hypervisor/xapi/client.js';
import { MARK } from '../../src/hypervisor/vm-snapshot.js';
import { cli, labSkipReason, startLab, vmState, type VmState } from './lab-rig.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const PLAYBOOK = join(ROOT, 'playbooks', 'linux-tools.yml');
const skip = labSkipReason();
if (skip) console.log(`skipping the crash-safety lab tests: ${skip}`);

const RUNS = Number(process.env['PVRUN_CRASH_RUNS'] ?? 10);
const SEED = Number(process.env['PVRUN_TEST_SEED'] ?? process.env['PVRUN_CRASH_SEED'] ?? Date.now() % 100_000);

/** mulberry32: a small seeded PRNG, so the kill instants can be replayed */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** the rollout as operators start it, in its own process; killed after `killAfterMs` if given */
/** journal lines written so far (0 before the journal exists) */
function journalLines(state: string): number {
  try {
    const runs = join(state, 'runs');
    const f = readdirSync(runs).find((n) => n.endsWith('.jsonl'));
    return f ? readFileSync(join(runs, f), 'utf8').split('\n').length - 1 : 0;
  } catch { return 0; }
}

type Kill = { afterMs: number } | { atRecords: number };

function rollout(inventory: string, state: string, log: string, kill?: Kill): Promise<{ code: number | null; signal: string | null; ms: number; startedAt: number }> {
  const started = Date.now();
  const fd = openSync(log, 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), PLAYBOOK, '-i', inventory, '--state-dir', state], {
    cwd: ROOT, stdio: ['ignore', fd, fd], env: { ...process.env, CI: '1' },
  });
  let timer: NodeJS.Timeout | undefined;
  if (kill && 'afterMs' in kill) timer = setTimeout(() => child.kill('SIGKILL'), kill.afterMs);
  // by progress: as soon as the journal holds that many records, so kills spread over every step
  // rather than over time (where the reboots dominate)
  if (kill && 'atRecords' in kill) timer = setInterval(() => { if (journalLines(state) >= kill.atRecords) child.kill('SIGKILL'); }, 2);
  return new Promise((res) => child.on('exit', (code, signal) => {
    if (timer) clearInterval(timer);
    res({ code, signal, ms: Date.now() - started, startedAt: started });
  }));
}

const back = (s: VmState): boolean => s.power === 'Running' && s.cdEmpty && s.toolsOnDisk === false;
const done = (s: VmState): boolean => s.power === 'Running' && s.cdEmpty && s.toolsOnDisk === true;

describe.skipIf(skip !== undefined)('crash safety (lab, SIGKILL)', () => {
  let lab: Lab;
  let work: string;
  const states = async (): Promise<Record<string, VmState>> =>
    Object.fromEntries(await Promise.all(lab.list().map(async (g) => [g.name, await vmState(lab, g.name)] as const)));

  // a lab of its own for every case: a case never starts on what the previous one left
  beforeEach(async () => {
    lab = await startLab();
    work = mkdtempSync(join(tmpdir(), 'pvrun-crash-'));
    // the fresh lab is what every case assumes: guests running, no tools, no CD, no snapshot
    for (const [n, s] of Object.entries(await states())) expect(back(s) && s.pvrunSnapshots === 0, `fresh lab: ${n}: ${JSON.stringify(s)}`).toBe(true);
  }, 300_000);
  afterEach(async () => { await lab?.stop(); });

  it(`after ${RUNS} SIGKILLs at random instants, rollback (or resume, then rollback) brings every VM back (or done); prune leaves no snapshot`, async () => {
    // the length of an uncut rollout bounds the kill instants
    const state0 = join(work, 'state-0');
    const full = await rollout(lab.inventoryPath, state0, join(work, 'uncut.log'));
    expect(full.code, readFileSync(join(work, 'uncut.log'), 'utf8').slice(-3000)).toBe(0);
    for (const [n, s] of Object.entries(await states())) expect(done(s), `${n}: ${JSON.stringify(s)}`).toBe(true);
    const id0 = listRunIds(state0).at(-1)!;
    const fullRecords = journalLines(state0);
    const rb0 = await cli(['rollback', id0, '--state-dir', state0]);
    expect(rb0.code, rb0.out + rb0.err).toBe(0);
    expect((await cli(['snapshots', 'prune', '-i', lab.inventoryPath, '--older-than', '0s'])).code).toBe(0);
    for (const [n, s] of Object.entries(await states())) expect(back(s) && s.pvrunSnapshots === 0, `${n}: ${JSON.stringify(s)}`).toBe(true);

    // the process needs a while to start (tsx) before its journal exists: kills go after that
    const j0 = readJournal(state0, id0);
    const planAt = j0.ok && j0.value.records[0]?.kind === 'plan' ? Date.parse(j0.value.records[0].time) : 0;
    const startup = Math.max(0, Math.min(full.ms - 1000, planAt - (full.startedAt ?? planAt)));
    const rand = rng(SEED);
    console.log(`seed=${SEED} (replay: PVRUN_TEST_SEED=${SEED})`);
    const log: string[] = [`seed ${SEED}, uncut rollout ${full.ms} ms (${fullRecords} journal records), of which startup ${startup} ms`];
    const rollbackMs: number[] = [];
    for (let i = 1; i <= RUNS; i++) {
      const state = join(work, `state-${i}`);
      const out = join(work, `run-${i}.log`);
      // from a little before the journal exists to 90% of an uncut run's length
      // kills 1, 2, 5, 6, …: at a random time; 3, 4, 7, 8, …: after a random number of journal records
      const byTime = (i - 1) % 4 < 2;
      const at = byTime ? Math.floor(startup * 0.9 + rand() * (full.ms * 0.9 - startup * 0.9)) : 1 + Math.floor(rand() * (fullRecords - 1));
      const k = await rollout(lab.inventoryPath, state, out, byTime ? { afterMs: at } : { atRecords: at });
      const ids = listRunIds(state);
      const where = `kill ${i} at ${at} ${byTime ? 'ms' : 'journal records'} (seed ${SEED})`;
      if (k.signal !== 'SIGKILL') log.push(`${where}: the rollout ended first (exit ${k.code})`);
      if (ids.length === 0) {
        // killed before the journal existed: nothing may have been touched
        log.push(`${where}: no journal yet`);
        for (const [n, s] of Object.entries(await states())) expect(back(s) && s.pvrunSnapshots === 0, `${where}: ${n}: ${JSON.stringify(s)}`).toBe(true);
        continue;
      }
      const id = ids.at(-1)!;
      const j = readJournal(state, id);
      const finishedHosts = j.ok ? runHistory(id, j.value.records).hosts.filter((x) => x.finished).map((x) => x.host) : [];
      const cut = j.ok ? runHistory(id, j.value.records).hosts.map((x) => `${x.host}:${x.open ? `in '${x.open.step}'${x.open.applyStarted ? ' (applying)' : ''}` : x.finished ? 'finished' : x.started ? `after '${x.steps.at(-1)?.step ?? '-'}'` : 'not started'}`).join(', ') : '?';
      const show = async (): Promise<string> => (await cli(['show', id, '--state-dir', state, '-v'])).out;

      // even kills: resume first, and every VM ends done; odd kills: straight to rollback
      const resumed = i % 2 === 0;
      let rs = { code: -1, out: '', err: '' };
      if (resumed) {
        rs = await cli(['resume', id, '--state-dir', state]);
        expect(rs.code, `${where}: resume exit ${rs.code}\n${rs.out.slice(-3000)}${rs.err}\n${await show()}`).toBe(0);
        for (const [n, s] of Object.entries(await states())) expect(done(s), `${where}: after resume ${n}: ${JSON.stringify(s)}\n${await show()}`).toBe(true);
        // finished hosts are left alone: not a single step of theirs ran again
        for (const h of finishedHosts) expect(rs.out, `${where}: resume touched finished ${h}`).not.toMatch(new RegExp(`\\b${h} \\[`));
      }

      // rollback: every VM back at its snapshot, running
      const t = Date.now();
      const rb = await cli(['rollback', id, '--state-dir', state]);
      rollbackMs.push(Date.now() - t);
      expect(rb.code, `${where}: rollback\n${rb.out.slice(-3000)}${rb.err}\n${await show()}`).toBe(0);
      for (const [n, s] of Object.entries(await states())) expect(back(s), `${where}: after rollback ${n}: ${JSON.stringify(s)}\n${await show()}`).toBe(true);

      const pr = await cli(['snapshots', 'prune', '-i', lab.inventoryPath, '--older-than', '0s']);
      expect(pr.code, pr.out + pr.err).toBe(0);
      for (const [n, s] of Object.entries(await states())) expect(s.pvrunSnapshots, `${where}: ${n} after prune`).toBe(0);
      log.push(`${where}: ${k.signal ?? `exit ${k.code}`} [${cut}]; ${resumed ? `resume exit ${rs.code}, then ` : ''}rollback ${rollbackMs.at(-1)} ms`);
      // a slow rollback is not a failure (no timed assertions) but is worth seeing
      if (rollbackMs.at(-1)! > 20_000) log.push(`    slow rollback:\n      ${(rb.out + rb.err).trim().split('\n').slice(-25).join('\n      ')}`);
    }
    console.log(`crash safety: ${RUNS} kills\n  ${log.join('\n  ')}\n  rollback times (ms): ${rollbackMs.join(', ')}`);
  }, 3_600_000);

  /**
   * The two crash windows random kills rarely hit, made on purpose: ci-01 killed after VM.snapshot
   * but before its markers were set (an unmarked snapshot), ci-02 after the apply intent but
   * before VM.snapshot was asked for. The journals are what the killed process would have left.
   */
  function cutJournal(state: string, runId: string, snapName: string): void {
    const j = new Journal(state, runId, (x) => x);
    j.plan({ playbook: PLAYBOOK, inventories: [lab.inventoryPath], cwd: ROOT, check: false });
    const t = new Date().toISOString();
    const play = 'Install Xen guest tools on Linux VMs from the tools ISO';
    const names = lab.list().map((g) => g.name);
    j.event({ type: 'run-start', runId, playbook: PLAYBOOK, inventories: [lab.inventoryPath], check: false, time: t, plays: [{ name: play, hosts: 3, batches: [1, 1, 1] }] });
    j.event({ type: 'play-start', play, index: 0, hosts: names, batches: names.map((n) => [n]), time: t });
    for (const [host, asked] of [['ci-01', true], ['ci-02', false]] as const) {
      j.event({ type: 'host-start', host, time: t });
      j.event({ type: 'step-start', host, step: 'skip VMs whose tools are already detected', stepType: 'check', index: 0, phase: 'main', time: t });
      j.event({ type: 'step-result', host, step: 'skip VMs whose tools are already detected', stepType: 'check', index: 0, phase: 'main', status: 'ok', summary: 'ok', durationMs: 1, time: t });
      j.event({ type: 'step-start', host, step: 'snapshot before the drivers change', stepType: 'snapshot', index: 1, phase: 'main', time: t });
      j.intent(host, 'snapshot before the drivers change', { action: 'step.apply', detail: { stepType: 'snapshot' } });
      // the intent as the snapshot step writes it: with the markers it was about to set
      // (keep_snapshot: 7d in linux-tools.yml), which the adoption must use
      const created = new Date();
      const markers = {
        [MARK.run]: runId, [MARK.playbook]: PLAYBOOK, [MARK.host]: host, [MARK.created]: created.toISOString(),
        [MARK.keepUntil]: new Date(created.getTime() + 7 * 24 * 3600_000).toISOString(), [MARK.powerState]: 'Running', [MARK.hadTools]: 'false',
      };
      if (asked) j.intent(host, 'snapshot before the drivers change', { action: 'vm.snapshot', detail: { vm: lab.sim.vm(host).rec['uuid'], name: snapName, run: runId, markers } });
    }
    j.close();
  }

  async function unmarkedSnapshot(name: string): Promise<void> {
    const pw = readFileSync(join(lab.stateDir, 'xapi-password'), 'utf8').trim();
    const c = XapiClient.create({ url: lab.sim.url, username: 'root', password: pw, tls: {} });
    if (!c.ok) throw new Error(c.error.message);
    expect((await c.value.login()).ok).toBe(true);
    const r = await c.value.call('VM.snapshot', [lab.sim.vm('ci-01').ref, name, []]);
    await c.value.close();
    expect(r.ok, JSON.stringify(r)).toBe(true);
  }

  it('a crash between VM.snapshot and its markers, or before VM.snapshot: rollback and resume do the right thing', async () => {
    for (const mode of ['rollback', 'resume'] as const) {
      const state = join(work, `state-cut-${mode}`);
      const runId = newRunId();
      const name = `pvrun ${runId} ci-01 before guest tools`;
      cutJournal(state, runId, name);
      await unmarkedSnapshot(name);
      if (mode === 'rollback') {
        // --limit: only ci-02, which the crash caught before its snapshot: nothing to do, ci-01 untouched
        const l = await cli(['rollback', runId, '--state-dir', state, '--limit', 'ci-02']);
        expect(l.code, l.out + l.err).toBe(0);
        expect(l.out).toContain('ci-02: the crash came before its snapshot was taken');
        expect(l.out + l.err).not.toContain('ci-01');
      }
      const r = await cli([mode, runId, '--state-dir', state]);
      expect(r.code, r.out + r.err).toBe(0);
      // the unmarked snapshot was found by the journaled name and marked, never a second one taken
      expect(r.err).toContain('not marked before the crash: marked now');
      const s1 = await vmState(lab, 'ci-01');
      // rollback: nothing ran in the guest after the snapshot, so it is deleted, not reverted to
      // (issue 19 item 3); resume goes on from it
      expect(s1.pvrunSnapshots, JSON.stringify(s1)).toBe(mode === 'rollback' ? 0 : 1);
      if (mode === 'rollback') {
        expect(r.out).toContain('ci-02: the crash came before its snapshot was taken: nothing was changed');
        for (const g of lab.list()) expect(back(await vmState(lab, g.name)), g.name).toBe(true);
      } else {
        for (const g of lab.list()) expect(done(await vmState(lab, g.name)), g.name).toBe(true);
        const rb = await cli(['rollback', runId, '--state-dir', state]);
        expect(rb.code, rb.out + rb.err).toBe(0);
        for (const g of lab.list()) expect(back(await vmState(lab, g.name)), g.name).toBe(true);
      }
      const pr = await cli(['snapshots', 'prune', '-i', lab.inventoryPath, '--older-than', '0s']);
      expect(pr.code, pr.out + pr.err).toBe(0);
      for (const g of lab.list()) expect((await vmState(lab, g.name)).pvrunSnapshots).toBe(0);
    }
  }, 600_000);

  it('rolls back from the snapshot markers alone after the state directory is deleted', async () => {
    const state = join(work, 'state-lost');
    const r = await rollout(lab.inventoryPath, state, join(work, 'lost.log'));
    // one exact outcome: the rollout succeeds on a fresh lab (a host failing here is a bug to see)
    expect(r.code, readFileSync(join(work, 'lost.log'), 'utf8').slice(-3000)).toBe(0);
    const id = listRunIds(state).at(-1)!;
    const before = await Promise.all(lab.list().map((g) => vmState(lab, g.name)));
    expect(before.some((s) => s.pvrunSnapshots > 0)).toBe(true);
    rmSync(state, { recursive: true, force: true });
    const missing = await cli(['rollback', id, '--state-dir', state]);
    expect(missing.code).toBe(5);
    expect(missing.err).toContain('--from-pool');
    const rb = await cli(['rollback', id, '--from-pool', '-i', lab.inventoryPath, '--state-dir', state]);
    expect(rb.code, rb.out + rb.err).toBe(0);
    for (const g of lab.list()) {
      const s = await vmState(lab, g.name);
      expect(back(s), `${g.name}: ${JSON.stringify(s)}`).toBe(true);
    }
    // the rollback is itself journaled
    expect(listRunIds(state)).toEqual([id]);
    const pr = await cli(['snapshots', 'prune', '-i', lab.inventoryPath, '--older-than', '0s']);
    expect(pr.code).toBe(0);
    for (const g of lab.list()) expect((await vmState(lab, g.name)).pvrunSnapshots).toBe(0);
  }, 600_000);
});
