/**
 * The installed CLI's V8 code cache (src/cli/compile-cache.ts), against real V8 in child
 * processes: a cache is written at exit and taken by the next run; a file or directory others
 * could have written is not trusted with code; an edited bundle never meets its old cache; a
 * broken file is rejected by V8 and replaced; a secret the process read is in no cache file.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundleIdentity, cacheDir, cacheFileName, cacheGroup, KEEP_PER_GROUP, trusted, WRAPPED_HEAD, WRAPPED_TAIL } from '../../src/cli/compile-cache.js';

const REPO = join(import.meta.dirname, '..', '..');

const CHILD = `
import { loadBundle } from ${JSON.stringify(join(REPO, 'src', 'cli', 'compile-cache.ts'))};
const r = loadBundle(process.argv[2], process.argv.slice(3));
process.stdout.write(JSON.stringify({ status: r.status, answer: r.exports.answer(), file: r.exports.file }) + '\\n');
`;

/** A bundle that reads a secret at run time and keeps it alive in a closure and a global. */
const bundleSource = (n: number): string => `
const held = { secret: String(process.env.FIXTURE_SECRET) };
globalThis.__held = held;
function keep() { return () => held.secret.length; }
const k = keep(); k();
function work(m) { let t = 0; for (let i = 0; i < m; i++) t += i; return t; }
module.exports.answer = () => work(${n}) + k() * 0;
module.exports.file = __filename;
`;

interface Out { status: string; answer: number; file: string; err: string }

function setup(): { dir: string; cache: string; bundle: string; child: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pvrun-cc-'));
  const child = join(dir, 'child.mts');
  writeFileSync(child, CHILD);
  const bundle = join(dir, 'bundle.cjs');
  writeFileSync(bundle, bundleSource(10));
  return { dir, cache: join(dir, 'cache'), bundle, child };
}

function load(t: { child: string; bundle: string }, env: Record<string, string>, argv = ['validate', 'x.yml']): Promise<Out> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', t.child, t.bundle, ...argv], {
      cwd: REPO, env: { ...process.env, PVRUN_COMPILE_CACHE_TRACE: '1', ...env }, timeout: 60_000,
    }, (e, out, err) => {
      if (e) return reject(new Error(`${e.message}\n${err}`));
      const line = String(out).trim().split('\n').pop() ?? '';
      resolve({ ...(JSON.parse(line) as Omit<Out, 'err'>), err: String(err) });
    });
  });
}

const files = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.v8cache')) : []);

