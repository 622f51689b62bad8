import { Command, CommanderError } from 'commander';
import { packageVersion } from './playbooks.js';
import { mistypedCommand } from './suggest-command.js';
import type { CliSpec } from './completion.js';

/** Options of `pvrun <playbook>` (ansible-playbook's flags where they mean the same). */
export interface RunFlags {
  inventory: string[];
  limit?: string;
  tags?: string;
  skipTags?: string;
  extraVars: string[];
  /** -f as typed: the loader checks it (a located error) and sets every play's forks (src/load/project.ts) */
  forks?: string;
  check: boolean;
  diff: boolean;
  startAtStep?: string;
  json?: string | boolean;
  junit?: string;
  /** write the run's HTML report to this file at the end (src/cli/report.ts) */
  html?: string;
  verbose: number;
  stateDir?: string;
  confirm?: boolean;
  yes?: boolean;
  /** one rollout over several processes (src/shard/): `i/n`, host|pool, the rollout's id */
  shard?: string;
  shardBy?: string;
  rollout?: string;
  /** skip the preflight before batch 1 (docs/preflight.md) */
  skipPreflight?: boolean;
  /** ansible-playbook's: print the plan's hosts / steps and exit (src/cli/list.ts) */
  listHosts?: boolean;
  listTasks?: boolean;
  /** ansible-playbook's --syntax-check: what `pvrun validate` does */
  syntaxCheck?: boolean;
  /** -K: ask the become (sudo) password on the terminal, for hosts without become_password */
  askBecomePass?: boolean;
}

/** `pvrun rollback|resume <run>` */
export interface RecoverFlags {
  inventory: string[];
  limit?: string;
  stateDir?: string;
  /** rollback only: every shard's run of this rollout */
  rollout?: string;
  /** rollback only: find the run's snapshots by their XAPI markers (the journal may be gone) */
  fromPool: boolean;
  playbook?: string;
  json?: string | boolean;
  junit?: string;
  forks?: number;
  verbose: number;
  yes?: boolean;
}

/** `pvrun snapshots list|prune` */
export interface SnapshotFlags {
  inventory: string[];
  limit?: string;
  olderThan?: string;
  run?: string;
  check: boolean;
  includeKept: boolean;
}

export type Invocation =
  | { cmd: 'run'; playbook: string; flags: RunFlags }
  | { cmd: 'validate'; playbook: string; flags: RunFlags }
  | { cmd: 'list'; playbook: string; flags: RunFlags; what: { hosts: boolean; tasks: boolean } }
  | { cmd: 'completion'; shell: 'bash' | 'zsh' | 'fish'; spec: CliSpec }
  | { cmd: 'preflight'; playbook: string; flags: RunFlags }
  | { cmd: 'inventory'; flags: { inventory: string[]; list: boolean; graph: boolean; fromPool?: string; missingTools: boolean; tag?: string; name?: string; yaml: boolean; convert?: boolean; output?: string } }
  | { cmd: 'schema'; flags: { write: boolean; docs?: boolean } }
  | { cmd: 'lab'; sub: string; args: string[] }
  | { cmd: 'demo'; flags: DemoFlags }
  | { cmd: 'runs'; flags: { stateDir?: string; stateDirs?: string[]; rollout?: string } }
  | { cmd: 'report'; run: string; flags: { stateDir?: string; output?: string } }
  | { cmd: 'show'; run: string; flags: { stateDir?: string; stateDirs?: string[]; rollout?: string; verbose: number } }
  | { cmd: 'rollback' | 'resume'; run: string; flags: RecoverFlags }
  | { cmd: 'snapshots'; sub: 'list' | 'prune'; flags: SnapshotFlags }
  | { cmd: 'playbooks'; sub: 'list' }
  | { cmd: 'help'; text: string }
  | { cmd: 'version'; text: string };

const collect = (v: string, prev: string[]): string[] => [...prev, v];
/** runs/show: --state-dir repeatable with --rollout (each shard's journals); the last one otherwise */
const stateDirList = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];
function rolloutDirs<F extends { stateDir?: string | string[] }>(f: F): Omit<F, 'stateDir'> & { stateDir?: string; stateDirs?: string[] } {
  const { stateDir, ...rest } = f;
  const list = stateDir === undefined ? [] : Array.isArray(stateDir) ? stateDir : [stateDir];
  return { ...rest, ...(list.length ? { stateDir: list.at(-1)!, stateDirs: list } : {}) };
}
export interface DemoFlags { keep: boolean; yes?: boolean; qemu?: number | true }

