/**
 * One QEMU guest of the lab, driven through QMP on a unix socket (docs/lab.md "QEMU guests").
 *
 *   <dir>/disk.qcow2     the VM's disk: a qcow2 overlay on the cached image (the image never changes);
 *                        its snapshots are internal qcow2 snapshots (see below)
 *   <dir>/qmp.sock       QMP; <dir>/xenstore.sock the virtio-serial xenstore channel
 *   <dir>/console.log    the serial console (ttyS0), appended across boots
 *   <dir>/seed/          what the guest's pvrun-seed.service reads through fw_cfg: authorised key, host key
 *
 * Power: each start is a new QEMU process (as each boot of a Xen VM is a new domain). QEMU runs
 * with -no-reboot, so a reboot from inside the guest ends the process with a SHUTDOWN event
 * (reason guest-reset) and a poweroff with reason guest-shutdown: the lab hands both to the
 * simulator as the domain events XAPI sees, and the simulator's power operation starts it again.
 * clean_shutdown is QMP system_powerdown (ACPI power button, the guest's systemd shuts down),
 * hard_shutdown is QMP quit.
 *
 * Snapshots are internal qcow2 snapshots of disk.qcow2, because XAPI's semantics need: a disk-only
 * snapshot of a running VM taken at one instant (QMP blockdev-snapshot-internal-sync), a revert
 * to ANY snapshot any number of times (qemu-img snapshot -a while halted: XAPI's VM.revert leaves
 * the VM halted), and the deletion of any snapshot in any order while the others stay valid
 * (blockdev-snapshot-delete-internal-sync / qemu-img snapshot -d). An overlay chain would make a
 * deleted middle snapshot a block-commit/stream job and a revert a new overlay per revert.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { describeFailure, run } from '../guest/exec.js';
import { err, ok, type Result } from '../../util/result.js';
import { XENSTORE_PORT_NAME, type GuestImage } from './image.js';
import { QmpClient, type QmpEvent } from './qmp.js';

export type Accel = 'kvm' | 'tcg';

/**
 * KVM when /dev/kvm can be opened and the CPU has hardware virtualisation (vmx/svm): a /dev/kvm
 * without it (nested sandboxes) hangs the guest kernel; TCG otherwise. PVRUN_QEMU_ACCEL overrides.
 */
export function chooseAccel(env: NodeJS.ProcessEnv = process.env): Accel {
  const forced = env['PVRUN_QEMU_ACCEL'];
  if (forced === 'kvm' || forced === 'tcg') return forced;
  try {
    closeSync(openSync('/dev/kvm', 'r+'));
    return /\b(vmx|svm)\b/.test(readFileSync('/proc/cpuinfo', 'utf8')) ? 'kvm' : 'tcg';
  } catch {
    return 'tcg';
  }
}

export async function hasQemu(): Promise<boolean> {
  const r = await run('sh', ['-c', 'command -v qemu-system-x86_64 && command -v qemu-img']);
  return r.code === 0;
}

export interface QemuVmOptions {
  name: string;
  dir: string;
  image: GuestImage;
  sshPort: number;
  /** the public key root authorises */
  authorizedKeyFile: string;
  /** the guest's SSH host key (private; `<file>.pub` next to it) */
  hostKeyFile: string;
  memoryMb?: number;
  accel?: Accel;
  log?: (line: string) => void;
  /** the guest rebooted itself (QEMU exited: SHUTDOWN reason guest-reset) */
  onGuestReboot?: () => void;
  /** the guest powered itself off (SHUTDOWN reason guest-shutdown) */
  onGuestShutdown?: () => void;
  /** a record from the guest's xenstore bridge (virtio-serial) */
  onXenstore?: (fields: Record<string, string>) => void;
}

export class QemuVm {
  private proc: ChildProcess | undefined;
  private qmp: QmpClient | undefined;
  private xs: Socket | undefined;
  private exitWaiters: (() => void)[] = [];
  private expectExit = false;
  private lastShutdownReason = '';
  private cdIso: string | undefined;
  /** extra kernel command line for every boot */
  kernelArgs = '';
  /**
   * extra kernel command line for the boot that follows the next reboot from inside the guest
   * only, then forgotten (the lab's "reboot never returns" fault: any other start, such as the
   * one after a revert, boots normally)
   */
  nextRebootKernelArgs = '';
  private lastExitReason = '';
  /** boot id the guest's bridge reported for the current boot ('' until it did) */
  bootId = '';
  /** QMP events seen, newest last (power state changes: SHUTDOWN, POWERDOWN, RESET, STOP, RESUME) */
  readonly events: QmpEvent[] = [];
  readonly disk: string;
  readonly accel: Accel;

