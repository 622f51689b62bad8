import type { HostRecap } from './events.js';

/** Exit codes, documented in README.md. The most severe wins: 3 > 130 > 4 > 2. */
export const EXIT = {
  ok: 0,
  /** some hosts failed; they were rolled back cleanly, or on_failure said to leave them */
  failed: 2,
  /** a rollback failed, or a host was left in an unknown state: needs attention */
  attention: 3,
  unreachable: 4,
  /** invalid input: nothing was contacted */
  invalid: 5,
  interrupted: 130,
} as const;

export function exitCodeFor(recap: HostRecap[], interrupted: boolean): number {
  // a host left needing a human outranks the interrupt: 130 alone would hide it from scripts
  if (recap.some((r) => r.outcome === 'needs-attention')) return EXIT.attention;
  if (interrupted) return EXIT.interrupted;
  if (recap.some((r) => r.outcome === 'unreachable')) return EXIT.unreachable;
  if (recap.some((r) => r.outcome === 'failed' || r.outcome === 'rolled-back')) return EXIT.failed;
  return EXIT.ok;
}

/** Outcomes that count toward max_fail_percentage: rolled-back and unreachable hosts count. */
export function countsAsFailed(r: HostRecap): boolean {
  return r.outcome === 'failed' || r.outcome === 'rolled-back' || r.outcome === 'unreachable' || r.outcome === 'needs-attention';
}
