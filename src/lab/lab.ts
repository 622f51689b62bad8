/**
 * The lab: an XAPI simulator plus container guests, wired together, with a ready inventory.
 * The simulator tells the guests what the hypervisor does (power, CD, snapshots) through
 * SimHooks; the guests tell the simulator what their agent reports, and when a guest reboots
 * or powers off from inside.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import { LabGuests, type GuestInfo } from './guest/index.js';
import type { LabDefinition } from './guest/definition.js';
import { XapiSimulator } from './xapi-sim/index.js';
import type { SimDefinition } from './xapi-sim/index.js';
import { err, ok, type Result } from '../util/result.js';

export interface LabOptions {
  stateDir: string;
  definition: LabDefinition;
  /** 0 (default): a free port */
  xapiPort?: number;
  /** diagnostics, one line each */
  log?: (line: string) => void;
}

export const LAB_POOL = 'lab';

export class Lab {
  private constructor(
    readonly stateDir: string,
    readonly sim: XapiSimulator,
    readonly guests: LabGuests,
    readonly inventoryPath: string,
  ) {}

  /** Build the guests, start the simulator, boot every guest, write the inventory. */
  static async start(opts: LabOptions): Promise<Result<Lab, string>> {
    const stateDir = resolve(opts.stateDir);
    mkdirSync(stateDir, { recursive: true });
    let sim: XapiSimulator | undefined;
    const guests = await LabGuests.create(opts.definition, {
      stateDir,
      onGuestReport: (uuid, report) => sim?.setGuestReport(uuid, report),
      // A reboot or poweroff from inside the guest is a domain event XAPI sees: the simulator
      // runs it as a power operation, which (through the hooks) restarts the guest.
      onGuestInitiatedReboot: (uuid) => { void guestPowerOp(sim, uuid, 'clean_reboot', opts.log); },
      onGuestInitiatedShutdown: (uuid) => { void guestPowerOp(sim, uuid, 'clean_shutdown', opts.log); },
      ...(opts.log ? { log: opts.log } : {}),
    });
    if (!guests.ok) return err(`lab guests: ${guests.error.message}`);
    const list = guests.value.list();
    const password = randomBytes(12).toString('hex');
    const def: SimDefinition = {
      pool: LAB_POOL,
      username: 'root',
      password,
      vms: list.map((g) => ({
        name: g.name, uuid: g.uuid, os: g.prettyName, power: 'Halted' as const,
        domainType: 'hvm' as const, tools: 'none' as const, hasVendorDevice: false,
      })),
    };
    sim = new XapiSimulator({ definition: def, hooks: guests.value, autoGuestReports: false, port: opts.xapiPort ?? 0 });
    try {
      await sim.start();
    } catch (e) {
      await guests.value.destroy();
      return err(`XAPI simulator: ${e instanceof Error ? e.message : String(e)}`);
    }
    // Boot every VM through XAPI so the simulator's records (start_time, metrics) match.
    const started = await Promise.all(list.map((g) => sim!.model.powerOp(sim!.vm(g.name).ref, 'start').then(() => undefined, (e: unknown) => `${g.name}: ${String(e)}`)));
    const failed = started.filter((s): s is string => s !== undefined);
    if (failed.length) {
      await sim.stop();
      await guests.value.destroy();
      return err(`starting guests: ${failed.join('; ')}`);
    }
    const ready = await Promise.all(list.filter((g) => !g.faults.sshDown).map((g) => guests.value.waitReady(g.name, 60_000)));
    const notReady = ready.filter((r) => !r.ok);
    if (notReady.length) {
      await sim.stop();
      await guests.value.destroy();
      return err(`guests not ready: ${notReady.map((r) => (r.ok ? '' : r.error.message)).join('; ')}`);
    }
    const inventoryPath = writeInventory(stateDir, sim.url, password, list);
    return ok(new Lab(stateDir, sim, guests.value, inventoryPath));
  }

  list(): GuestInfo[] {
    return this.guests.list();
  }

  /** Stop exactly what the lab started. */
  async stop(): Promise<void> {
    await this.sim.stop();
    await this.guests.destroy();
  }
}

async function guestPowerOp(sim: XapiSimulator | undefined, uuid: string, op: 'clean_reboot' | 'clean_shutdown', log?: (l: string) => void): Promise<void> {
  if (!sim) return;
  const ref = sim.model.store.byUuid('VM', uuid);
  if (!ref) return;
  try {
    await sim.model.powerOp(ref, op);
  } catch (e) {
    // The simulator only allows clean operations with an agent (as XAPI does); a reboot the
    // guest itself asked for happens regardless, so fall back to the hard variant.
    log?.(`guest-initiated ${op} of ${uuid}: ${e instanceof Error ? e.message : String(e)}; doing it hard`);
    await sim.model.powerOp(ref, op === 'clean_reboot' ? 'hard_reboot' : 'hard_shutdown').catch((e2: unknown) => {
      log?.(`guest-initiated hard ${op} of ${uuid} failed too: ${e2 instanceof Error ? e2.message : String(e2)}`);
    });
  }
}

/** A ready-to-use inventory for the lab: secrets as files, host keys pinned in known_hosts. */
export function writeInventory(stateDir: string, xapiUrl: string, password: string, guests: GuestInfo[]): string {
  // Paths inside the working directory are written relative to it, so the inventory can be
  // checked in (inventories/lab.yml) and used from the repository root.
  const shown = (p: string): string => {
    const r = relative(process.cwd(), p);
    return r === '' || r.startsWith('..') || isAbsolute(r) ? p : r;
  };
  const pwFile = join(stateDir, 'xapi-password');
  writeFileSync(pwFile, password + '\n', { mode: 0o600 });
  chmodSync(pwFile, 0o600);
  const knownHosts = join(stateDir, 'known_hosts');
  writeFileSync(knownHosts, guests.map((g) => g.knownHostsLine.trim()).join('\n') + '\n');
  const key = guests[0]?.privateKeyPath ?? join(stateDir, 'lab_key');
  const hosts: Record<string, unknown> = {};
  for (const g of guests) {
    hosts[g.name] = {
      connection: { address: '127.0.0.1', port: g.port },
      vm: { pool: LAB_POOL, uuid: g.uuid },
      vars: { distro: g.distro, distro_version: g.version },
    };
  }
  const byFamily = (f: string) => guests.filter((g) => g.packageFamily === f).map((g) => g.name);
  const inv = {
    hypervisors: {
      [LAB_POOL]: { url: xapiUrl, username: 'root', password: { file: shown(pwFile) }, tls: {} },
    },
    groups: {
      linux: {
        children: ['rhel_family', 'debian_family'],
        connection: { type: 'ssh', user: 'root', key: shown(key), known_hosts: shown(knownHosts), host_key_checking: 'strict' },
      },
      rhel_family: { hosts: byFamily('rpm') },
      debian_family: { hosts: byFamily('deb') },
    },
    hosts,
  };
  const path = join(stateDir, 'inventory.yml');
  writeFileSync(path, `# Generated by pvrun lab: a simulated pool and its container guests.\n${stringify(inv)}`);
  return path;
}
