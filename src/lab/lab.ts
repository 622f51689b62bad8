/**
 * The lab: an XAPI simulator plus container guests, wired together, with a ready inventory.
 * The simulator tells the guests what the hypervisor does (power, CD, snapshots) through
 * SimHooks; the guests tell the simulator what their agent reports, and when a guest reboots
 * or powers off from inside.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { stringify } from 'yaml';
import { LabGuests, type GuestInfo } from './guest/index.js';
import type { LabDefinition } from './guest/definition.js';
import { XapiSimulator } from './xapi-sim/index.js';
import { WindowsLabGuests, combineHooks, type WindowsGuestInfo, type WindowsGuestSpec } from './windows/lab-windows.js';
import type { SimDefinition } from './xapi-sim/index.js';
import { err, ok, type Result } from '../util/result.js';
import { createServer } from 'node:net';
import { loadInventories } from '../load/inventory.js';
import { createConnector } from '../connectors/factory.js';
import { QemuGuests } from './qemu/guests.js';
import { routeHooks } from './vm-backend.js';

export interface LabOptions {
  stateDir: string;
  definition: LabDefinition;
  /** 0 (default): a free port */
  xapiPort?: number;
  /** Windows-like guests (real pwsh with the PvrunLab emulation module; need pwsh) */
  windows?: Omit<WindowsGuestSpec, 'uuid'>[];
  /** diagnostics, one line each */
  log?: (line: string) => void;
  /** QEMU guests (real Debian 12 VMs, src/lab/qemu), besides the definition's container guests */
  qemu?: number;
}

export const LAB_POOL = 'lab';

export class Lab {
  private constructor(
    readonly stateDir: string,
    readonly sim: XapiSimulator,
    readonly guests: LabGuests,
    readonly inventoryPath: string,
    readonly windows: WindowsLabGuests | undefined,
    readonly qemu: QemuGuests | undefined = undefined,
  ) {}

