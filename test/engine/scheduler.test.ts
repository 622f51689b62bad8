import { describe, expect, it } from 'vitest';
import { batchSizes } from '../../src/engine/batches.js';
import { exceeds } from '../../src/engine/scheduler.js';
import { makeRig, newLog, play, scheduler, step } from './rig.js';

const names = (n: number) => Array.from({ length: n }, (_, i) => `vm${String(i + 1).padStart(2, '0')}`);

describe('serial → batch sizes', () => {
  it.each([
    [10, [], [10]],
    [10, [{ count: 1 }], [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]],
    [10, [{ count: 3 }], [3, 3, 3, 1]],
    [10, [{ percent: 25 }], [2, 2, 2, 2, 2]],
    [7, [{ percent: 50 }], [3, 3, 1]],
    [3, [{ percent: 10 }], [1, 1, 1]],
    [20, [{ count: 1 }, { count: 5 }, { percent: 20 }], [1, 5, 4, 4, 4, 2]],
    [4, [{ count: 1 }, { percent: 50 }], [1, 2, 1]],
    [2, [{ count: 5 }], [2]],
    [0, [{ count: 1 }], []],
  ] as const)('%i hosts, serial %j → %j', (total, serial, want) => {
    expect(batchSizes(total, [...serial])).toEqual(want);
  });
});

describe('max_fail_percentage', () => {
  it('is exceeded only strictly above the limit; unset means all failed', () => {
    expect(exceeds(1, 4, 25)).toBe(false);
    expect(exceeds(2, 4, 25)).toBe(true);
    expect(exceeds(1, 1, 0)).toBe(true);
    expect(exceeds(0, 5, 0)).toBe(false);
    expect(exceeds(2, 3, undefined)).toBe(false);
    expect(exceeds(3, 3, undefined)).toBe(true);
  });
});

