/**
 * The lab's QEMU guests: real Debian 12 VMs (image.ts) behind the XAPI simulator, the second
 * implementation of the lab's VM backend (src/lab/vm-backend.ts; the first is the container
 * guests of src/lab/guest). The simulator's hooks map onto QMP (vm.ts):
 *   start → a new QEMU process        clean_shutdown → system_powerdown (ACPI, systemd powers off)
 *   hard_shutdown → quit              clean_reboot → system_powerdown, then a new process
 *   hard_reboot → quit, then a new process (a new domain, as Xen does)
 *   VBD insert/eject → blockdev-change-medium / eject on the IDE CD drive (the guest sees sr0)
 *   VM.snapshot / revert / destroy → internal qcow2 snapshots named by the snapshot's uuid
 * Guest metrics come over the guest's xenstore channel (virtio-serial, see image.ts and
 * docs/lab.md): PV drivers are detected once the bridge reports (the guest kernel's virtio
 * drivers are up), the agent while its heartbeat is fresh.
 *
 *   <state>/qemu/<name>/   the VM's directory (vm.ts), host_key(.pub)
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { GuestReport, PowerOp } from '../sim-hooks.js';
import type { VmBackend } from '../vm-backend.js';
import { freePort } from '../sshd.js';
import { describeFailure, run } from '../guest/exec.js';
import { buildReport, parseHeartbeat } from '../guest/report.js';
import type { GuestInfo } from '../guest/lab-guests.js';
import { TOOLS_ISO_NAME } from '../iso/build.js';
import { err, ok, unreachable, type Result } from '../../util/result.js';
import { ensureImage, type GuestImage } from './image.js';
import { QemuVm } from './vm.js';

export interface QemuGuestsOptions {
  count: number;
  stateDir: string;
  /** the lab's client key (private; `.pub` next to it): root's authorised key in every guest */
  clientKeyPath: string;
  toolsIsoPath: string;
  /** other ISOs by file name (VDI name_label) */
  isoDir?: string;
  /** name prefix: <prefix>1, <prefix>2 … */
  namePrefix?: string;
  cacheDir?: string;
  /** a heartbeat older than this makes the agent "not detected" (default 10 s) */
  heartbeatStaleMs?: number;
  onGuestReport?: (vmUuid: string, report: GuestReport) => void;
  onGuestInitiatedReboot?: (vmUuid: string) => void;
  onGuestInitiatedShutdown?: (vmUuid: string) => void;
  log?: (line: string) => void;
}

interface Guest {
  name: string;
  uuid: string;
  port: number;
  vm: QemuVm;
  hostKey: string;
  pv: boolean;
  heartbeat: { fields: string; at: number } | undefined;
  lastReport: string;
  queue: Promise<unknown>;
}

export const QEMU_PRETTY_NAME = 'Debian GNU/Linux 12 (bookworm)';

export class QemuGuests implements VmBackend {
  private readonly byUuid = new Map<string, Guest>();
  private timer: NodeJS.Timeout | undefined;

  private constructor(readonly image: GuestImage, private readonly guests: Guest[], private readonly opts: QemuGuestsOptions) {
    for (const g of guests) this.byUuid.set(g.uuid, g);
  }