  private constructor(readonly opts: QemuVmOptions) {
    this.disk = join(opts.dir, 'disk.qcow2');
    this.accel = opts.accel ?? chooseAccel();
  }

  /** The VM's directory and disk (an overlay on the image), created when missing. */
  static async create(opts: QemuVmOptions): Promise<Result<QemuVm, string>> {
    mkdirSync(join(opts.dir, 'seed'), { recursive: true });
    const vm = new QemuVm(opts);
    copyFileSync(opts.authorizedKeyFile, join(opts.dir, 'seed', 'authorized_keys'));
    copyFileSync(opts.hostKeyFile, join(opts.dir, 'seed', 'host_key'));
    copyFileSync(`${opts.hostKeyFile}.pub`, join(opts.dir, 'seed', 'host_key.pub'));
    if (!existsSync(vm.disk)) {
      const r = await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', opts.image.disk, '-F', 'qcow2', vm.disk]);
      if (r.code !== 0) return err(describeFailure('qemu-img create (overlay)', r));
    }
    return ok(vm);
  }

  get name(): string { return this.opts.name; }
  get running(): boolean { return this.proc !== undefined; }
  /** The QEMU process id while it runs */
  get pid(): number | undefined { return this.proc?.pid; }
  get cd(): string | undefined { return this.cdIso; }

  private log(l: string): void { this.opts.log?.(`${this.opts.name}: ${l}`); }

  /** Start a new QEMU process (the VM must be halted); returns once QMP answers. */
  async start(): Promise<Result<void, string>> {
    if (this.proc) return err(`${this.name} is already running`);
    const d = this.opts.dir;
    for (const s of ['qmp.sock', 'xenstore.sock']) rmSync(join(d, s), { force: true });
    const seed = (n: string) => `name=opt/pvrun/${n},file=${join(d, 'seed', n)}`;
    const cdDrive = this.cdIso
      ? `if=none,id=cd0drv,media=cdrom,readonly=on,format=raw,file=${this.cdIso}`
      : 'if=none,id=cd0drv,media=cdrom,readonly=on';
    const once = this.lastExitReason === 'guest-reset' ? this.nextRebootKernelArgs : '';
    if (once) this.nextRebootKernelArgs = '';
    const args = [
      '-name', this.name, '-machine', `pc,accel=${this.accel}`, ...(this.accel === 'kvm' ? ['-cpu', 'host'] : []),
      '-m', String(this.opts.memoryMb ?? 512), '-smp', '1',
      '-display', 'none', '-monitor', 'none', '-no-reboot', '-nodefaults',
      '-chardev', `file,id=con,path=${join(d, 'console.log')},append=on`, '-serial', 'chardev:con',
      '-kernel', this.opts.image.kernel, '-initrd', this.opts.image.initrd,
      '-append', `root=/dev/vda rw console=ttyS0 ${this.kernelArgs} ${once}`.replace(/ +/g, ' ').trim(),
      '-drive', `file=${this.disk},if=none,id=disk0,format=qcow2,cache=writeback`, '-device', 'virtio-blk-pci,drive=disk0',
      // the CD drive: IDE, as XAPI's emulated CD of an HVM guest; the guest kernel sees sr0
      '-drive', cdDrive, '-device', 'ide-cd,drive=cd0drv,id=cd0,bus=ide.1',
      '-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${this.opts.sshPort}-:22`, '-device', 'virtio-net-pci,netdev=n0',
      '-device', 'virtio-serial-pci',
      '-chardev', `socket,id=xs,path=${join(d, 'xenstore.sock')},server=on,wait=off`,
      '-device', `virtserialport,chardev=xs,name=${XENSTORE_PORT_NAME}`,
      '-fw_cfg', seed('authorized_keys'), '-fw_cfg', seed('host_key'), '-fw_cfg', seed('host_key.pub'),
      '-chardev', `socket,id=qmp,path=${join(d, 'qmp.sock')},server=on,wait=off`, '-mon', 'chardev=qmp,mode=control',
    ];
    this.expectExit = false;
    this.lastShutdownReason = '';
    this.bootId = '';
    // setpriv --pdeathsig KILL (util-linux; it execs QEMU, so p.pid is QEMU's): a lab process
    // that dies without stopping its VMs (SIGKILL, a crash, a killed test worker) takes its
    // QEMU processes with it instead of leaving them running on the machine, as the container
    // guests do (src/lab/guest/guest.ts).
    const p = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'qemu-system-x86_64', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr!.setEncoding('utf8').on('data', (s: string) => { stderr = (stderr + s).slice(-4000); });
    this.proc = p;
    p.once('exit', (code, signal) => this.onExit(code, signal, stderr));
    const q = await QmpClient.connect(join(d, 'qmp.sock'), 60_000);
    if (!q.ok) {
      await this.kill();
      return err(`${this.name}: QEMU did not start: ${q.error}${stderr ? ` (${stderr.trim()})` : ''}`);
    }
    this.qmp = q.value;
    q.value.on('event', (e: QmpEvent) => {
      this.events.push(e);
      if (this.events.length > 200) this.events.shift();
      if (e.event === 'SHUTDOWN') this.lastShutdownReason = String(e.data?.['reason'] ?? '');
    });
    this.connectXenstore();
    this.log(`started (${this.accel}, pid ${p.pid}, ssh 127.0.0.1:${this.opts.sshPort})`);
    return ok(undefined);
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null, stderr: string): void {
    const expected = this.expectExit;
    const reason = this.lastShutdownReason;
    this.lastExitReason = expected ? 'host' : reason;
    this.proc = undefined;
    this.qmp?.close();
    this.qmp = undefined;
    this.xs?.destroy();
    this.xs = undefined;
    this.log(`QEMU exited (${signal ?? `code ${code}`}${reason ? `, ${reason}` : ''})${code && !expected ? `: ${stderr.trim()}` : ''}`);
    for (const w of this.exitWaiters.splice(0)) w();
    if (expected) return;
    if (reason === 'guest-reset') this.opts.onGuestReboot?.();
    else this.opts.onGuestShutdown?.();
  }

