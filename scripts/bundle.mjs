#!/usr/bin/env node
/**
 * Build step (`npm run build`, after tsc and gen-validators): bundles the compiled CLI into
 * dist/cli/ — what an installed package runs (`bin/pvrun.cjs` → dist/cli/main.cjs → pvrun.cjs).
 *
 *   node scripts/bundle.mjs <tsc output dir> <dist dir>
 *
 * Why (issue 17, start-up): Node 20's ESM loader pays per module — resolve, stat, read, compile,
 * link — and a run loaded ~280 of them (152 of pvrun's, yaml's 73, commander's 9, …). Bundled,
 * a run loaded ~65 (mostly ssh2's own CommonJS files, bundled too since the twelfth pass), and a 1-host run
 * costs ~0.12 s less CPU (BENCHMARKS.md). Since the eleventh pass it is one CommonJS file,
 * dist/cli/pvrun.cjs, that dist/cli/main.cjs loads with V8's code cache (src/cli/compile-cache.ts);
 * each `import()` of a command or step family stays a lazy initialisation inside it, so `--help`
 * and `validate` run no run machinery, and with the cache V8 compiles none of it either.
 * pvrun.cjs sits in dist/cli/, so the sources' `import.meta.url`-relative paths (`../..` = the
 * package root, `./PvrunLab.psm1`) hold; the lab's PowerShell module is copied next to it. Since
 * the twelfth pass the generated validators are compiled in as well (below).
 *
 * ssh2's client is bundled too, with the files it finds next to its own still taken from the
 * installed ssh2 (SSH2_REWRITES, below). Left outside the bundle, required from node_modules at
 * run time as before:
 * - undici, node-powershell, ajv, ajv-formats: required lazily (createRequire) where used — the
 *   XAPI transport, the PowerShell connector, the schema compiler of a schema edited since the
 *   build.
 */
import { build } from 'esbuild';
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');

const [from, to] = process.argv.slice(2).map((p) => resolve(p));
if (!from || !to) {
  process.stderr.write('usage: node scripts/bundle.mjs <tsc output dir> <dist dir>\n');
  process.exit(2);
}
const entry = join(from, 'cli', 'main.js');
const out = join(to, 'cli');
rmSync(out, { recursive: true, force: true });

const EXTERNAL = ['undici', 'node-powershell', 'ajv', 'ajv/*', 'ajv-formats', 'cpu-features', '*.node'];

/**
 * ssh2's client, compiled into pvrun.cjs like the rest (issue 17, twelfth pass): loaded from
 * node_modules, its 28 JavaScript files were compiled from source by every run that connects —
 * ~165 M instructions (valgrind: `require('ssh2/lib/client.js')` against `node -e 0`), more than a
 * third of a 2-host run's own work. What ssh2 finds next to its own files it still finds there:
 * these requires are made relative to the installed ssh2 (`__pvrunSsh2Require`, defined in the
 * banner below), and the build fails if one of them is not found, so an upgrade of ssh2 cannot
 * silently change it:
 * - its native crypto binding (lib/protocol/crypto.js: sshcrypto.node, built at install time) —
 *   only if the installed ssh2 is the version bundled, else ssh2's own fallback (Node's crypto)
 *   is used, as when the binding did not build;
 * - the poly1305 module (Emscripten output that finds itself by `__dirname`), left as a file and
 *   loaded only when the binding lacks ChaCha20-Poly1305;
 * - cpu-features (lib/protocol/constants.js), an optional dependency with a native binding,
 *   resolved from ssh2's directory as ssh2 resolves it;
 * - Pageant's helper (lib/agent.js, `__dirname`), a Windows executable.
 * src/connectors/ssh/ssh2.ts requires ssh2's client and key parser by path at first use; its
 * `req(…)` calls become plain requires here, so esbuild bundles them as lazy initialisers.
 */