describe('compile cache: which cache, where, whose', () => {
  it('one cache per kind of command', () => {
    expect(cacheGroup([])).toBe('help');
    expect(cacheGroup(['--help'])).toBe('help');
    expect(cacheGroup(['validate', '--help'])).toBe('help');
    expect(cacheGroup(['validate', 'p.yml', '-i', 'prod'])).toBe('validate');
    expect(cacheGroup(['playbooks/linux-tools.yml', '-i', 'prod'])).toBe('run');
    // a rehearsal compiles the plan path only: its own cache, so a real run's is not the rehearsal's
    expect(cacheGroup(['playbooks/linux-tools.yml', '-i', 'prod', '--check'])).toBe('check');
    expect(cacheGroup(['playbooks/linux-tools.yml', '-C', '-i', 'prod'])).toBe('check');
    expect(cacheGroup(['resume', 'last'])).toBe('other');
  });

  it('PVRUN_COMPILE_CACHE (off, or a directory), then XDG_CACHE_HOME, then ~/.cache', () => {
    expect(cacheDir({ PVRUN_COMPILE_CACHE: 'off', XDG_CACHE_HOME: '/x' })).toBeUndefined();
    expect(cacheDir({ PVRUN_COMPILE_CACHE: '/var/tmp/c', XDG_CACHE_HOME: '/x' })).toBe('/var/tmp/c');
    expect(cacheDir({ XDG_CACHE_HOME: '/x' })).toBe('/x/pvrun');
    expect(cacheDir({ XDG_CACHE_HOME: 'relative' }, () => '/home/op')).toBe('/home/op/.cache/pvrun');
    expect(cacheDir({}, () => '/home/op')).toBe('/home/op/.cache/pvrun');
  });

  it('the file name changes with the bundle (size, inode, change time), Node and the architecture', () => {
    const id = { size: 10, ino: 1234n, ctimeNs: 1_733_000_000_123_456_789n };
    const a = cacheFileName('run', id, 'v20.20.2', 'x64');
    expect(a).toBe(`run-10-ya-${(1_733_000_000_123_456_789n).toString(36)}-v20.20.2-x64.v8cache`);
    expect(cacheFileName('run', { ...id, ctimeNs: id.ctimeNs + 1n }, 'v20.20.2', 'x64')).not.toBe(a); // one ns later
    expect(cacheFileName('run', { ...id, ino: 1235n }, 'v20.20.2', 'x64')).not.toBe(a);
    expect(cacheFileName('run', { ...id, size: 11 }, 'v20.20.2', 'x64')).not.toBe(a);
    expect(cacheFileName('run', id, 'v20.20.3', 'x64')).not.toBe(a);
    expect(cacheFileName('run', id, 'v20.20.2', 'arm64')).not.toBe(a);
  });

  // ext4, xfs, btrfs, tmpfs keep ns; a file system with whole seconds gets the CRC-32 as well
  it('names the bundle by its CRC-32 too where ctimes are whole seconds', () => {
    const a = Buffer.from('module.exports = 1;');
    const b = Buffer.from('module.exports = 2;');
    const fine = { ino: 7n, ctimeNs: 1_733_000_000_000_000_001n };
    expect(bundleIdentity(fine, a)).toEqual({ size: a.length, ino: 7n, ctimeNs: fine.ctimeNs });
    expect(cacheFileName('run', bundleIdentity(fine, a))).toBe(cacheFileName('run', bundleIdentity(fine, b)));
    const coarse = { ino: 7n, ctimeNs: 1_733_000_000_000_000_000n };
    expect(bundleIdentity(coarse, a).crc).toBeTypeOf('number');
    expect(cacheFileName('run', bundleIdentity(coarse, a))).not.toBe(cacheFileName('run', bundleIdentity(coarse, b)));
  });

  it('trusts only what this user owns and nobody else can write', () => {
    expect(trusted({ uid: 1000, mode: 0o100600 }, 1000)).toBe(true);
    expect(trusted({ uid: 1000, mode: 0o040755 }, 1000)).toBe(true);
    expect(trusted({ uid: 0, mode: 0o100600 }, 1000)).toBe(false);
    expect(trusted({ uid: 1000, mode: 0o100620 }, 1000)).toBe(false);
    expect(trusted({ uid: 1000, mode: 0o040777 }, 1000)).toBe(false);
  });
});

