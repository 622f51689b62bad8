/**
 * Issue 14: the generic `powershell` step (Ansible's win_shell), following run-script's rules
 * (src/steps/linux/run-script.ts, test/safety/check-mode-guards.test.ts): inline or a file, creates
 * and unless guards, ok codes, register data; check mode runs no user code unless marked
 * (unless: { check_mode_safe: true }, read_only: true), enforced by the check-mode connector too.
 * Real sshd, the ssh-powershell connector, real pwsh on a lab guest.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSshd, type SshdHandle } from '../../src/lab/sshd.js';
import { createWindowsLabGuest, seedWindowsState } from '../../src/lab/windows/guest.js';
import { createSshPowerShell } from '../../src/connectors/powershell/create.js';
import type { SshPowerShellConnector } from '../../src/connectors/powershell/ssh-powershell.js';
import { powershellStep } from '../../src/steps/windows/index.js';
import { builtinRegistry } from '../../src/steps/registry.js';
import type { StepContext } from '../../src/steps/types.js';
import type { Result } from '../../src/util/result.js';
import { describeWindows, PWSH, windowsHost } from './harness.js';
import { runStep, stepContext } from './step-context.js';

const noSecrets = (): Result<string, string> => ({ ok: false, error: 'none' });

describeWindows('powershell step', { sshd: true }, () => {
  let sshd: SshdHandle;
  let dir: string;
  let run: SshPowerShellConnector;
  let check: SshPowerShellConnector;
  let host: ReturnType<typeof windowsHost>;
  const marker = () => join(dir, 'marker.txt');
  const ctxOf = (checkMode: boolean): StepContext => {
    const c = stepContext(host, checkMode ? check : run, { check: checkMode });
    return { ...c, scope: { run: { playbook_dir: join(dir, 'pb') } } };
  };

  beforeAll(async () => {
    sshd = await startSshd();
    dir = mkdtempSync(join(tmpdir(), 'pvrun-psstep-'));
    mkdirSync(join(dir, 'pb'));
    const g = createWindowsLabGuest(join(dir, 'guest'), PWSH!, seedWindowsState());
    host = windowsHost(sshd, 'ssh-powershell', 'ps');
    const a = createSshPowerShell(host, { resolveSecret: noSecrets, executable: g.executable });
    const b = createSshPowerShell(host, { resolveSecret: noSecrets, executable: g.executable, mode: 'check' });
    if (!a.ok || !b.ok) throw new Error('connector');
    run = a.value.connector;
    check = b.value.connector;
  });
  afterAll(async () => {
    await run?.close();
    await check?.close();
    await sshd?.stop();
  });

  it('is registered as a step type', () => {
    expect(builtinRegistry().steps.get('powershell')).toBe(powershellStep);
  });

  it('inline: runs, registers stdout/exit code; creates makes it idempotent', async () => {
    const args = { script: `Set-Content -LiteralPath '${marker()}' -Value hi\nWrite-Output 'wrote it'`, creates: marker() };
    const r = await runStep(powershellStep, ctxOf(false), args);
    expect(r.plan).toMatchObject({ kind: 'change', summary: 'would run inline PowerShell' });
    expect(r.apply).toMatchObject({ kind: 'changed', data: { exit_code: 0, stdout: expect.stringContaining('wrote it') } });
    expect(existsSync(marker())).toBe(true);
    expect((await runStep(powershellStep, ctxOf(false), args)).plan).toEqual({ kind: 'ok', summary: `not needed: ${marker()} exists` });
  });

  it('exit codes: outside ok_codes fails with the output; inside is success', async () => {
    const failed = await runStep(powershellStep, ctxOf(false), { script: "Write-Output 'nope'; exit 7" });
    expect(failed.apply).toMatchObject({ kind: 'failed', reason: 'PowerShell exit 7 (ok: 0): nope', data: { exit_code: 7 } });
    const okd = await runStep(powershellStep, ctxOf(false), { script: 'exit 3010', ok_codes: [0, 3010] });
    expect(okd.apply).toMatchObject({ kind: 'changed', data: { exit_code: 3010 } });
  });

  it('check mode: the script is not run; a plain unless guard is not run either (unknown)', async () => {
    const p = join(dir, 'check-side-effect.txt');
    const r = await runStep(powershellStep, ctxOf(true), { script: `Set-Content -LiteralPath '${p}' -Value x` });
    expect(r.plan).toMatchObject({ kind: 'change', summary: 'would run inline PowerShell' });
    const u = await runStep(powershellStep, ctxOf(true), { script: 'exit 0', unless: `Set-Content -LiteralPath '${p}' -Value guard; exit 1` });
    expect(u.plan).toEqual({ kind: 'unknown', reason: expect.stringContaining("'unless' guard unknown (not run in check mode)") });
    expect(existsSync(p)).toBe(false);
  });

  it('check mode: an unless guard marked check_mode_safe runs (and says so)', async () => {
    const ok0 = await runStep(powershellStep, ctxOf(true), { script: 'exit 0', unless: { cmd: 'exit 0', check_mode_safe: true } });
    expect(ok0.plan).toEqual({ kind: 'ok', summary: "not needed: 'unless' command succeeded (ran in check mode (check_mode_safe))" });
    const no = await runStep(powershellStep, ctxOf(true), { script: 'exit 0', unless: { cmd: 'exit 1', check_mode_safe: true } });
    expect(no.plan).toMatchObject({ kind: 'change', summary: expect.stringContaining("the 'unless' guard ran in check mode (check_mode_safe) and failed") });
  });

  it('read_only: check mode runs it; a real run reports ok, not changed', async () => {
    const c = await runStep(powershellStep, ctxOf(true), { script: "Write-Output 'reading'", read_only: true });
    expect(c.plan).toEqual({ kind: 'ok', summary: 'ran in check mode (read_only): exit 0' });
    const bad = await runStep(powershellStep, ctxOf(true), { script: 'exit 4', read_only: true });
    expect(bad.plan).toMatchObject({ kind: 'fail', reason: expect.stringContaining('PowerShell exit 4') });
    const r = await runStep(powershellStep, ctxOf(false), { script: "Write-Output 'reading'", read_only: true });
    expect(r.apply).toMatchObject({ kind: 'ok', data: { stdout: expect.stringContaining('reading') } });
  });

  it('the check-mode connector refuses the script itself when a step forgets to ask', async () => {
    const r = await check.exec("Set-Content -LiteralPath 'x' -Value y");
    expect(!r.ok && r.error.kind).toBe('check-mode-refused');
  });

  it('file: a .ps1 next to the playbook runs, named by path and sha256; one outside (or a symlink out) is refused', async () => {
    writeFileSync(join(dir, 'pb', 'hello.ps1'), "Write-Output 'from the file'\n");
    const r = await runStep(powershellStep, ctxOf(false), { file: 'hello.ps1' });
    expect(r.plan).toMatchObject({ kind: 'change', summary: expect.stringMatching(/^would run script file hello\.ps1 \(sha256 [0-9a-f]{64}\)$/) });
    expect(r.apply).toMatchObject({ kind: 'changed', data: { stdout: expect.stringContaining('from the file') } });
    writeFileSync(join(dir, 'outside.ps1'), 'exit 0\n');
    symlinkSync(join(dir, 'outside.ps1'), join(dir, 'pb', 'link.ps1'));
    for (const file of ['../outside.ps1', 'link.ps1']) {
      const x = await runStep(powershellStep, ctxOf(false), { file });
      expect(x.plan).toMatchObject({ kind: 'fail', reason: expect.stringContaining("is outside the playbook's directory") });
    }
  });
});
