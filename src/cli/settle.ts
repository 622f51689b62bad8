import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Inventory } from '../model/inventory.js';
import { retryTransient, retryUntil } from '../runtime/wait-guest.js';
import type { Io } from './io.js';
import { poolSessions } from './pool-snapshots.js';

const VM_SETTLE_MS = 5 * 60_000;
const GUEST_SETTLE_MS = 2 * 60_000;

/**
 * Before a later session touches hosts an earlier process was killed on: let what that process
 * started finish. A VM may still be mid power operation (a guest-initiated reboot, a revert:
 * XAPI refuses another with OTHER_OPERATION_IN_PROGRESS), and a rebooting guest's SSH port is
 * closed until it is back. Bounded waits: a VM that never settles is then handled by the steps,
 * which report it. A pool that does not answer (an XAPI restart, a network blip) is waited for
 * too, with capped backoff until the same deadline, rather than given up on at the first error.
 */
export async function settleHosts(inv: Inventory, hosts: string[], io: Io): Promise<void> {
  const pools = poolSessions(inv, true, () => {});
  try {
    await Promise.all(hosts.map(async (name) => {
      const h = inv.hosts[name];
      if (!h?.vm) return;
      const deadline = Date.now() + VM_SETTLE_MS;
      let told = false;
      const onRetry = (why: string): void => {
        if (!told) io.err.write(`pvrun: ${name}: the pool does not answer (${why}): waiting for it\n`);
        told = true;
      };
      const vm = await retryTransient(() => pools.vm(h.vm!), { deadline, onRetry });
      if (!vm.ok) return;
      let power = '';
      let waited = false;
      for (;;) {
        const r = await retryTransient(() => vm.value.xapi.call<{ current_operations: Record<string, string>; power_state: string }>('VM.get_record', [vm.value.ref]), { deadline, onRetry });
        if (!r.ok) return;
        power = r.value.power_state;
        if (Object.keys(r.value.current_operations ?? {}).length === 0 || Date.now() > deadline) break;
        if (!waited) io.err.write(`pvrun: ${name}: waiting for the VM's ${Object.values(r.value.current_operations).join(', ')} to finish\n`);
        waited = true;
        await sleep(250);
      }
      const c = h.connection;
      if (power !== 'Running' || c.type === 'none' || !c.address) return;
      const port = c.port ?? (c.type === 'psremoting' ? (c.https ? 5986 : 5985) : 22);
      // the same capped backoff as every wait for a guest (src/runtime/wait-guest.ts)
      const address = c.address;
      await retryUntil(async () => ((await answers(address, port)) ? { done: true } : { retry: `${address}:${port} does not answer yet` }),
        { deadline: Date.now() + GUEST_SETTLE_MS, maxDelayMs: 2000 });
    }));
  } finally {
    await pools.closeAll();
  }
}

/** Whether the guest's port accepts a connection and speaks first (an SSH banner) or at least accepts. */
function answers(host: string, port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ host, port });
    const done = (v: boolean): void => { s.destroy(); res(v); };
    s.setTimeout(3000, () => done(false));
    s.once('data', () => done(true));
    s.once('error', () => done(false));
    // WinRM does not speak first: being accepted is the best sign there is
    if (port === 5985 || port === 5986) s.once('connect', () => done(true));
  });
}
