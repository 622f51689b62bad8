import type { SnapshotInfo } from '../../hypervisor/vm-snapshot.js';
import { MARK } from '../../hypervisor/vm-snapshot.js';

/** keep: true → 'never' (kept for good); false → 'run-end'; a duration → the expiry time. */
export function keepUntil(keep: boolean | number, createdMs: number): string {
  if (keep === true) return 'never';
  if (keep === false) return 'run-end';
  return new Date(createdMs + keep).toISOString();
}

export interface PruneDecision {
  snapshot: SnapshotInfo;
  prune: boolean;
  why: string;
}

/**
 * Which of a VM's pvrun snapshots may go. Only snapshots carrying pvrun's run marker are ever
 * considered (the caller lists only those); a 'run-end' snapshot of the current run is kept unless
 * `includeCurrentRun`, because cleanup cannot tell whether the host needs it for a manual rollback.
 */
export function decidePrune(snaps: SnapshotInfo[], now: number, currentRun: string, includeCurrentRun: boolean): PruneDecision[] {
  return snaps.map((s) => {
    const oc = s.otherConfig;
    if (oc[MARK.run] === undefined) return { snapshot: s, prune: false, why: 'not made by pvrun' };
    const until = oc[MARK.keepUntil] ?? 'never';
    const current = oc[MARK.run] === currentRun;
    if (until === 'never') return { snapshot: s, prune: false, why: 'keep: true' };
    if (until === 'run-end') {
      if (!current) return { snapshot: s, prune: true, why: `keep: false, from run ${oc[MARK.run]}` };
      return includeCurrentRun
        ? { snapshot: s, prune: true, why: 'keep: false, this run' }
        : { snapshot: s, prune: false, why: 'this run (include_current_run: false)' };
    }
    const t = Date.parse(until);
    if (Number.isNaN(t)) return { snapshot: s, prune: false, why: `unreadable ${MARK.keepUntil}='${until}'` };
    if (t > now) return { snapshot: s, prune: false, why: `kept until ${until}` };
    if (current && !includeCurrentRun) return { snapshot: s, prune: false, why: 'this run (include_current_run: false)' };
    return { snapshot: s, prune: true, why: `expired ${until}` };
  });
}
