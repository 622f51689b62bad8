import pc from 'picocolors';
import type { HostOutcome, HostRecap, RollbackMode } from '../engine/events.js';

type Paint = (s: string) => string;

type Colors = ReturnType<typeof pc.createColors>;
const outcomeColor: Record<HostOutcome, (c: Colors) => Paint> = {
  ok: (c) => c.green,
  changed: (c) => c.yellow,
  skipped: (c) => c.cyan,
  failed: (c) => c.red,
  unreachable: (c) => c.red,
  'rolled-back': (c) => c.magenta,
  'needs-attention': (c) => (s) => c.bold(c.red(s)),
};

/** how a rolled-back host was put back (HostRecap.rollback_mode) */
const rollbackText: Record<RollbackMode, string> = {
  reverted: 'rolled back: reverted to the snapshot (the VM restarted from it)',
  'hypervisor-undone': 'rolled back: undid the hypervisor changes, VM left running (nothing was changed inside the guest after the snapshot; the snapshot was deleted)',
  undone: 'rolled back: each change undone in reverse (no snapshot)',
};

/** The end-of-run table, one line per host, then loud blocks for hosts that need a human. */
export function formatRecap(recap: HostRecap[], opts: { color: boolean; runId: string; durationMs: number; exitCode: number; check: boolean }): string {
  const c = pc.createColors(opts.color);
  const w = Math.max(4, ...recap.map((r) => r.host.length));
  const lines: string[] = [];
  lines.push(c.bold(`RECAP${opts.check ? ' (check mode: only reads, and commands marked check_mode_safe, ran)' : ''}  run ${opts.runId}  ${(opts.durationMs / 1000).toFixed(1)}s  exit ${opts.exitCode}`));
  for (const r of recap) {
    const paint = outcomeColor[r.outcome](c);
    lines.push(
      `  ${r.host.padEnd(w)}  ${paint(r.outcome.padEnd(15))}` +
      ` ok=${r.ok} changed=${r.changed} failed=${r.failed} skipped=${r.skipped} unreachable=${r.unreachable} rolled_back=${r.rolled_back ? 1 : 0}`,
    );
    if (r.reason && r.outcome !== 'ok' && r.outcome !== 'changed') {
      lines.push(...r.reason.trimEnd().split('\n').map((l) => `  ${' '.repeat(w)}  ${c.dim(l)}`));
    }
    if (r.rollback_mode) lines.push(`  ${' '.repeat(w)}  ${c.dim(rollbackText[r.rollback_mode])}`);
  }
  const attention = recap.filter((r) => r.attention);
  for (const r of attention) {
    const loud = r.outcome === 'needs-attention';
    lines.push('');
    lines.push((loud ? c.bold(c.red(`!! ${r.host} NEEDS ATTENTION`)) : c.yellow(`!  ${r.host}`)) + `: ${r.attention}`);
  }
  if (recap.length === 0) lines.push('  (no host ran)');
  return lines.join('\n');
}