describe('compile cache: real V8, in child processes', () => {
  it('written at exit by the first run, taken by the next; private file in a private directory', async () => {
    const t = setup();
    const first = await load(t, { PVRUN_COMPILE_CACHE: t.cache });
    expect(first.status).toBe('none');
    expect(first.answer).toBe(45);
    expect(first.file).toBe(t.bundle); // the bundle sees its own __filename
    expect(first.err).toMatch(/compile cache written .*validate-.*\.v8cache/);
    const [name] = files(t.cache);
    expect(name).toMatch(/^validate-\d+-[0-9a-z]+-[0-9a-z]+-v\d+\.\d+\.\d+-\w+\.v8cache$/);
    expect(statSync(join(t.cache, name!)).mode & 0o777).toBe(0o600);
    expect(statSync(t.cache).mode & 0o777).toBe(0o700);
    const second = await load(t, { PVRUN_COMPILE_CACHE: t.cache });
    expect(second.status).toBe('used');
    expect(second.answer).toBe(45);
    expect(second.err).not.toMatch(/written/);
    // another kind of command has its own
    expect((await load(t, { PVRUN_COMPILE_CACHE: t.cache }, ['--help'])).status).toBe('none');
    expect(files(t.cache).sort().map((f) => f.split('-')[0])).toEqual(['help', 'validate']);
  });

  it('a secret the process read and kept is in no cache file', async () => {
    const t = setup();
    const secret = `s3cr3t-${randomBytes(12).toString('hex')}`;
    await load(t, { PVRUN_COMPILE_CACHE: t.cache, FIXTURE_SECRET: secret });
    await load(t, { PVRUN_COMPILE_CACHE: t.cache, FIXTURE_SECRET: secret }, ['p.yml']);
    const written = files(t.cache);
    expect(written.length).toBe(2);
    for (const f of written) {
      const data = readFileSync(join(t.cache, f));
      expect(data.length).toBeGreaterThan(100);
      expect(data.includes(secret), f).toBe(false);
      expect(data.includes(Buffer.from(secret, 'utf16le')), f).toBe(false);
      // what it does hold is the source's own literals (so the search above could find a string)
      expect(data.includes('FIXTURE_SECRET'), f).toBe(true);
    }
  });

  it('a cache file others can write is not loaded, and is replaced by a private one', async () => {
    const t = setup();
    await load(t, { PVRUN_COMPILE_CACHE: t.cache });
    const [name] = files(t.cache);
    chmodSync(join(t.cache, name!), 0o620);
    const r = await load(t, { PVRUN_COMPILE_CACHE: t.cache });
    expect(r.status).toBe('none');
    expect(r.err).toMatch(/compile cache written/);
    expect(statSync(join(t.cache, name!)).mode & 0o777).toBe(0o600);
    expect((await load(t, { PVRUN_COMPILE_CACHE: t.cache })).status).toBe('used');
  });

  it('a cache directory others can write is neither read nor written', async () => {
    const t = setup();
    await load(t, { PVRUN_COMPILE_CACHE: t.cache });
    chmodSync(t.cache, 0o777);
    const r = await load(t, { PVRUN_COMPILE_CACHE: t.cache });
    expect(r.status).toBe('none');
    expect(r.err).toMatch(/compile cache not written/);
    expect(r.answer).toBe(45);
  });

  // npm installs every file with one mtime (1985-10-26): an upgrade can keep size and mtime
  it('an edited bundle of the same length and mtime never runs with the old code', async () => {
    const t = setup();
    const npmTime = new Date('1985-10-26T08:15:00Z');
    utimesSync(t.bundle, npmTime, npmTime);
    await load(t, { PVRUN_COMPILE_CACHE: t.cache });
    expect((await load(t, { PVRUN_COMPILE_CACHE: t.cache })).status).toBe('used');
    const before = statSync(t.bundle);
    writeFileSync(t.bundle, bundleSource(20)); // same length: 10 → 20
    utimesSync(t.bundle, npmTime, npmTime);
    expect(statSync(t.bundle).size).toBe(before.size);
    expect(statSync(t.bundle).mtimeMs).toBe(before.mtimeMs);
    const r = await load(t, { PVRUN_COMPILE_CACHE: t.cache });
    expect(r.status).toBe('none');
    expect(r.answer).toBe(190);
    expect(files(t.cache).length).toBe(2); // the old one is kept (KEEP_PER_GROUP), never used for the new source
  });

  // two installs (a global pvrun and a project's npx pvrun) used in turns: each keeps its cache
  it('two bundles used in turns each keep their cache; only the newest few per kind are kept', async () => {
    const t = setup();
    const other = join(t.dir, 'other.cjs');
    writeFileSync(other, bundleSource(11));
    const env = { PVRUN_COMPILE_CACHE: t.cache };
    expect((await load(t, env)).status).toBe('none');
    expect((await load({ ...t, bundle: other }, env)).status).toBe('none');
    const a = await load(t, env);
    expect(a.status).toBe('used');
    expect(a.answer).toBe(45);
    const b = await load({ ...t, bundle: other }, env);
    expect(b.status).toBe('used');
    expect(b.answer).toBe(55);
    expect(files(t.cache).length).toBe(2);
    // more bundles than are kept: the oldest file goes
    const oldest = files(t.cache).map((f) => ({ f, t: statSync(join(t.cache, f)).mtimeMs })).sort((x, y) => x.t - y.t)[0]!.f;
    for (const n of [12, 13]) {
      const more = join(t.dir, `b${n}.cjs`);
      writeFileSync(more, bundleSource(n));
      expect((await load({ ...t, bundle: more }, env)).status).toBe('none');
    }
    expect(files(t.cache).length).toBe(KEEP_PER_GROUP);
    expect(files(t.cache)).not.toContain(oldest);
    // another kind of command is not counted with them
    expect((await load(t, env, ['--help'])).status).toBe('none');
    expect(files(t.cache).length).toBe(KEEP_PER_GROUP + 1);
  });

  // Without the seal's checksum, the flipped bytes below made the child die inside V8's
  // deserializer (seen: a fatal error and a native stack trace, no answer)
  it('a damaged or cut cache file is refused, the run goes on, and the file is made again', async () => {
    const t = setup();
    await load(t, { PVRUN_COMPILE_CACHE: t.cache });
    const [name] = files(t.cache);
    const file = join(t.cache, name!);
    const data = readFileSync(file);
    for (let i = 64; i < data.length; i += 7) data[i] = (data[i]! ^ 0x5a) & 0xff;
    writeFileSync(file, data);
    const r = await load(t, { PVRUN_COMPILE_CACHE: t.cache });
    expect(r.status).toBe('rejected');
    expect(r.answer).toBe(45);
    expect((await load(t, { PVRUN_COMPILE_CACHE: t.cache })).status).toBe('used');
    const whole = readFileSync(file);
    writeFileSync(file, whole.subarray(0, whole.length - 100));
    expect((await load(t, { PVRUN_COMPILE_CACHE: t.cache })).status).toBe('rejected');
    expect((await load(t, { PVRUN_COMPILE_CACHE: t.cache })).status).toBe('used');
  });

  // scripts/bundle.mjs writes dist/cli/pvrun.cjs with the CommonJS wrapper around it, and a real
  // bundle is larger than its cache: the cache file is then read into the bundle's own buffer
  it('a bundle written wrapped and larger than its cache: compiled as read, its cache taken, a damaged one refused', async () => {
    const t = setup();
    const filler = `/*${'x'.repeat(256 * 1024)}*/\n`;
    writeFileSync(t.bundle, `${WRAPPED_HEAD}${filler}${bundleSource(12)}${WRAPPED_TAIL}`);
    const first = await load(t, { PVRUN_COMPILE_CACHE: t.cache });
    expect(first.status).toBe('none');
    expect(first.answer).toBe(66); // not wrapped twice: it ran and exported
    expect(first.file).toBe(t.bundle);
    const [name] = files(t.cache);
    const file = join(t.cache, name!);
    expect(statSync(file).size).toBeLessThan(statSync(t.bundle).size);
    const second = await load(t, { PVRUN_COMPILE_CACHE: t.cache });
    expect(second.status).toBe('used');
    expect(second.answer).toBe(66);
    const data = readFileSync(file);
    for (let i = 64; i < data.length; i += 7) data[i] = (data[i]! ^ 0x5a) & 0xff;
    writeFileSync(file, data);
    expect((await load(t, { PVRUN_COMPILE_CACHE: t.cache })).status).toBe('rejected');
    const third = await load(t, { PVRUN_COMPILE_CACHE: t.cache });
    expect(third.status).toBe('used');
    expect(third.answer).toBe(66);
  });

  it('PVRUN_COMPILE_CACHE=off reads and writes nothing', async () => {
    const t = setup();
    mkdirSync(join(t.dir, 'xdg'));
    const r = await load(t, { PVRUN_COMPILE_CACHE: 'off', XDG_CACHE_HOME: join(t.dir, 'xdg') });
    expect(r.status).toBe('off');
    expect(r.answer).toBe(45);
    expect(readdirSync(join(t.dir, 'xdg'))).toEqual([]);
  });
});
