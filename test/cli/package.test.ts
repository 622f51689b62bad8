/**
 * The package as people install it: `npm pack`, `npm install -g` into a temporary prefix, then
 * the installed `pvrun` run from outside the checkout (no sources, no dev dependencies there).
 * The dependencies come from the npm cache `npm ci` filled (--prefer-offline).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WRAPPED_HEAD, WRAPPED_TAIL } from '../../src/cli/compile-cache.js';
import { labSkipReason } from '../lab/helpers.js';
import { describeUnless } from '../harness/require.js';
import { describeWithSshd, startSshd, type SshdHandle } from '../harness/sshd.js';
import { runCli } from '../harness/cli.js';

const REPO = join(import.meta.dirname, '..', '..');
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

interface Run { code: number; out: string; err: string }

function run(cmd: string, args: string[], cwd: string, timeout = 240_000, env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    // the installed CLI's compile cache (src/cli/compile-cache.ts) goes to this test's directory
    const cache = tmp ? { XDG_CACHE_HOME: join(tmp, 'xdg-cache') } : {};
    execFile(cmd, args, { cwd, timeout, maxBuffer: 64 << 20, env: { ...process.env, CI: 'true', NO_COLOR: '1', ...cache, ...env } }, (e, out, err) => {
      const code = e ? (typeof (e as { code?: unknown }).code === 'number' ? (e as { code: number }).code : -1) : 0;
      resolve({ code, out: String(out), err: String(err) });
    });
  });
}

let tmp = '';
let tgz = '';
let pvrunBin = '';
let installed = '';
let work = '';

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'pvrun-pack-'));
  const pack = await run('npm', ['pack', '--pack-destination', tmp, '--silent'], REPO);
  expect(pack.code, pack.err).toBe(0);
  tgz = join(tmp, `pvrun-${VERSION}.tgz`);
  expect(existsSync(tgz), readdirSync(tmp).join(', ')).toBe(true);
  const prefix = join(tmp, 'prefix');
  const inst = await run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tgz], tmp);
  expect(inst.code, inst.err).toBe(0);
  pvrunBin = join(prefix, 'bin', 'pvrun');
  installed = join(prefix, 'lib', 'node_modules', 'pvrun');
  work = join(tmp, 'work'); // the user's directory: no checkout, no node_modules
  mkdirSync(work);
}, 480_000);

afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

describe('the packed and globally installed package', () => {
  it('ships the compiled code, the lab module, playbooks, schemas, README and LICENSE, and no sources or tests', async () => {
    const list = await run('tar', ['tzf', tgz], tmp);
    expect(list.code).toBe(0);
    const files = list.out.split('\n').filter(Boolean);
    for (const f of ['package/dist/cli/main.cjs', 'package/dist/cli/PvrunLab.psm1', 'package/bin/pvrun.cjs',
      'package/playbooks/linux-tools.yml', 'package/schema/inventory.schema.json', 'package/README.md', 'package/LICENSE']) {
      expect(files, f).toContain(f);
    }
    expect(files.filter((f) => /^package\/(src|test|bench|\.ci)\//.test(f))).toEqual([]);
    expect(readFileSync(join(installed, 'LICENSE'), 'utf8')).toMatch(/Apache License\s+Version 2\.0, January 2004/);
    // no dev dependency installed with it: what runs is dist/, on the runtime dependencies alone
    expect(existsSync(join(installed, 'node_modules', 'tsx'))).toBe(false);
    expect(existsSync(join(installed, 'node_modules', 'typescript'))).toBe(false);
    expect(existsSync(join(installed, 'src'))).toBe(false);
  });

  it('pvrun --version prints package.json\'s version', async () => {
    const r = await run(pvrunBin, ['--version'], work);
    expect(r).toEqual({ code: 0, out: `${VERSION}\n`, err: '' });
  });

  it('pvrun --help, pvrun lab --help and pvrun lab up --help print usage and exit 0', async () => {
    const h = await run(pvrunBin, ['--help'], work);
    expect(h.err).toBe('');
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/^Usage: pvrun <playbook> -i <inventory> \[options\]/);
    expect(h.out).toContain('Exit codes: 0 all ok');
    for (const args of [['lab', '--help'], ['lab', 'up', '--help']]) {
      const l = await run(pvrunBin, args, work);
      expect(l.err, args.join(' ')).toBe('');
      expect(l.code, args.join(' ')).toBe(0);
      expect(l.out).toMatch(/^Usage: pvrun lab <sub> \[args\.\.\.\]/);
      expect(l.out).toMatch(/\n {2}up \[--state DIR\] \[--guests spec\.yml\] +start the lab/);
      expect(l.out).toMatch(/\n {2}down \[--state DIR\] +stop it/);
    }
  });

  it('pvrun playbooks list names every shipped playbook at its installed path', async () => {
    const r = await run(pvrunBin, ['playbooks', 'list'], work);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const shipped = readdirSync(join(REPO, 'playbooks')).filter((f) => f.endsWith('.yml')).sort();
    const listed = [...r.out.matchAll(/^ {2}(\S+\.yml) {2,}(.+)$/gm)].map((m) => [m[1], m[2]]);
    expect(listed.map(([p]) => p)).toEqual(shipped.map((f) => join(installed, 'playbooks', f)));
    expect(Object.fromEntries(listed)[join(installed, 'playbooks', 'linux-tools.yml')]).toBe('Install Xen guest tools on Linux VMs from the tools ISO');
  });

  it('pvrun validate on the installed linux-tools.yml prints the plan and exits 0; a bad inventory is located, exit 5', async () => {
    const inv = join(work, 'prod.yml');
    writeFileSync(inv, [
      'hypervisors:',
      '  pool-a: { url: "https://xcp.example.net", username: root, password: { env: XAPI_PASSWORD } }',
      'groups:',
      '  linux: { hosts: [web-1, db-1], connection: { user: root } }',
      'hosts:',
      '  web-1: { vm: { pool: pool-a, name_label: web-1 } }',
      '  db-1: { vm: { pool: pool-a, name_label: db-1 } }',
      '',
    ].join('\n'));
    const playbook = join(installed, 'playbooks', 'linux-tools.yml');
    const r = await run(pvrunBin, ['validate', playbook, '-i', inv], work);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^valid: 1 play, 2 hosts, \d+ steps$/m);

    writeFileSync(inv, 'hosts:\n  web-1: { vm: { pool: nowhere, name_label: web-1 } }\ngroups:\n  linux: { hosts: [web-1] }\n');
    const bad = await run(pvrunBin, ['validate', playbook, '-i', inv], work);
    expect(bad.code).toBe(5);
    expect(bad.out + bad.err).toMatch(/prod\.yml:2:\d+: .*unknown hypervisor 'nowhere'/);
    expect(bad.out + bad.err).not.toMatch(/\n\s+at /); // no stack trace
  });

  // issue 17: the bundle takes its generated validators for the builtin schemas without
  // rebuilding those schemas to compare (src/load/validators.ts, bundledBuiltin): its verdicts and
  // messages must be the sources' own (which compile the schemas with ajv at run time), file,
  // line and column included, for every case of the invalid corpus and the shipped playbooks
  it('validate gives the same verdicts and messages as the sources, on the invalid corpus and the shipped playbooks', async () => {
    const root = join(REPO, 'test', 'fixtures', 'invalid');
    const cases: string[][] = [];
    for (const name of readdirSync(root).sort()) {
      const dir = join(root, name);
      if (existsSync(join(dir, 'args.json'))) continue;
      const playbook = existsSync(join(dir, 'playbook.yml')) ? join(dir, 'playbook.yml') : join(REPO, 'test', 'fixtures', 'valid', 'minimal.yml');
      const inventory = existsSync(join(dir, 'inventory.yml')) ? join(dir, 'inventory.yml') : join(REPO, 'test', 'fixtures', 'valid', 'minimal-inventory.yml');
      cases.push(['validate', playbook, '-i', inventory]);
    }
    for (const f of readdirSync(join(REPO, 'playbooks')).filter((x) => x.endsWith('.yml'))) cases.push(['validate', join(REPO, 'playbooks', f), '-i', join(REPO, 'inventories', 'example-prod.yml')]);
    expect(cases.length).toBeGreaterThan(40);
    let failed = 0;
    for (const args of cases) {
      const a = await run(pvrunBin, args, work);
      const b = await runCli(args, { cwd: work, env: { ...process.env, CI: 'true', NO_COLOR: '1' } });
      expect({ args, code: a.code, out: a.out, err: a.err }).toEqual({ args, code: b.code, out: b.out, err: b.err });
      if (a.code !== 0) failed++;
    }
    // most of the corpus is refused (some cases fail only with the corpus's own step types)
    expect(failed).toBeGreaterThan(30);
  }, 300_000);

  // issue 17: what runs installed is the esbuild bundle (scripts/bundle.mjs): one CommonJS file,
  // dist/cli/pvrun.cjs, that dist/cli/main.cjs compiles with V8's code cache; the generated
  // validators are inside it; ssh2 & co. stay outside it, required when a run needs them
  it('is the bundle: validate loads main.cjs and pvrun.cjs, none of ssh2, node-powershell, undici, yaml\'s or ajv\'s files', async () => {
    const dist = readdirSync(join(installed, 'dist'));
    expect(dist).toEqual(['cli']); // no tsc tree
    expect(readdirSync(join(installed, 'dist', 'cli')).sort()).toEqual(['PvrunLab.psm1', 'main.cjs', 'pvrun.cjs']);
    const trace = join(tmp, 'modules.txt');
    const inv = join(work, 'bundle-inv.yml');
    writeFileSync(inv, 'hosts:\n  web-1: { connection: { address: 127.0.0.1, user: root } }\ngroups:\n  linux: { hosts: [web-1] }\n');
    const r = await run(process.execPath, ['--import', join(REPO, 'test', 'harness', 'module-trace.mjs'), join(installed, 'dist', 'cli', 'main.cjs'),
      'validate', join(installed, 'playbooks', 'linux-tools.yml'), '-i', inv], work, undefined, { PVRUN_MODULE_TRACE: trace, PVRUN_COMPILE_CACHE_TRACE: '1' });
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(`compile cache `); // pvrun.cjs went through the cache's loader (read by it, not by require)
    const files = readFileSync(trace, 'utf8').split('\n').filter((l) => /^(esm|cjs) /.test(l) && !l.startsWith('esm node:'))
      .map((l) => l.slice(4).replace(/^file:\/\//, ''));
    // pvrun.cjs is read by the cache's loader, not required: the one file loaded is the entry
    // (seen by the ESM hook, as `--import` makes Node run it through its ESM loader, and in require's cache)
    expect([...new Set(files)], files.join('\n')).toEqual([join(installed, 'dist', 'cli', 'main.cjs')]);
    // yaml's ES module build is the one bundled (its CommonJS build reads process.env.LOG_TOKENS
    // for every token); the generated validators are compiled in, each behind a function (so a
    // run initialises only the ones it uses), with the piece of ajv they need
    const bundled = readFileSync(join(installed, 'dist', 'cli', 'pvrun.cjs'), 'utf8');
    // written with the CommonJS wrapper around it, so V8 compiles the text as read (no copy)
    expect(bundled.startsWith(WRAPPED_HEAD) && bundled.endsWith(WRAPPED_TAIL)).toBe(true);
    expect(bundled).toContain('YAMLParseError');
    expect(bundled).not.toContain('LOG_TOKENS');
    expect(bundled).toContain('"v_inventory.cjs":()=>require_v_inventory()');
    expect(bundled).toContain('"v_step_powershell.cjs":()=>require_v_step_powershell()');
    expect(bundled).toMatch(/\bexports\d*\.v_inventory=/);
    // (ajv keeps the text of the require in a string, for its code generator)
    expect(bundled).not.toMatch(/[^'"]require\("ajv/);
  });

  // issue 17: the installed CLI compiles pvrun.cjs with V8's code cache (src/cli/compile-cache.ts)
  it('the second validate takes the code cache the first wrote; a run\'s XAPI password is in no cache file', async () => {
    const cache = join(tmp, 'own-cache');
    const env = { PVRUN_COMPILE_CACHE: cache, PVRUN_COMPILE_CACHE_TRACE: '1' };
    // a pool on a port nothing listens on: the check-mode run reads the password, tries to log
    // in, and stops in its preflight
    const port = await new Promise<number>((resolve) => {
      const srv = createServer();
      srv.listen(0, '127.0.0.1', () => { const p = (srv.address() as AddressInfo).port; srv.close(() => resolve(p)); });
    });
    const inv = join(work, 'cc-inv.yml');
    writeFileSync(inv, [
      'hypervisors:',
      `  pool-a: { url: "http://127.0.0.1:${port}", username: root, password: { env: XAPI_PASSWORD } }`,
      'groups:',
      '  linux: { hosts: [web-1], connection: { user: root } }',
      'hosts:',
      '  web-1: { vm: { pool: pool-a, name_label: web-1 } }',
      '',
    ].join('\n'));
    const playbook = join(installed, 'playbooks', 'linux-tools.yml');
    const first = await run(pvrunBin, ['validate', playbook, '-i', inv], work, undefined, env);
    expect(first.code, first.err).toBe(0);
    expect(first.err).toMatch(/compile cache none \S+\/validate-/);
    expect(first.err).toMatch(/compile cache written \S+\/validate-/);
    const second = await run(pvrunBin, ['validate', playbook, '-i', inv], work, undefined, env);
    expect(second.code, second.err).toBe(0);
    expect(second.err).toMatch(/compile cache used \S+\/validate-/);
    expect(second.err).not.toMatch(/written/);
    expect(second.out).toBe(first.out);

    const secret = `xapi-${randomBytes(12).toString('hex')}`;
    const r = await run(pvrunBin, [playbook, '-i', inv, '--check'], work, undefined, { ...env, XAPI_PASSWORD: secret });
    expect(r.out + r.err).toMatch(/ECONNREFUSED/); // it got as far as logging in with the password
    expect(r.err).toMatch(/compile cache written \S+\/check-/);
    const written = readdirSync(cache);
    expect(written.map((f) => f.split('-')[0]).sort()).toEqual(['check', 'validate']);
    for (const f of written) {
      const data = readFileSync(join(cache, f));
      expect(data.includes(secret), f).toBe(false);
      expect(data.includes(Buffer.from(secret, 'utf16le')), f).toBe(false);
    }
    expect(r.out + r.err).not.toContain(secret);
  });

  // issue 17: pvrun's larger V8 interrupt budget changes V8's flags, and Node then compiles its own
  // modules from source instead of from its code cache; the CLI loads them under V8's default
  // (src/util/v8-budget.ts). Node's own record says which were compiled without the cache.
  it('pvrun --help and validate compile none of Node\'s modules without its code cache', async () => {
    const inv = join(work, 'cache-inv.yml');
    writeFileSync(inv, 'hosts:\n  web-1: { connection: { address: 127.0.0.1, user: root } }\ngroups:\n  linux: { hosts: [web-1] }\n');
    for (const args of [['--help'], ['validate', join(installed, 'playbooks', 'linux-tools.yml'), '-i', inv]]) {
      const trace = join(tmp, `code-cache-${args[0]}.json`);
      const r = await run(process.execPath, ['--expose-internals', '--no-warnings', '--import', join(REPO, 'test', 'harness', 'code-cache-usage.mjs'), join(installed, 'dist', 'cli', 'main.cjs'), ...args],
        work, undefined, { PVRUN_CODE_CACHE_TRACE: trace });
      expect(r.code, r.err).toBe(0);
      const u = JSON.parse(readFileSync(trace, 'utf8')) as { withCache: string[]; withoutCache: string[] };
      expect(u.withCache.length, args[0]).toBeGreaterThan(20);
      expect(u.withoutCache, args[0]).toEqual([]);
    }
  });

  // issue 17: commander's require of node:child_process (net, dgram and five bindings with it)
  // is made lazy in the bundle (scripts/bundle.mjs): the short commands do not load it
  it('pvrun --help and validate do not load Node\'s child_process', async () => {
    const inv = join(work, 'builtin-inv.yml');
    writeFileSync(inv, 'hosts:\n  web-1: { connection: { address: 127.0.0.1, user: root } }\ngroups:\n  linux: { hosts: [web-1] }\n');
    for (const args of [['--help'], ['validate', join(installed, 'playbooks', 'linux-tools.yml'), '-i', inv]]) {
      const trace = join(tmp, `builtins-${args[0]}.txt`);
      const r = await run(process.execPath, ['--import', join(REPO, 'test', 'harness', 'module-trace.mjs'), join(installed, 'dist', 'cli', 'main.cjs'), ...args],
        work, undefined, { PVRUN_MODULE_TRACE: trace });
      expect(r.code, r.err).toBe(0);
      const builtins = readFileSync(trace, 'utf8').split('\n').filter((l) => l.startsWith('builtin ')).map((l) => l.slice(8));
      expect(builtins.length, args[0]).toBeGreaterThan(20); // the trace sees Node's modules at all
      expect(builtins).toContain('v8'); // (the V8 tuning, src/cli/v8-tuning.ts, is for every command)
      expect(builtins.filter((m) => /^(child_process|dgram)$/.test(m)), `${args[0]}: ${builtins.join(' ')}`).toEqual([]);
    }
  });
});

// issue 17: ssh2's client is compiled into pvrun.cjs (scripts/bundle.mjs); what it finds next to
// its own files — the native crypto binding, poly1305, cpu-features — must still come from the
// installed ssh2, and a run over SSH must work with them. The sshd offers ChaCha20-Poly1305 only:
// the one cipher whose fallback (without the binding) needs ssh2's WebAssembly poly1305.
describeWithSshd('the installed package over SSH', () => {
  let sshd: SshdHandle;
  beforeAll(async () => { sshd = await startSshd({ extraConfig: ['Ciphers chacha20-poly1305@openssh.com'] }); }, 60_000);
  afterAll(async () => { await sshd?.stop(); });

  /** A one-step run on the sshd from the installed dist/, traced: the files it loaded. */
  async function runTraced(name: string): Promise<{ files: string[]; ssh2: string }> {
    const kh = join(work, 'ssh-known_hosts');
    writeFileSync(kh, `${sshd.knownHostsLine()}\n`);
    const inv = join(work, 'ssh-inv.yml');
    writeFileSync(inv, ['groups:', '  all:',
      `    connection: { type: ssh, address: 127.0.0.1, port: ${sshd.port}, user: ${sshd.user}, key: ${sshd.clientKeyPath}, known_hosts: ${kh}, host_key_checking: strict }`,
      'hosts:', '  ssh-1: {}', ''].join('\n'));
    const marker = `bundled-${randomBytes(6).toString('hex')}`;
    const out = join(work, `${name}-out.txt`);
    const pb = join(work, `${name}-pb.yml`);
    writeFileSync(pb, `- name: over ssh\n  hosts: all\n  steps:\n    - name: say\n      run-script: { script: "echo ${marker} > ${out}" }\n`);
    const trace = join(tmp, `${name}-modules.txt`);
    const r = await run(process.execPath, ['--import', join(REPO, 'test', 'harness', 'module-trace.mjs'), join(installed, 'dist', 'cli', 'main.cjs'),
      pb, '-i', inv, '--state-dir', join(work, `${name}-state`)], work, undefined, { PVRUN_MODULE_TRACE: trace });
    expect(r.code, r.out + r.err).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(`${marker}\n`); // the script ran on the host
    const files = readFileSync(trace, 'utf8').split('\n').filter((l) => /^(esm|cjs) /.test(l) && !l.startsWith('esm node:'))
      .map((l) => l.slice(4).replace(/^file:\/\//, ''));
    return { files, ssh2: join(installed, 'node_modules', 'ssh2') };
  }

  it('runs a playbook with the bundled ssh2 and the installed ssh2\'s native binding; loads none of ssh2\'s JavaScript, not even poly1305', async () => {
    const { files, ssh2 } = await runTraced('ssh');
    expect(files, files.join('\n')).toContain(join(ssh2, 'lib', 'protocol', 'crypto', 'build', 'Release', 'sshcrypto.node'));
    expect(files.filter((f) => f.startsWith(ssh2 + '/') && f.endsWith('.js')), files.join('\n')).toEqual([]);
  }, 120_000);

  it('with another ssh2 version installed, leaves its binding alone and runs on ssh2\'s fallback crypto (poly1305 loaded)', async () => {
    const pkgFile = join(installed, 'node_modules', 'ssh2', 'package.json');
    const original = readFileSync(pkgFile, 'utf8');
    writeFileSync(pkgFile, original.replace(/"version": "[^"]+"/, '"version": "0.0.0-other"'));
    try {
      const { files, ssh2 } = await runTraced('ssh-other');
      expect(files.filter((f) => f.endsWith('.node') && f.startsWith(ssh2 + '/')), files.join('\n')).toEqual([]);
      expect(files.filter((f) => f.startsWith(ssh2 + '/') && f.endsWith('.js')), files.join('\n'))
        .toEqual([join(ssh2, 'lib', 'protocol', 'crypto', 'poly1305.js')]);
    } finally {
      writeFileSync(pkgFile, original);
    }
  }, 120_000);
});

// The demo from the installed copy: the lab's simulator, guests and tools ISO come from dist/.
describeUnless(labSkipReason())('pvrun demo from the installed package', () => {
  it('runs end to end and exits 2 (one VM rolled back, as designed: docs/lab.md)', async () => {
    const r = await run(pvrunBin, ['demo'], work, 540_000);
    // the demo lab takes free ports (src/lab/demo-definition.ts, demoLabFreePorts): a running lab cannot clash with it
    expect(r.out, `${r.out}\n${r.err}`).toMatch(/^\s+legacy-01\s+rolled-back\s+ok=/m);
    expect(r.out).toMatch(/^\s+web-01\s+changed\s+ok=/m);
    expect(r.out).toMatch(/demo finished in [\d.]+s \(exit code 2\)/);
    expect(r.code, r.err).toBe(2);
  }, 600_000);
});
