/**
 * Version constraints as users write them in playbooks: ">= 9.0", "< 8", "== 8.4.0-2", "9.1".
 *
 * Three orderings, chosen by where the version comes from:
 * - `rpm`:  rpm's own (rpmvercmp over epoch:version-release), for rpm-based guests;
 * - `dpkg`: dpkg's own (verrevcmp over epoch:upstream-revision), for Debian-based guests;
 * - `generic` (no package family: facts, PV driver and MSI versions): dotted numbers where missing
 *   parts count as 0 ("9" == "9.0.0", "9.10" > "9.9"), rpm's segment rules for anything else.
 *
 * A constraint compares the parts it names: `>= 8.4.0` ignores the installed release (8.4.0-1
 * satisfies `== 8.4.0`, as rpm's dependency matching does: rpmio/rpmver.c rpmverOverlap, "always
 * matches if the side with no release has SENSE_EQUAL"), `>= 8.4.0-2` compares it (8.4.0-1 does
 * not satisfy it); a constraint without an epoch ignores the installed epoch ("2:8.2-1" is an
 * 8.2 for `< 9`), one with an epoch compares it.
 */
export type VersionOp = '>=' | '>' | '<=' | '<' | '==' | '!=';
export type VersionScheme = 'rpm' | 'dpkg' | 'generic';

export interface VersionConstraint {
  op: VersionOp;
  /** the version text as written, without a leading `v` */
  version: string;
}

/** A version as a user may write one: optional epoch, then a digit first (`v` prefix allowed). */
const VERSION_RE = /^(?:\d+:)?v?\d[0-9A-Za-z.+~^_:-]*$/;

// ---------- rpm ----------

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isAlpha = (c: string | undefined): boolean => c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
const isAlnum = (c: string | undefined): boolean => isDigit(c) || isAlpha(c);

/**
 * rpm's rpmvercmp (rpmio/rpmvercmp.c, rpm ≥ 4.15): alternating numeric and alphabetic segments,
 * other characters only separate; `~` sorts before everything (even the end), `^` after the end
 * but before any other segment; numbers beat letters; the longer leftover wins.
 */
export function rpmvercmp(a: string, b: string): number {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while (i < a.length && !isAlnum(a[i]) && a[i] !== '~' && a[i] !== '^') i++;
    while (j < b.length && !isAlnum(b[j]) && b[j] !== '~' && b[j] !== '^') j++;
    // tilde: sorts before everything else
    if (a[i] === '~' || b[j] === '~') {
      if (a[i] !== '~') return 1;
      if (b[j] !== '~') return -1;
      i++; j++;
      continue;
    }
    // caret: like tilde, except that the end of a string (the base version) sorts lower
    if (a[i] === '^' || b[j] === '^') {
      if (i >= a.length) return -1;
      if (j >= b.length) return 1;
      if (a[i] !== '^') return 1;
      if (b[j] !== '^') return -1;
      i++; j++;
      continue;
    }
    if (!(i < a.length && j < b.length)) break;
    let ei = i;
    let ej = j;
    const isnum = isDigit(a[i]);
    if (isnum) {
      while (ei < a.length && isDigit(a[ei])) ei++;
      while (ej < b.length && isDigit(b[ej])) ej++;
    } else {
      while (ei < a.length && isAlpha(a[ei])) ei++;
      while (ej < b.length && isAlpha(b[ej])) ej++;
    }
    // segments of different types: numeric is newer than alpha
    if (ej === j) return isnum ? 1 : -1;
    let sa = a.slice(i, ei);
    let sb = b.slice(j, ej);
    if (isnum) {
      sa = sa.replace(/^0+/, '');
      sb = sb.replace(/^0+/, '');
      if (sa.length !== sb.length) return sa.length > sb.length ? 1 : -1;
    }
    if (sa !== sb) return sa < sb ? -1 : 1; // strcmp: byte order (ASCII here)
    i = ei;
    j = ej;
  }
  if (i >= a.length && j >= b.length) return 0;
  return i < a.length ? 1 : -1;
}

export interface Evr { epoch: string | undefined; version: string; release: string | undefined }

/** rpm's parseEVR (rpmio/rpmver.c): digits then ':' is the epoch; after the last '-' the release. */
export function parseEvr(evr: string): Evr {
  let s = 0;
  while (s < evr.length && isDigit(evr[s])) s++;
  const dash = evr.lastIndexOf('-');
  const se = dash >= s ? dash : -1;
  let epoch: string | undefined;
  let vStart = 0;
  if (evr[s] === ':') {
    epoch = s === 0 ? '0' : evr.slice(0, s);
    vStart = s + 1;
  }
  return {
    epoch,
    version: evr.slice(vStart, se >= 0 ? se : evr.length),
    release: se >= 0 ? evr.slice(se + 1) : undefined,
  };
}

