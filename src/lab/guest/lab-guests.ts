/**
 * LabGuests: the set of container guests of a lab, and the lab's side of the simulator seam
 * (SimHooks, keyed by VM uuid). It creates the guests from a definition, boots and stops them,
 * presents ISOs in their CD drives, saves and restores their disks, watches what they publish
 * (power requests from inside, the agent's heartbeat) and reports it through callbacks that the
 * lab orchestrator wires to the simulator.
 *
 * State directory layout (everything the lab writes on the controller is under it):
 *   <state>/boot.sh                      host-side boot script (see boot-scripts.ts)
 *   <state>/lab_key, lab_key.pub         the client key every guest authorizes (root)
 *   <state>/iso/guest-tools.iso          the lab's tools ISO
 *   <state>/iso-cache/<sha>/root/        extracted ISOs (kernels without iso9660)
 *   <state>/repo/                        package repositories (online path), bound read-only
 *                                        at /run/pvrun-lab-repo in guests (see iso/repo.ts)
 *   <state>/guests/<name>/
 *       guest.json                       resolved definition (port, uuid, identity, faults)
 *       runtime.json                     pids and boot id while running
 *       upper/                           the guest's disk: overlay upper dir over the host's /
 *       work/<boot>/ root/               overlay workdir and mount point (used in the guest's
 *                                        private mount namespace only)
 *       control/                         bound at /run/pvrun-lab in the guest: boot markers,
 *                                        requests/ (reboot, poweroff), xenstore/heartbeat, sshd.log
 *       boot_id                          bound over /proc/sys/kernel/random/boot_id
 *       console.log                      boot script and init output
 *       ssh/host_key(.pub)               the guest's host key (also in upper/etc/ssh)
 *       snapshots/<snapshot uuid>/upper  saved disks
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GuestReport, PowerOp, SimHooks } from '../sim-hooks.js';
import { freePort } from '../sshd.js';
import { err, ok, unreachable, type Result } from '../../util/result.js';
import { buildToolsIso, extractIsoCached, kernelHasIso9660, TOOLS_ISO_NAME } from '../iso/build.js';
import { buildRepo } from '../iso/repo.js';
import { DEFAULT_TOOLS_VERSION, type ToolsVersion } from '../iso/tools-scripts.js';
import { hostBootScript } from './boot-scripts.js';
import { checkSpecs, resolveGuest, type GuestFaults, type LabDefinition, type ResolvedGuest } from './definition.js';
import { labError, LabHookError, type LabError } from './errors.js';
import { describeFailure, run } from './exec.js';
import { guestDirs, LabGuest, type CdMedium, type GuestPowerState } from './guest.js';
import { checkLabPrereqs, checkStateDirFs } from './prereqs.js';
import { prepareRootfs } from './rootfs.js';

export interface LabGuestsOptions {
  /** everything the lab writes goes under this directory */
  stateDir: string;
  toolsVersion?: ToolsVersion;
  /** directory of other ISOs, found by their VDI name_label on CD insert */
  isoDir?: string;
  /** default time between shutdown and start on reboots (per guest: reboot_delay_ms); 300 */
  rebootDelayMs?: number;
  /** how often guests' requests and heartbeats are read; 250 ms */
  pollIntervalMs?: number;
  /** a reboot/poweroff asked inside a guest is acted on after this long; 300 ms */
  requestGraceMs?: number;
  /** an agent heartbeat older than this is not reported; 10 s */
  heartbeatStaleMs?: number;
  onGuestReport?: (vmUuid: string, report: GuestReport) => void;
  onGuestInitiatedReboot?: (vmUuid: string) => void;
  onGuestInitiatedShutdown?: (vmUuid: string) => void;
  /** diagnostics (one line each); default: none */
  log?: (line: string) => void;
}

/** What a client needs to reach and describe a guest. */
export interface GuestInfo {
  name: string;
  uuid: string;
  distro: string;
  version: string;
  prettyName: string;
  packageFamily: 'deb' | 'rpm' | 'none';
  host: '127.0.0.1';
  port: number;
  user: 'root';
  privateKeyPath: string;
  /** `[127.0.0.1]:port ssh-ed25519 AAAA…` for a known_hosts file */
  knownHostsLine: string;
  powerState: GuestPowerState;
  bootId: string | undefined;
  cd: string | null;
  toolsInstalled: boolean;
  faults: ResolvedGuest['faults'];
  /** the guest's disk on the controller (overlay upper dir) */
  upperDir: string;
}

