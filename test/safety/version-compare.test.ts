/**
 * Version ordering against the package managers' own: every pair of the corpus is compared by
 * pvrun and by the real tool on this machine (`dpkg --compare-versions`, and rpm's own vercmp
 * through `rpm --eval '%{lua: rpm.vercmp(a, b)}'`, which parses epoch:version-release and compares
 * as rpmverCmp does). Nothing here is a hard-coded expected order: the tools are the oracle.
 * Then the constraint semantics that issue 20 is about (the release suffix counts).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { itUnless, requireBinary } from '../harness/require.js';
import { compareVersions, dpkgCompare, rpmCompare, rpmvercmp, versionSatisfies, verrevcmp } from '../../src/util/version.js';

// CI installs both (.ci/run); there a missing tool fails the test instead of skipping it (test/harness/require.ts)
const withDpkg = itUnless(requireBinary('dpkg'));
const withRpm = itUnless(requireBinary('rpm', 'apt-get install rpm'));

// pairs chosen for the rules: suffixes/releases, epochs, tildes, carets, letters, leading zeros,
// separators, segment type changes, long numbers
const CORPUS: [string, string][] = [
  ['8.4.0-1', '8.4.0-2'], ['8.4.0-2', '8.4.0-1'], ['8.4.0-1', '8.4.0-1'], ['8.4.0', '8.4.0-1'],
  ['8.4.0-10', '8.4.0-9'], ['8.4.0-1.el9', '8.4.0-1.el8'], ['8.4.0-1ubuntu2', '8.4.0-1ubuntu10'],
  ['8.4.0-1ubuntu1', '8.4.0-1'], ['8.4.0-1+deb12u1', '8.4.0-1'], ['8.4.0-1~bpo12+1', '8.4.0-1'],
  ['1:7.2-1', '8.0-1'], ['1:7.2-1', '2:7.2-1'], ['0:8.0-1', '8.0-1'], ['2:1.0', '10:0.1'], ['1:1.0', '1.0'],
  ['1.0~rc1', '1.0'], ['1.0~rc1', '1.0~rc2'], ['1.0~~', '1.0~'], ['1.0~', '1.0'], ['1.0~rc1-1', '1.0-1'],
  ['1.0~beta', '1.0~alpha'], ['1.0', '1.0~'], ['2.0~rc1', '1.9'],
  ['1.0^', '1.0'], ['1.0^git1', '1.0'], ['1.0^git1', '1.0.1'], ['1.0^git1', '1.0^git2'], ['1.0^20160101', '1.0~rc1'],
  ['1.0a', '1.0'], ['1.0a', '1.0b'], ['1.0', '1.0.a'], ['1.0.a', '1.0.1'], ['a', 'b'], ['1.0', '1.a'],
  ['2.0', '2.0a'], ['2.0.1a', '2.0.1'], ['5.5p1', '5.5p2'], ['5.5p10', '5.5p2'], ['10xyz', '10.1xyz'],
  ['9.10', '9.9'], ['9.9', '9.10'], ['1.001', '1.1'], ['1.0010', '1.010'], ['01', '1'],
  ['1.0', '1.0.0'], ['9', '9.0'], ['1.2.3', '1.2.3'], ['1.2.3', '1.2.4'], ['3.0.0', '2.99.99'],
  ['1.05', '1.5'], ['4.1.2', '4.1.10'], ['20240101', '20231231'], ['12345678901234567890', '12345678901234567891'],
  ['1.0+really0.9', '1.0'], ['1.0+dfsg', '1.0'], ['1.0.1', '1.0+1'], ['1.0_1', '1.0.1'],
  ['7.2.3995-1ubuntu2', '7.2.3995-1ubuntu2.1'], ['2.38-1', '2.38.1-1'], ['1.2-3-4', '1.2-3-5'],
  ['6.1.0-13-amd64', '6.1.0-9-amd64'], ['7.4.2-1.fc38', '7.4.2-1.fc39'],
];

function dpkgOracle(a: string, b: string): number {
  // dpkg --compare-versions exits 0 when the relation holds
  const rel = (op: string): boolean => spawnSync('dpkg', ['--compare-versions', a, op, b]).status === 0;
  if (rel('eq')) return 0;
  return rel('lt') ? -1 : 1;
}

function rpmOracle(pairs: [string, string][]): number[] {
  // one rpm process for the whole corpus (rpm's Lua print() adds no newline: comma-separate)
  const lua = pairs.map(([a, b]) => `print(rpm.vercmp(${JSON.stringify(a)}, ${JSON.stringify(b)}) .. ",")`).join(' ');
  const out = execFileSync('rpm', ['--eval', `%{lua: ${lua}}`], { encoding: 'utf8' });
  return out.trim().replace(/,$/, '').split(',').map((l) => Math.sign(Number(l)));
}

describe('version ordering against the real tools', () => {
  it('has a corpus of about 60 pairs', () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(60);
  });

  withDpkg('dpkg: every pair (and its reverse) orders as dpkg --compare-versions does', () => {
    const wrong: string[] = [];
    for (const [a, b] of CORPUS) {
      for (const [x, y] of [[a, b], [b, a]] as const) {
        const want = dpkgOracle(x, y);
        const got = Math.sign(dpkgCompare(x, y));
        if (got !== want) wrong.push(`${x} vs ${y}: pvrun ${got}, dpkg ${want}`);
        expect(Math.sign(compareVersions(x, y, 'dpkg'))).toBe(got);
      }
    }
    expect(wrong).toEqual([]);
  });

  withRpm('rpm: every pair (and its reverse) orders as rpm.vercmp does', () => {
    const pairs = CORPUS.flatMap(([a, b]) => [[a, b], [b, a]] as [string, string][]);
    const want = rpmOracle(pairs);
    expect(want).toHaveLength(pairs.length);
    const wrong = pairs.flatMap(([a, b], i) => {
      const got = Math.sign(rpmCompare(a, b));
      return got === want[i] ? [] : [`${a} vs ${b}: pvrun ${got}, rpm ${want[i]}`];
    });
    expect(wrong).toEqual([]);
  });

  withRpm('rpm: bare rpmvercmp (no EVR split) on the version parts too', () => {
    // rpm.vercmp splits EVR; a pair without ':' or '-' is plain rpmvercmp on both sides
    const plain = CORPUS.filter(([a, b]) => !/[:-]/.test(a + b));
    expect(plain.length).toBeGreaterThan(30);
    const want = rpmOracle(plain);
    expect(plain.map(([a, b]) => Math.sign(rpmvercmp(a, b)))).toEqual(want);
  });

  withDpkg('dpkg: verrevcmp alone on upstream parts', () => {
    const plain = CORPUS.filter(([a, b]) => !/[:-]/.test(a + b));
    for (const [a, b] of plain) expect(`${a} ${b} ${Math.sign(verrevcmp(a, b))}`).toBe(`${a} ${b} ${dpkgOracle(a, b)}`);
  });
});

describe('constraints: the release suffix counts (issue 20)', () => {
  it.each([
    ['rpm', '8.4.0-1', '>= 8.4.0-2', false], ['rpm', '8.4.0-1', '== 8.4.0-2', false],
    ['rpm', '8.4.0-2', '>= 8.4.0-2', true], ['rpm', '8.4.0-10', '> 8.4.0-9', true],
    ['rpm', '8.4.0-1', '< 8.4.0-2', true], ['rpm', '8.4.0-1.el9', '== 8.4.0-1.el9', true],
    ['dpkg', '8.4.0-1', '>= 8.4.0-2', false], ['dpkg', '8.4.0-1', '== 8.4.0-2', false],
    ['dpkg', '8.4.0-1ubuntu2', '>= 8.4.0-1ubuntu10', false], ['dpkg', '8.4.0-1~bpo12+1', '< 8.4.0-1', true],
    ['generic', '8.4.0-1', '>= 8.4.0-2', false], ['generic', '8.4.0-1', '== 8.4.0-2', false],
    ['generic', '8.4.0-3', '>= 8.4.0-2', true],
  ] as const)('%s: %s %s → %s', (scheme, actual, c, want) => {
    expect(versionSatisfies(actual, c, '==', scheme)).toBe(want);
  });

  it.each([
    // a constraint without a release names the upstream version: any release of it matches
    ['rpm', '8.4.0-1', '== 8.4.0', true], ['rpm', '8.4.0-1', '> 8.4.0', false], ['dpkg', '8.4.0-1', '>= 8.4.0', true],
    // a constraint without an epoch compares the upstream version (an epoch is packaging history)
    ['dpkg', '2:8.2.3995-1ubuntu2', '< 9', true], ['dpkg', '1:7.2-1', '>= 8', false],
    // with an epoch it counts
    ['dpkg', '1:7.2-1', '>= 0:8', true], ['rpm', '1:7.2-1', '>= 8', false], ['rpm', '1:7.2-1', '>= 0:8', true],
    // tildes and carets in constraints
    ['dpkg', '1.0~rc1-1', '>= 1.0', false], ['rpm', '1.0^git1-1', '> 1.0', true], ['rpm', '1.0~rc1-1', '< 1.0', true],
  ] as const)('%s: %s %s → %s', (scheme, actual, c, want) => {
    expect(versionSatisfies(actual, c, '==', scheme)).toBe(want);
  });

  it('predicates without a package family keep dotted numbers with missing parts as 0', () => {
    expect(versionSatisfies('9', '== 9.0.0')).toBe(true);
    expect(versionSatisfies('9.10', '> 9.9')).toBe(true);
    expect(versionSatisfies('9.4.0.12', '>= 9.4')).toBe(true);
    expect(versionSatisfies('9.0', 'banana')).toBeUndefined();
  });
});
