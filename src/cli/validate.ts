/**
 * `pvrun validate`, and how every command that loads a project turns flags into loader options.
 * Kept apart from run.ts so that validating loads the loader and the step catalog only (the step
 * types' schemas and flags, src/steps/catalog.ts), not the step implementations, engine,
 * connectors, XAPI client and reporters (start-up, issue 17; test/cli/lazy-load.test.ts).
 */
import { formatDiagnostics, type Diagnostic } from '../load/diagnostics.js';
import { validateOnly, type LoadProjectOptions } from '../load/project.js';
import { redactor } from '../util/redact.js';
import { EXIT } from '../engine/exit-codes.js';
import { builtinCatalog } from '../steps/catalog.js';
import { diagnosticAnnotations } from '../report/github.js';
import { formatValidation } from './list.js';
import type { Io } from './io.js';
import type { RunFlags } from './program.js';

const split = (s: string | undefined): string[] => (s ? [s] : []);

export function loadOptions(playbook: string, flags: RunFlags, io: Io, run: Record<string, unknown>): LoadProjectOptions {
  return {
    playbook,
    inventories: flags.inventory,
    extraVars: flags.extraVars,
    ...(flags.limit ? { limit: flags.limit } : {}),
    tags: split(flags.tags),
    skipTags: split(flags.skipTags),
    ...(flags.startAtStep ? { startAtStep: flags.startAtStep } : {}),
    ...(flags.forks !== undefined ? { forks: flags.forks } : {}),
    registry: builtinCatalog(),
    cwd: io.cwd,
    run,
    check: flags.check,
  };
}

export function printDiagnostics(ds: Diagnostic[], io: Io): void {
  if (!ds.length) return;
  io.err.write(formatDiagnostics(ds) + '\n');
  // under GitHub Actions, bad input is annotated at its file and line too (stdout: the runner reads it)
  if (io.env['GITHUB_ACTIONS'] === 'true') io.out.write(diagnosticAnnotations(ds, (s) => redactor.redact(s)));
}

/** `pvrun validate`: load everything, print diagnostics or the plan. Contacts nothing. */
export async function validateCommand(playbook: string, flags: RunFlags, io: Io): Promise<number> {
  const r = validateOnly(loadOptions(playbook, flags, io, { id: 'validate', check: flags.check, playbook }));
  if (!r.ok) {
    printDiagnostics(r.error, io);
    return EXIT.invalid;
  }
  printDiagnostics(r.value.project.warnings, io);
  io.out.write(formatValidation(r.value.project) + '\n'); // the plan (hosts per batch, steps), then the counts
  return EXIT.ok;
}
