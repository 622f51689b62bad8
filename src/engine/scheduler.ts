import pLimit from 'p-limit';
import { isoNow } from '../util/iso-now.js';
import { splitBatches } from './batches.js';
import { RunControl } from './control.js';
import type { HostRecap } from './events.js';
import { countsAsFailed, EXIT, exitCodeFor } from './exit-codes.js';
import { HostRun } from './host-run.js';
import type { EngineOptions, EnginePlay } from './types.js';

export interface RunSummary {
  exitCode: number;
  recap: HostRecap[];
  interrupted: boolean;
  /** the batch gate stopped the run (a rollout's canary failed, its failure budget is spent) */
  gateStopped?: string;
}

/**
 * Drives plays in order; within a play, rolling batches one after another; within a batch,
 * every host in parallel (at most `forks` at once), each going through its steps on its own,
 * so a slow host never holds the others of its batch.
 */
export class Scheduler {
  readonly control = new RunControl();
  private readonly running = new Map<string, HostRun>();

  constructor(private readonly opts: EngineOptions) {}

  /** SIGINT handling, wired by the CLI. */
  interrupt(): void {
    const kind = this.control.interrupt();
    const running = [...this.running.entries()].map(([host, r]) => ({ host, step: r.currentStep ?? '(between steps)' }));
    this.opts.emit({ type: 'interrupted', second: kind === 'abort', running, time: this.time() });
  }

  private time(): string {
    const t = this.opts.now?.();
    return t ? t.toISOString() : isoNow();
  }

  async run(plays: EnginePlay[]): Promise<RunSummary> {
    const { emit } = this.opts;
    const started = Date.now();
    emit({
      type: 'run-start', runId: this.opts.runId, playbook: this.opts.playbook, inventories: this.opts.inventories,
      check: this.opts.check, time: this.time(),
      plays: plays.map((p) => ({ name: p.name, hosts: p.hosts.length, batches: splitBatches(p.hosts, p.serial).map((b) => b.length) })),
    });
    const recaps = new Map<string, HostRecap>();
    /** hosts that failed in an earlier play do not go on to later plays (as in Ansible) */
    const dropped = new Set<string>();
    let gateStopped: string | undefined;

    plays: for (const [playIndex, play] of plays.entries()) {
      const hosts = play.hosts.filter((h) => !dropped.has(h.name));
      const batches = splitBatches(hosts, play.serial);
      emit({ type: 'play-start', play: play.name, index: playIndex, hosts: hosts.map((h) => h.name), batches: batches.map((b) => b.map((h) => h.name)), time: this.time() });
      for (const [bi, batch] of batches.entries()) {
        if (this.control.stopping) break plays;
        const info = { play: play.name, playIndex, index: bi, hosts: batch.map((h) => h.name), stopping: () => this.control.stopping };
        if (this.opts.batchGate) {
          const g = await this.opts.batchGate(info);
          if (!g.go) {
            gateStopped = g.reason;
            emit({ type: 'warning', message: g.reason, time: this.time() });
            break plays;
          }
          if (this.control.stopping) break plays;
        }
        emit({ type: 'batch-start', play: play.name, index: bi, hosts: batch.map((h) => h.name), time: this.time() });
        const limit = pLimit(Math.max(1, play.forks));
        const results = await Promise.all(batch.map((host) => limit(async (): Promise<HostRecap | undefined> => {
          // After SIGINT no host is started; those never started are not in the recap as failed.
          if (this.control.stopping) return undefined;
          const hr = new HostRun(play, host, this.opts, this.control);
          this.running.set(host.name, hr);
          try {
            return await hr.run();
          } finally {
            this.running.delete(host.name);
          }
        })));
        const done = results.filter((r): r is HostRecap => r !== undefined);
        for (const r of done) {
          recaps.set(r.host, mergeHostRecap(recaps.get(r.host), r));
          if (countsAsFailed(r)) dropped.add(r.host);
        }
        const failed = done.filter(countsAsFailed).length;
        emit({ type: 'batch-end', play: play.name, index: bi, failed, total: batch.length, time: this.time() });
        await this.opts.batchDone?.(info, done);
        if (this.control.aborted) break plays;
        if (failed > 0 && play.onFailure === 'stop') {
          emit({ type: 'max-fail-exceeded', play: play.name, batch: bi, failed, total: batch.length, limit: 0, time: this.time() });
          break;
        }
        if (exceeds(failed, batch.length, play.maxFailPercentage) && bi < batches.length - 1) {
          emit({ type: 'max-fail-exceeded', play: play.name, batch: bi, failed, total: batch.length, limit: play.maxFailPercentage ?? 100, time: this.time() });
          break;
        }
      }
    }

    const recap = [...recaps.values()];
    const interrupted = this.control.stopping;
    let exitCode = exitCodeFor(recap, interrupted);
    // stopped by the rollout's rule (in another process, maybe): the job failed even if our hosts did not
    if (gateStopped !== undefined && exitCode === EXIT.ok) exitCode = EXIT.failed;
    emit({ type: 'run-end', runId: this.opts.runId, exitCode, recap, durationMs: Date.now() - started, time: this.time() });
    return { exitCode, recap, interrupted, ...(gateStopped !== undefined ? { gateStopped } : {}) };
  }
}

/**
 * The failed share of a batch exceeds max_fail_percentage. Without one, as in Ansible, the
 * play stops only when every host of a batch failed.
 */
export function exceeds(failed: number, total: number, maxFailPercentage: number | undefined): boolean {
  if (total === 0 || failed === 0) return false;
  if (maxFailPercentage === undefined) return failed === total;
  return (failed / total) * 100 > maxFailPercentage;
}

/** A host in several plays: counts add up; the later outcome wins unless the earlier was worse. */
export function mergeHostRecap(a: HostRecap | undefined, b: HostRecap): HostRecap {
  if (!a) return b;
  return {
    ...b,
    ok: a.ok + b.ok, changed: a.changed + b.changed, failed: a.failed + b.failed,
    skipped: a.skipped + b.skipped, unreachable: a.unreachable + b.unreachable,
    rolled_back: a.rolled_back || b.rolled_back,
    outcome: b.outcome === 'ok' && a.outcome === 'changed' ? 'changed' : b.outcome,
  };
}
