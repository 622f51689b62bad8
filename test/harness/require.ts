/**
 * The one way a test is left out for a missing prerequisite (a binary, root, pwsh, sshd).
 *
 * By hand, a suite whose prerequisite is missing is skipped and the reason is printed. Under CI
 * (`CI` set, as .ci/run runs) it is NOT skipped: it fails, with the same reason as its error, so
 * a CI run can only be green when every test really ran (.ci/summarize.mjs also fails a CI run
 * that reports any skipped test, as a backstop for a skip that bypasses this helper).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'vitest';

/** Whether the run is CI's (.ci/run sets CI=true); then a would-be skip is a failure. */
export function underCi(): boolean {
  const v = process.env['CI'];
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

/** Whether `name` is an executable path or found on PATH. */
export function haveBinary(name: string): boolean {
  if (name.includes('/')) return existsSync(name);
  try {
    execFileSync('/bin/sh', ['-c', `command -v "$1"`, 'sh', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** undefined when `name` is there; else why a test that spawns it cannot run. */
export function requireBinary(name: string, hint = ''): string | undefined {
  return haveBinary(name) ? undefined : `${name} is missing${hint ? ` (${hint})` : ''}`;
}

/** undefined when running as root; else why. */
export function requireRoot(what = 'this test'): string | undefined {
  return process.getuid?.() === 0 ? undefined : `${what} needs root (CI runs as root)`;
}

/** The first reason among several, or undefined when all prerequisites are met. */
export function firstReason(...reasons: (string | undefined)[]): string | undefined {
  return reasons.find((r) => r !== undefined && r !== '');
}

type SuiteFn = () => void;
type SuiteOpts = { timeout?: number };

function failing(name: string, reason: string): void {
  describe(name, () => {
    it(`prerequisites (CI does not skip): ${reason}`, () => {
      throw new Error(`CI=${process.env['CI']}: this suite would be skipped on this machine: ${reason}`);
    });
  });
}

/**
 * `describe` that runs when `reason` is undefined. Otherwise: by hand, skipped with the reason
 * printed; under CI, one failing test whose error is the reason.
 */
export function describeUnless(reason: string | undefined) {
  return (name: string, optsOrFn: SuiteOpts | SuiteFn, maybeFn?: SuiteFn): void => {
    const opts = typeof optsOrFn === 'function' ? {} : optsOrFn;
    const fn = typeof optsOrFn === 'function' ? optsOrFn : maybeFn!;
    if (reason === undefined || reason === '') { describe(name, opts, fn); return; }
    if (underCi()) { failing(name, reason); return; }
    console.warn(`skipping "${name}": ${reason}`);
    describe.skip(name, opts, fn);
  };
}

/** `it` that runs when `reason` is undefined; else skipped by hand, failing under CI (see above). */
export function itUnless(reason: string | undefined) {
  return (name: string, fn: () => unknown, timeout?: number): void => {
    if (reason === undefined || reason === '') { it(name, fn, timeout); return; }
    if (underCi()) {
      it(`${name} — prerequisites (CI does not skip): ${reason}`, () => {
        throw new Error(`CI=${process.env['CI']}: this test would be skipped on this machine: ${reason}`);
      });
      return;
    }
    console.warn(`skipping "${name}": ${reason}`);
    it.skip(name, fn, timeout);
  };
}