export class LabGuests implements SimHooks {
  /** the guest's agent/PV state changed, or the guest booted again: push it into VM_guest_metrics */
  onGuestReport: ((vmUuid: string, report: GuestReport) => void) | undefined;
  /**
   * `reboot` (or `shutdown -r`, `systemctl reboot`) ran inside the guest. When set, the handler
   * owns the reboot: it should run the simulator's power operation, whose onPowerOp brings the
   * guest back; the lab does not reboot the guest itself. When unset, the lab reboots it.
   */
  onGuestInitiatedReboot: ((vmUuid: string) => void) | undefined;
  /** `poweroff`/`halt`/`shutdown -h` ran inside the guest; same ownership rule as for reboots */
  onGuestInitiatedShutdown: ((vmUuid: string) => void) | undefined;

  private readonly byUuid = new Map<string, LabGuest>();
  private readonly lastReport = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private closing = false;

  private constructor(
    readonly stateDir: string,
    readonly toolsIsoPath: string,
    readonly clientKeyPath: string,
    private readonly guests: LabGuest[],
    private readonly opts: LabGuestsOptions,
  ) {
    for (const g of guests) this.byUuid.set(g.uuid, g);
    this.onGuestReport = opts.onGuestReport;
    this.onGuestInitiatedReboot = opts.onGuestInitiatedReboot;
    this.onGuestInitiatedShutdown = opts.onGuestInitiatedShutdown;
  }

  /**
   * Check prerequisites, build the tools ISO, create every guest's disk (halted). Guests with
   * tools_installed get the tools installed from the ISO, with the ISO's own install.sh.
   * Leftovers of an earlier lab in the same state directory are stopped and replaced.
   */
  static async create(def: LabDefinition, opts: LabGuestsOptions): Promise<Result<LabGuests, LabError>> {
    const problems = checkSpecs(def.guests);
    if (problems.length > 0) return err(labError('bad-definition', problems.join('; ')));
    const pre = await checkLabPrereqs();
    if (!pre.ok) return pre;
    const stateDir = resolve(opts.stateDir);
    mkdirSync(stateDir, { recursive: true });
    const fsOk = checkStateDirFs(stateDir);
    if (!fsOk.ok) return fsOk;
    await LabGuests.killFromState(stateDir);
    rmSync(join(stateDir, 'guests'), { recursive: true, force: true });

    const bootScript = join(stateDir, 'boot.sh');
    writeFileSync(bootScript, hostBootScript());
    chmodSync(bootScript, 0o755);
    const clientKeyPath = join(stateDir, 'lab_key');
    const kg = await keygen(clientKeyPath, 'pvrun-lab-client');
    if (!kg.ok) return kg;

    const iso = await buildToolsIso(join(stateDir, 'iso'), opts.toolsVersion ?? DEFAULT_TOOLS_VERSION);
    if (!iso.ok) return err(labError('io', `building ${TOOLS_ISO_NAME}: ${iso.error}`));

    const repo = await buildRepo(join(stateDir, 'repo'), opts.toolsVersion ?? DEFAULT_TOOLS_VERSION, iso.value.debArch);
    if (!repo.ok) return err(labError('io', `building the package repository: ${repo.error}`));

    const usedPorts = new Set(def.guests.flatMap((g) => (g.port ? [g.port] : [])));
    const guests: LabGuest[] = [];
    const authorizedKey = readFileSync(`${clientKeyPath}.pub`, 'utf8');
    for (const spec of def.guests) {
      let port = spec.port ?? 0;
      while (!port || usedPorts.has(port)) port = await freePort();
      usedPorts.add(port);
      const resolved = resolveGuest(spec, port, opts.rebootDelayMs ?? 300);
      if (!resolved.ok) return err(labError('bad-definition', resolved.error, spec.name));
      const g = resolved.value;
      const dirs = guestDirs(stateDir, g.name);
      for (const d of [dirs.upper, dirs.work, dirs.root, dirs.control, dirs.snapshots, join(dirs.base, 'ssh')]) {
        mkdirSync(d, { recursive: true });
      }
      const hk = await keygen(dirs.hostKey, `pvrun-lab-host-${g.name}`);
      if (!hk.ok) return err({ ...hk.error, guest: g.name });
      try {
        prepareRootfs({
          upper: dirs.upper, name: g.name, identity: g.identity, port: g.port,
          hostKeyPath: dirs.hostKey, authorizedKey, installFails: g.faults.installFails,
        });
      } catch (e) {
        return err(labError('io', `preparing the disk: ${e instanceof Error ? e.message : String(e)}`, g.name));
      }
      writeFileSync(join(dirs.base, 'guest.json'), JSON.stringify(g, null, 2) + '\n');
      guests.push(new LabGuest(g, dirs, {
        bootScript,
        repoDir: repo.value,
        heartbeatStaleMs: opts.heartbeatStaleMs ?? 10_000,
      }));
    }

    const lab = new LabGuests(stateDir, iso.value.isoPath, clientKeyPath, guests, opts);
    const medium = await lab.present(TOOLS_ISO_NAME);
    if (!medium.ok) return medium;
    // guests defined with tools_installed get the tools with the ISO's own installer, in the
    // guest's filesystem while halted (the install_fails knob describes the install a playbook
    // runs, so it is set aside for this one)
    const preinstalled = guests.filter((g) => g.spec.toolsInstalled);
    const outs = await Promise.all(preinstalled.map((g) => g.runOffline(PREINSTALL_TOOLS, medium.value).then((out) => ({ g, out }))));
    for (const { g, out } of outs) {
      if (out.code !== 0) return err(labError('io', describeFailure('preinstalling the tools', out), g.name));
    }
    return ok(lab);
  }

