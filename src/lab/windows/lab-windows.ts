/**
 * Windows-like guests in the lab, tied to the XAPI simulator: each is a PvrunLab state file
 * behind its own `powershell` wrapper (real pwsh with the emulation module), reached through one
 * lab sshd by the ssh-powershell connector. The simulator's hooks reach them here:
 * a hypervisor reboot or start runs the emulated boot (pending driver changes apply), snapshots
 * save the state file and a revert restores it exactly; and what the guest "reports" (PV devices
 * present → PV drivers detected; the agent service running → agent version) is pushed to the
 * simulator's guest metrics, as the PV frontends and the agent would on real Xen.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { GuestReport, PowerOp, SimHooks } from '../sim-hooks.js';
import { startSshd, type SshdHandle } from '../sshd.js';
import { encodeCommand } from '../../util/ps-quote.js';
import { createWindowsLabGuest, seedWindowsState, type WindowsLabGuest, type WindowsLabState } from './guest.js';

const run = promisify(execFile);

export interface WindowsGuestSpec {
  name: string;
  uuid: string;
  /** imported from another Xen cloud with Citrix tools */
  citrix?: boolean;
  /** the static IP of its emulated NIC */
  ip?: string;
}

export interface WindowsGuestInfo {
  name: string;
  uuid: string;
  citrix: boolean;
  executable: string;
  statePath: string;
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
  ) {}

  static async create(specs: WindowsGuestSpec[], dir: string, clientKeyPath: string, onReport: (uuid: string, r: GuestReport) => void): Promise<WindowsLabGuests> {
    const pwsh = findPwsh();
    if (!pwsh) throw new Error('Windows-like lab guests need pwsh (dotnet tool install --global PowerShell)');
    mkdirSync(dir, { recursive: true });
    const sshd = await startSshd({ dir: join(dir, 'sshd'), clientKeyPath });
    const guests = new Map<string, { spec: WindowsGuestSpec; g: WindowsLabGuest }>();
    specs.forEach((spec, i) => {
      const state = seedWindowsState({ citrix: spec.citrix ?? false, ip: spec.ip ?? `10.20.30.${40 + i}`, mac: `00-16-3E-5A-01-${(i + 2).toString(16).padStart(2, '0').toUpperCase()}` });
      // a reboot cuts the SSH connection the command came in on, as on a real guest
      state.dropConnectionOnReboot = true;
      guests.set(spec.uuid, { spec, g: createWindowsLabGuest(join(dir, spec.name), pwsh, state) });
    });
    const lab = new WindowsLabGuests(sshd, dir, guests, onReport);
    lab.timer = setInterval(() => lab.reportAll(), 500);
    lab.timer.unref();
    return lab;
  }

  list(): WindowsGuestInfo[] {
    return [...this.guests.values()].map(({ spec, g }) => ({ name: spec.name, uuid: spec.uuid, citrix: spec.citrix ?? false, executable: g.executable, statePath: g.statePath }));
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
    const agent = s.services.some((v) => v.name === 'XenSvc' && v.status === 'Running') &&
      s.products.some((p) => /XCP-ng Windows Guest Tools/i.test(p.name));
    return {
      pvDriversDetected: pv,
      agentVersion: agent ? { major: 9, minor: 0, micro: 9065, build: 0 } : null,
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

  /** the CD is not looked at: the emulated msiexec knows the packages by file name */
  async onCdChange(): Promise<void> {}

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