const SSH2_PKG = JSON.parse(readFileSync(join(REPO, 'node_modules', 'ssh2', 'package.json'), 'utf8'));
const SSH2_REWRITES = {
  'ssh2/lib/protocol/crypto.js': [
    ["require('./crypto/build/Release/sshcrypto.node')", "__pvrunSsh2Require('./lib/protocol/crypto/build/Release/sshcrypto.node', true)"],
    // ssh2 loads its WebAssembly poly1305 at start-up (`init`, which every connect waits for) though
    // only the fallback ChaCha20-Poly1305 classes use it, never when the binding has its own (and
    // nothing in ssh2's client sets the `forceNative` that would pick them): ~32 M instructions per
    // run (valgrind), skipped when the binding's classes are there
    ["POLY1305_WASM_MODULE = await require('./crypto/poly1305.js')();",
      "if (ChaChaPolyCipher && ChaChaPolyDecipher) return resolve(); POLY1305_WASM_MODULE = await __pvrunSsh2Require('./lib/protocol/crypto/poly1305.js')();"],
  ],
  'ssh2/lib/protocol/constants.js': [["require('cpu-features')", "__pvrunSsh2Require('cpu-features')"]],
  'ssh2/lib/agent.js': [["resolve(__dirname, '..', 'util/pagent.exe')", "resolve(__pvrunSsh2Installed().dir, 'util/pagent.exe')"]],
  'connectors/ssh/ssh2.js': [
    ['req(SSH2_CLIENT)', "require('ssh2/lib/client.js')"],
    ['req(SSH2_KEY_PARSER)', "require('ssh2/lib/protocol/keyParser.js')"],
  ],
};
const SSH2_BANNER = [
  // the installed ssh2's directory and version, read at first use (a run that connects)
  'let __pvrunSsh2;',
  "function __pvrunSsh2Installed() {",
  "  if (!__pvrunSsh2) { const pkg = require.resolve('ssh2/package.json'); __pvrunSsh2 = { req: require('node:module').createRequire(pkg), dir: require('node:path').dirname(pkg), version: require(pkg).version }; }",
  '  return __pvrunSsh2;',
  '}',
  "function __pvrunSsh2Require(id, sameVersion) {",
  '  const ssh2 = __pvrunSsh2Installed();',
  `  if (sameVersion && ssh2.version !== ${JSON.stringify(SSH2_PKG.version)}) throw new Error('ssh2 ' + ssh2.version + ' is installed, pvrun bundles ssh2 ${SSH2_PKG.version}: its native binding is not used');`,
  '  return ssh2.req(id);',
  '}',
].join('\n');
/** the files the rewrites were applied to (all of SSH2_REWRITES, or the build fails) */
const seen = new Set();
const bundledSsh2 = {
  name: 'bundled-ssh2',
  setup(b) {
    const files = Object.keys(SSH2_REWRITES);
    b.onLoad({ filter: /[\\/](ssh2[\\/]lib[\\/](protocol[\\/])?(crypto|constants|agent)|connectors[\\/]ssh[\\/]ssh2)\.js$/ }, (args) => {
      const key = files.find((f) => args.path.replaceAll('\\', '/').endsWith(`/${f}`));
      if (!key) return undefined;
      let text = readFileSync(args.path, 'utf8');
      for (const [from, to] of SSH2_REWRITES[key]) {
        if (!text.includes(from)) return { errors: [{ text: `${args.path}: no \`${from}\` to rewrite (ssh2 changed? see scripts/bundle.mjs)` }] };
        text = text.replaceAll(from, to);
      }
      seen.add(key);
      return { contents: text, loader: 'js' };
    });
  },
};

/**
 * commander requires node:child_process when it is loaded (lib/command.js, line 2), for
 * executable subcommands, which pvrun does not define. Node 20 loads child_process with net,
 * dgram and five bindings, on every `pvrun --help` and `validate` (issue 17, start-up). The
 * bundled copy gets it at first use instead; the build fails if commander's line changes, so an
 * upgrade cannot silently undo this.
 */
const COMMANDER_CHILD_PROCESS = "const childProcess = require('node:child_process');";
const lazyCommanderChildProcess = {
  name: 'lazy-commander-child-process',
  setup(b) {
    b.onLoad({ filter: /[\\/]commander[\\/]lib[\\/]command\.js$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes(COMMANDER_CHILD_PROCESS)) {
        return { errors: [{ text: `${args.path}: no \`${COMMANDER_CHILD_PROCESS}\` to make lazy (commander changed: see scripts/bundle.mjs)` }] };
      }
      const lazy = "let childProcessModule; const childProcess = { spawn: (...a) => (childProcessModule ??= require('node:child_process')).spawn(...a) };";
      return { contents: text.replace(COMMANDER_CHILD_PROCESS, lazy), loader: 'js' };
    });
  },
};

