import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * One live process per run: the run (and a resume or rollback of it) holds
 * <state>/runs/<run>.lock with its pid while it works. A second process on the same run — a
 * rollback started while the rollout is still going — is refused instead of racing it on the
 * same VMs. A lock whose process is gone (killed) is stale and taken over.
 */
export type LockResult = { ok: true; release: () => void } | { ok: false; pid: number };

const alive = (pid: number): boolean => {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as { code?: string }).code === 'EPERM'; }
};

export function lockRun(stateDir: string, runId: string): LockResult {
  const dir = join(stateDir, 'runs');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${runId}.lock`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return { ok: true, release: () => rmSync(path, { force: true }) };
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) return { ok: false, pid };
      rmSync(path, { force: true }); // stale: its process died (SIGKILL, power loss)
    }
  }
  return { ok: false, pid: -1 };
}
