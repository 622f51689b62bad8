/**
 * Windows-like guests in the lab, tied to the XAPI simulator: each is a PvrunLab state file
 * behind its own `powershell` wrapper (real pwsh with the emulation module), reached through one
 * lab sshd by the ssh-powershell connector. The simulator's hooks reach them here:
 * a hypervisor reboot or start runs the emulated boot (pending driver changes apply), snapshots
 * save the state file and a revert restores it exactly; and what the guest "reports" (PV devices
 * present → PV drivers detected; the agent service running → agent version) is pushed to the
 * simulator's guest metrics, as the PV frontends and the agent would on real Xen.
 *
 * The XCP-ng Windows tools come from release packages the lab builds in the real layout
 * (releases.ts): each release is an ISO in the simulator's ISO library (inserting it shows its
 * content as drive D:) and a release zip on the lab host (for the local-file source). Each boot
 * gives the guest the vendor device exactly when the VM's has_vendor_device is on.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { GuestReport, PowerOp, SimHooks } from '../sim-hooks.js';
import { startSshd, type SshdHandle } from '../sshd.js';
import { encodeCommand } from '../../util/ps-quote.js';
import { createWindowsLabGuest, seedWindowsState, type WindowsLabGuest, type WindowsLabState } from './guest.js';
import { buildRelease, LAB_RELEASES, type BuiltRelease, type LabReleaseName } from './releases.js';

const run = promisify(execFile);

export interface WindowsGuestSpec {
  name: string;
  uuid: string;
  /** imported from another Xen cloud with Citrix tools */
  citrix?: boolean;
  /** the static IP of its emulated NIC */
  ip?: string;
  /** the release the inventory points it at (windows_tools_iso); default 9.1 */
  release?: LabReleaseName;
}

/** A release the lab built: its ISO's name in the ISO library, its zip on the lab host. */
export interface LabReleaseInfo extends BuiltRelease { isoName: string }

/** the name the lab gives a release's ISO in its ISO library */
export const releaseIsoName = (version: string): string => `XCP-ng Windows tools ${version}.iso`;

export interface WindowsGuestInfo {
  name: string;
  uuid: string;
  citrix: boolean;
  executable: string;
  statePath: string;
  /** host variables for the inventory: the tools source of playbooks/windows*.yml */
  vars: Record<string, string>;
}

/** Where pwsh is: PATH, or the dotnet global tool folder CI installs it into. */
export function findPwsh(): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(':'), join(process.env['HOME'] ?? '/root', '.dotnet', 'tools')];
  for (const d of dirs) {
    const p = join(d, 'pwsh');
    if (d && existsSync(p)) return p;
  }
  return undefined;
}

export class WindowsLabGuests implements SimHooks {
  private timer: NodeJS.Timeout | undefined;
  private readonly last = new Map<string, string>();

  private constructor(
    readonly sshd: SshdHandle,
    private readonly dir: string,
    private readonly guests: Map<string, { spec: WindowsGuestSpec; g: WindowsLabGuest }>,
    private readonly onReport: (uuid: string, r: GuestReport) => void,
    readonly releases: LabReleaseInfo[],
    private readonly vendorDeviceOf: ((name: string) => boolean | undefined) | undefined,
  ) {}

  /**
   * `vendorDeviceOf(vm name)`: the VM's has_vendor_device on the simulator, read at each boot
   * (undefined: unknown, the guest keeps what it had).
   */
  static async create(
    specs: WindowsGuestSpec[], dir: string, clientKeyPath: string, onReport: (uuid: string, r: GuestReport) => void,
    opts: { vendorDeviceOf?: (name: string) => boolean | undefined } = {},
  ): Promise<WindowsLabGuests> {
    const pwsh = findPwsh();
    if (!pwsh) throw new Error('Windows-like lab guests need pwsh (dotnet tool install --global PowerShell)');
    mkdirSync(dir, { recursive: true });
    const sshd = await startSshd({ dir: join(dir, 'sshd'), clientKeyPath });
    const releases: LabReleaseInfo[] = Object.values(LAB_RELEASES).map((r) => ({
      ...buildRelease(join(dir, 'releases', `xcp-ng-windows-tools-${r.version}`), r, pwsh), isoName: releaseIsoName(r.version),
    }));
    const guests = new Map<string, { spec: WindowsGuestSpec; g: WindowsLabGuest }>();
    specs.forEach((spec, i) => {
      const state = seedWindowsState({ citrix: spec.citrix ?? false, ip: spec.ip ?? `10.20.30.${40 + i}`, mac: `00-16-3E-5A-01-${(i + 2).toString(16).padStart(2, '0').toUpperCase()}` });
      // a reboot cuts the SSH connection the command came in on, as on a real guest
      state.dropConnectionOnReboot = true;
      guests.set(spec.uuid, { spec, g: createWindowsLabGuest(join(dir, spec.name), pwsh, state) });
    });
    const lab = new WindowsLabGuests(sshd, dir, guests, onReport, releases, opts.vendorDeviceOf);
    lab.timer = setInterval(() => lab.reportAll(), 500);
    lab.timer.unref();
    return lab;
  }

  list(): WindowsGuestInfo[] {
    return [...this.guests.values()].map(({ spec, g }) => ({
      name: spec.name, uuid: spec.uuid, citrix: spec.citrix ?? false, executable: g.executable, statePath: g.statePath,
      vars: { windows_tools_iso: releaseIsoName(LAB_RELEASES[spec.release ?? '9.1'].version) },
    }));
  }

  /** the ISO names of the lab's releases (for the simulator's ISO library) */
  isoNames(): string[] {
    return this.releases.map((r) => r.isoName);
  }

