import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from './program.js';
import { EXIT } from '../engine/exit-codes.js';
// Command modules load when their command runs: `pvrun --help` and `validate` do not load the
// lab, the XAPI client or the connectors of commands they do not run (start-up, issue 17); with
// V8's default budget, so the Node modules they import keep their code cache (src/util/v8-budget.ts).
const runCommand = async (...a: Parameters<typeof import('./run.js').runCommand>) => (await withDefaultBudget(() => import('./run.js'))).runCommand(...a);
const validateCommand = async (...a: Parameters<typeof import('./validate.js').validateCommand>) => (await withDefaultBudget(() => import('./validate.js'))).validateCommand(...a);
const preflightCommand = async (...a: Parameters<typeof import('./preflight.js').preflightCommand>) => (await withDefaultBudget(() => import('./preflight.js'))).preflightCommand(...a);
const inventoryCommand = async (...a: Parameters<typeof import('./inventory.js').inventoryCommand>) => (await withDefaultBudget(() => import('./inventory.js'))).inventoryCommand(...a);
const schemaCommand = async (...a: Parameters<typeof import('./schema.js').schemaCommand>) => (await withDefaultBudget(() => import('./schema.js'))).schemaCommand(...a);
const labCommand = async (...a: Parameters<typeof import('./lab.js').labCommand>) => (await withDefaultBudget(() => import('./lab.js'))).labCommand(...a);
const demoCommand = async (...a: Parameters<typeof import('./lab.js').demoCommand>) => (await withDefaultBudget(() => import('./lab.js'))).demoCommand(...a);
const rolloutCommand = async (...a: Parameters<typeof import('./runs.js').rolloutCommand>) => (await withDefaultBudget(() => import('./runs.js'))).rolloutCommand(...a);
const runsCommand = async (...a: Parameters<typeof import('./runs.js').runsCommand>) => (await withDefaultBudget(() => import('./runs.js'))).runsCommand(...a);
const showCommand = async (...a: Parameters<typeof import('./runs.js').showCommand>) => (await withDefaultBudget(() => import('./runs.js'))).showCommand(...a);
const reportCommand = async (...a: Parameters<typeof import('./report.js').reportCommand>) => (await withDefaultBudget(() => import('./report.js'))).reportCommand(...a);
const rollbackCommand = async (...a: Parameters<typeof import('./rollback.js').rollbackCommand>) => (await withDefaultBudget(() => import('./rollback.js'))).rollbackCommand(...a);
const resumeCommand = async (...a: Parameters<typeof import('./resume.js').resumeCommand>) => (await withDefaultBudget(() => import('./resume.js'))).resumeCommand(...a);
const snapshotsCommand = async (...a: Parameters<typeof import('./snapshots.js').snapshotsCommand>) => (await withDefaultBudget(() => import('./snapshots.js'))).snapshotsCommand(...a);
import { playbooksCommand } from './playbooks.js';
import { inputLimitsFromEnv, setInputLimits } from '../load/read-file.js';
import { redactor } from '../util/redact.js';
import { resolvePlaybookArg } from './suggest-command.js';
const listCommand = async (...a: Parameters<typeof import('./list.js').listCommand>) => (await withDefaultBudget(() => import('./list.js'))).listCommand(...a);
import { completionScript } from './completion.js';
import { PROMPTED_BECOME_PASSWORD, setPromptedSecret } from '../load/secrets.js';
import { askSecret, defaultIo, quietOnClosedPipe, type Io } from './io.js';
import { tuneV8ForCli } from './v8-tuning.js';
import { withDefaultBudget } from '../util/v8-budget.js';

export type { Io } from './io.js';
// bin/pvrun.cjs imports main, quietOnClosedPipe and tuneV8ForCli from this module (the package's entry point)
export { quietOnClosedPipe } from './io.js';
export { tuneV8ForCli } from './v8-tuning.js';

