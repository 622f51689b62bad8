/**
 * Issue 19 item 6: a resume after a SIGKILL at the snapshot intent adopts the
 * snapshot the killed process made but did not mark. It must carry the playbook's retention
 * (keep: 7d here), the playbook, the creation time and the tools state the step would have set —
 * not 'run-end', which lets the next `snapshots prune` delete the restore point.
 *
 * Real parts: the rollout runs as operators start it, in its own process, and is SIGKILLed while
 * its VM.set_other_config (the markers) is held by the simulator (latency, then the connection is
 * dropped: the markers never land, as when the process dies before sending them). The XAPI
 * simulator is real HTTP with the production client; resume/rollback/prune are the CLI.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XapiSimulator } from '../../src/lab/xapi-sim/index.js';
import { MARK } from '../../src/hypervisor/vm-snapshot.js';
import { listRunIds, readJournal } from '../../src/journal/read.js';
import { pvrun } from '../e2e/harness.js';

const ROOT = resolve(import.meta.dirname, '..', '..');

describe('adopting a snapshot a SIGKILL left unmarked', () => {
  let sim: XapiSimulator;
  let dir: string;
  const PW = 'adopt-secret';
  beforeAll(async () => {
    sim = new XapiSimulator({
      definition: { pool: 'p1', password: PW, vms: [{ name: 'vm-01', os: 'Ubuntu 22.04', power: 'Running', tools: 'agent' }] },
      guestReportDelayMs: 0,
    });
    await sim.start();
    dir = mkdtempSync(join(tmpdir(), 'pvrun-adopt-'));
    writeFileSync(join(dir, 'pw'), `${PW}\n`);
    writeFileSync(join(dir, 'inv.yml'), [
      'hypervisors:',
      `  p1: { url: "${sim.url}", username: root, password: { file: ${join(dir, 'pw')} } }`,
      'hosts:',
      '  vm-01: { vm: { pool: p1, name_label: vm-01 }, connection: { type: none } }',
      '',
    ].join('\n'));
    writeFileSync(join(dir, 'pb.yml'), [
      '- name: snapshot kept a week',
      '  hosts: all',
      '  steps:',
      '    - name: snapshot',
      '      snapshot: { name: "pvrun {{ run.id }} {{ host.name }}", keep: 7d }',
      '    - name: still running',
      '      check: { power_state: Running }',
      '',
    ].join('\n'));
  });
  afterAll(async () => {
    await sim?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** the rollout in its own process, killed while its snapshot markers are in flight */
  async function killedAtMarkers(state: string): Promise<string> {
    sim.clearFaults();
    sim.addFault({ method: 'VM.set_other_config', latencyMs: 30_000, drop: true });
    const seen = sim.calls.length;
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), join(dir, 'pb.yml'), '-i', join(dir, 'inv.yml'), '--state-dir', state], {
      cwd: ROOT, stdio: 'ignore', env: { ...process.env, CI: '1' },
    });
    const timer = setInterval(() => {
      if (sim.calls.slice(seen).some((c) => c.method === 'VM.set_other_config')) child.kill('SIGKILL');
    }, 5);
    const sig = await new Promise<string | null>((res) => child.on('exit', (_c, s) => res(s)));
    clearInterval(timer);
    sim.clearFaults();
    expect(sig).toBe('SIGKILL');
    return listRunIds(state).at(-1)!;
  }

  function runSnapshots(runName: string): { uuid: string; oc: Record<string, string> }[] {
    const vm = sim.vm('vm-01');
    return (vm.rec['snapshots'] as string[])
      .map((ref) => sim.model.store.get('VM', ref) as Record<string, unknown>)
      .filter((r) => r['name_label'] === runName)
      .map((r) => ({ uuid: String(r['uuid']), oc: r['other_config'] as Record<string, string> }));
  }

  // (a rollback of this run deletes the adopted snapshot: nothing changed inside the guest after
  // it, so there is nothing to revert; the markers matter for the resume, which keeps it)
  for (const mode of ['resume'] as const) {
    it(`${mode} marks it with the playbook's retention and markers; a later prune keeps it`, async () => {
      const state = join(dir, `state-${mode}`);
      const id = await killedAtMarkers(state);
      const name = `pvrun ${id} vm-01`;
      // the crash window: the snapshot exists, without markers
      const before = runSnapshots(name);
      expect(before).toHaveLength(1);
      expect(before[0]!.oc[MARK.run]).toBeUndefined();
      const j = readJournal(state, id);
      expect(j.ok).toBe(true);
      const intent = j.ok ? j.value.records.find((r) => r.kind === 'intent' && r.action === 'vm.snapshot') : undefined;
      expect(intent, 'the killed run journaled its vm.snapshot intent').toBeDefined();

      const r = await pvrun([mode, id, '--state-dir', state]);
      expect(r.code, r.out + r.err).toBe(0);
      expect(r.err).toContain('not marked before the crash: marked now');
      const after = runSnapshots(name);
      expect(after).toHaveLength(1);
      const oc = after[0]!.oc;
      expect(oc[MARK.run]).toBe(id);
      expect(oc[MARK.hadTools]).toBe('true');
      expect(oc[MARK.powerState]).toBe('Running');
      expect(oc[MARK.playbook]).toBe(resolve(dir, 'pb.yml'));
      // keep: 7d from when the step took it, not 'run-end'
      const created = Date.parse(oc[MARK.created] ?? '');
      expect(Date.parse(oc[MARK.keepUntil] ?? '') - created).toBe(7 * 24 * 3600_000);
      expect(Math.abs(created - Date.now())).toBeLessThan(10 * 60_000);

      // the restore point survives the next prune (nothing expired)
      const pr = await pvrun(['snapshots', 'prune', '-i', join(dir, 'inv.yml')]);
      expect(pr.code, pr.out + pr.err).toBe(0);
      expect(runSnapshots(name)).toHaveLength(1);
    }, 120_000);
  }
});
