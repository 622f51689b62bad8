/**
 * Version constraints as users write them in playbooks: ">= 9.0", "< 8", "== 8.4.0", "9.1".
 * Versions compare numerically part by part ("9.10" > "9.9"); missing parts count as 0.
 */
export type VersionOp = '>=' | '>' | '<=' | '<' | '==' | '!=';

export interface VersionConstraint {
  op: VersionOp;
  version: number[];
}

export function parseVersion(v: string): number[] | undefined {
  const m = /^\s*v?(\d+(?:\.\d+)*)/.exec(v);
  if (!m) return undefined;
  return m[1]!.split('.').map((p) => Number(p));
}

export function parseConstraint(text: string): VersionConstraint | undefined {
  const m = /^\s*(>=|<=|==|!=|>|<|=)?\s*(\S+)\s*$/.exec(text);
  if (!m) return undefined;
  const version = parseVersion(m[2]!);
  if (!version) return undefined;
  const op = (m[1] === '=' || m[1] === undefined ? '==' : m[1]) as VersionOp;
  return { op, version };
}

export function compareVersions(a: number[], b: number[]): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

export function satisfies(actual: string, constraint: VersionConstraint): boolean {
  const v = parseVersion(actual);
  if (!v) return false;
  const c = compareVersions(v, constraint.version);
  switch (constraint.op) {
    case '>=': return c >= 0;
    case '>': return c > 0;
    case '<=': return c <= 0;
    case '<': return c < 0;
    case '==': return c === 0;
    case '!=': return c !== 0;
  }
}

/**
 * `actual` against a constraint text; `bare` is the operator a constraint without one means
 * (a bare "9.0" in `pv_drivers_version` means "at least 9.0"). undefined: bad constraint.
 */
export function versionSatisfies(actual: string, constraint: string, bare: VersionOp = '=='): boolean | undefined {
  const hasOp = /^\s*(>=|<=|==|!=|>|<|=)/.test(constraint);
  const c = parseConstraint(hasOp ? constraint : `${bare} ${constraint}`);
  return c ? satisfies(actual, c) : undefined;
}
