/**
 * Every process the suite starts is registered here, so that an error, SIGINT or SIGTERM
 * still stops exactly those processes (by pid) and nothing else.
 */
import { killLiveGroups, releaseGroups } from './measure.js';

const pids = new Set<number>();
const hooks = new Set<() => void>();

export function trackPid(pid: number | undefined): void {
  if (pid) pids.add(pid);
}
export function untrackPid(pid: number | undefined): void {
  if (pid) pids.delete(pid);
}
/** synchronous last-resort clean-up (e.g. removing a directory) */
export function onCleanup(f: () => void): () => void {
  hooks.add(f);
  return () => hooks.delete(f);
}

function killAll(): void {
  killLiveGroups();
  for (const p of pids) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
  pids.clear();
  for (const h of hooks) { try { h(); } catch { /* best effort */ } }
  hooks.clear();
  releaseGroups();
}

let installed = false;
export function installExitHandlers(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping the processes it started\n`);
      killAll();
      process.exit(130);
    });
  }
}
