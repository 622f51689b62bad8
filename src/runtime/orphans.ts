/**
 * Commands a killed pvrun process left running on a guest.
 *
 * Killing the controller (SIGKILL, a dead CI runner, a lost laptop) closes its SSH connections,
 * but sshd does not kill a command that runs without a terminal: an `install.sh` in the middle of
 * `dpkg -i` goes on. A `pvrun resume` that re-runs the step at once then meets the first one's
 * lock (dpkg: "frontend lock was locked by another process", exit 2) and fails a host that was
 * fine — or worse, two installers run at the same time. So before a later process touches a
 * host the killed one was working on, it waits for those commands to end (letting an installer
 * finish is what a careful operator does; killing it half-way leaves the package database
 * broken).
 *
 * Every command pvrun runs over SSH carries `PVRUN_RUN=<run id>/<process nonce>` in its
 * environment (SshConnectorOptions.runTag), inherited by its children. The probe reads
 * /proc/PID/environ of every process: those of the same run but another pvrun process are
 * leftovers. Linux guests only (Windows: not done, see docs/ci.md "resume").
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isUnreachable, type Connector, type ConnectorFailure } from '../connectors/types.js';
import { err, ok, type Result } from '../util/result.js';
import { quoteShell } from '../util/shell-quote.js';

export interface Leftover {
  pid: number;
  /** the command line, shortened */
  command: string;
}

/** The tag of one pvrun process's commands: the run id and a nonce of this process. */
export function runTag(runId: string, nonce: string): string {
  return `${runId}/${nonce}`;
}

/**
 * The probe: pids and command lines of processes whose environment has PVRUN_RUN=<runId>/<x>
 * with x other than `self` (this process's own commands, e.g. the probe itself). Read-only.
 */
export function leftoverProbe(runId: string, selfNonce: string): string {
  // quoted words in a case pattern match literally: no pattern or shell syntax from the ids
  return [
    `for p in /proc/[0-9]*; do`,
    `  v=$({ tr '\\000' '\\n' < "$p/environ"; } 2>/dev/null | grep '^PVRUN_RUN=') || continue`,
    `  case $v in`,
    `    ${quoteShell(`PVRUN_RUN=${runTag(runId, selfNonce)}`)}) continue ;;`,
    `    ${quoteShell(`PVRUN_RUN=${runId}/`)}*)`,
    // a daemon a command started (setsid) leads its own session with the tag in its environ, and
    // its children share that session: not a command of the run. A command's own shell has the
    // tag only from its exports (not in its exec-time environ), so its session leader is untagged.
    `      st=$(cat "$p/stat" 2>/dev/null) || continue; st=\${st##*) }; set -- $st; sid=$4`,
    `      [ "$sid" = "\${p#/proc/}" ] && continue`,
    `      { tr '\\000' '\\n' < "/proc/$sid/environ"; } 2>/dev/null | grep -q '^PVRUN_RUN=' && continue`,
    `      printf '%s %s\\n' "\${p#/proc/}" "$({ tr '\\000' ' ' < "$p/cmdline"; } 2>/dev/null | cut -c1-160)" ;;`,
    `  esac`,
    `done; true`,
  ].join('\n');
}

export function parseLeftovers(stdout: string): Leftover[] {
  const out: Leftover[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^(\d+) (.*)$/.exec(line.trim());
    if (m) out.push({ pid: Number(m[1]), command: m[2]!.trim() });
  }
  return out;
}

export interface OrphanWaitOptions {
  runId: string;
  selfNonce: string;
  /** the connection user is not root: look with sudo too (another user's environ is private) */
  become: boolean;
  deadline: number;
  /** called once when there is something to wait for */
  onWait: (leftovers: Leftover[]) => void;
  pollMs?: number;
}

export type OrphanWait =
  | { kind: 'none' }
  | { kind: 'waited'; ms: number; leftovers: Leftover[] };

export type OrphanFailure =
  | { kind: 'probe'; failure: ConnectorFailure }
  | { kind: 'still-running'; leftovers: Leftover[] };

async function probe(c: Connector, o: OrphanWaitOptions): Promise<Result<Leftover[], ConnectorFailure>> {
  const script = leftoverProbe(o.runId, o.selfNonce);
  if (o.become) {
    const r = await c.exec(script, { become: true, mutates: false, timeoutMs: 60_000 });
    // sudo refused (no rule): fall back to what the user can see (the commands it ran itself)
    if (r.ok && r.value.exitCode === 0) return ok(parseLeftovers(r.value.stdout));
    if (!r.ok && r.error.kind !== 'timeout') return r;
  }
  const r = await c.exec(script, { mutates: false, timeoutMs: 60_000 });
  if (!r.ok) return r;
  return ok(parseLeftovers(r.value.stdout));
}

/** Wait until no command of the run's earlier processes runs on the guest, or the deadline. */
export async function waitForLeftovers(c: Connector, o: OrphanWaitOptions): Promise<Result<OrphanWait, OrphanFailure>> {
  const start = Date.now();
  let first: Leftover[] | undefined;
  for (;;) {
    const r = await probe(c, o);
    if (!r.ok) {
      // the leftover may have been a reboot the killed process asked for: the guest goes away
      // under the probe. Wait for it to come back (capped backoff) and look again.
      if (!isUnreachable(r.error) && r.error.kind !== 'timeout' && r.error.kind !== 'channel-refused') return err({ kind: 'probe', failure: r.error });
      let back = false;
      for (let delay = 500; !back && Date.now() < Math.min(o.deadline, start + 5 * 60_000); delay = Math.min(delay * 2, 5000)) {
        await sleep(delay);
        back = (await c.reconnect()).ok;
      }
      if (!back) return err({ kind: 'probe', failure: r.error });
      continue;
    }
    if (r.value.length === 0) return ok(first ? { kind: 'waited', ms: Date.now() - start, leftovers: first } : { kind: 'none' });
    if (!first) {
      first = r.value;
      o.onWait(r.value);
    }
    if (Date.now() > o.deadline) return err({ kind: 'still-running', leftovers: r.value });
    await sleep(o.pollMs ?? 1000);
  }
}

export function describeLeftovers(l: Leftover[]): string {
  const shown = l.slice(0, 3).map((x) => `pid ${x.pid} (${x.command || '?'})`).join(', ');
  return l.length > 3 ? `${shown} and ${l.length - 3} more` : shown;
}
