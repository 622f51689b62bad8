import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab, labPorts, portsInUse, portsTakenMessage, PORTS_TAKEN } from '../lab/lab.js';
import { findPwsh } from '../lab/windows/lab-windows.js';
import { DEMO_LAB, DEMO_WINDOWS, DEMO_XAPI_PORT, demoLabFreePorts } from '../lab/demo-definition.js';
import { parseLabDefinition, type LabDefinition } from '../lab/guest/definition.js';
import { runSimulatorCli } from '../lab/xapi-sim/cli.js';
import { ensureImage, QEMU_TOOL_PACKAGES } from '../lab/qemu/image.js';
import { INSTALL_FAULT_LEFTOVER } from '../lab/iso/tools-scripts.js';
import { EXIT } from '../engine/exit-codes.js';
import type { Io } from './io.js';
import { runPlaybook } from './run.js';
import type { DemoFlags, RunFlags } from './program.js';

const PKG_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface LabState {
  pid: number;
  xapi: string;
  inventory: string;
  guests: { name: string; uuid: string; distro: string; port: number }[];
}

function parseOpts(args: string[]): { state: string; guests?: string; qemu?: number; bad?: string } {
  const out: { state: string; guests?: string; qemu?: number; bad?: string } = { state: '.lab' };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--state' && args[i + 1]) out.state = args[++i]!;
    else if (a === '--guests' && args[i + 1]) out.guests = args[++i]!;
    // QEMU guests (real Debian 12 VMs) besides the container guests: docs/lab.md "QEMU guests"
    else if (a === '--qemu' && args[i + 1] !== undefined) {
      const n = args[++i]!;
      if (!/^\d{1,2}$/.test(n)) out.bad = `--qemu: a number of QEMU guests (0-99), not '${n}'`;
      else out.qemu = Number(n);
    }
    else out.bad = `unknown argument '${a}' (usage: pvrun lab up|down|status [--state DIR] [--guests spec.yml] [--qemu N])`;
  }
  return out;
}

function loadDefinition(path: string | undefined, io: Io): LabDefinition | undefined {
  if (!path) return DEMO_LAB;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    io.err.write(`pvrun: cannot read guest spec '${path}'\n`);
    return undefined;
  }
  const d = parseLabDefinition(text);
  if (!d.ok) {
    io.err.write(d.error.map((e) => `${path}: ${e}`).join('\n') + '\n');
    return undefined;
  }
  return d.value;
}

const statePath = (dir: string) => join(dir, 'lab.json');

