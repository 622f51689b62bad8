/**
 * Package manager commands, pure: query (read-only) and install/remove per manager. Names are
 * validated against the distribution's name grammar, always quoted, and always passed after `--`
 * so a name can never be read as an option (`-oDPkg::Pre-Invoke::=…`). Shared by the package
 * step and the package_installed predicate.
 */
import type { OsFamily, PackageManager } from '../../facts/linux.js';
import { quoteArgs, quoteShell } from '../../util/shell-quote.js';

/**
 * Names any supported distribution accepts (checked at load, where the guest is not known yet):
 * a letter, digit or `_` first, then letters, digits and `. _ + -`, and for apt an optional
 * `:arch`. Never a leading `-`, never a space, quote or `/`.
 */
import { PACKAGE_NAME_DESCRIPTION, PACKAGE_NAME_PATTERN } from '../catalog.js';
// defined in the step catalog, which the loader reads without the implementations (issue 17)
export { PACKAGE_NAME_DESCRIPTION, PACKAGE_NAME_PATTERN };

/** Per family, at run time when the guest is known. */
const FAMILY_NAME: Partial<Record<OsFamily, { re: RegExp; text: string }>> = {
  // Debian policy 5.6.1: at least two characters, lower case letters, digits, + - . ; starts alphanumeric
  debian: { re: /^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$/, text: "Debian package names are lower case letters, digits and + - . (at least two characters, starting with a letter or digit)" },
  // rpm: no whitespace, no leading '-' (rpm's own spec parser, build/parsePreamble.c: rpmCharCheck allows alnum and "-._+%{}")
  redhat: { re: /^[A-Za-z0-9_][A-Za-z0-9._+-]*$/, text: 'rpm package names are letters, digits and . _ + - (starting with a letter, digit or _)' },
  suse: { re: /^[A-Za-z0-9_][A-Za-z0-9._+-]*$/, text: 'rpm package names are letters, digits and . _ + - (starting with a letter, digit or _)' },
  alpine: { re: /^[A-Za-z0-9_][A-Za-z0-9._+-]*$/, text: 'apk package names are letters, digits and . _ + - (starting with a letter, digit or _)' },
};
const ANY_NAME = new RegExp(PACKAGE_NAME_PATTERN);

/** The first name this guest's package manager would not accept as a name, with why; undefined when all are fine. */
export function invalidPackageName(names: readonly string[], family: OsFamily): string | undefined {
  const g = FAMILY_NAME[family];
  for (const n of names) {
    if (!ANY_NAME.test(n)) return `invalid package name ${JSON.stringify(n)}: ${PACKAGE_NAME_DESCRIPTION}`;
    if (g && !g.re.test(n)) return `invalid package name ${JSON.stringify(n)}: ${g.text}`;
  }
  return undefined;
}

export type PackageNames = string | string[] | Partial<Record<OsFamily | 'default', string | string[]>>;

/** `{ redhat: xe-guest-utilities-latest, debian: xe-guest-utilities }` → the names for this guest. */
export function namesFor(names: PackageNames, family: OsFamily): string[] | undefined {
  if (typeof names === 'string') return [names];
  if (Array.isArray(names)) return names;
  const v = names[family] ?? names.default;
  if (v === undefined) return undefined;
  return typeof v === 'string' ? [v] : v;
}

/**
 * Prints `pkg=NAME VERSION` for each installed name and `missing=NAME` for the others.
 * rpm for the rpm managers (zypper too), dpkg-query for apt (only fully installed, "ii"), apk.
 */
export function queryCommand(pm: PackageManager, names: string[]): string {
  const list = quoteArgs(names);
  switch (pm) {
    case 'dnf': case 'yum': case 'zypper':
      return `for p in ${list}; do v=$(rpm -q --qf '%{VERSION}-%{RELEASE}' -- "$p" 2>/dev/null) && echo "pkg=$p $v" || echo "missing=$p"; done`;
    case 'apt':
      return `for p in ${list}; do s=$(dpkg-query -W -f='\${db:Status-Abbrev}|\${Version}' -- "$p" 2>/dev/null); case "$s" in ii*) echo "pkg=$p \${s#*|}";; *) echo "missing=$p";; esac; done`;
    case 'apk':
      return `for p in ${list}; do if apk info -e -- "$p" >/dev/null 2>&1; then echo "pkg=$p $(apk info -v -- "$p" 2>/dev/null | head -n 1 | sed "s/^$p-//")"; else echo "missing=$p"; fi; done`;
  }
}

export function parseQuery(out: string): { installed: Map<string, string>; missing: string[] } {
  const installed = new Map<string, string>();
  const missing: string[] = [];
  for (const line of out.split('\n')) {
    if (line.startsWith('pkg=')) {
      const [name, version] = line.slice(4).split(' ');
      if (name) installed.set(name, version ?? '');
    } else if (line.startsWith('missing=')) missing.push(line.slice(8));
  }
  return { installed, missing };
}

export function installCommand(pm: PackageManager, names: string[], opts: { updateCache?: boolean } = {}): string {
  const list = quoteArgs(names);
  switch (pm) {
    case 'dnf': return `dnf install -y -- ${list}`;
    case 'yum': return `yum install -y -- ${list}`;
    case 'apt':
      return `export DEBIAN_FRONTEND=noninteractive; ${opts.updateCache ? 'apt-get update -q && ' : ''}apt-get install -y -q -- ${list}`;
    case 'zypper': return `zypper --non-interactive install -- ${list}`;
    case 'apk': return `apk add ${opts.updateCache ? '--update-cache ' : ''}-- ${list}`;
  }
}

export function removeCommand(pm: PackageManager, names: string[]): string {
  const list = quoteArgs(names);
  switch (pm) {
    case 'dnf': return `dnf remove -y -- ${list}`;
    case 'yum': return `yum remove -y -- ${list}`;
    case 'apt': return `export DEBIAN_FRONTEND=noninteractive; apt-get remove -y -q -- ${list}`;
    case 'zypper': return `zypper --non-interactive remove -- ${list}`;
    case 'apk': return `apk del -- ${list}`;
  }
}

/**
 * EPEL on the RHEL family: the epel-release package from the distribution's repos (CentOS,
 * Rocky, Alma, Oracle), else the Fedora project's release RPM for this major version (RHEL).
 */
export function enableEpelCommand(pm: PackageManager, major: string): string {
  const tool = pm === 'yum' ? 'yum' : 'dnf';
  const url = `https://dl.fedoraproject.org/pub/epel/epel-release-latest-${major}.noarch.rpm`;
  return `${tool} install -y epel-release || ${tool} install -y ${quoteShell(url)}`;
}
