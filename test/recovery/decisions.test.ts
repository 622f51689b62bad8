/**
 * src/recovery/'s pure decisions, as values (the CLI formats them): which run and which snapshot
 * per host `rollback --from-pool` reverts to, and the rollback session's exit code.
 */
import { describe, expect, it } from 'vitest';
import { poolRollbackPlan, rollbackOutcome } from '../../src/recovery/rollback-targets.js';
import type { PoolSnapshot } from '../../src/recovery/pool-snapshots.js';
import type { HostRecap } from '../../src/engine/events.js';

const snap = (host: string, run: string, created: string, uuid: string): PoolSnapshot => ({
  pool: 'p', ref: `OpaqueRef:${uuid}`, uuid, name: `pvrun ${run} ${host}`, host, vmUuid: `vm-${host}`, vmName: host, run, created,
  keepUntil: 'never', powerState: 'Running', hadTools: false, playbook: 'playbooks/x.yml', disks: [],
});

describe('poolRollbackPlan', () => {
  const all = [
    snap('a', 'R1-aaaa', '2026-01-01T00:00:02Z', 'a-late'),
    snap('a', 'R1-aaaa', '2026-01-01T00:00:01Z', 'a-early'),
    snap('b', 'R1-aaaa', '2026-01-01T00:00:03Z', 'b-1'),
    snap('a', 'R2-bbbb', '2026-01-01T00:00:04Z', 'a-r2'),
  ].sort((x, y) => x.created.localeCompare(y.created)); // listPoolSnapshots' order

  it('a unique prefix names the run; per selected host its earliest snapshot of that run, as the snapshot token', () => {
    const r = poolRollbackPlan(all, 'R1', new Set(['a', 'b']));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.runId).toBe('R1-aaaa');
    expect(r.value.playbook).toBe('playbooks/x.yml');
    expect(Object.fromEntries(r.value.perHost)).toEqual({
      a: { vmUuid: 'vm-a', snapshotUuid: 'a-early', snapshotRef: 'OpaqueRef:a-early', powerState: 'Running', hadTools: false },
      b: { vmUuid: 'vm-b', snapshotUuid: 'b-1', snapshotRef: 'OpaqueRef:b-1', powerState: 'Running', hadTools: false },
    });
  });

  it('--limit narrows the hosts; none left is an empty plan, not an error', () => {
    const r = poolRollbackPlan(all, 'R1-aaaa', new Set(['b']));
    expect(r.ok && [...r.value.perHost.keys()]).toEqual(['b']);
    const none = poolRollbackPlan(all, 'R2', new Set(['b']));
    expect(none.ok && none.value.perHost.size).toBe(0);
  });

  it('an unknown or ambiguous run is a typed problem listing the runs found', () => {
    expect(poolRollbackPlan(all, 'R9', new Set(['a']))).toEqual({ ok: false, error: { kind: 'no-pool-run', given: 'R9', runs: ['R1-aaaa', 'R2-bbbb'] } });
    expect(poolRollbackPlan(all, 'R', new Set(['a']))).toMatchObject({ ok: false, error: { kind: 'no-pool-run', given: 'R' } });
  });
});

describe('rollbackOutcome', () => {
  const rec = (host: string, outcome: HostRecap['outcome'], attention?: string): HostRecap =>
    ({ host, outcome, ok: 0, changed: 0, failed: 0, skipped: 0, unreachable: 0, rolled_back: outcome === 'rolled-back', ...(attention ? { attention } : {}) }) as HostRecap;

  it('every host rolled back and clean: 0, whatever the engine said', () => {
    expect(rollbackOutcome([rec('a', 'rolled-back'), rec('b', 'rolled-back')], 2)).toEqual({ code: 0, unclean: [] });
  });

  it('a host rolled back whose cleanup could not run: 3, and that host is named', () => {
    const o = rollbackOutcome([rec('a', 'rolled-back'), rec('b', 'rolled-back', 'guest did not answer')], 2);
    expect(o.code).toBe(3);
    expect(o.unclean.map((x) => x.host)).toEqual(['b']);
  });

  it('a host not rolled back (or no host at all): the engine\'s code', () => {
    expect(rollbackOutcome([rec('a', 'rolled-back'), rec('b', 'needs-attention')], 3)).toEqual({ code: 3, unclean: [] });
    expect(rollbackOutcome([], 4)).toEqual({ code: 4, unclean: [] });
  });
});