  /** The image (built on first use), then each VM's directory and disk; every VM halted. */
  static async create(opts: QemuGuestsOptions): Promise<Result<QemuGuests, string>> {
    const img = await ensureImage({ ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}), ...(opts.log ? { log: (l: string) => opts.log!(`image: ${l}`) } : {}) });
    if (!img.ok) return err(img.error);
    const root = join(opts.stateDir, 'qemu');
    rmSync(root, { recursive: true, force: true });
    const guests: Guest[] = [];
    const self: { lab?: QemuGuests } = {};
    for (let i = 1; i <= opts.count; i++) {
      const name = `${opts.namePrefix ?? 'qemu-deb12-'}${i}`;
      const dir = join(root, name);
      mkdirSync(dir, { recursive: true });
      const hostKey = join(dir, 'host_key');
      const kg = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `pvrun-lab-host-${name}`, '-f', hostKey]);
      if (kg.code !== 0) return err(describeFailure('ssh-keygen', kg));
      const uuid = randomUUID();
      const port = await freePort();
      const vm = await QemuVm.create({
        name, dir, image: img.value, sshPort: port, authorizedKeyFile: `${opts.clientKeyPath}.pub`, hostKeyFile: hostKey,
        ...(opts.log ? { log: opts.log } : {}),
        onGuestReboot: () => self.lab?.guestEvent(uuid, 'reboot'),
        onGuestShutdown: () => self.lab?.guestEvent(uuid, 'poweroff'),
        onXenstore: (f) => self.lab?.xenstore(uuid, f),
      });
      if (!vm.ok) return err(vm.error);
      guests.push({ name, uuid, port, vm: vm.value, hostKey, pv: false, heartbeat: undefined, lastReport: '', queue: Promise.resolve() });
    }
    self.lab = new QemuGuests(img.value, guests, opts);
    return ok(self.lab);
  }

  has(uuid: string): boolean {
    return this.byUuid.has(uuid);
  }

  vm(nameOrUuid: string): QemuVm | undefined {
    return (this.byUuid.get(nameOrUuid) ?? this.guests.find((g) => g.name === nameOrUuid))?.vm;
  }

  list(): GuestInfo[] {
    return this.guests.map((g): GuestInfo => {
      const pub = readFileSync(`${g.hostKey}.pub`, 'utf8').trim().split(/\s+/);
      return {
        name: g.name, uuid: g.uuid, distro: 'debian', version: '12', prettyName: QEMU_PRETTY_NAME, packageFamily: 'deb',
        host: '127.0.0.1', port: g.port, user: 'root', privateKeyPath: this.opts.clientKeyPath,
        knownHostsLine: `[127.0.0.1]:${g.port} ${pub[0] ?? ''} ${pub[1] ?? ''}`,
        powerState: g.vm.running ? 'running' : 'halted', bootId: g.vm.bootId || undefined, cd: g.vm.cd ?? null,
        toolsInstalled: false, faults: { installFails: false, rebootNeverReturns: false, slowBootMs: 0, sshDown: false },
        upperDir: g.vm.disk,
      };
    });
  }

  /** Until the guest's sshd greets (a TCG boot takes about a minute on a loaded machine). */
  async waitReady(nameOrUuid: string, timeoutMs = 600_000): Promise<Result<void, string>> {
    const vm = this.vm(nameOrUuid);
    if (!vm) return err(`no QEMU guest ${nameOrUuid}`);
    return vm.waitSsh(timeoutMs);
  }

  /**
   * Lab fault: the VM's next reboot from inside the guest never completes (any other start, as
   * the one after a revert, is normal): `break=premount` makes the real initramfs
   * (initramfs-tools) stop at its shell before mounting the root file system, sshd never starts
   * (a bad `init=` would not do: initramfs-tools falls back to /sbin/init).
   */
  failNextReboot(nameOrUuid: string): boolean {
    const vm = this.vm(nameOrUuid);
    if (!vm) return false;
    vm.nextRebootKernelArgs = 'break=premount';
    return true;
  }

  async destroy(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all(this.guests.map((g) => g.vm.destroy()));
  }

  // ---- SimHooks: failures throw, so the simulator fails the XAPI call ---------------------

  private serial<T>(g: Guest, f: () => Promise<T>): Promise<T> {
    const p = g.queue.then(f, f);
    g.queue = p.catch(() => undefined);
    return p;
  }

  private must(r: Result<void, string>): void {
    if (!r.ok) throw new Error(r.error);
  }

  async onPowerOp(vmUuid: string, op: PowerOp): Promise<void> {
    const g = this.byUuid.get(vmUuid);
    if (!g) return;
    this.ensurePolling();
    await this.serial(g, async () => {
      const vm = g.vm;
      switch (op) {
        case 'start': if (!vm.running) this.must(await vm.start()); break;
        case 'clean_shutdown': this.must(await vm.powerdown()); break;
        case 'hard_shutdown': await vm.quit(); break;
        // a reboot the guest did itself already ended the process: only the new boot is left
        case 'clean_reboot': this.must(await vm.powerdown()); this.must(await vm.start()); break;
        case 'hard_reboot': await vm.quit(); this.must(await vm.start()); break;
        default: unreachable(op);
      }
      if (op !== 'start') this.reset(g);
    });
  }

  async onCdChange(vmUuid: string, iso: { vdiUuid: string; nameLabel: string } | null): Promise<void> {
    const g = this.byUuid.get(vmUuid);
    if (!g) return;
    let path: string | null = null;
    if (iso) {
      if (iso.nameLabel === TOOLS_ISO_NAME) path = this.opts.toolsIsoPath;
      else if (this.opts.isoDir && /^[^/]+$/.test(iso.nameLabel) && existsSync(join(this.opts.isoDir, iso.nameLabel))) path = join(this.opts.isoDir, iso.nameLabel);
      else throw new Error(`no ISO file for VDI "${iso.nameLabel}"`);
    }
    await this.serial(g, async () => this.must(await g.vm.setCd(path)));
  }

  async onSnapshot(vmUuid: string, snapshotUuid: string): Promise<void> {
    const g = this.byUuid.get(vmUuid);
    if (!g) return;
    await this.serial(g, async () => this.must(await g.vm.snapshot(snapshotUuid)));
  }

  async onRevert(vmUuid: string, snapshotUuid: string): Promise<void> {
    const g = this.byUuid.get(vmUuid);
    if (!g) return;
    await this.serial(g, async () => {
      // XAPI's revert leaves the VM halted: the domain goes first
      await g.vm.quit();
      this.reset(g);
      this.must(await g.vm.revert(snapshotUuid));
    });
  }

  async onSnapshotDestroy(vmUuid: string, snapshotUuid: string): Promise<void> {
    const g = this.byUuid.get(vmUuid);
    if (!g) return;
    await this.serial(g, async () => {
      const has = await g.vm.listSnapshots();
      if (has.ok && !has.value.includes(snapshotUuid)) return;
      this.must(await g.vm.deleteSnapshot(snapshotUuid));
    });
  }

  // ---- what the guest tells ----------------------------------------------------------------

  private guestEvent(uuid: string, what: 'reboot' | 'poweroff'): void {
    const g = this.byUuid.get(uuid);
    if (!g) return;
    this.reset(g);
    try {
      if (what === 'reboot') this.opts.onGuestInitiatedReboot?.(uuid);
      else this.opts.onGuestInitiatedShutdown?.(uuid);
    } catch (e) {
      this.opts.log?.(`${g.name}: guest ${what} handler: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private xenstore(uuid: string, fields: Record<string, string>): void {
    const g = this.byUuid.get(uuid);
    if (!g) return;
    if (fields['pv'] === '1') g.pv = true;
    else g.heartbeat = { fields: Object.entries(fields).map(([k, v]) => `${k}=${v}`).join('\n'), at: Date.now() };
    this.push(g);
  }

  private reset(g: Guest): void {
    g.pv = false;
    g.heartbeat = undefined;
  }

  private push(g: Guest): void {
    const fresh = g.heartbeat && Date.now() - g.heartbeat.at < (this.opts.heartbeatStaleMs ?? 10_000) ? g.heartbeat : undefined;
    const hb = fresh ? parseHeartbeat(fresh.fields) : undefined;
    const report = buildReport(g.pv && g.vm.running, hb && (!hb.bootId || hb.bootId === g.vm.bootId) ? hb : undefined);
    const key = `${g.vm.bootId}:${JSON.stringify(report)}`;
    if (key === g.lastReport) return;
    g.lastReport = key;
    try {
      this.opts.onGuestReport?.(g.uuid, report);
    } catch (e) {
      this.opts.log?.(`${g.name}: onGuestReport: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** a heartbeat that stops (the agent stopped) turns stale: looked at every second */
  private ensurePolling(): void {
    if (this.timer) return;
    this.timer = setInterval(() => { for (const g of this.guests) if (g.vm.running) this.push(g); }, 1000);
    this.timer.unref();
  }
}