/**
 * The CLI: parse, dispatch, return the exit code. The only layer that prints (through the
 * reporters it creates). User errors never show a stack trace; a bug does, with a plea to report.
 */
export async function main(argv: string[], io: Io = defaultIo()): Promise<number> {
  const parsed = parseArgs(argv, (s) => io.err.write(s), io.cwd);
  if ('usageError' in parsed) {
    io.err.write(`pvrun: ${parsed.usageError}\nRun 'pvrun --help' for usage.\n`);
    return EXIT.invalid;
  }
  // `pvrun linux-tools -i prod`: a playbook found in playbooks/ as -i finds inventories/NAME.yml
  if ('playbook' in parsed) parsed.playbook = resolvePlaybookArg(parsed.playbook, io.cwd) ?? parsed.playbook;
  if (parsed.cmd === 'run' && parsed.flags.askBecomePass) {
    const asked = await askSecret('BECOME password: ', io);
    if (!asked.ok) {
      io.err.write(`pvrun: ${asked.error}\n`);
      return asked.error === 'interrupted' ? EXIT.interrupted : EXIT.invalid;
    }
    setPromptedSecret(PROMPTED_BECOME_PASSWORD, asked.value);
  }
  const limits = inputLimitsFromEnv(io.env); // PVRUN_MAX_INPUT_BYTES / PVRUN_MAX_INPUT_DEPTH for every file read
  if (!limits.ok) { io.err.write(`pvrun: ${limits.message}\n`); return EXIT.invalid; }
  setInputLimits(limits.limits);
  try {
    switch (parsed.cmd) {
      case 'help': io.out.write(parsed.text); return EXIT.ok;
      case 'version': io.out.write(parsed.text); return EXIT.ok;
      case 'playbooks': return playbooksCommand(parsed.sub, io);
      case 'run': return await runCommand(parsed.playbook, parsed.flags, io);
      case 'validate': return await validateCommand(parsed.playbook, parsed.flags, io);
      case 'list': return await listCommand(parsed.playbook, parsed.flags, parsed.what, io);
      case 'completion': io.out.write(completionScript(parsed.shell, parsed.spec)); return EXIT.ok;
      case 'preflight': return await preflightCommand(parsed.playbook, parsed.flags, io);
      case 'inventory': return await inventoryCommand(parsed.flags, io);
      case 'schema': return await schemaCommand(parsed.flags, io);
      case 'lab': return await labCommand(parsed.sub, parsed.args, io);
      case 'demo': return await demoCommand(parsed.flags, io);
      case 'runs': return await (parsed.flags.rollout ? rolloutCommand(parsed.flags.rollout, parsed.flags, io, false) : runsCommand(parsed.flags, io));
      case 'show': return await (parsed.flags.rollout ? rolloutCommand(parsed.flags.rollout, parsed.flags, io, true) : showCommand(parsed.run, parsed.flags, io));
      case 'report': return await reportCommand(parsed.run, parsed.flags, io);
      case 'rollback': return await rollbackCommand(parsed.run, parsed.flags, io);
      case 'resume': return await resumeCommand(parsed.run, parsed.flags, io);
      case 'snapshots': return await snapshotsCommand(parsed.sub, parsed.flags, io);
    }
  } catch (e) {
    // A bug's message may quote a resolved secret: the trace goes through the redactor too.
    const trace = redactor.redact(e instanceof Error ? e.stack ?? e.message : String(e));
    io.err.write(`pvrun: internal error (a bug — please report it with this trace):\n${trace}\n`);
    return 70;
  }
}

// Run directly (`node --import tsx src/cli/main.ts …`), e.g. by tests and `npm run schema`.
const self = fileURLToPath(import.meta.url);
if (process.argv[1] && realpathSync(process.argv[1]) === self) {
  tuneV8ForCli();
  quietOnClosedPipe();
  // not a top-level await: the installed CLI is a CommonJS bundle (src/cli/compile-cache.ts)
  void main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