  // ---- queries ------------------------------------------------------------------------------

  list(): GuestInfo[] {
    return this.guests.map((g) => this.describe(g));
  }

  /** by name or VM uuid */
  info(vm: string): GuestInfo | undefined {
    const g = this.find(vm);
    return g ? this.describe(g) : undefined;
  }

  // ---- power (also reachable through onPowerOp) ----------------------------------------------

  start(vm: string): Promise<Result<void, LabError>> {
    return this.withGuest(vm, (g) => g.serial(() => (this.closing ? Promise.resolve(err(closed(g.name))) : g.start())));
  }

  shutdown(vm: string): Promise<Result<void, LabError>> {
    return this.withGuest(vm, (g) => g.serial(async () => { await g.shutdown(); return ok(undefined); }));
  }

  reboot(vm: string): Promise<Result<void, LabError>> {
    return this.withGuest(vm, (g) => g.serial(async () => {
      await g.kill();
      if (g.spec.rebootDelayMs > 0) await sleep(g.spec.rebootDelayMs);
      if (this.closing) return err(closed(g.name));
      return g.start({ afterReboot: true });
    }));
  }

  /** Start every halted guest (in parallel) and begin watching them. */
  async startAll(): Promise<Result<void, LabError>> {
    this.ensurePolling();
    const results = await Promise.all(this.guests.filter((g) => g.powerState === 'halted').map((g) => this.start(g.uuid)));
    return results.find((r) => !r.ok) ?? ok(undefined);
  }

  /** Wait until the guest's sshd accepts connections in its current boot. */
  waitReady(vm: string, timeoutMs = 30_000): Promise<Result<void, LabError>> {
    return this.withGuest(vm, (g) => g.waitSsh(timeoutMs));
  }

  /**
   * Change a guest's faults from its next boot on (a test tool): e.g. `slowBootMs` so that after a
   * revert or reboot its sshd starts seconds after the VM runs, as a real guest's does.
   */
  setFaults(vm: string, faults: Partial<GuestFaults>): boolean {
    const g = this.find(vm);
    if (!g) return false;
    Object.assign(g.spec.faults, faults);
    return true;
  }

  bootId(vm: string): string | undefined {
    return this.find(vm)?.bootId;
  }

  /**
   * Stop every guest this object started (their PID namespaces are killed, which also releases
   * every mount they had) and stop watching. Waits for in-flight operations first, so a reboot
   * in progress cannot bring a guest back afterwards. Guests stay on disk.
   */
  async stopAll(): Promise<void> {
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all(this.guests.map((g) => g.serial(() => g.kill())));
  }