/** `demo --qemu [n]`: 1 to 99 QEMU guests (a bare --qemu is 1) */
const qemuCount = (v: string): number => {
  if (!/^\d{1,2}$/.test(v) || Number(v) < 1) throw new CommanderError(5, 'pvrun.badFlag', `option '--qemu' wants a number of QEMU guests (1-99), not '${v}'`);
  return Number(v);
};

const positiveInt = (flag: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new CommanderError(5, 'pvrun.badFlag', `option '${flag}' wants a whole number ≥ 1, not '${v}'`);
  return n;
};
const count = (_: string, prev: number): number => prev + 1;

const EXAMPLES = `
Examples:
  pvrun playbooks/linux-tools.yml -i prod                 install guest tools on every host of inventories/prod.yml
  pvrun playbooks/linux-tools.yml -i prod --check --diff  rehearsal: reads only, shows what would change
  pvrun playbooks/linux-tools.yml -i prod -l 'web-*:!web-03' -f 20 -e keep_snapshot=3d
  pvrun validate playbooks/linux-tools.yml -i prod        check files and print the plan; contacts nothing
  pvrun inventory -i prod --graph                         the groups and hosts as a tree
  pvrun inventory -i prod --from-pool pool1 --missing-tools   VMs showing "No Xen tools detected"
  pvrun demo                                              a lab of container VMs and a simulated pool, end to end

Exit codes: 0 all ok · 2 hosts failed (rolled back or left per on_failure) · 3 needs attention
(rollback failed / unknown state) · 4 hosts unreachable · 5 invalid input · 130 interrupted`;

const LAB_HELP = `
Commands:
  up [--state DIR] [--guests spec.yml]   start the lab in the background (default state: .lab)
     [--qemu N]                          … with N QEMU guests as well (real Debian 12 VMs, docs/lab.md)
  status [--state DIR]                   is it running: XAPI URL, inventory, guests
  down [--state DIR]                     stop it and remove its guests
  xapi [--port P] [--state FILE] [--save] [--tls]   only the XAPI simulator, in the foreground
  image build [--force] [--cache DIR]    build (or reuse) the QEMU guest image (docs/lab.md "QEMU guests")

After 'pvrun lab up': pvrun playbooks/linux-tools.yml -i lab (inventories/lab.yml), or -i .lab/inventory.yml;
ports taken: exit 4, nothing started (see docs/lab.md)`;

function addRunFlags(c: Command): Command {
  return c
    .option('-i, --inventory <name|file>', 'inventory name (inventories/NAME.yml) or file; repeatable', collect, [])
    .option('-l, --limit <pattern>', 'narrow the hosts: names, groups, globs, a:b, a:&b, a:!b')
    .option('-t, --tags <tags>', 'run only steps with these tags (comma-separated)')
    .option('--skip-tags <tags>', 'skip steps with these tags (never cleanup or rollback)')
    .option('-e, --extra-vars <k=v|@file|json>', 'extra variables, highest precedence; repeatable', collect, [])
    .option('-f, --forks <n>', 'hosts at once per batch (overrides the play)')
    .option('-C, --check', 'rehearsal: read only, predict changes', false)
    .option('-D, --diff', 'show each step\'s planned change in detail', false)
    .option('--start-at-step <name>', 'start at the step with this name')
    .option('--start-at-task <name>', 'the same as --start-at-step (ansible-playbook\'s name)')
    .option('--list-hosts', 'print the hosts of each play, batch by batch, and exit (contacts nothing)')
    .option('--list-tasks', 'print the steps of each play with their tags, and exit (contacts nothing)')
    .option('--syntax-check', 'check the playbook and inventories, print the plan, and exit (as `pvrun validate`)')
    .option('-K, --ask-become-pass', 'ask for the sudo (become) password on the terminal, for hosts without connection.become_password')
    .option('--json [file]', 'JSON-lines events to stdout, or to file')
    .option('--junit <file>', 'write a JUnit XML report')
    .option('--html <file>', 'write the run\'s HTML report at the end (as `pvrun report`)')
    .option('--state-dir <dir>', 'where run journals are kept (default .pvrun, or $PVRUN_STATE_DIR)')
    .option('--confirm', 'ask before changing anything, whatever the number of hosts (interactive runs)')
    .option('-y, --yes', 'do not ask for confirmation (asked on a terminal above $PVRUN_CONFIRM_OVER hosts, default 10)')
    .option('--shard <i/n>', 'run only slice i of n of the selected hosts (one CI job of n; or $PVRUN_SHARD)')
    .option('--shard-by <host|pool>', 'slice by a hash of the host name (default) or by whole pools')
    .option('--rollout <id>', 'coordinate the shards of one rollout through the pools: canary, failure budget (e.g. the CI run id)')
    .option('--skip-preflight', 'do not check pools, VMs, keys and guests before batch 1 (docs/preflight.md)')
    .option('-v, --verbose', '-v step starts/ends and what changed; -vv also the commands run; -vvv everything (probe output, transport debug)', count, 0);
}

