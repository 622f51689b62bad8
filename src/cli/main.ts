import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from './program.js';
import { EXIT } from '../engine/exit-codes.js';
import { runCommand, validateCommand } from './run.js';
import { preflightCommand } from './preflight.js';
import { inventoryCommand } from './inventory.js';
import { schemaCommand } from './schema.js';
import { labCommand, demoCommand } from './lab.js';
import { rolloutCommand, runsCommand, showCommand } from './runs.js';
import { rollbackCommand } from './rollback.js';
import { resumeCommand } from './resume.js';
import { snapshotsCommand } from './snapshots.js';
import { playbooksCommand } from './playbooks.js';
import { inputLimitsFromEnv, setInputLimits } from '../load/read-file.js';
import { redactor } from '../util/redact.js';

export interface Io {
  out: NodeJS.WriteStream;
  err: NodeJS.WriteStream;
  /** where confirmation answers are read (default: process.stdin) */
  in?: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
}

const defaultIo = (): Io => ({ out: process.stdout, err: process.stderr, env: process.env, cwd: process.cwd() });

/**
 * The CLI: parse, dispatch, return the exit code. The only layer that prints (through the
 * reporters it creates). User errors never show a stack trace; a bug does, with a plea to report.
 */
export async function main(argv: string[], io: Io = defaultIo()): Promise<number> {
  const parsed = parseArgs(argv, (s) => io.err.write(s));
  if ('usageError' in parsed) {
    io.err.write(`pvrun: ${parsed.usageError}\nRun 'pvrun --help' for usage.\n`);
    return EXIT.invalid;
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
      case 'preflight': return await preflightCommand(parsed.playbook, parsed.flags, io);
      case 'inventory': return await inventoryCommand(parsed.flags, io);
      case 'schema': return await schemaCommand(parsed.flags, io);
      case 'lab': return await labCommand(parsed.sub, parsed.args, io);
      case 'demo': return await demoCommand(parsed.flags, io);
      case 'runs': return parsed.flags.rollout ? rolloutCommand(parsed.flags.rollout, parsed.flags, io, false) : runsCommand(parsed.flags, io);
      case 'show': return parsed.flags.rollout ? rolloutCommand(parsed.flags.rollout, parsed.flags, io, true) : showCommand(parsed.run, parsed.flags, io);
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
  quietOnClosedPipe();
  process.exitCode = await main(process.argv.slice(2));
}

/** `pvrun … | head`: the reader went away; stop quietly instead of dying on EPIPE. */
export function quietOnClosedPipe(): void {
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
}