/**
 * yaml's own ES module build (its `browser/dist/`, the same sources and file set as the CommonJS
 * `dist/` that Node's `exports` condition picks) instead of the CommonJS one (issue 17, start-up:
 * `validate` of 50 hosts ran ~2.5 % fewer instructions under valgrind, 988 M → 965 M). Bundled
 * as CommonJS, each of yaml's 72 files was a lazily initialised closure, and the parser read
 * `process.env.LOG_TOKENS` for every token (compose/composer.js reads LOG_STREAM per document);
 * the ES build has neither. What else differs, checked file by file against yaml 2.9.1: the
 * `!!binary` tag of the YAML 1.1 schema decodes with `atob` instead of Buffer (pvrun reads YAML
 * 1.2 core, which has no such tag), and yaml's own warnings (a map key that is a collection,
 * when converting to JS) go to console.warn instead of process.emitWarning: stderr either way.
 */
const yamlEsm = {
  name: 'yaml-esm',
  setup(b) {
    b.onResolve({ filter: /^yaml$/ }, () => ({ path: join(REPO, 'node_modules', 'yaml', 'browser', 'dist', 'index.js') }));
  },
};

/**
 * The generated validators (ajv standalone code, build/tsc/load/validators/, written by
 * gen-validators) compiled into pvrun.cjs: src/load/validators.ts's `bundledValidators` becomes
 * a require of their index, each file behind a function that initialises it at first use. As
 * files of their own, every run compiled the ones it used from source (no code cache for them):
 * ~15 % of `validate`'s CPU profile (issue 17, twelfth pass). The build fails if the line is
 * not found, so a rename cannot silently send the CLI back to the files (there are none in
 * dist/: it would compile every schema with ajv at first use).
 */
const BUNDLED_VALIDATORS = 'const bundledValidators = undefined;';
const bundledValidators = {
  name: 'bundled-validators',
  setup(b) {
    b.onLoad({ filter: /[\\/]load[\\/]validators\.js$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes(BUNDLED_VALIDATORS)) {
        return { errors: [{ text: `${args.path}: no \`${BUNDLED_VALIDATORS}\` to replace (see scripts/bundle.mjs)` }] };
      }
      if (!existsSync(join(dirname(args.path), 'validators', 'index.cjs'))) {
        return { errors: [{ text: `${join(dirname(args.path), 'validators', 'index.cjs')} is missing (run gen-validators first: npm run build)` }] };
      }
      return { contents: text.replace(BUNDLED_VALIDATORS, "const bundledValidators = require('./validators/index.cjs');"), loader: 'js' };
    });
    // the one piece of ajv the generated code requires (a string length in code points), in the
    // bundle too rather than resolved and compiled from node_modules by every run
    b.onResolve({ filter: /^ajv\/dist\/runtime\/ucs2length$/ }, () => ({ path: join(REPO, 'node_modules', 'ajv', 'dist', 'runtime', 'ucs2length.js') }));
  },
};

// One CommonJS file, not ES module chunks: Node 20 can feed V8 a code cache only to a script it
// compiles itself (vm.Script's cachedData), never to an ES module, and compiling was ~37 % of what
// `validate` executed. dist/cli/main.cjs loads it with the cache (src/cli/compile-cache.ts). The
// commands stay lazy: esbuild turns each `import()` of a bundled module into a call that
// initialises it on first use, and V8 compiles a function only when it is first called.
const result = await build({
  entryPoints: [entry],
  outfile: join(out, 'pvrun.cjs'),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  // the sources find the package's files from their own URL (`../..` = the package root,
  // `./PvrunLab.psm1`): in the bundle, that of dist/cli/pvrun.cjs
  define: { 'import.meta.url': '__pvrunUrl' },
  banner: { js: `const __pvrunUrl = require('node:url').pathToFileURL(__filename).href;\n${SSH2_BANNER}` },
  legalComments: 'inline',
  // Without comments and whitespace (and with constant folding) there is less to read and hash;
  // identifiers keep their names, so an internal error's trace stays readable.
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
  metafile: true,
  plugins: [lazyCommanderChildProcess, yamlEsm, bundledValidators, bundledSsh2],
});
if (result.errors.length) process.exit(1);
const unseen = Object.keys(SSH2_REWRITES).filter((f) => !seen.has(f));
if (unseen.length) {
  process.stderr.write(`bundle: ${unseen.join(', ')} not bundled: the rewrites for ssh2 were not applied (see scripts/bundle.mjs)\n`);
  process.exit(1);
}
// the version bundled is the version package.json installs: the native binding and poly1305 come from there
const PKG = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
if (PKG.dependencies?.ssh2 !== SSH2_PKG.version) {
  process.stderr.write(`bundle: package.json wants ssh2 ${PKG.dependencies?.ssh2}, node_modules has ${SSH2_PKG.version}: pin it to the version bundled\n`);
  process.exit(1);
}