/** The run flags as the commands read them: --start-at-task folded into --start-at-step. */
function runFlags(flags: RunFlags & { startAtTask?: string }): RunFlags {
  const { startAtTask, ...rest } = flags;
  if (startAtTask === undefined) return rest;
  if (rest.startAtStep !== undefined && rest.startAtStep !== startAtTask) {
    throw new CommanderError(5, 'pvrun.badFlag', `--start-at-task '${startAtTask}' and --start-at-step '${rest.startAtStep}' name different steps: give one`);
  }
  return { ...rest, startAtStep: startAtTask };
}

/** What a playbook invocation asks for: a run, the plan (validate, --syntax-check) or a listing. */
function playbookInvocation(cmd: 'run' | 'validate' | 'preflight', playbook: string, raw: RunFlags): Invocation {
  const flags = runFlags(raw);
  if (flags.listHosts || flags.listTasks) return { cmd: 'list', playbook, flags, what: { hosts: flags.listHosts === true, tasks: flags.listTasks === true } };
  if (flags.syntaxCheck) return { cmd: 'validate', playbook, flags };
  return { cmd, playbook, flags };
}

/** The commands and flags of the program, for shell completion. */
function cliSpec(program: Command): CliSpec {
  const flagsOf = (c: Command): string[] => c.options.flatMap((o) => [o.short, o.long].filter((f): f is string => !!f));
  const valued = new Set<string>();
  const walk = (c: Command): void => {
    for (const o of c.options) if (o.required || o.optional) for (const f of [o.short, o.long]) if (f) valued.add(f);
    c.commands.forEach(walk);
  };
  walk(program);
  // the lab parses its own arguments (lab.ts): its words are listed here
  const LAB: Record<string, string[]> = { lab: ['up', 'down', 'status', 'xapi', 'image'] };
  return {
    root: flagsOf(program).filter((f) => f !== '--version').concat('--version'),
    commands: program.commands.map((c) => ({
      name: c.name(),
      description: c.description(),
      flags: [...new Set([...flagsOf(c), ...c.commands.flatMap(flagsOf), ...(c.name() === 'lab' ? ['--state', '--guests', '--port', '--save', '--tls', '--qemu', '--force', '--cache'] : [])])],
      subs: c.commands.map((s) => s.name()).concat(LAB[c.name()] ?? []),
    })),
    valued: [...valued, ...['--state', '--guests', '--port']].sort(),
  };
}

/**
 * Parse argv into an Invocation. Usage errors come back as a CommanderError with exitCode 5;
 * nothing is printed here except through `writeErr`.
 */