/** rpm's total order of two EVR strings (rpmverCmp: a missing epoch is 0, a missing release sorts lower). */
export function rpmCompare(a: string, b: string): number {
  const x = parseEvr(a);
  const y = parseEvr(b);
  const cmp = (p: string | undefined, q: string | undefined): number =>
    p === undefined && q === undefined ? 0 : q === undefined ? 1 : p === undefined ? -1 : rpmvercmp(p, q);
  return cmp(x.epoch ?? '0', y.epoch ?? '0') || cmp(x.version, y.version) || cmp(x.release, y.release);
}

// ---------- dpkg ----------

/** dpkg's order of one character (lib/dpkg/version.c order()): '~' first, then the end, letters, the rest. */
function dpkgOrder(c: string | undefined): number {
  if (c === undefined) return 0;
  if (isDigit(c)) return 0;
  if (isAlpha(c)) return c.charCodeAt(0);
  if (c === '~') return -1;
  return c.charCodeAt(0) + 256;
}

/** dpkg's verrevcmp (lib/dpkg/version.c): non-digit runs by dpkgOrder, digit runs numerically. */
export function verrevcmp(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !isDigit(a[i])) || (j < b.length && !isDigit(b[j]))) {
      const ac = dpkgOrder(a[i]);
      const bc = dpkgOrder(b[j]);
      if (ac !== bc) return Math.sign(ac - bc);
      i++; j++;
    }
    while (a[i] === '0') i++;
    while (b[j] === '0') j++;
    while (isDigit(a[i]) && isDigit(b[j])) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++; j++;
    }
    if (isDigit(a[i])) return 1;
    if (isDigit(b[j])) return -1;
    if (firstDiff) return Math.sign(firstDiff);
  }
  return 0;
}

export interface DebVersion { epoch: number; hasEpoch: boolean; upstream: string; revision: string; hasRevision: boolean }

/** dpkg's parseversion: epoch before the first ':', revision after the last '-'. */
export function parseDebVersion(v: string): DebVersion {
  const t = v.trim();
  const colon = t.indexOf(':');
  const hasEpoch = colon >= 0 && /^\d+$/.test(t.slice(0, colon));
  const rest = hasEpoch ? t.slice(colon + 1) : t;
  const dash = rest.lastIndexOf('-');
  return {
    epoch: hasEpoch ? Number(t.slice(0, colon)) : 0,
    hasEpoch,
    upstream: dash >= 0 ? rest.slice(0, dash) : rest,
    revision: dash >= 0 ? rest.slice(dash + 1) : '',
    hasRevision: dash >= 0,
  };
}

/** dpkg's total order (dpkg_version_compare): epoch, then upstream, then revision. */
export function dpkgCompare(a: string, b: string): number {
  const x = parseDebVersion(a);
  const y = parseDebVersion(b);
  if (x.epoch !== y.epoch) return x.epoch > y.epoch ? 1 : -1;
  return verrevcmp(x.upstream, y.upstream) || verrevcmp(x.revision, y.revision);
}

// ---------- generic ----------

/** Dotted numbers with missing parts as 0 when both are plain dotted numbers, rpmvercmp otherwise. */
function genericVersionCompare(a: string, b: string): number {
  if (/^\d+(\.\d+)*$/.test(a) && /^\d+(\.\d+)*$/.test(b)) {
    const pa = a.split('.').map((p) => p.replace(/^0+(?=\d)/, ''));
    const pb = b.split('.').map((p) => p.replace(/^0+(?=\d)/, ''));
    for (let k = 0; k < Math.max(pa.length, pb.length); k++) {
      const x = pa[k] ?? '0';
      const y = pb[k] ?? '0';
      if (x.length !== y.length) return x.length > y.length ? 1 : -1;
      if (x !== y) return x < y ? -1 : 1;
    }
    return 0;
  }
  return rpmvercmp(a, b);
}

interface Parts { epoch: string | undefined; version: string; release: string | undefined }

