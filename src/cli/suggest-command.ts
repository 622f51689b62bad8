/**
 * What the first word of `pvrun WORD …` names when it is not a subcommand: a playbook file, a
 * playbook found in `playbooks/` (as `-i prod` finds inventories/prod.yml), or a mistyped
 * subcommand (`pvrun runz`: exit 5, "did you mean 'runs'?"). A path to an existing file is always
 * a playbook, whatever its name.
 */
import { statSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { closest } from '../load/suggest.js';

const isFile = (p: string): boolean => { try { return statSync(p).isFile(); } catch { return false; } };

/** A bare name (no directory, no .yml/.yaml), which could be a command or a playbook's name. */
const looksLikePath = (arg: string): boolean => arg.includes('/') || arg.includes('\\') || /\.ya?ml$/i.test(arg);

/**
 * The playbook file an argument names, relative to `cwd` as typed: the argument itself when it is
 * a file; otherwise `playbooks/ARG`, `playbooks/ARG.yml`, `playbooks/ARG.yaml` (for a name without
 * a directory). Undefined when none exists (the loader then says what it could not read).
 * Relative to the process's directory, as -i's inventories (src/load/inventory.ts), so the
 * loader can open it and messages show it as typed.
 */
export function resolvePlaybookArg(arg: string, cwd: string): string | undefined {
  const abs = (p: string): string => (isAbsolute(p) ? p : join(cwd, p));
  const shown = (p: string): string => (isAbsolute(p) ? p : relative(process.cwd(), abs(p)) || p);
  if (isFile(abs(arg))) return shown(arg);
  if (arg.includes('/') || arg.includes('\\')) return undefined;
  const names = /\.ya?ml$/i.test(arg) ? [arg] : [`${arg}.yml`, `${arg}.yaml`, arg];
  for (const n of names) {
    const p = join('playbooks', n);
    if (isFile(abs(p))) return shown(p);
  }
  return undefined;
}

/**
 * The usage error for a word that is neither a playbook nor a subcommand but is close to one;
 * undefined when the word is (or may be) a playbook.
 */
export function mistypedCommand(arg: string, cwd: string, commands: readonly string[]): string | undefined {
  if (looksLikePath(arg) || resolvePlaybookArg(arg, cwd) !== undefined) return undefined;
  const near = closest(arg, commands);
  if (near === undefined) return undefined;
  return `unknown command '${arg}'; did you mean '${near}'?`;
}
