/**
 * V8 code cache for the installed CLI (issue 17, start-up).
 *
 * Node 20 keeps no compiled code between runs for user code (`module.enableCompileCache` came in
 * Node 22), and parsing and compiling pvrun's own JavaScript was ~37 % of what `pvrun validate`
 * executed (valgrind: 188 M of 511 M instructions). So the build makes one CommonJS bundle,
 * dist/cli/pvrun.cjs (scripts/bundle.mjs), and the entry dist/cli/main.cjs loads it with
 * `vm.Script` and V8's `cachedData`: a run whose cache V8 accepts parses nothing up front and
 * compiles only functions the cache lacks. `validate` of 50 hosts: 530 → 397 M instructions,
 * median wall time 224 → 179 ms (BENCHMARKS.md, eleventh pass); without a usable cache (the
 * first run of its kind) it costs more than before: 588 M.
 *
 * The cache is made by the first run of each kind of command (help, validate, a run, a check-mode
 * run, other) and kept per user in `$XDG_CACHE_HOME/pvrun` or `~/.cache/pvrun`; `PVRUN_COMPILE_CACHE=off`
 * turns it off, `PVRUN_COMPILE_CACHE=/dir` puts it elsewhere. What a cache file holds is code:
 * a file someone else could have written could run their code in this process, so a file or
 * directory not owned by this user, or writable by group or others, is ignored. V8 checks its
 * own version, the flags and the source length; the file name adds the bundle's size, inode and
 * change time, Node's version and the architecture, so an edited or upgraded bundle never meets
 * an old cache.
 * V8 serialises code and the literals of the source, not the heap: no secret read at run time
 * can end up in the file (test/cli/compile-cache.test.ts looks for one).
 */
import { accessSync, closeSync, constants as fsConstants, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, statSync, unlinkSync, writeFileSync, type BigIntStats, type Stats } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { Script } from 'node:vm';
import * as zlib from 'node:zlib';
import { DEFAULT_INTERRUPT_BUDGET } from '../util/v8-budget.js';

// zlib.crc32 came in Node 20.15: without it, no cache (sealCache)
const crc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

export type CacheGroup = 'help' | 'validate' | 'run' | 'check' | 'other';
/** used: V8 took the cache; rejected: V8 did not (another V8, other flags) or the file is damaged; none: no usable file; off: turned off */
export type CacheStatus = 'used' | 'rejected' | 'none' | 'off';

/**
 * Which cache a command line uses: commands compile different parts of the bundle. A rehearsal
 * (`--check`) has its own: it plans and never applies, so a cache made by the rehearsal an
 * operator runs first would leave every real run after it compiling the apply path (a cache is
 * only written when there is none), and the other way round.
 */
export function cacheGroup(argv: readonly string[]): CacheGroup {
  const first = argv[0];
  if (first === undefined || argv.includes('--help') || argv.includes('-h') || first === 'help') return 'help';
  if (first === 'validate') return 'validate';
  if (/\.ya?ml$/i.test(first)) return argv.includes('--check') || argv.includes('-C') ? 'check' : 'run';
  return 'other';
}

