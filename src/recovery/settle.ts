import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Inventory } from '../model/inventory.js';
import { retryTransient, retryUntil } from '../runtime/wait-guest.js';
import { poolSessions } from './pool-snapshots.js';

const VM_SETTLE_MS = 5 * 60_000;
const GUEST_SETTLE_MS = 2 * 60_000;

/** What the wait tells while it waits (the CLI prints it; recovery never prints). */
export type SettleNotice =
  | { kind: 'pool-down'; host: string; why: string }
  | { kind: 'vm-busy'; host: string; operations: string[] };

/** How each host's wait ended: the steps that follow report a host that did not settle. */
export type SettleOutcome = 'settled' | 'no-vm' | 'pool-unreachable' | 'vm-busy' | 'guest-silent';

/**
 * Before a later session touches hosts an earlier process was killed on: let what that process
 * started finish. A VM may still be mid power operation (a guest-initiated reboot, a revert:
 * XAPI refuses another with OTHER_OPERATION_IN_PROGRESS), and a rebooting guest's SSH port is
 * closed until it is back. Bounded waits: a VM that never settles is then handled by the steps,
 * which report it. A pool that does not answer (an XAPI restart, a network blip) is waited for
 * too, with capped backoff until the same deadline, rather than given up on at the first error.
 */
export async function settleHosts(inv: Inventory, hosts: string[], notify: (n: SettleNotice) => void): Promise<Map<string, SettleOutcome>> {
  const pools = poolSessions(inv, 'check', () => {});
  const outcomes = new Map<string, SettleOutcome>();
  try {
    await Promise.all(hosts.map(async (name) => outcomes.set(name, await settleOne(name))));
    return outcomes;
  } finally {
    await pools.closeAll();
  }

  async function settleOne(name: string): Promise<SettleOutcome> {
    const h = inv.hosts[name];
    if (!h?.vm) return 'no-vm';
    const deadline = Date.now() + VM_SETTLE_MS;
    let told = false;
    const onRetry = (why: string): void => {
      if (!told) notify({ kind: 'pool-down', host: name, why });
      told = true;
    };
    const vm = await retryTransient(() => pools.vm(h.vm!), { deadline, onRetry });
    if (!vm.ok) return 'pool-unreachable';
    let power = '';
    let waited = false;
    let busy = false;
    for (;;) {
      const r = await retryTransient(() => vm.value.xapi.call<{ current_operations: Record<string, string>; power_state: string }>('VM.get_record', [vm.value.ref]), { deadline, onRetry });
      if (!r.ok) return 'pool-unreachable';
      power = r.value.power_state;
      busy = Object.keys(r.value.current_operations ?? {}).length > 0;
      if (!busy || Date.now() > deadline) break;
      if (!waited) notify({ kind: 'vm-busy', host: name, operations: Object.values(r.value.current_operations) });
      waited = true;
      await sleep(250);
    }
    const c = h.connection;
    if (busy) return 'vm-busy';
    if (power !== 'Running' || c.type === 'none' || !c.address) return 'settled';
    const port = c.port ?? (c.type === 'psremoting' ? (c.https ? 5986 : 5985) : 22);
    // the same capped backoff as every wait for a guest (src/runtime/wait-guest.ts)
    const address = c.address;
    const up = await retryUntil(async () => ((await portAnswers(address, port)) ? { done: true } : { retry: `${address}:${port} does not answer yet` }),
      { deadline: Date.now() + GUEST_SETTLE_MS, maxDelayMs: 2000 });
    return up.ok ? 'settled' : 'guest-silent';
  }
}

/**
 * Whether the guest's port accepts a connection and speaks first (an SSH banner) or at least accepts.
 * Every way the socket can end settles the answer: a port that accepts and closes at once without
 * a word (a guest's sshd going down mid-reboot, a forwarder whose target is gone) ends with 'close'
 * and neither 'data' nor 'error', and a destroyed socket's idle timeout never fires — waiting on
 * those alone left `pvrun rollback` waiting forever, with nothing open (CI 10-1, crash.test.ts).
 */
export function portAnswers(host: string, port: number, timeoutMs = 3000): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ host, port });
    let settled = false;
    const done = (v: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(t);
      s.destroy();
      res(v);
    };
    // a timer of its own: the socket's idle timeout is gone once the socket is destroyed
    const t = setTimeout(() => done(false), timeoutMs);
    s.once('data', () => done(true));
    s.once('error', () => done(false));
    s.once('close', () => done(false));
    // WinRM does not speak first: being accepted is the best sign there is
    if (port === 5985 || port === 5986) s.once('connect', () => done(true));
  });
}