  /** stopAll, then remove the state directory. */
  async destroy(): Promise<void> {
    await this.stopAll();
    rmSync(this.stateDir, { recursive: true, force: true });
  }

  /**
   * Stop guests recorded in a state directory by another (possibly dead) process: only pids
   * whose command line names this state directory's boot script are touched. Returns how many.
   */
  static async killFromState(stateDir: string): Promise<number> {
    const dir = join(resolve(stateDir), 'guests');
    if (!existsSync(dir)) return 0;
    const bootScript = join(resolve(stateDir), 'boot.sh');
    let n = 0;
    const waits: Promise<void>[] = [];
    for (const name of readdirSync(dir)) {
      let rt: { unsharePid?: unknown; initPid?: unknown };
      try { rt = JSON.parse(readFileSync(join(dir, name, 'runtime.json'), 'utf8')) as typeof rt; } catch { continue; }
      const u = typeof rt.unsharePid === 'number' ? rt.unsharePid : 0;
      const i = typeof rt.initPid === 'number' ? rt.initPid : 0;
      if (!u || !i || !cmdline(u).includes(bootScript) || parentOf(i) !== u) continue;
      try { process.kill(i, 'SIGKILL'); n++; } catch { /* gone */ }
      waits.push((async () => { for (let k = 0; k < 200 && existsSync(`/proc/${u}`); k++) await sleep(25); })());
    }
    await Promise.all(waits);
    return n;
  }

  // ---- SimHooks -----------------------------------------------------------------------------
  // Hooks for VMs the lab does not know (templates, Windows-like VMs handled elsewhere) are
  // no-ops; failures throw LabHookError so the simulator fails the XAPI call.

  async onPowerOp(vmUuid: string, op: PowerOp): Promise<void> {
    if (!this.byUuid.has(vmUuid)) return;
    this.ensurePolling();
    let r: Result<void, LabError>;
    switch (op) {
      case 'start': r = await this.start(vmUuid); break;
      case 'clean_reboot':
      case 'hard_reboot': r = await this.reboot(vmUuid); break;
      case 'clean_shutdown':
      case 'hard_shutdown': r = await this.shutdown(vmUuid); break;
      default: return unreachable(op);
    }
    if (!r.ok) throw new LabHookError(r.error);
  }

  async onCdChange(vmUuid: string, iso: { vdiUuid: string; nameLabel: string } | null): Promise<void> {
    const g = this.byUuid.get(vmUuid);
    if (!g) return;
    const r = await g.serial(async (): Promise<Result<void, LabError>> => {
      if (!iso) return g.ejectCd();
      const medium = await this.present(iso.nameLabel);
      if (!medium.ok) return medium;
      return g.insertCd(medium.value);
    });
    if (!r.ok) throw new LabHookError({ ...r.error, guest: g.name });
  }

  async onSnapshot(vmUuid: string, snapshotUuid: string): Promise<void> {
    const g = this.byUuid.get(vmUuid);
    if (!g) return;
    const r = await g.serial(() => g.snapshot(snapshotUuid));
    if (!r.ok) throw new LabHookError(r.error);
  }

  async onRevert(vmUuid: string, snapshotUuid: string): Promise<void> {
    const g = this.byUuid.get(vmUuid);
    if (!g) return;
    const r = await g.serial(() => g.revert(snapshotUuid));
    if (!r.ok) throw new LabHookError(r.error);
  }

  async onSnapshotDestroy(vmUuid: string, snapshotUuid: string): Promise<void> {
    const g = this.byUuid.get(vmUuid);
    if (!g) return;
    await g.serial(async () => g.deleteSnapshot(snapshotUuid));
  }

  // ---- internals ----------------------------------------------------------------------------

  /** How an ISO (by VDI name) is shown to guests: the image itself or its extracted tree. */
  private async present(nameLabel: string): Promise<Result<CdMedium, LabError>> {
    let path: string | undefined;
    if (nameLabel === TOOLS_ISO_NAME) path = this.toolsIsoPath;
    else if (this.opts.isoDir && /^[^/]+$/.test(nameLabel) && existsSync(join(this.opts.isoDir, nameLabel))) {
      path = join(this.opts.isoDir, nameLabel);
    }
    if (!path) return err(labError('io', `no ISO file for VDI "${nameLabel}"`));
    if (kernelHasIso9660()) return ok({ label: nameLabel, src: path, kind: 'iso9660' });
    const tree = await extractIsoCached(path, join(this.stateDir, 'iso-cache'));
    if (!tree.ok) return err(labError('io', tree.error));
    return ok({ label: nameLabel, src: tree.value, kind: 'bind' });
  }

