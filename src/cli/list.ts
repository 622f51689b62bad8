/**
 * The plan as text, without contacting anything: `pvrun validate` (everything),
 * `--list-hosts` (hosts per play and batch) and `--list-tasks` (steps per play, with tags), as
 * ansible-playbook's options of the same names.
 */
import { splitBatches } from '../engine/batches.js';
import { formatSummary, validateOnly, type Project } from '../load/project.js';
import { formatDiagnostics } from '../load/diagnostics.js';
import { EXIT } from '../engine/exit-codes.js';
import { loadOptions } from './validate.js';
import type { Io } from './io.js';
import type { RunFlags } from './program.js';
import type { StepSpec } from '../model/playbook.js';

export interface ListWhat {
  hosts: boolean;
  tasks: boolean;
}

const plural = (n: number, word: string, many = `${word}s`): string => `${n} ${n === 1 ? word : many}`;

function stepLine(s: StepSpec, i: number, selected: boolean, width: number): string {
  const label = `${String(i + 1).padStart(width)}. ${s.name}`;
  const type = s.name === s.type ? '' : `  (${s.type})`;
  const tags = `  TAGS: [${s.tags.join(', ')}]`;
  return `${label}${type}${tags}${selected ? '' : '  — not selected'}`;
}

/** The plan, play by play. */
export function formatPlan(project: Project, what: ListWhat): string {
  const lines: string[] = [`playbook: ${project.playbook.file}`];
  project.plays.forEach((p, pi) => {
    const summary = project.summary.plays[pi]!;
    lines.push('', `play #${pi + 1} '${p.spec.name}': hosts '${p.spec.hosts}'${p.skipped ? ' — skipped (--start-at-step names a step of a later play)' : ''}`);
    if (what.hosts) {
      const batches = splitBatches(p.hosts, p.spec.serial);
      lines.push(`  hosts (${p.hosts.length}) in ${plural(batches.length, 'batch', 'batches')} [${summary.batches.join(', ')}]:`);
      batches.forEach((b, bi) => lines.push(`    batch ${bi + 1}/${batches.length}: ${b.join(', ')}`));
    }
    if (what.tasks) {
      const width = String(Math.max(p.spec.steps.length, p.spec.cleanup.length)).length;
      lines.push(`  steps (${summary.selectedSteps === summary.steps ? summary.steps : `${summary.selectedSteps} of ${summary.steps} selected`}):`);
      p.spec.steps.forEach((s, i) => lines.push(`    ${stepLine(s, i, p.selected[i] === true && !p.skipped, width)}`));
      if (p.spec.cleanup.length > 0) {
        lines.push(`  cleanup (${p.spec.cleanup.length}, always run):`);
        p.spec.cleanup.forEach((s, i) => lines.push(`    ${stepLine(s, i, !p.skipped, width)}`));
      }
    }
  });
  return lines.join('\n');
}

/** `pvrun validate`: the plan in full, then the counts (the last line: `valid: …`). */
export function formatValidation(project: Project): string {
  return `${formatPlan(project, { hosts: true, tasks: true })}\n\n${formatSummary(project.summary)}`;
}

/** `pvrun <playbook> --list-hosts / --list-tasks`: load (contacts nothing), print, exit. */
export function listCommand(playbook: string, flags: RunFlags, what: ListWhat, io: Io): number {
  const r = validateOnly(loadOptions(playbook, flags, io, { id: 'list', check: flags.check, playbook }));
  if (!r.ok) {
    io.err.write(formatDiagnostics(r.error) + '\n');
    return EXIT.invalid;
  }
  if (r.value.project.warnings.length > 0) io.err.write(formatDiagnostics(r.value.project.warnings) + '\n');
  io.out.write(formatPlan(r.value.project, what) + '\n');
  return EXIT.ok;
}