describe('scheduler', () => {
  it('runs a batch with at most `forks` hosts at once, and reaches it', async () => {
    const log = newLog();
    const rig = makeRig(log);
    const { s } = scheduler();
    const r = await s.run([play({ rig, hosts: names(12), forks: 3, steps: [step('change', { sleep: 20 })] })]);
    expect(r.exitCode).toBe(0);
    expect(log.maxActive).toBe(3);
    expect(r.recap.map((h) => h.outcome)).toEqual(Array(12).fill('changed'));
  });

  it('a slow host does not hold the others of its batch', async () => {
    const log = newLog();
    const rig = makeRig(log);
    const { s } = scheduler();
    await s.run([play({ rig, hosts: ['slow', 'fast1', 'fast2'], forks: 3, steps: [
      step('change', { sleep: { slow: 300 } }), step('other', {}),
    ] })]);
    const i = (c: string) => log.calls.indexOf(c);
    // both fast hosts finish their second step before the slow one finishes its first
    expect(i('fast1:apply:other')).toBeGreaterThan(-1);
    expect(i('fast1:apply:other')).toBeLessThan(i('slow:apply:other'));
    expect(i('fast2:apply:other')).toBeLessThan(i('slow:apply:other'));
  });

  it('batches run one after another', async () => {
    const log = newLog();
    const rig = makeRig(log);
    const { s, events } = scheduler();
    await s.run([play({ rig, hosts: names(5), serial: [{ count: 2 }], forks: 5, steps: [step('change', { sleep: 5 })] })]);
    const starts = events.filter((e) => e.type === 'batch-start').map((e) => (e as { hosts: string[] }).hosts);
    expect(starts).toEqual([['vm01', 'vm02'], ['vm03', 'vm04'], ['vm05']]);
    // no host of batch 2 applies before every host of batch 1 has finished
    const firstOfB2 = Math.min(log.calls.indexOf('vm03:plan:change'), log.calls.indexOf('vm04:plan:change'));
    expect(log.calls.indexOf('vm01:apply:change')).toBeLessThan(firstOfB2);
    expect(log.calls.indexOf('vm02:apply:change')).toBeLessThan(firstOfB2);
  });

  it('max_fail_percentage stops later batches, and a rolled-back canary counts as failed', async () => {
    const log = newLog();
    const rig = makeRig(log);
    const { s, events } = scheduler();
    const r = await s.run([play({
      rig, hosts: names(5), serial: [{ count: 1 }, { percent: 50 }], maxFailPercentage: 0,
      steps: [step('snap'), step('change', { failOn: ['vm01'] })],
    })]);
    expect(r.recap).toHaveLength(1);
    expect(r.recap[0]).toMatchObject({ host: 'vm01', outcome: 'rolled-back', rolled_back: true });
    expect(log.calls.some((c) => c.startsWith('vm02'))).toBe(false);
    expect(events.some((e) => e.type === 'max-fail-exceeded')).toBe(true);
    expect(r.exitCode).toBe(2);
  });

  it('a failure under the limit lets later batches run', async () => {
    const log = newLog();
    const rig = makeRig(log);
    const { s } = scheduler();
    const r = await s.run([play({
      rig, hosts: names(4), serial: [{ count: 2 }], maxFailPercentage: 50,
      steps: [step('change', { failOn: ['vm01'] })], onFailure: 'continue',
    })]);
    expect(r.recap.map((h) => h.outcome)).toEqual(['failed', 'changed', 'changed', 'changed']);
    expect(r.exitCode).toBe(2);
  });

  it('rollback undoes in reverse order from the restore point, then runs cleanup', async () => {
    const log = newLog();
    const rig = makeRig(log);
    const { s, events } = scheduler();
    const r = await s.run([play({
      rig, hosts: ['a'],
      steps: [step('change', {}, { name: 'before' }), step('snap', {}, { name: 'snapshot' }), step('other', {}, { name: 'after' }), step('change', { failOn: ['a'] }, { name: 'boom' })],
      cleanup: [step('other', {}, { name: 'tidy' })],
    })]);
    const tail = log.calls.slice(log.calls.lastIndexOf('a:apply:change'));
    // 'after' is superseded by the revert (no undo call); then snapshot's undo, then 'before', then cleanup
    expect(tail).toEqual(['a:apply:change', 'a:undo:snap', 'a:undo:change', 'a:plan:other', 'a:apply:other']);
    const rb = events.filter((e) => e.type === 'rollback-step').map((e) => (e as { step: string }).step);
    expect(rb).toEqual(['after', 'snapshot', 'before']);
    expect(r.recap[0]).toMatchObject({ outcome: 'rolled-back', reason: 'boom: change failed on a' });
  });

  it('cleanup runs after success too, and tags never skip it', async () => {
    const log = newLog();
    const rig = makeRig(log);
    const { s } = scheduler();
    await s.run([play({ rig, hosts: ['a'], steps: [step('change', {}, { name: 'x' })], cleanup: [step('other')], selected: () => false })]);
    expect(log.calls).toEqual(['a:plan:other', 'a:apply:other']);
  });

  it('a failed undo is needs-attention, exit 3, with recovery text', async () => {
    const log = newLog();
    const rig = makeRig(log);
    const { s } = scheduler();
    const r = await s.run([play({ rig, hosts: ['a', 'b'], steps: [step('snap', { undoFailOn: ['a'] }), step('change', { failOn: ['a'] })] })]);
    expect(r.recap[0]!.outcome).toBe('needs-attention');
    expect(r.recap[0]!.attention).toMatch(/ROLLBACK INCOMPLETE.*pvrun rollback r1 --limit a/);
    expect(r.recap[1]!.outcome).toBe('changed');
    expect(r.exitCode).toBe(3);
  });

  it('on_failure: stop leaves the host as is, says so, and starts no more batches', async () => {
    const log = newLog();
    const rig = makeRig(log);
    const { s } = scheduler();
    const r = await s.run([play({ rig, hosts: names(3), serial: [{ count: 1 }], onFailure: 'stop', steps: [step('snap'), step('change', { failOn: ['vm01'] })] })]);
    expect(log.calls.filter((c) => c.includes(':undo:'))).toEqual([]);
    expect(r.recap).toHaveLength(1);
    expect(r.recap[0]!.attention).toMatch(/left as it is/);
    expect(r.exitCode).toBe(2);
  });

  it('check mode never calls apply, predicts changes, and marks dependent steps unknown', async () => {
    const log = newLog();
    const rig = makeRig(log);
    const { s, events } = scheduler({ check: true });
    const r = await s.run([play({ rig, hosts: ['a', 'b'], steps: [
      step('change', { setsState: 'cd' }, { register: 'attach' }),
      step('other', { needsState: 'cd' }, { name: 'mount' }),
      step('other', { noop: true }, { name: 'uses-output', args: { noop: true, x: '{{ registered.attach.out }}' } as never }),
    ] })]);
    expect(log.calls.some((c) => c.includes(':apply:'))).toBe(false);
    const st = events.filter((e) => e.type === 'step-result' && e.host === 'a').map((e) => (e as { status: string }).status);
    expect(st).toEqual(['would-change', 'unknown', 'unknown']);
    expect(r.recap[0]!.outcome).toBe('changed');
    expect(r.exitCode).toBe(0);
  });

  it('check mode: a step that would fail with nothing pending before it is would-fail', async () => {
    const log = newLog();
    const rig = makeRig(log);
    const { s, events } = scheduler({ check: true });
    const r = await s.run([play({ rig, hosts: ['a'], steps: [step('other', { planFailOn: ['a'] })] })]);
    expect(events.find((e) => e.type === 'step-result')).toMatchObject({ status: 'would-fail' });
    expect(r.exitCode).toBe(2);
  });

  it('skip-host ends a host early as skipped', async () => {
    const log = newLog();
    const rig = makeRig(log);
    const { s } = scheduler();
    const r = await s.run([play({ rig, hosts: ['a', 'b'], steps: [step('other', { skipHostOn: ['a'], noop: true }), step('change')] })]);
    expect(r.recap.map((h) => h.outcome)).toEqual(['skipped', 'changed']);
    expect(log.calls).not.toContain('a:apply:change');
  });

  it('unreachable hosts exit 4 and count as failed', async () => {
    const log = newLog();
    const rig = makeRig(log);
    const { s } = scheduler();
    const r = await s.run([play({ rig, hosts: ['a', 'b'], steps: [step('other', { unreachableOn: ['a'] })] })]);
    expect(r.recap[0]!.outcome).toBe('unreachable');
    expect(r.exitCode).toBe(4);
  });

  it('retries a failing step, then succeeds or fails', async () => {
    const log = newLog();
    const rig = makeRig(log);
    const { s } = scheduler();
    const r = await s.run([play({ rig, hosts: ['a'], onFailure: 'continue', steps: [step('change', { failOn: ['a'] }, { retries: 2, delayMs: 1 })] })]);
    expect(log.calls.filter((c) => c === 'a:apply:change')).toHaveLength(3);
    expect(r.recap[0]!.outcome).toBe('failed');
  });

  it('a step timeout fails the step', async () => {
    const log = newLog();
    const rig = makeRig(log);
    const { s } = scheduler();
    const r = await s.run([play({ rig, hosts: ['a'], onFailure: 'continue', steps: [step('change', { sleep: 2000 }, { timeoutMs: 50 })] })]);
    expect(r.recap[0]!.reason).toMatch(/timed out after 50ms/);
  });

  it('ignore_errors keeps the host going', async () => {
    const log = newLog();
    const rig = makeRig(log);
    const { s } = scheduler();
    const r = await s.run([play({ rig, hosts: ['a'], steps: [step('change', { failOn: ['a'] }, { ignoreErrors: true }), step('other')] })]);
    expect(r.recap[0]!.outcome).toBe('changed');
    expect(log.calls).toContain('a:apply:other');
  });

  it('first SIGINT: no new hosts, running ones stop after their step and roll back; exit 130', async () => {
    const log = newLog();
    const rig = makeRig(log);
    const { s, events } = scheduler();
    const p = s.run([play({ rig, hosts: names(4), forks: 2, steps: [step('snap'), step('change', { sleep: 150 }), step('other')] })]);
    await new Promise((r) => setTimeout(r, 60));
    s.interrupt();
    const r = await p;
    expect(r.exitCode).toBe(130);
    expect(r.recap.map((h) => h.host)).toEqual(['vm01', 'vm02']);
    expect(r.recap.every((h) => h.outcome === 'rolled-back')).toBe(true);
    expect(log.calls.some((c) => c.startsWith('vm03'))).toBe(false);
    expect(log.calls).not.toContain('vm01:apply:other');
    expect(events.find((e) => e.type === 'interrupted')).toMatchObject({ second: false });
  });

  it('second SIGINT aborts at once and names the hosts left mid-step', async () => {
    const log = newLog();
    const rig = makeRig(log);
    const { s, events } = scheduler();
    const p = s.run([play({ rig, hosts: ['a'], steps: [step('snap'), step('change', { sleep: 5000 }, { name: 'install' })] })]);
    await new Promise((r) => setTimeout(r, 60));
    s.interrupt();
    s.interrupt();
    const r = await p;
    // a host left needing attention: 3 wins over 130 (issue 19 item 6)
    expect(r.exitCode).toBe(3);
    const second = events.filter((e) => e.type === 'interrupted')[1];
    expect(second).toMatchObject({ second: true, running: [{ host: 'a', step: 'install' }] });
    expect(r.recap[0]!.outcome).toBe('needs-attention');
    expect(r.recap[0]!.attention).toMatch(/install/);
    expect(log.calls).not.toContain('a:undo:snap');
  });

  it('hosts failed in one play do not run in the next', async () => {
    const log = newLog();
    const rig = makeRig(log);
    const { s } = scheduler();
    await s.run([
      play({ rig, hosts: ['a', 'b'], onFailure: 'continue', steps: [step('change', { failOn: ['a'] })] }),
      play({ rig, hosts: ['a', 'b'], steps: [step('other')] }),
    ]);
    expect(log.calls).toContain('b:apply:other');
    expect(log.calls).not.toContain('a:apply:other');
  });
});