  private ensurePolling(): void {
    if (this.timer || this.closing) return;
    this.timer = setInterval(() => this.poll(), this.opts.pollIntervalMs ?? 250);
    this.timer.unref();
  }

  private poll(): void {
    const now = Date.now();
    for (const g of this.guests) {
      // A reboot/poweroff asked from inside the guest. With a handler, the handler owns it (the
      // orchestrator runs it as the simulator's power operation, which comes back here through
      // onPowerOp, so XAPI's records follow); without one, the lab power-cycles the guest itself.
      const req = g.takeRequest(now, this.opts.requestGraceMs ?? 300);
      if (req === 'reboot') {
        if (this.onGuestInitiatedReboot) this.callHandler(g, () => this.onGuestInitiatedReboot?.(g.uuid));
        else void this.reboot(g.uuid).then((r) => { if (!r.ok) this.log(`${g.name}: reboot: ${r.error.message}`); });
      } else if (req === 'poweroff') {
        if (this.onGuestInitiatedShutdown) this.callHandler(g, () => this.onGuestInitiatedShutdown?.(g.uuid));
        else void this.shutdown(g.uuid);
      }
      const report = g.report(now);
      if (!report) continue;
      const key = `${g.bootId}:${JSON.stringify(report)}`;
      if (this.lastReport.get(g.uuid) === key) continue;
      this.lastReport.set(g.uuid, key);
      try {
        this.onGuestReport?.(g.uuid, report);
      } catch (e) {
        this.log(`${g.name}: onGuestReport threw: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }

  private callHandler(g: LabGuest, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.log(`${g.name}: handler threw: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  private find(vm: string): LabGuest | undefined {
    return this.byUuid.get(vm) ?? this.guests.find((g) => g.name === vm);
  }

  private async withGuest<T>(vm: string, fn: (g: LabGuest) => Promise<Result<T, LabError>>): Promise<Result<T, LabError>> {
    const g = this.find(vm);
    if (!g) return err(labError('unknown-guest', `no lab guest named or with uuid ${vm}`));
    return fn(g);
  }

  private describe(g: LabGuest): GuestInfo {
    const pub = readFileSync(`${g.dirs.hostKey}.pub`, 'utf8').trim().split(/\s+/);
    return {
      name: g.name,
      uuid: g.uuid,
      distro: g.spec.distro,
      version: g.spec.version,
      prettyName: g.spec.identity.prettyName,
      packageFamily: g.spec.identity.family,
      host: '127.0.0.1',
      port: g.spec.port,
      user: 'root',
      privateKeyPath: this.clientKeyPath,
      knownHostsLine: `[127.0.0.1]:${g.spec.port} ${pub[0] ?? ''} ${pub[1] ?? ''}`,
      powerState: g.powerState,
      bootId: g.bootId,
      cd: g.cd?.label ?? null,
      toolsInstalled: g.spec.toolsInstalled,
      faults: g.spec.faults,
      upperDir: g.dirs.upper,
    };
  }
}

const PREINSTALL_TOOLS =
  'f=/etc/pvrun-lab/faults/install-fails; if [ -e $f ]; then mv $f $f.off; fi; ' +
  'rc=0; sh /run/pvrun-lab-cd/media/Linux/install.sh -n || rc=$?; ' +
  'if [ -e $f.off ]; then mv $f.off $f; fi; exit $rc';

const closed = (guest: string): LabError => labError('bad-power-state', 'the lab is stopping', guest);

async function keygen(path: string, comment: string): Promise<Result<void, LabError>> {
  rmSync(path, { force: true });
  rmSync(`${path}.pub`, { force: true });
  const r = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path]);
  return r.code === 0 ? ok(undefined) : err(labError('io', describeFailure('ssh-keygen', r)));
}

function cmdline(pid: number): string {
  try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' '); } catch { return ''; }
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}
