/**
 * A private compiled and bundled copy of pvrun (and of the floor / fake-server scripts) under
 * bench/.build, so that every contender starts as plain `node file.js` with no TypeScript
 * loader in its start-up time, and so that the shared dist/ is not touched. tsc emits even when
 * work in progress elsewhere in the tree has type errors; those are reported, not fatal.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const REPO = join(import.meta.dirname, '..', '..');
export const BUILD = join(REPO, 'bench', '.build');
/** the bundle, as `npm run build` makes dist/ (scripts/bundle.mjs): what an installed pvrun runs */
export const PVRUN_JS = join(BUILD, 'dist', 'cli', 'main.cjs');
export const FLOOR_JS = join(BUILD, 'bench', 'floor.js');
export const FAKE_SSHD_JS = join(BUILD, 'bench', 'fake-sshd.js');

export async function build(log: (s: string) => void): Promise<void> {
  mkdirSync(BUILD, { recursive: true });
  writeFileSync(join(BUILD, 'tsconfig.json'), JSON.stringify({
    extends: '../../tsconfig.json',
    compilerOptions: { rootDir: '../..', outDir: '.', noEmit: false, sourceMap: false, incremental: true, tsBuildInfoFile: './tsbuildinfo' },
    include: ['../../src', '../../bench/floor.ts', '../../bench/fake-sshd.ts'],
  }, null, 2));
  const t0 = Date.now();
  const tsc = async (): Promise<void> => {
    try {
      await execFileP(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(BUILD, 'tsconfig.json')], { cwd: REPO, maxBuffer: 64 * 1024 * 1024 });
    } catch (e) {
      const out = String((e as { stdout?: string }).stdout ?? e);
      log(`build: tsc reported type errors (emitted anyway):\n${out.split('\n').slice(0, 10).join('\n')}`);
    }
  };
  await tsc();
  // An incremental build trusts its tsbuildinfo and does not re-emit an output that has gone
  // missing since (seen: a stale bench/.build without src/steps/linux/mounts.js, every pvrun
  // contender then failing at import). Every source must have its output; else build afresh.
  const missing = missingOutputs();
  if (missing.length) {
    log(`build: ${missing.length} output(s) missing from bench/.build (e.g. ${missing[0]}); building afresh`);
    rmSync(join(BUILD, 'tsbuildinfo'), { force: true });
    await tsc();
    const still = missingOutputs();
    if (still.length) throw new Error(`build: outputs still missing after a fresh build: ${still.slice(0, 5).join(', ')}`);
  }
  // --version reads the package root's package.json (src/cli/playbooks.ts), here bench/.build/
  copyFileSync(join(REPO, 'package.json'), join(BUILD, 'package.json'));
  // the precompiled schema validators, as `npm run build` makes them (src/load/gen-validators.ts)
  await execFileP(process.execPath, [join(BUILD, 'src', 'load', 'gen-validators.js')], { cwd: REPO });
  // then bundled as `npm run build` does: bench/.build/dist/cli/, its package root bench/.build/
  await execFileP(process.execPath, [join(REPO, 'scripts', 'bundle.mjs'), join(BUILD, 'src'), join(BUILD, 'dist')], { cwd: REPO });
  for (const f of [PVRUN_JS, FLOOR_JS, FAKE_SSHD_JS, join(BUILD, 'src', 'load', 'validators')]) {
    if (!existsSync(f)) throw new Error(`build: ${f} was not produced`);
  }
  log(`build: compiled into bench/.build in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/** The .ts files under src/ whose compiled .js is not in bench/.build (relative paths). */
function missingOutputs(): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const e of readdirSync(join(REPO, rel), { withFileTypes: true })) {
      const r = join(rel, e.name);
      if (e.isDirectory()) walk(r);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') && !existsSync(join(BUILD, r.replace(/\.ts$/, '.js')))) out.push(r);
    }
  };
  walk('src');
  return out;
}