/** The cache directory, or undefined when turned off (or no home to put it in). */
export function cacheDir(env: NodeJS.ProcessEnv, home: () => string = homedir): string | undefined {
  const setting = env['PVRUN_COMPILE_CACHE'];
  if (setting === 'off' || setting === '0') return undefined;
  if (setting && setting.startsWith('/')) return setting;
  const xdg = env['XDG_CACHE_HOME'];
  if (xdg && xdg.startsWith('/')) return join(xdg, 'pvrun');
  try {
    const h = home();
    return h ? join(h, '.cache', 'pvrun') : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What identifies one version of the bundle file on this machine: from its fstat, and its CRC-32
 * where the file system keeps whole seconds only (there, an edit of the same size within the
 * second of the last write would keep the ctime).
 */
export interface BundleIdentity { size: number; ino: bigint; ctimeNs: bigint; crc?: number }

/** The identity of the bundle whose fstat and bytes these are. */
export function bundleIdentity(st: Pick<BigIntStats, 'ino' | 'ctimeNs'>, bytes: Buffer): BundleIdentity {
  const id: BundleIdentity = { size: bytes.length, ino: st.ino, ctimeNs: st.ctimeNs };
  return st.ctimeNs % 1_000_000_000n === 0n ? { ...id, crc: crc32!(bytes) >>> 0 } : id;
}

/**
 * File name: everything that makes a cache useless when it changes, V8's own checks aside (V8
 * compares only the source's length). The bundle is named by its size, inode and change time
 * (ctime, in ns): every write of the file changes the ctime, and nobody can set it back — unlike
 * the mtime, which npm sets to the same value (1985-10-26) for every file of every version, so
 * two versions of the same size would share a name and V8 would take the old code for the new
 * source. A CRC-32 of the 1.8 MB bundle did the same job for ~5 M instructions per start
 * (issue 17, twelfth pass); a new install, a copy or a `touch` only costs one cache write.
 */
export function cacheFileName(group: CacheGroup, bundle: BundleIdentity, node = process.version, arch = process.arch): string {
  const crc = bundle.crc === undefined ? '' : `-${bundle.crc.toString(16).padStart(8, '0')}`;
  return `${group}-${bundle.size}-${bundle.ino.toString(36)}-${bundle.ctimeNs.toString(36)}${crc}-${node}-${arch}.v8cache`;
}

const uid = (): number | undefined => (typeof process.getuid === 'function' ? process.getuid() : undefined);

/** Only this user's own, not group- or world-writable, may be trusted with code. */
export function trusted(st: Pick<Stats, 'uid' | 'mode'>, me = uid()): boolean {
  return (me === undefined || st.uid === me) && (st.mode & 0o022) === 0;
}

/**
 * A cache file: MAGIC, the CRC-32 of the rest, V8's data. V8 (Node 20's, in a release build)
 * checks its data's version, flags and source length but not its content: a damaged file made
 * the process die in V8's deserializer (test/cli/compile-cache.test.ts flips bytes to see it).
 * A CRC finds damage (a disk, a copy); who may write the file is settled by `trusted`, so no
 * cryptographic hash is needed — SHA-256 cost 30 M instructions per start (node:crypto's
 * set-up), zlib's CRC-32 about 10 M. zlib.crc32 came in Node 20.15: without it, no cache.
 */
const MAGIC = Buffer.from('pvrun-v8cache-1\n');
const HEADER = MAGIC.length + 4;

export function sealCache(data: Buffer): Buffer {
  const sum = Buffer.alloc(4);
  sum.writeUInt32BE(crc32!(data) >>> 0);
  return Buffer.concat([MAGIC, sum, data]);
}

/** V8's data from a sealed file, or undefined when it is not one or not intact. */
export function unsealCache(file: Buffer): Buffer | undefined {
  if (file.length <= HEADER || !file.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const data = file.subarray(HEADER);
  return crc32!(data) >>> 0 === file.readUInt32BE(MAGIC.length) ? data : undefined;
}

type Read = { data: Buffer } | { damaged: true } | undefined;

/**
 * The cache file's V8 data. Read into `scratch` (the bundle's bytes, decoded already) when it
 * fits: on the virtual machines pvrun is measured on, the first touch of a fresh page costs
 * ~11 µs, and a buffer of its own for the ~0.9 MB file was ~220 more of them (issue 17).
 */
function readCache(dir: string, file: string, scratch?: Buffer): Read {
  let fd: number | undefined;
  try {
    if (!trusted(statSync(dir))) return undefined;
    fd = openSync(file, 'r');
    const st = fstatSync(fd);
    if (!st.isFile() || !trusted(st)) return undefined;
    const data = unsealCache(scratch && st.size <= scratch.length ? readInto(fd, scratch.subarray(0, st.size)) : readFileSync(fd));
    return data ? { data } : { damaged: true };
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Fill `buf` from the start of `fd`; a file cut meanwhile gives what was read (its CRC then fails). */
function readInto(fd: number, buf: Buffer): Buffer {
  let n = 0;
  while (n < buf.length) {
    const got = readSync(fd, buf, n, buf.length - n, n);
    if (got === 0) break;
    n += got;
  }
  return buf.subarray(0, n);
}

/** The directory exists, is ours and can be written: checked before V8 serialises anything. */
function writableDir(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!trusted(statSync(dir))) return false;
    accessSync(dir, fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Files kept per kind of command. Not one: a user with two pvrun installs (a global one and a
 * project's `npx pvrun`, two Node versions) would have each run delete the other's file, and
 * every run would compile without a cache and write one at exit (the start-up benchmark, which
 * runs two builds in turns, showed it: `validate` slower with the cache than without).
 */
export const KEEP_PER_GROUP = 3;

/** Write atomically (a reader never sees half a file), keep this group's newest files; never throws. */
function writeCache(dir: string, name: string, data: Buffer): boolean {
  try {
    const tmp = join(dir, `.${name}.${process.pid}.tmp`);
    writeFileSync(tmp, data, { mode: 0o600, flag: 'wx' });
    renameSync(tmp, join(dir, name));
    pruneGroup(dir, name);
    return true;
  } catch {
    return false;
  }
}

/** Delete the group's files beyond the KEEP_PER_GROUP newest (by when they were written). */
function pruneGroup(dir: string, keep: string): void {
  const group = keep.slice(0, keep.indexOf('-') + 1);
  const others = readdirSync(dir).filter((f) => f.startsWith(group) && f !== keep && f.endsWith('.v8cache'))
    .map((f) => ({ f, t: statSync(join(dir, f)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const { f } of others.slice(KEEP_PER_GROUP - 1)) unlinkSync(join(dir, f));
}

/**
 * Node's own CommonJS wrapper, so the bundle sees what a required file sees. scripts/bundle.mjs
 * writes dist/cli/pvrun.cjs with it around the code (so that file is not itself a module to
 * require); loadBundle adds it to a file that does not start with it.
 */
export const WRAPPED_HEAD = '(function (exports, require, module, __filename, __dirname) { ';
export const WRAPPED_TAIL = '\n});';

export interface LoadedBundle {
  exports: unknown;
  status: CacheStatus;
  /** the cache file read or to be written (undefined when off) */
  file: string | undefined;
}

/**
 * Load a CommonJS bundle with V8's code cache for `argv`'s kind of command. Without a cache V8
 * takes (none, or rejected), one is written when the process exits — with V8's default flags,
 * the ones this load compiles under (the CLI raises the interrupt budget later, which changes the
 * flag hash V8 checks: src/util/v8-budget.ts).
 */
export function loadBundle(bundle: string, argv: readonly string[], env: NodeJS.ProcessEnv = process.env): LoadedBundle {
  // the identity and the text from one open file, so they are of the same version
  const fd = openSync(bundle, 'r');
  let st: BigIntStats;
  let bytes: Buffer;
  try {
    st = fstatSync(fd, { bigint: true });
    bytes = readFileSync(fd);
  } finally {
    closeSync(fd);
  }
  // The bundle scripts/bundle.mjs writes is wrapped already: V8 compiles the text as read. A
  // wrapper added here made a second string, which V8 flattens into a third copy before it
  // compiles — 1.8 MB more memory touched at every start (issue 17).
  const wrapped = bytes.toString('latin1', 0, WRAPPED_HEAD.length) === WRAPPED_HEAD;
  const source = wrapped ? bytes.toString('utf8') : `${WRAPPED_HEAD}${bytes.toString('utf8')}${WRAPPED_TAIL}`;
  const dir = crc32 ? cacheDir(env) : undefined;
  const name = dir ? cacheFileName(cacheGroup(argv), bundleIdentity(st, bytes)) : undefined;
  const file = dir && name ? join(dir, name) : undefined;
  // (the bundle's bytes are decoded and named: their buffer can take the cache file)
  const read = dir && file ? readCache(dir, file, bytes) : undefined;
  const cachedData = read && 'data' in read ? read.data : undefined;
  // (no importModuleDynamically: the bundle has no import() left, scripts/bundle.mjs checks)
  const script = new Script(source, { filename: bundle, ...(cachedData ? { cachedData } : {}) });
  const status: CacheStatus = !dir ? 'off' : read && 'damaged' in read ? 'rejected' : !cachedData ? 'none' : script.cachedDataRejected ? 'rejected' : 'used';
  if (env['PVRUN_COMPILE_CACHE_TRACE'] === '1') process.stderr.write(`pvrun: compile cache ${status}${file ? ` ${file}` : ''}\n`);
  if ((status === 'none' || status === 'rejected') && dir && name) {
    process.once('exit', () => {
      try {
        // a directory that cannot take the file (read-only home, someone else's) costs no serialising
        let ok = false;
        if (writableDir(dir)) {
          setFlagsFromString(`--interrupt-budget=${DEFAULT_INTERRUPT_BUDGET}`);
          ok = writeCache(dir, name, sealCache(script.createCachedData()));
        }
        if (env['PVRUN_COMPILE_CACHE_TRACE'] === '1') process.stderr.write(`pvrun: compile cache ${ok ? 'written' : 'not written'} ${join(dir, name)}\n`);
      } catch {
        // a cache is an optimisation: never let it change how a run ends
      }
    });
  }
  const mod = { exports: {} as unknown };
  const fn = script.runInThisContext() as (e: unknown, r: NodeJS.Require, m: { exports: unknown }, f: string, d: string) => void;
  fn.call(mod.exports, mod.exports, createRequire(bundle), mod, bundle, dirname(bundle));
  return { exports: mod.exports, status, file };
}