// An `import()` left in pvrun.cjs would throw where vm.Script runs it without a loader for it
// (src/cli/compile-cache.ts): esbuild keeps those of external or Node modules. Fail the build.
const dynamicImports = readFileSync(join(out, 'pvrun.cjs'), 'utf8').match(/\bimport\([^)]{0,60}\)/g) ?? [];
if (dynamicImports.length) {
  process.stderr.write(`bundle: pvrun.cjs keeps ${dynamicImports.join(', ')}: import it statically (or require it)\n`);
  process.exit(1);
}

// The entry, dist/cli/main.cjs (bin/pvrun.cjs requires it): a small CommonJS file that loads
// pvrun.cjs with the cache. CommonJS, not an ES module: an ES module entry makes Node 20 load its
// ESM loader (21 of its own modules, fs/promises, readline, streams) before any of pvrun's code
// runs: 15 M instructions per start, ~4 % of `validate` (issue 17, twelfth pass).
const boot = await build({
  entryPoints: [join(from, 'cli', 'boot.js')],
  outfile: join(out, 'main.cjs'),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  define: { 'import.meta.url': '__pvrunUrl' },
  banner: { js: "const __pvrunUrl = require('node:url').pathToFileURL(__filename).href;" },
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
});
if (boot.errors.length) process.exit(1);

// not TypeScript: tsc does not copy it; the lab's Windows guest imports it (src/lab/windows/guest.ts)
const psm1 = join(REPO, 'src', 'lab', 'windows', 'PvrunLab.psm1');
if (!existsSync(psm1)) {
  process.stderr.write(`bundle: ${psm1} is missing\n`);
  process.exit(1);
}
cpSync(psm1, join(out, 'PvrunLab.psm1'));

// A bundled CommonJS module that reads __dirname / __filename would see pvrun.cjs's, not its own
// (ssh2's such reads are rewritten, SSH2_REWRITES): fail the build, not the user's run.
// (comment lines left out: commander's JSDoc mentions __dirname)
const usesDirname = (text) => text.split('\n').some((l) => !/^\s*(\*|\/\/|\/\*)/.test(l) && /\b__(dirname|filename)\b/.test(l));
// (the banner, pvrun.cjs's first line, is the one place that may: it makes __pvrunUrl)
const withoutBanner = (text) => text.slice(text.indexOf('\n') + 1);
// (only pvrun.cjs bundles CommonJS packages; main.cjs holds the loader, whose wrapper names them)
const bad = ['pvrun.cjs'].filter((f) => usesDirname(withoutBanner(readFileSync(join(out, f), 'utf8'))));
if (bad.length) {
  process.stderr.write(`bundle: ${bad.join(', ')} use __dirname/__filename: make the package that does external\n`);
  process.exit(1);
}
// pvrun.cjs is written with Node's CommonJS wrapper around it, the one main.cjs's loader would
// add (src/cli/compile-cache.ts, WRAPPED_HEAD): V8 then compiles the file's text as read instead
// of a copy with the wrapper added, which it also flattens into a third — 1.8 MB more memory
// touched at every start (issue 17). The wrapper stays on the banner's line: line numbers in an
// internal error's trace are what they were.
const { WRAPPED_HEAD, WRAPPED_TAIL } = await import(pathToFileURL(join(from, 'cli', 'compile-cache.js')).href);
writeFileSync(join(out, 'pvrun.cjs'), `${WRAPPED_HEAD}${readFileSync(join(out, 'pvrun.cjs'), 'utf8')}${WRAPPED_TAIL}`);

const chunks = readdirSync(out).filter((f) => /\.c?js$/.test(f)).length;
const inputs = Object.keys(result.metafile.inputs).length;
process.stdout.write(`bundle: ${inputs} modules into ${chunks} files in ${out}\n`);