/** Each scheme: how a version splits into parts, and how each part compares. */
const SCHEMES: Record<VersionScheme, { split: (v: string) => Parts; epoch: (a: string, b: string) => number; version: (a: string, b: string) => number; release: (a: string, b: string) => number }> = {
  rpm: { split: parseEvr, epoch: rpmvercmp, version: rpmvercmp, release: rpmvercmp },
  dpkg: {
    split: (v) => {
      const d = parseDebVersion(v);
      return { epoch: d.hasEpoch ? String(d.epoch) : undefined, version: d.upstream, release: d.hasRevision ? d.revision : undefined };
    },
    epoch: (a, b) => Math.sign(Number(a) - Number(b)),
    version: verrevcmp,
    release: verrevcmp,
  },
  generic: { split: parseEvr, epoch: rpmvercmp, version: genericVersionCompare, release: rpmvercmp },
};

/** The total order of two full version strings under a scheme. */
export function compareVersions(a: string, b: string, scheme: VersionScheme = 'generic'): number {
  if (scheme === 'rpm') return rpmCompare(a, b);
  if (scheme === 'dpkg') return dpkgCompare(a, b);
  const s = SCHEMES.generic;
  const x = s.split(a);
  const y = s.split(b);
  return s.epoch(x.epoch ?? '0', y.epoch ?? '0') || s.version(x.version, y.version)
    || (x.release === undefined && y.release === undefined ? 0 : y.release === undefined ? 1 : x.release === undefined ? -1 : s.release(x.release, y.release));
}

// ---------- constraints ----------

/**
 * actual vs wanted under a scheme, comparing only the parts `wanted` names (see the header).
 * Returns the sign of actual − wanted.
 */
export function compareToConstraint(actual: string, wanted: string, scheme: VersionScheme): number {
  const s = SCHEMES[scheme];
  const a = s.split(actual);
  const w = s.split(wanted);
  if (w.epoch !== undefined) {
    const e = s.epoch(a.epoch ?? '0', w.epoch);
    if (e !== 0) return e;
  }
  const v = s.version(a.version, w.version);
  if (v !== 0 || w.release === undefined) return v;
  // dpkg: a missing revision is the empty one; rpm: a missing release sorts lower (rpmverCmp)
  if (a.release === undefined) return scheme === 'dpkg' ? verrevcmp('', w.release) : -1;
  return s.release(a.release, w.release);
}

function clean(v: string): string {
  // "v9.1" → "9.1"; an epoch keeps its place ("1:v2" is not a thing users write)
  return v.trim().replace(/^v(?=\d)/, '');
}

export function parseConstraint(text: string): VersionConstraint | undefined {
  const m = /^\s*(>=|<=|==|!=|>|<|=)?\s*(\S+)\s*$/.exec(text);
  if (!m || !VERSION_RE.test(m[2]!)) return undefined;
  const op = (m[1] === '=' || m[1] === undefined ? '==' : m[1]) as VersionOp;
  return { op, version: clean(m[2]!) };
}

/** The version token of an actual value ("9.4.0.12 (build 3)" → "9.4.0.12"); undefined if none. */
function actualVersion(actual: string): string | undefined {
  const tok = actual.trim().split(/\s+/)[0] ?? '';
  return VERSION_RE.test(tok) ? clean(tok) : undefined;
}

export function satisfies(actual: string, constraint: VersionConstraint, scheme: VersionScheme = 'generic'): boolean {
  const v = actualVersion(actual);
  if (v === undefined) return false;
  const c = compareToConstraint(v, constraint.version, scheme);
  switch (constraint.op) {
    case '>=': return c >= 0;
    case '>': return c > 0;
    case '<=': return c <= 0;
    case '<': return c < 0;
    case '==': return c === 0;
    case '!=': return c !== 0;
  }
}

/** The ordering of a guest's package manager (apk and unknown ones: generic). */
export function schemeForPackageManager(pm: string | undefined): VersionScheme {
  if (pm === 'dnf' || pm === 'yum' || pm === 'zypper' || pm === 'rpm') return 'rpm';
  if (pm === 'apt' || pm === 'dpkg') return 'dpkg';
  return 'generic';
}

/**
 * `actual` against a constraint text; `bare` is the operator a constraint without one means
 * (a bare "9.0" in `pv_drivers_version` means "at least 9.0"). undefined: bad constraint.
 */
export function versionSatisfies(actual: string, constraint: string, bare: VersionOp = '==', scheme: VersionScheme = 'generic'): boolean | undefined {
  const hasOp = /^\s*(>=|<=|==|!=|>|<|=)/.test(constraint);
  const c = parseConstraint(hasOp ? constraint : `${bare} ${constraint}`);
  return c ? satisfies(actual, c, scheme) : undefined;
}