  /** The xenstore channel: records "k=v" lines ending with "--" (image.ts, pvrun-xenstore-bridge). */
  private connectXenstore(): void {
    const path = join(this.opts.dir, 'xenstore.sock');
    let buf = '';
    const s = connect(path);
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n--\n')) >= 0) {
        const rec = buf.slice(0, i);
        buf = buf.slice(i + 4);
        const fields: Record<string, string> = {};
        for (const line of rec.split('\n')) {
          const k = line.indexOf('=');
          if (k > 0) fields[line.slice(0, k)] = line.slice(k + 1);
        }
        if (fields['boot_id']) this.bootId = fields['boot_id'];
        this.opts.onXenstore?.(fields);
      }
    });
    s.on('error', () => { /* QEMU gone */ });
    this.xs = s;
  }

  private waitExit(ms: number): Promise<boolean> {
    if (!this.proc) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      this.exitWaiters.push(() => { clearTimeout(t); resolve(true); });
    });
  }

  private async qmpCall(cmd: string, args?: Record<string, unknown>): Promise<Result<unknown, string>> {
    if (!this.qmp) return err(`${this.name} is not running (${cmd})`);
    const r = await this.qmp.execute(cmd, args);
    return r.ok ? r : err(`${this.name}: QMP ${cmd}: ${r.error}`);
  }

  /** clean_shutdown: the ACPI power button; waits for the guest to power off (QEMU exits). */
  async powerdown(timeoutMs = 300_000): Promise<Result<void, string>> {
    if (!this.proc) return ok(undefined);
    this.expectExit = true;
    const r = await this.qmpCall('system_powerdown');
    if (!r.ok && this.proc) return r;
    if (await this.waitExit(timeoutMs)) return ok(undefined);
    return err(`${this.name}: the guest did not power off within ${timeoutMs / 1000}s of system_powerdown`);
  }

  /** hard_shutdown: QMP quit (SIGKILL if QEMU does not go). */
  async quit(): Promise<void> {
    if (!this.proc) return;
    this.expectExit = true;
    await this.qmpCall('quit');
    if (!(await this.waitExit(30_000))) await this.kill();
  }

  private async kill(): Promise<void> {
    const p = this.proc;
    if (!p) return;
    this.expectExit = true;
    p.kill('SIGKILL');
    await this.waitExit(30_000);
  }

  /** Insert an ISO into the CD drive (kept across boots), or eject it (null). */
  async setCd(iso: string | null): Promise<Result<void, string>> {
    if (this.proc) {
      const r = iso === null
        ? await this.qmpCall('eject', { id: 'cd0', force: true })
        : await this.qmpCall('blockdev-change-medium', { id: 'cd0', filename: iso, format: 'raw', 'read-only-mode': 'read-only', force: true });
      if (!r.ok) return r;
    }
    this.cdIso = iso ?? undefined;
    return ok(undefined);
  }

  /** What QEMU's CD drive holds now (QMP query-block), for tests and diagnostics. */
  async cdInserted(): Promise<Result<string | null, string>> {
    const r = await this.qmpCall('query-block');
    if (!r.ok) return err(r.error);
    const cd = (r.value as { device: string; qdev?: string; inserted?: { file: string } }[]).find((b) => b.device === 'cd0drv');
    return ok(cd?.inserted?.file ?? null);
  }

  /** A disk-only snapshot (internal qcow2), live or halted. */
  async snapshot(name: string): Promise<Result<void, string>> {
    if (this.proc) {
      const r = await this.qmpCall('blockdev-snapshot-internal-sync', { device: 'disk0', name });
      return r.ok ? ok(undefined) : err(r.error);
    }
    return img(['snapshot', '-c', name, this.disk]);
  }

  /** Restore the disk to a snapshot; the VM must be halted (XAPI's revert halts it first). */
  async revert(name: string): Promise<Result<void, string>> {
    if (this.proc) return err(`${this.name}: revert needs the VM halted`);
    return img(['snapshot', '-a', name, this.disk]);
  }

  async deleteSnapshot(name: string): Promise<Result<void, string>> {
    if (this.proc) {
      const r = await this.qmpCall('blockdev-snapshot-delete-internal-sync', { device: 'disk0', name });
      return r.ok ? ok(undefined) : err(r.error);
    }
    return img(['snapshot', '-d', name, this.disk]);
  }

  async listSnapshots(): Promise<Result<string[], string>> {
    const r = await run('qemu-img', ['snapshot', '-l', '-U', this.disk]);
    if (r.code !== 0) return err(describeFailure('qemu-img snapshot -l', r));
    return ok(r.stdout.split('\n').slice(2).map((l) => l.trim().split(/\s+/)[1]).filter((n): n is string => !!n));
  }

  /**
   * Wait until the guest's sshd greets on the forwarded port (QEMU's user network accepts the
   * TCP connection before the guest listens, so only the "SSH-" banner counts).
   */
  async waitSsh(deadlineMs: number): Promise<Result<void, string>> {
    const end = Date.now() + deadlineMs;
    while (Date.now() < end) {
      if (!this.proc) return err(`${this.name}: QEMU exited while waiting for SSH`);
      if (await sshBanner(this.opts.sshPort, 10_000)) return ok(undefined);
      await new Promise((r) => setTimeout(r, 1000));
    }
    return err(`${this.name}: no SSH banner on 127.0.0.1:${this.opts.sshPort} within ${deadlineMs / 1000}s`);
  }

  /** Stop QEMU if it runs (the lab's teardown). */
  async destroy(): Promise<void> {
    await this.quit();
  }
}

async function img(args: string[]): Promise<Result<void, string>> {
  const r = await run('qemu-img', args);
  return r.code === 0 ? ok(undefined) : err(describeFailure(`qemu-img ${args.slice(0, 2).join(' ')}`, r));
}

export function sshBanner(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (v: boolean) => { clearTimeout(t); s.destroy(); resolve(v); };
    const t = setTimeout(() => done(false), timeoutMs);
    s.setEncoding('utf8');
    s.on('data', (d: string) => { buf += d; if (buf.includes('\n') || buf.length > 8) done(buf.startsWith('SSH-')); });
    s.on('error', () => done(false));
    s.on('close', () => done(false));
  });
}
