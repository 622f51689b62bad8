/** `pvrun demo`, the README's quick start, as a user runs it (plain output, not a TTY). */
import { describe, expect, it } from 'vitest';
import { labSkipReason, pvrun, recapOutcomes } from './harness.js';
import { findPwsh } from '../../src/lab/windows/lab-windows.js';

const skip = labSkipReason();
if (skip) console.warn(`[skipped] pvrun demo: ${skip}`);

describe.skipIf(skip !== undefined)('pvrun demo', () => {
  it('runs linux-tools.yml on 8 lab VMs: one skipped, one rolled back and verified clean, the rest changed', async () => {
    const r = await pvrun(['demo']);
    expect(recapOutcomes(r.out), r.out + r.err).toEqual({
      'web-01': 'changed', 'web-02': 'changed', 'db-01': 'changed', 'db-02': 'skipped',
      'app-01': 'changed', 'app-02': 'changed', 'app-03': 'changed', 'legacy-01': 'rolled-back',
      // the Windows-like guest, when pwsh is there (CI installs it)
      ...(findPwsh() ? { 'win-01': 'changed' } : {}),
    });
    expect(r.out).toMatch(/What happened to legacy-01: .*\n.*\n\s+Now: power state Running; the file its failed installer left \(\S+\) is gone\./);
    expect(r.code).toBe(2);
  }, 300_000);
});