export function parseArgs(argv: string[], writeErr: (s: string) => void, cwd: string = process.cwd()): Invocation | { usageError: string } {
  let result: Invocation | undefined;
  let helpText = '';
  const program = new Command('pvrun')
    .description('Run YAML playbooks of typed steps across XCP-ng / XenServer VMs: snapshot, install guest tools, reboot, verify, roll back.')
    .usage('<playbook> -i <inventory> [options]\n       pvrun <command> [options]')
    .argument('[playbook]', 'playbook file')
    .addHelpText('after', EXAMPLES)
    .version(packageVersion(), '--version') // package.json's, read at run time
    .showSuggestionAfterError(true)
    .exitOverride()
    .enablePositionalOptions()
    // Usage errors are printed once, by the caller, with exit code 5.
    .configureOutput({ writeOut: (s) => { helpText += s; }, writeErr: (s) => writeErr(s), outputError: () => {} });
  addRunFlags(program);
  program.action((playbook: string | undefined, flags: RunFlags) => {
    if (!playbook) {
      result = { cmd: 'help', text: program.helpInformation() + EXAMPLES + '\n' };
      return;
    }
    // `pvrun runz`: not a file and near a subcommand is a mistyped command (exit 5), not a playbook
    const typo = mistypedCommand(playbook, cwd, program.commands.map((c) => c.name()));
    if (typo) throw new CommanderError(5, 'pvrun.unknownCommand', typo);
    result = playbookInvocation('run', playbook, flags);
  });

  addRunFlags(program.command('validate').description('check a playbook and its inventories, print the plan; contacts nothing').argument('<playbook>'))
    .action((playbook: string, flags: RunFlags) => { result = playbookInvocation('validate', playbook, flags); });

  addRunFlags(program.command('preflight').description('check, read-only, every pool, VM, key and guest the playbook\'s hosts need (what a run does before batch 1); exit 4 unreachable, 5 bad input').argument('<playbook>'))
    .action((playbook: string, flags: RunFlags) => { result = playbookInvocation('preflight', playbook, flags); });

  program.command('completion').description('print a shell completion script: subcommands, flags, playbook files, inventory names')
    .argument('<shell>', 'bash, zsh or fish')
    .addHelpText('after', `
Install:
  bash   pvrun completion bash > ~/.local/share/bash-completion/completions/pvrun   (or: source <(pvrun completion bash))
  zsh    pvrun completion zsh > "\${fpath[1]}/_pvrun"
  fish   pvrun completion fish > ~/.config/fish/completions/pvrun.fish`)
    .action((shell: string) => {
      if (shell !== 'bash' && shell !== 'zsh' && shell !== 'fish') throw new CommanderError(5, 'pvrun.badShell', `completion: unknown shell '${shell}': bash, zsh or fish`);
      result = { cmd: 'completion', shell, spec: cliSpec(program) };
    });

  program.command('inventory').description('show an inventory, or discover VMs on a pool')
    .option('-i, --inventory <name|file>', 'inventory name or file; repeatable', collect, [])
    .option('--list', 'hosts, groups and vars as JSON', false)
    .option('--graph', 'groups and hosts as a tree', false)
    .option('--from-pool <pool>', 'list the VMs of a pool (a hypervisor of the inventory)')
    .option('--missing-tools', 'only VMs without PV drivers or management agent', false)
    .option('--tag <tag>', 'only VMs with this XAPI tag')
    .option('--name <glob>', 'only VMs whose name matches')
    .option('--yaml', 'print an inventory fragment instead of a table', false)
    .option('--convert', 'write the inventory (Ansible YAML/INI, or several files merged) in pvrun\'s own format', false)
    .option('-o, --output <file>', 'with --convert: write to this file instead of stdout')
    .action((flags) => { result = { cmd: 'inventory', flags }; });

  program.command('runs').description('the history of runs: id, playbook, inventory, start, duration, outcomes')
    .option('--state-dir <dir>', 'where run journals are kept (default .pvrun, or $PVRUN_STATE_DIR); repeatable with --rollout', stateDirList)
    .option('--rollout <id>', 'the shards of this rollout merged into one recap (--state-dir repeatable, or a folder of CI artifacts)')
    .action((flags: { stateDir?: string[]; rollout?: string }) => { result = { cmd: 'runs', flags: rolloutDirs(flags) }; });

  program.command('show').description('one run per host and step, with timings and outputs (redacted)')
    .argument('[run]', 'run id, a unique prefix of it, or `last`')
    .option('--state-dir <dir>', 'where run journals are kept; repeatable with --rollout', stateDirList)
    .option('-v, --verbose', 'show step outputs', count, 0)
    .option('--rollout <id>', 'each shard of this rollout, then one merged recap (--state-dir repeatable, or a folder of CI artifacts)')
    .action((run: string | undefined, flags: { stateDir?: string[]; verbose: number; rollout?: string }) => {
      if (run === undefined && flags.rollout === undefined) throw new CommanderError(5, 'pvrun.badFlag', "show: give a run (id, prefix or 'last') or --rollout ID");
      result = { cmd: 'show', run: run ?? '', flags: rolloutDirs(flags) };
    });

  program.command('report').description('a run as one self-contained HTML file: recap, timeline per VM, step outputs (redacted)')
    .argument('<run>', 'run id, a unique prefix of it, or `last`')
    .option('-o, --output <file>', 'write the report to this file (default: stdout)')
    .option('--state-dir <dir>', 'where run journals are kept (default .pvrun, or $PVRUN_STATE_DIR)')
    .action((run: string, flags: { stateDir?: string; output?: string }) => { result = { cmd: 'report', run, flags }; });

  for (const [name, what] of [
    ['rollback', 'revert the hosts of a run to the snapshots it took, restore power state, run the cleanup'],
    ['resume', 'continue the hosts a run did not finish (finished hosts are left alone)'],
  ] as const) {
    const c = program.command(name).description(what)
      .argument(name === 'rollback' ? '[run]' : '<run>', 'run id, a unique prefix of it, or `last`')
      .option('-i, --inventory <name|file>', 'inventory (default: the run\'s own); repeatable', collect, [])
      .option('-l, --limit <pattern>', 'only these hosts')
      .option('--state-dir <dir>', 'where run journals are kept')
      .option('--playbook <file>', 'the playbook (default: the run\'s own)')
      .option('--json [file]', 'JSON-lines events to stdout, or to file')
      .option('--junit <file>', 'write a JUnit XML report')
      .option('-f, --forks <n>', 'hosts at once', positiveInt('--forks'))
      .option('-y, --yes', 'do not ask for confirmation')
      .option('-v, --verbose', 'more output', count, 0);
    if (name === 'rollback') c.option('--from-pool', 'find the run\'s snapshots by their markers on the pools (when the journal is gone)', false);
    if (name === 'rollback') c.option('--rollout <id>', 'every shard\'s run of this rollout (journals under --state-dir, e.g. CI artifacts; or with --from-pool the shard markers on the pools)');
    c.action((run: string | undefined, flags: RecoverFlags) => {
      if (run === undefined && flags.rollout === undefined) throw new CommanderError(5, 'pvrun.badFlag', "rollback: give a run (id, prefix or 'last') or --rollout ID");
      result = { cmd: name, run: run ?? '', flags: { ...flags, fromPool: flags.fromPool ?? false } };
    });
  }

  const snaps = program.command('snapshots').description('snapshots pvrun made (found by their markers), with their disks');
  for (const sub of ['list', 'prune'] as const) {
    const c = snaps.command(sub).description(sub === 'list' ? 'list pvrun snapshots of the inventory\'s pools' : 'delete pvrun snapshots (and their disks, never ISOs) that are expired or older than --older-than')
      .option('-i, --inventory <name|file>', 'inventory; repeatable', collect, [])
      .option('-l, --limit <pattern>', 'only snapshots of these hosts')
      .option('--run <run>', 'only snapshots of this run');
    if (sub === 'prune') {
      c.option('--older-than <duration>', 'snapshots created longer ago than this (7d, 12h, 0s); default: those past their keep time')
        .option('-C, --check', 'show what would be deleted, delete nothing', false)
        .option('--include-kept', 'with --older-than, also snapshots marked keep: true', false);
    }
    c.action((flags: SnapshotFlags) => { result = { cmd: 'snapshots', sub, flags: { ...flags, check: flags.check ?? false, includeKept: flags.includeKept ?? false } }; });
  }

  program.command('schema').description('print the playbook JSON Schema, or write schema/*.json')
    .option('--write', 'write schema/playbook.schema.json and schema/inventory.schema.json', false)
    .option('--docs', 'print the schema reference (docs/schema-reference.md) as Markdown', false)
    .action((flags: { write: boolean; docs: boolean }) => { result = { cmd: 'schema', flags }; });

  // The lab's subcommands parse their own arguments (lab.ts, the simulator's CLI); help is given here.
  const lab = program.command('lab').description('the lab: a simulated pool with container guests (up | down | status | xapi)')
    .argument('<sub>', 'up, down, status or xapi').argument('[args...]').allowUnknownOption(true).helpOption(false)
    .addHelpText('after', LAB_HELP)
    .action((sub: string, args: string[]) => {
      const wantsHelp = (a: string) => a === '--help' || a === '-h';
      // `lab xapi --help` is the simulator's own usage
      // `lab image --help` is the image command's own usage
      if (wantsHelp(sub) || sub === 'help' || (sub !== 'xapi' && sub !== 'image' && args.some(wantsHelp))) {
        result = { cmd: 'help', text: lab.helpInformation() + LAB_HELP + '\n' };
        return;
      }
      result = { cmd: 'lab', sub, args };
    });

  program.command('playbooks').description('the playbooks shipped with pvrun')
    .command('list').description('list the shipped playbooks with their paths in the installed package')
    .action(() => { result = { cmd: 'playbooks', sub: 'list' }; });

  program.command('demo').description('start a lab, run playbooks/linux-tools.yml against it, tear it down')
    .option('--keep', 'leave the lab running afterwards', false)
    .option('-y, --yes', 'install the Debian packages (and pwsh) the lab needs without asking (as root on Debian/Ubuntu; CI=true does not ask either)')
    .option('--qemu [n]', 'add N real Debian 12 VMs under QEMU (default 1; builds their image on first use, minutes; docs/lab.md)', qemuCount)
    .action((flags: DemoFlags) => { result = { cmd: 'demo', flags }; });

  try {
    program.parse(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help') return { cmd: 'help', text: helpText };
      if (e.code === 'commander.version') return { cmd: 'version', text: helpText };
      return { usageError: e.message.replace(/^error: /, '') };
    }
    throw e;
  }
  return result ?? { cmd: 'help', text: program.helpInformation() + EXAMPLES + '\n' };
}
