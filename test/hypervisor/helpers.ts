import { XapiClient } from '../../src/hypervisor/xapi/index.js';
import type { XapiClientOptions } from '../../src/hypervisor/xapi/index.js';
import { XapiSimulator } from '../../src/lab/xapi-sim/index.js';
import type { SimDefinition, SimulatorOptions } from '../../src/lab/xapi-sim/index.js';

export const POOL: SimDefinition = {
  pool: 'test-pool',
  username: 'root',
  password: 'pw',
  isos: ['debian-12.iso'],
  vms: [
    { name: 'lin-1', os: 'Ubuntu 22.04', power: 'Running', tools: 'drivers' },
    { name: 'lin-2', os: 'Rocky Linux 9', power: 'Running', tools: 'agent' },
    { name: 'win-1', os: 'Windows Server 2022', power: 'Running', tools: 'none', hasVendorDevice: true },
    { name: 'off-1', os: 'Debian 12', power: 'Halted', tools: 'none' },
    { name: 'nocd-1', os: 'Debian 12', power: 'Running', tools: 'agent', cdDrive: false },
    { name: 'dup', power: 'Running', tools: 'agent' },
    { name: 'dup', power: 'Halted', tools: 'agent' },
  ],
};

export async function startSim(opts: Partial<SimulatorOptions> = {}): Promise<XapiSimulator> {
  const sim = new XapiSimulator({ definition: POOL, ...opts });
  await sim.start();
  return sim;
}

export function client(url: string, extra: Partial<XapiClientOptions> = {}): XapiClient {
  const c = XapiClient.create({ url, username: 'root', password: 'pw', ...extra });
  if (!c.ok) throw new Error(c.error.message);
  return c.value;
}

/** unwrap a Result in tests, with the failure in the message */
export function must<T>(r: { ok: true; value: T } | { ok: false; error: { message: string } }): T {
  if (!r.ok) throw new Error(`expected ok, got: ${r.error.message}`);
  return r.value;
}
