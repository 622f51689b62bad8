/**
 * POSIX shell quoting. Every value that goes into a remote command passes through here: single
 * quotes make everything literal except the single quote itself, which is closed, escaped and
 * reopened. Plain words are left as they are so commands stay readable in -v output.
 */
export function quoteShell(s: string): string {
  if (s === '') return "''";
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Quote each argument and join with spaces. */
export function quoteArgs(args: readonly string[]): string {
  return args.map(quoteShell).join(' ');
}

/** Environment variable names that are safe to `export` (no quoting possible for names). */
export function isEnvName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name);
}