function readState(dir: string): LabState | undefined {
  try {
    return JSON.parse(readFileSync(statePath(dir), 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

const alive = (pid: number): boolean => {
  try { process.kill(pid, 0); return true; } catch { return false; }
};

/** `pvrun lab up|serve|status|down|xapi`. */
export async function labCommand(sub: string, args: string[], io: Io): Promise<number> {
  if (sub === 'xapi') {
    return runSimulatorCli(args, { out: (l) => io.out.write(l + '\n'), err: (l) => io.err.write(l + '\n') });
  }
  if (sub === 'image') return labImageCommand(args, io);
  const o = parseOpts(args);
  if (o.bad) { io.err.write(`pvrun: ${o.bad}\n`); return EXIT.invalid; }
  const dir = resolve(io.cwd, o.state);
  switch (sub) {
    case 'serve': return serve(dir, o.state, o.guests, io, o.qemu ?? 0);
    case 'up': return up(dir, o.state, o.guests, io, o.qemu ?? 0);
    case 'status': {
      const s = readState(dir);
      if (!s || !alive(s.pid)) { io.out.write(`no lab running in ${o.state}\n`); return 1; }
      io.out.write(`lab running (pid ${s.pid}), XAPI ${s.xapi}, inventory ${s.inventory}\n`);
      for (const g of s.guests) io.out.write(`  ${g.name.padEnd(12)} ${g.distro.padEnd(8)} 127.0.0.1:${g.port}  ${g.uuid}\n`);
      return 0;
    }
    case 'down': {
      const s = readState(dir);
      if (!s || !alive(s.pid)) { io.out.write(`no lab running in ${o.state}\n`); rmSync(statePath(dir), { force: true }); return 0; }
      process.kill(s.pid, 'SIGTERM');
      for (let i = 0; i < 600 && alive(s.pid); i++) await sleep(100);
      if (alive(s.pid)) { io.err.write(`lab (pid ${s.pid}) did not stop within 60s\n`); return 1; }
      io.out.write('lab stopped\n');
      return 0;
    }
    default:
      io.err.write(`pvrun: unknown lab command '${sub}' (up, down, status, xapi)\n`);
      return EXIT.invalid;
  }
}

/** Foreground lab until SIGTERM/SIGINT (what `lab up` runs in the background). */
async function serve(dir: string, shownDir: string, guestsPath: string | undefined, io: Io, qemu = 0): Promise<number> {
  const def = loadDefinition(guestsPath, io);
  if (!def) return EXIT.invalid;
  const lab = await Lab.start({ stateDir: dir, definition: def, xapiPort: guestsPath ? 0 : DEMO_XAPI_PORT, log: (l) => io.err.write(`lab: ${l}\n`), ...(qemu ? { qemu } : {}) });
  if (!lab.ok) { io.err.write(`pvrun lab: ${lab.error}\n`); return lab.error.startsWith(PORTS_TAKEN) ? EXIT.unreachable : 1; }
  const state: LabState = {
    pid: process.pid, xapi: lab.value.sim.url, inventory: join(shownDir, 'inventory.yml'),
    guests: lab.value.list().map((g) => ({ name: g.name, uuid: g.uuid, distro: `${g.distro} ${g.version}`, port: g.port })),
  };
  writeFileSync(statePath(dir), JSON.stringify(state, null, 2) + '\n');
  io.out.write(`lab ready: inventory ${state.inventory}\n`);
  await new Promise<void>((res) => {
    process.once('SIGTERM', () => res());
    process.once('SIGINT', () => res());
  });
  await lab.value.stop();
  rmSync(statePath(dir), { force: true });
  return 0;
}

/** Start `lab serve` detached, wait until it is ready, print the inventory to use. */
async function up(dir: string, shownDir: string, guestsPath: string | undefined, io: Io, qemu = 0): Promise<number> {
  const s = readState(dir);
  if (s && alive(s.pid)) { io.out.write(`lab already running (pid ${s.pid}); inventory ${s.inventory}\n`); return 0; }
  // The fixed ports (the default lab's, or a spec's) checked before anything starts: taken, it is
  // exit 4 with the ports named, never a "ready" lab whose first run finds HOST KEY CHANGED.
  const def = loadDefinition(guestsPath, io);
  if (!def) return EXIT.invalid;
  const taken = await portsInUse(labPorts(def, guestsPath ? 0 : DEMO_XAPI_PORT));
  if (taken.length) { io.err.write(`pvrun lab up: ${portsTakenMessage(taken)}\n`); return EXIT.unreachable; }
  mkdirSync(dir, { recursive: true });
  const log = openSync(join(dir, 'lab.log'), 'w');
  const child = spawn(process.execPath, [...process.execArgv, join(PKG_ROOT, 'bin', 'pvrun.cjs'), 'lab', 'serve', '--state', shownDir, ...(guestsPath ? ['--guests', guestsPath] : []), ...(qemu ? ['--qemu', String(qemu)] : [])], {
    cwd: io.cwd, detached: true, stdio: ['ignore', log, log],
  });
  child.unref();
  // QEMU guests: the image may be built first (minutes) and a TCG boot takes about a minute
  for (let i = 0; i < (qemu ? 18_000 : 1200); i++) {
    const st = readState(dir);
    if (st && st.pid === child.pid) {
      // the default lab in the default place is what inventories/lab.yml describes (stable UUIDs, fixed ports)
      const asLab = !guestsPath && dir === resolve(io.cwd, '.lab') && existsSync(join(io.cwd, 'inventories', 'lab.yml'));
      io.out.write(`lab up (pid ${st.pid}): XAPI ${st.xapi}; every guest answered with its own host key\ninventory: ${st.inventory}${asLab ? ' (also inventories/lab.yml: -i lab)' : ''}\n  pvrun playbooks/linux-tools.yml -i ${asLab ? 'lab' : st.inventory}\n`);
      return 0;
    }
    if (child.exitCode !== null || (child.pid !== undefined && !alive(child.pid))) break;
    await sleep(100);
  }
  const logText = existsSync(join(dir, 'lab.log')) ? readFileSync(join(dir, 'lab.log'), 'utf8') : '';
  // taken between the check above and the lab's own (a race): still exit 4
  if (logText.includes(PORTS_TAKEN)) { io.err.write(`pvrun lab up: the lab did not start:\n${logText.slice(-2000)}\n`); return EXIT.unreachable; }
  io.err.write(`pvrun lab up: the lab did not start; see ${join(shownDir, 'lab.log')}:\n${existsSync(join(dir, 'lab.log')) ? readFileSync(join(dir, 'lab.log'), 'utf8').slice(-2000) : ''}\n`);
  return 1;
}

/**
 * `pvrun demo`: a lab of mixed guests, playbooks/linux-tools.yml with live progress, the
 * recap and the story of the failed VM, then the lab torn down. Everything it writes stays
 * under .lab/demo.
 */
export async function demoCommand(flags: DemoFlags, io: Io): Promise<number> {
  const dir = resolve(io.cwd, '.lab', 'demo');
  // the Debian packages the lab needs (and pwsh), installed after saying which; or what to run, exit 5
  const { ensureDemoPrereqs, terminalAsker } = await import('../lab/install-prereqs.js');
  const asker = terminalAsker(io.in ?? process.stdin, io.err);
  // --qemu: real Debian 12 VMs besides the containers (a bare --qemu is one)
  const qemu = flags.qemu === true ? 1 : flags.qemu ?? 0;
  const pre = await ensureDemoPrereqs({
    env: io.env, out: (s) => io.out.write(s), yes: flags.yes === true, uid: process.geteuid?.() ?? 0, ...(asker ? { ask: asker } : {}),
    ...(qemu ? { extraTools: QEMU_TOOL_PACKAGES } : {}),
  });
  if (!pre.ok) { io.err.write(`pvrun demo: ${pre.message}`); return 5; }
  io.out.write(`pvrun demo: starting a lab (XAPI simulator + 8 Linux container guests + 1 Windows-like guest${qemu ? ` + ${qemu} QEMU VM${qemu > 1 ? 's' : ''}` : ''})…\n`);
  if (qemu) io.out.write('  QEMU VMs: real Debian 12 kernels (TCG without KVM); their image is built from Debian\'s packages on first use and cached (minutes), each boot takes a minute or so\n');
  const started = Date.now();
  // The Windows-like guest needs pwsh; without it the demo is Linux only, and says so.
  const pwsh = findPwsh();
  if (!pwsh) io.out.write('(pwsh not found: the demo runs without its Windows-like guest)\n');
  const lab = await Lab.start({
    // free ports: the demo writes its own inventory, and must not clash with a running `lab up`
    stateDir: dir, definition: demoLabFreePorts(), ...(pwsh ? { windows: DEMO_WINDOWS } : {}), ...(qemu ? { qemu } : {}),
    log: (l) => io.err.write(`lab: ${l}\n`),
  });
  if (!lab.ok) { io.err.write(`pvrun demo: ${lab.error}\n`); return 1; }
  io.out.write(`lab ready in ${((Date.now() - started) / 1000).toFixed(1)}s: ${lab.value.list().map((g) => `${g.name} (${g.prettyName})`).join(', ')}\n\n`);
  try {
    // the journal goes where `pvrun runs` / `pvrun show` look (.pvrun or $PVRUN_STATE_DIR), not
    // into the lab's directory, which is removed with the lab
    const runFlags: RunFlags = {
      inventory: [lab.value.inventoryPath], extraVars: [], check: false, diff: false, verbose: 0,
    };
    const r = await runPlaybook(join(PKG_ROOT, 'playbooks', 'linux-tools.yml'), runFlags, io);
    io.out.write('\n');
    let code = r.code;
    if (lab.value.windows) {
      io.out.write('Now the Windows-like VM: playbooks/windows-tools.yml with the XCP-ng Windows tools release ISO the lab built (vendor device turned off first)\n\n');
      const w = await runPlaybook(join(PKG_ROOT, 'playbooks', 'windows-tools.yml'), runFlags, io);
      io.out.write('\n');
      code = Math.max(code, w.code);
    }
    for (const h of r.recap ?? []) {
      if (h.outcome !== 'rolled-back' && h.outcome !== 'needs-attention') continue;
      // Checked, not asserted: the lab can look at the VM's disk and power state directly.
      const vm = lab.value.sim.vm(h.host);
      const guest = lab.value.guests.info(h.host);
      // a container guest's disk is a directory the lab can look into; a QEMU VM's is a qcow2 file
      const leftover = guest ? existsSync(join(guest.upperDir, INSTALL_FAULT_LEFTOVER)) : undefined;
      io.out.write(`What happened to ${h.host}: ${h.reason?.split('\n')[0] ?? 'failed'}.\n` +
        `  pvrun reverted it to the snapshot taken before the change and restored its power state.\n` +
        `  Now: power state ${String(vm.rec['power_state'])}${leftover === undefined ? '' : `; the file its failed installer left (${INSTALL_FAULT_LEFTOVER}) is ${leftover ? 'STILL THERE' : 'gone'}`}.\n`);
    }
    io.out.write(`\ndemo finished in ${((Date.now() - started) / 1000).toFixed(1)}s (exit code ${code})\n` +
      `The runs are in the journal: \`pvrun runs\` lists them, \`pvrun show last\` shows the last one per host and step.\n`);
    return code;
  } finally {
    if (flags.keep) io.out.write(`lab left running in ${dir} (--keep); stop it with Ctrl-C\n`);
    else await lab.value.stop();
  }
}

export const LAB_IMAGE_HELP = `Usage: pvrun lab image build [--force] [--cache DIR]

Build the QEMU guest image (Debian 12 from Debian's packages with mmdebstrap: kernel, systemd,
openssh-server), or reuse the one cached for the current package versions.
  --force       rebuild even when cached
  --cache DIR   the lab's cache directory (default: $PVRUN_LAB_CACHE, else ~/.cache/pvrun/lab)
Needs root, mmdebstrap, e2fsprogs and qemu-utils (see docs/lab.md "QEMU guests").
`;

/** `pvrun lab image build`: the QEMU guest image, built or from the cache; prints where and how long. */
async function labImageCommand(args: string[], io: Io): Promise<number> {
  if (args.length === 0 || args.some((a) => a === '--help' || a === '-h')) { io.out.write(LAB_IMAGE_HELP); return args.length === 0 ? EXIT.invalid : 0; }
  const [verb, ...rest] = args;
  if (verb !== 'build') { io.err.write(`pvrun: unknown lab image command '${verb}' (build)\n${LAB_IMAGE_HELP}`); return EXIT.invalid; }
  let force = false;
  let cacheDir: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === '--force') force = true;
    else if (a === '--cache' && rest[i + 1]) cacheDir = resolve(io.cwd, rest[++i]!);
    else { io.err.write(`pvrun: unknown argument '${a}' (usage: pvrun lab image build [--force] [--cache DIR])\n`); return EXIT.invalid; }
  }
  const t0 = Date.now();
  const img = await ensureImage({ force, ...(cacheDir ? { cacheDir } : {}), log: (l) => io.err.write(`image: ${l}\n`) });
  if (!img.ok) { io.err.write(`pvrun lab image: ${img.error}\n`); return 1; }
  const secs = Math.round((Date.now() - t0) / 1000);
  io.out.write(`${img.value.built ? `built in ${secs}s` : 'cached'}: ${img.value.disk}\n  kernel ${img.value.kernel}\n  initrd ${img.value.initrd}\n`);
  for (const [k, v] of Object.entries(img.value.versions)) io.out.write(`  ${k} ${v}\n`);
  return 0;
}