  /**
   * Build the guests, start the simulator, boot every guest, write the inventory, and confirm
   * every guest answers on its port with its own host key (the production connector, strict).
   * Fixed ports already taken on 127.0.0.1 are refused up front (`PORTS_TAKEN`): nothing starts.
   */
  static async start(opts: LabOptions): Promise<Result<Lab, string>> {
    const stateDir = resolve(opts.stateDir);
    const taken = await portsInUse(labPorts(opts.definition, opts.xapiPort));
    if (taken.length) return err(portsTakenMessage(taken));
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
    let windows: WindowsLabGuests | undefined;
    const winSpecs: WindowsGuestSpec[] = (opts.windows ?? []).map((w) => ({ ...w, uuid: randomUUID() }));
    if (winSpecs.length > 0) {
      try {
        windows = await WindowsLabGuests.create(winSpecs, join(stateDir, 'windows'), guests.value.clientKeyPath, (uuid, r) => sim?.setGuestReport(uuid, r),
          { vendorDeviceOf: (name) => (sim ? sim.vm(name).rec['has_vendor_device'] === true : undefined) });
      } catch (e) {
        await guests.value.destroy();
        return err(`Windows lab guests: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    const qemu = await startQemuBackend(opts, stateDir, guests.value, () => sim);
    if (!qemu.ok) {
      await windows?.stop();
      await guests.value.destroy();
      return err(qemu.error);
    }
    const qemuList = qemu.value?.list() ?? [];
    const password = randomBytes(12).toString('hex');
    const def: SimDefinition = {
      pool: LAB_POOL,
      username: 'root',
      password,
      vms: [
        ...list.map((g) => ({
          name: g.name, uuid: g.uuid, os: g.prettyName, power: 'Halted' as const,
          domainType: 'hvm' as const, tools: 'none' as const, hasVendorDevice: false,
        })),
        // Windows VMs come with "Manage PV drivers via Windows Update" on (the recent default)
        ...winSpecs.map((w) => ({
          name: w.name, uuid: w.uuid, os: 'Microsoft Windows Server 2022 Standard', power: 'Halted' as const,
          domainType: 'hvm' as const, tools: 'none' as const, hasVendorDevice: true,
        })),
        ...qemuList.map((g) => ({
          name: g.name, uuid: g.uuid, os: g.prettyName, power: 'Halted' as const,
          domainType: 'hvm' as const, tools: 'none' as const, hasVendorDevice: false,
        })),
      ],
      // the Windows tools releases the lab built, as ISOs in the ISO library
      ...(windows ? { isos: windows.isoNames() } : {}),
    };
    sim = new XapiSimulator({ definition: def, hooks: routeHooks(qemu.value ? [qemu.value] : [], combineHooks(guests.value, windows)), autoGuestReports: false, port: opts.xapiPort ?? 0 });
    try {
      await sim.start();
    } catch (e) {
      await qemu.value?.destroy();
      await guests.value.destroy();
      return err(`XAPI simulator: ${e instanceof Error ? e.message : String(e)}`);
    }
    // Boot every VM through XAPI so the simulator's records (start_time, metrics) match.
    const names = [...list.map((g) => g.name), ...winSpecs.map((w) => w.name), ...qemuList.map((g) => g.name)];
    const started = await Promise.all(names.map((n) => sim!.model.powerOp(sim!.vm(n).ref, 'start').then(() => undefined, (e: unknown) => `${n}: ${String(e)}`)));
    const failed = started.filter((s): s is string => s !== undefined);
    if (failed.length) {
      await sim.stop();
      await windows?.stop();
      await qemu.value?.destroy();
      await guests.value.destroy();
      return err(`starting guests: ${failed.join('; ')}`);
    }
    const ready = await Promise.all([
      ...list.filter((g) => !g.faults.sshDown).map((g) => guests.value.waitReady(g.name, 60_000)),
      // a TCG boot: about a minute on a loaded machine; ten allowed
      ...qemuList.map((g) => qemu.value!.waitReady(g.uuid, 600_000).then((r) => (r.ok ? r : err({ message: r.error })))),
    ]);
    const notReady = ready.filter((r) => !r.ok);
    if (notReady.length) {
      await sim.stop();
      await windows?.stop();
      await qemu.value?.destroy();
      await guests.value.destroy();
      return err(`guests not ready: ${notReady.map((r) => (r.ok ? '' : r.error.message)).join('; ')}`);
    }
    const inventoryPath = writeInventory(stateDir, sim.url, password, [...list, ...qemuList], windows ? { list: windows.list(), port: windows.sshd.port, knownHostsLine: windows.sshd.knownHostsLine() } : undefined);
    const keys = await confirmGuests(inventoryPath, [...list.filter((g) => !g.faults.sshDown), ...qemuList].map((g) => g.name));
    if (!keys.ok) {
      await sim.stop();
      await windows?.stop();
      await qemu.value?.destroy();
      await guests.value.destroy();
      return err(keys.error);
    }
    return ok(new Lab(stateDir, sim, guests.value, inventoryPath, windows, qemu.value));
  }

  list(): GuestInfo[] {
    return [...this.guests.list(), ...(this.qemu?.list() ?? [])];
  }

  /** Stop exactly what the lab started. */
  async stop(): Promise<void> {
    await this.sim.stop();
    await this.windows?.stop();
    await this.qemu?.destroy();
    await this.guests.destroy();
  }
}

/** The QEMU backend when asked for (opts.qemu), reporting to the simulator as the containers do. */
async function startQemuBackend(
  opts: LabOptions, stateDir: string, guests: LabGuests, sim: () => XapiSimulator | undefined,
): Promise<Result<QemuGuests | undefined, string>> {
  if (!opts.qemu) return ok(undefined);
  const q = await QemuGuests.create({
    count: opts.qemu, stateDir, clientKeyPath: guests.clientKeyPath, toolsIsoPath: guests.toolsIsoPath,
    onGuestReport: (uuid, report) => sim()?.setGuestReport(uuid, report),
    onGuestInitiatedReboot: (uuid) => { void guestPowerOp(sim(), uuid, 'clean_reboot', opts.log); },
    onGuestInitiatedShutdown: (uuid) => { void guestPowerOp(sim(), uuid, 'clean_shutdown', opts.log); },
    ...(opts.log ? { log: opts.log } : {}),
  });
  return q.ok ? ok(q.value) : err(`QEMU guests: ${q.error}`);
}

/** The fixed ports a lab definition asks for (0 and absent: a free one is chosen). */
export function labPorts(def: LabDefinition, xapiPort?: number): number[] {
  return [...(xapiPort ? [xapiPort] : []), ...def.guests.map((g) => g.port).filter((p): p is number => typeof p === 'number' && p > 0)];
}

/** Which of these ports something already listens on at 127.0.0.1 (another lab, another process). */
export async function portsInUse(ports: readonly number[]): Promise<number[]> {
  const taken = await Promise.all(ports.map((port) => new Promise<boolean>((res) => {
    const srv = createServer();
    srv.once('error', (e: NodeJS.ErrnoException) => res(e.code === 'EADDRINUSE' || e.code === 'EACCES'));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => res(false)));
  })));
  return ports.filter((_, i) => taken[i]);
}

/** Starts the message `lab up` prints (and tests look for) when its ports are taken. */
export const PORTS_TAKEN = 'ports already in use on 127.0.0.1';

export function portsTakenMessage(taken: readonly number[]): string {
  return `${PORTS_TAKEN}: ${taken.join(', ')} (another lab or another process listens there); nothing was started. ` +
    `Stop it (\`pvrun lab down\` in its directory), or start a lab with free ports: \`pvrun lab up --state DIR --guests spec.yml\` (ports left out of the spec are chosen free)`;
}

/**
 * Before "ready": each guest answers on its port with the host key the inventory pins (strict
 * checking, the production connector: handshake and login, no command). Another process on the
 * port is found here, not as "HOST KEY CHANGED" in the first run.
 */
async function confirmGuests(inventoryPath: string, names: string[]): Promise<Result<void, string>> {
  const inv = loadInventories([inventoryPath]);
  if (!inv.ok) return err(`lab inventory: ${inv.error.map((d) => d.message).join('; ')}`);
  const problems = await Promise.all(names.map(async (name) => {
    const host = inv.value.hosts[name];
    if (!host) return `${name}: not in the lab inventory`;
    const c = createConnector(host, { mode: 'check', resolveSecret: () => err('no secrets for lab guests') });
    if (!c.ok) return c.error;
    try {
      const r = await c.value.connector.connect();
      return r.ok ? undefined : `${name} (127.0.0.1:${host.connection.port ?? 22}) does not answer with its own host key or login: ${r.error.message}`;
    } finally {
      await c.value.connector.close();
    }
  }));
  const bad = problems.filter((p): p is string => p !== undefined);
  return bad.length ? err(`guests not confirmed: ${bad.join('; ')}`) : ok(undefined);
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
export function writeInventory(
  stateDir: string, xapiUrl: string, password: string, guests: GuestInfo[],
  windows?: { list: WindowsGuestInfo[]; port: number; knownHostsLine: string },
): string {
  // Absolute paths: the inventory works from any directory and as a copy elsewhere (tests edit
  // copies). The checked-in inventories/lab.yml writes them relative to itself instead
  // (../.lab/…): an inventory's relative paths are relative to its file (src/load/inventory.ts).
  const shown = (p: string): string => resolve(p);
  const pwFile = join(stateDir, 'xapi-password');
  writeFileSync(pwFile, password + '\n', { mode: 0o600 });
  chmodSync(pwFile, 0o600);
  const knownHosts = join(stateDir, 'known_hosts');
  writeFileSync(knownHosts, [...guests.map((g) => g.knownHostsLine.trim()), ...(windows ? [windows.knownHostsLine.trim()] : [])].join('\n') + '\n');
  const key = guests[0]?.privateKeyPath ?? join(stateDir, 'lab_key');
  const hosts: Record<string, unknown> = {};
  for (const g of guests) {
    hosts[g.name] = {
      connection: { address: '127.0.0.1', port: g.port },
      vm: { pool: LAB_POOL, uuid: g.uuid },
      vars: { distro: g.distro, distro_version: g.version },
    };
  }
  for (const w of windows?.list ?? []) {
    hosts[w.name] = {
      connection: { address: '127.0.0.1', port: windows!.port },
      vm: { pool: LAB_POOL, uuid: w.uuid },
      // what `powershell.exe` is on this lab guest: pwsh with the emulation module (a path on
      // the guest, so absolute: the SSH session does not start in our working directory)
      vars: { powershell_executable: w.executable, ...w.vars },
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
      ...(windows && windows.list.length > 0 ? {
        // Windows VMs as playbooks/windows-tools.yml and windows-citrix-migrate.yml expect them
        windows_all: {
          children: ['windows', 'windows_citrix'],
          connection: { type: 'ssh-powershell', user: 'root', key: shown(key), known_hosts: shown(knownHosts), host_key_checking: 'strict' },
        },
        windows: { hosts: windows.list.filter((w) => !w.citrix).map((w) => w.name) },
        windows_citrix: { hosts: windows.list.filter((w) => w.citrix).map((w) => w.name) },
      } : {}),
    },
    hosts,
  };
  const path = join(stateDir, 'inventory.yml');
  writeFileSync(path, `# Generated by pvrun lab: a simulated pool and its container guests.\n${stringify(inv)}`);
  return path;
}