  release(name: LabReleaseName): LabReleaseInfo {
    return this.releases.find((r) => r.release.version === LAB_RELEASES[name].version)!;
  }

  has(uuid: string): boolean {
    return this.guests.has(uuid);
  }

  state(name: string): WindowsLabState | undefined {
    for (const { spec, g } of this.guests.values()) if (spec.name === name) return g.read();
    return undefined;
  }

  /** What the guest shows the hypervisor now. */
  private report(s: WindowsLabState): GuestReport {
    const pv = s.devices.some((d) => d.present && /^(XENBUS|XENVIF|XENVBD)\\/i.test(d.instanceId));
    // the agent comes with the one MSI of a release, under either product name
    const tools = s.products.find((p) => /^XCP-ng Windows (PV Drivers|Guest Tools)$/i.test(p.name));
    const agent = s.services.some((v) => v.name === 'XenSvc' && v.status === 'Running') && tools !== undefined;
    const [major, minor, micro] = (tools?.version ?? '0.0.0').split('.').map(Number);
    return {
      pvDriversDetected: pv,
      agentVersion: agent ? { major: major ?? 0, minor: minor ?? 0, micro: micro ?? 0, build: 0 } : null,
      ...(agent ? { os: { name: s.os.caption, distro: 'windows', major: s.os.version.split('.')[0] ?? '10' } } : {}),
      ...(agent ? { ips: Object.fromEntries(s.adapters.flatMap((a, i) => a.addresses.filter((x) => x.origin === 'Manual').map((x) => [`${i}/ipv4/0`, x.ip]))) } : {}),
    };
  }

  /** Push changed reports, and a fresh one after every boot (its boot count changes). */
  reportAll(): void {
    for (const [uuid, { g }] of this.guests) {
      let s: WindowsLabState;
      try { s = g.read(); } catch { continue; }
      const r = this.report(s);
      const key = JSON.stringify([r, s.bootCount]);
      if (this.last.get(uuid) === key) continue;
      this.last.set(uuid, key);
      this.onReport(uuid, r);
    }
  }

  async onPowerOp(vmUuid: string, op: PowerOp): Promise<void> {
    const x = this.guests.get(vmUuid);
    if (!x || op === 'clean_shutdown' || op === 'hard_shutdown') return;
    // the vendor device follows the VM's has_vendor_device at this boot
    const vendor = this.vendorDeviceOf?.(x.spec.name);
    if (vendor !== undefined) {
      const s = x.g.read();
      if (s.vendorDevice !== vendor) x.g.write({ ...s, vendorDevice: vendor });
    }
    // start or reboot: the emulated boot applies pending driver changes and a new boot time
    await run(x.g.executable, ['-EncodedCommand', encodeCommand('shutdown.exe /r /t 0 | Out-Null')], { timeout: 60_000 });
    this.last.delete(vmUuid);
    this.reportAll();
  }

  async onSnapshot(vmUuid: string, snapshotUuid: string): Promise<void> {
    const x = this.guests.get(vmUuid);
    if (!x) return;
    mkdirSync(join(this.dir, 'snapshots'), { recursive: true });
    copyFileSync(x.g.statePath, join(this.dir, 'snapshots', `${snapshotUuid}.json`));
  }

  async onRevert(vmUuid: string, snapshotUuid: string): Promise<void> {
    const x = this.guests.get(vmUuid);
    const saved = join(this.dir, 'snapshots', `${snapshotUuid}.json`);
    if (!x || !existsSync(saved)) return;
    copyFileSync(saved, x.g.statePath);
    this.last.delete(vmUuid);
  }

  async onSnapshotDestroy(_vmUuid: string, snapshotUuid: string): Promise<void> {
    rmSync(join(this.dir, 'snapshots', `${snapshotUuid}.json`), { force: true });
  }

  /**
   * The inserted ISO shows as drive D: with its content: a lab release's package tree, an empty
   * folder for any other ISO (e.g. guest-tools.iso, which holds no Windows installers).
   */
  async onCdChange(vmUuid: string, iso: { vdiUuid: string; nameLabel: string } | null): Promise<void> {
    const x = this.guests.get(vmUuid);
    if (!x) return;
    let root: string | null = null;
    if (iso) {
      root = this.releases.find((r) => r.isoName === iso.nameLabel)?.root ?? join(this.dir, 'isos', iso.vdiUuid);
      mkdirSync(root, { recursive: true });
    }
    const s = x.g.read();
    x.g.write({ ...s, cdrom: root });
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.sshd.stop();
  }

  /** state file bytes, for tests comparing before/after */
  raw(name: string): string | undefined {
    for (const { spec, g } of this.guests.values()) if (spec.name === name) return readFileSync(g.statePath, 'utf8');
    return undefined;
  }
}

/** One SimHooks for both kinds of guest: each call goes to whoever owns the VM. */
export function combineHooks(linux: SimHooks, windows: WindowsLabGuests | undefined): SimHooks {
  const pick = (uuid: string): SimHooks => (windows?.has(uuid) ? windows : linux);
  return {
    onPowerOp: async (u, op) => { await pick(u).onPowerOp?.(u, op); },
    onCdChange: async (u, iso) => { await pick(u).onCdChange?.(u, iso); },
    onSnapshot: async (u, s) => { await pick(u).onSnapshot?.(u, s); },
    onRevert: async (u, s) => { await pick(u).onRevert?.(u, s); },
    onSnapshotDestroy: async (u, s) => { await pick(u).onSnapshotDestroy?.(u, s); },
  };
}
