#!/usr/bin/env node
/**
 * Build step (`npm run build`, after tsc and gen-validators): bundles the compiled CLI into
 * dist/cli/ — what an installed package runs (`bin/pvrun.js` → dist/cli/main.js).
 *
 *   node scripts/bundle.mjs <tsc output dir> <dist dir>
 *
 * Why (issue 17, start-up): Node 20's ESM loader pays per module — resolve, stat, read, compile,
 * link — and a run loaded ~280 of them (152 of pvrun's, yaml's 73, commander's 9, …). Bundled,
 * a run loads ~65 (mostly ssh2's own CommonJS files, left as they are, below), and a 1-host run
 * costs ~0.12 s less CPU (BENCHMARKS.md). Code splitting keeps the laziness of the sources: every
 * `import()` of a command or a step family is its own chunk, so `--help` and `validate` load no
 * run machinery. All chunks sit in dist/cli/, so the sources' `import.meta.url`-relative paths
 * (`../..` = the package root, `./validators/`, `./PvrunLab.psm1`) hold for every chunk;
 * those are copied next to the chunks.
 *
 * Left outside the bundle, required from node_modules at run time as before:
 * - ssh2: it loads its native crypto binding (sshcrypto.node) and a wasm-like poly1305 module
 *   relative to its own files (`__dirname`); bundled, it would silently fall back to slower JS
 *   crypto or fail;
 * - undici, node-powershell, ajv, ajv-formats: required lazily (createRequire) where used — the
 *   XAPI transport, the PowerShell connector, the schema compiler of a schema edited since the
 *   build — and ajv/dist/runtime/* by the generated validators.
 */
import { build, transform } from 'esbuild';
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');

const [from, to] = process.argv.slice(2).map((p) => resolve(p));
if (!from || !to) {
  process.stderr.write('usage: node scripts/bundle.mjs <tsc output dir> <dist dir>\n');
  process.exit(2);
}
const entry = join(from, 'cli', 'main.js');
const out = join(to, 'cli');
rmSync(out, { recursive: true, force: true });

const EXTERNAL = ['ssh2', 'undici', 'node-powershell', 'ajv', 'ajv/*', 'ajv-formats', 'cpu-features', '*.node'];

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

const result = await build({
  entryPoints: [entry],
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  // bundled CommonJS (yaml, commander) calls require() for Node's own modules: ESM has no
  // require, so each chunk gets one made for its own URL
  banner: { js: "import { createRequire as __pvrunCreateRequire } from 'node:module'; const require = __pvrunCreateRequire(import.meta.url);" },
  legalComments: 'inline',
  // Node 20 has no compile cache for ES modules: every run parses the chunks it loads again.
  // Without comments and whitespace (and with constant folding) the chunks `validate` loads are
  // 410 KB instead of 636 KB (~2 % of its CPU, BENCHMARKS.md). Identifiers keep their names, so
  // an internal error's trace stays readable.
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
  metafile: true,
  plugins: [lazyCommanderChildProcess, yamlEsm],
});
if (result.errors.length) process.exit(1);

for (const [src, dst] of [
  [join(from, 'load', 'validators'), join(out, 'validators')],
  // not TypeScript: tsc does not copy it; the lab's Windows guest imports it (src/lab/windows/guest.ts)
  [join(REPO, 'src', 'lab', 'windows', 'PvrunLab.psm1'), join(out, 'PvrunLab.psm1')],
]) {
  if (!existsSync(src)) {
    process.stderr.write(`bundle: ${src} is missing (run tsc and gen-validators first: npm run build)\n`);
    process.exit(1);
  }
  cpSync(src, dst, { recursive: true });
}

// The generated validators (ajv standalone code, written for reading) minified: every run that
// loads a file parses it again (no compile cache for them either); ~1 % of `validate`'s
// instructions (valgrind). Names are kept in the export (a property), so lookups hold.
const validatorsOut = join(out, 'validators');
for (const f of readdirSync(validatorsOut).filter((n) => n.endsWith('.cjs'))) {
  const file = join(validatorsOut, f);
  writeFileSync(file, (await transform(readFileSync(file, 'utf8'), { minify: true, loader: 'js', format: 'cjs', target: 'node20' })).code);
}

// A bundled CommonJS module that reads __dirname / __filename would throw in an ESM chunk (the
// reason ssh2 is external): fail the build, not the user's run.
// (comment lines left out: commander's JSDoc mentions __dirname)
const usesDirname = (text) => text.split('\n').some((l) => !/^\s*(\*|\/\/|\/\*)/.test(l) && /\b__(dirname|filename)\b/.test(l));
const bad = readdirSync(out).filter((f) => f.endsWith('.js') && usesDirname(readFileSync(join(out, f), 'utf8')));
if (bad.length) {
  process.stderr.write(`bundle: ${bad.join(', ')} use __dirname/__filename: make the package that does external\n`);
  process.exit(1);
}
const chunks = readdirSync(out).filter((f) => f.endsWith('.js')).length;
const inputs = Object.keys(result.metafile.inputs).length;
process.stdout.write(`bundle: ${inputs} modules into ${chunks} files in ${out}\n`);
