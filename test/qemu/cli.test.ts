/**
 * Issue 15, the command line: `pvrun lab image build --help`, and bad input to `lab image` and
 * `lab up --qemu` is exit 5 with the argument named, before anything is built or started.
 */
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runCli } from '../harness/cli.js';

it('pvrun lab image build --help prints the usage, exit 0; lab --help lists it', async () => {
  const r = await runCli(['lab', 'image', 'build', '--help']);
  expect(r.code).toBe(0);
  expect(r.out).toMatch(/^Usage: pvrun lab image build \[--force\] \[--cache DIR\]/);
  const h = await runCli(['lab', '--help']);
  expect(h.out).toMatch(/image build \[--force\] \[--cache DIR\]/);
  expect(h.out).toMatch(/--qemu N/);
});

it('bad input: an unknown image verb or argument, a --qemu that is not a number: exit 5, nothing built', async () => {
  const cache = mkdtempSync(join(tmpdir(), 'pvrun-qemu-cli-'));
  try {
    const verb = await runCli(['lab', 'image', 'frob']);
    expect(verb.code).toBe(5);
    expect(verb.err).toMatch(/unknown lab image command 'frob'/);
    const arg = await runCli(['lab', 'image', 'build', '--cache', cache, '--bogus']);
    expect(arg.code).toBe(5);
    expect(arg.err).toMatch(/unknown argument '--bogus'/);
    expect(existsSync(join(cache, 'qemu-images'))).toBe(false);
    const q = await runCli(['lab', 'up', '--state', join(cache, 'lab'), '--qemu', 'two']);
    expect(q.code).toBe(5);
    expect(q.err).toMatch(/--qemu: a number of QEMU guests \(0-99\), not 'two'/);
    expect(existsSync(join(cache, 'lab'))).toBe(false);
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});

it('demo --qemu: a count that is not 1-99 is exit 5 with the flag named, before anything is installed or started', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'pvrun-qemu-demo-'));
  try {
    for (const bad of ['two', '0', '100', '-1']) {
      const r = await runCli(['demo', `--qemu=${bad}`], { cwd });
      expect(r.code, `--qemu=${bad}`).toBe(5);
      expect(r.err).toMatch(/option '--qemu' wants a number of QEMU guests \(1-99\)/);
      expect(r.err).not.toMatch(/\n\s+at /);
      expect(existsSync(join(cwd, '.lab'))).toBe(false);
    }
    const h = await runCli(['demo', '--help']);
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/--qemu \[n\]/);
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});
