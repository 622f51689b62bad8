/**
 * Guest predicates for `check:` and `verify:`. Every evaluation runs read-only commands through
 * the connector (so they work in check mode) and reads live state, so `fresh` needs no special
 * handling here: the guest answers for its current boot.
 */
// each predicate's key, description and schema: src/steps/catalog.ts (read by the loader without this module)
import { linuxPredicateInfos } from '../catalog.js';
import { err, ok, type Result } from '../../util/result.js';
import { quoteShell } from '../../util/shell-quote.js';
import { parseConstraint, satisfies, schemeForPackageManager } from '../../util/version.js';
import type { CheckPredicate, PredicateOutcome } from '../predicate-types.js';
import type { StepContext, StepFailure } from '../types.js';
import { guestFacts, run } from './common.js';
import { invalidPackageName, namesFor, parseQuery, queryCommand, type PackageNames } from './package-manager.js';
import { invalidServiceName, parseServiceProbe, serviceProbeCommand } from './services.js';

const str = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
const bad = (message: string): Result<PredicateOutcome, StepFailure> => err({ kind: 'config', message });

interface CommandExpect { cmd: string; exit_code?: number; stdout?: string; stdout_regex?: string; become?: boolean; check_mode_safe?: boolean }

/**
 * The user's own command. Check mode does not run it (the predicate is unknown) unless it is
 * marked check_mode_safe; then it runs, and the summary says so. Over a PowerShell transport
 * (Windows hosts) the command is PowerShell, under the same rule.
 */
const commandPredicate: CheckPredicate = {
  ...linuxPredicateInfos.command,
  async evaluate(ctx, expected) {
    const e: CommandExpect = typeof expected === 'string' ? { cmd: expected } : expected as CommandExpect;
    if (typeof e?.cmd !== 'string') return bad('command: expected a command string or { cmd: ... }');
    let re: RegExp | undefined;
    if (e.stdout_regex !== undefined) {
      try { re = new RegExp(e.stdout_regex, 'm'); } catch (x) { return bad(`command: bad stdout_regex: ${(x as Error).message}`); }
    }
    const safe = e.check_mode_safe === true;
    if (ctx.check && !safe) {
      const one = e.cmd.trim().replace(/\s*\n\s*/g, '; ');
      return ok({ pass: false, actual: '', expected: '', unknown: `unknown (not run in check mode): ${one.length > 80 ? `${one.slice(0, 77)}...` : one}` });
    }
    if (ctx.check) ctx.log(`command ran in check mode (check_mode_safe): ${e.cmd}`);
    // mutates: false only when the user vouched for it: the check-mode connector refuses anything else
    const r = await run(ctx, e.cmd, { mutates: !safe, become: e.become === true, timeoutMs: 60_000 });
    if (!r.ok) return r;
    const want = e.exit_code ?? 0;
    const out = r.value.stdout;
    const codeOk = r.value.exitCode === want;
    const outOk = (e.stdout === undefined || out.includes(e.stdout)) && (re === undefined || re.test(out));
    const wantText = [`exit ${want}`, e.stdout !== undefined ? `stdout containing ${JSON.stringify(e.stdout)}` : '',
      re ? `stdout matching /${e.stdout_regex}/` : ''].filter(Boolean).join(', ');
    const shown = out.trim().length > 80 ? `${out.trim().slice(0, 77)}...` : out.trim();
    return ok({
      pass: codeOk && outOk,
      actual: `exit ${r.value.exitCode ?? r.value.signal}${shown ? `, stdout ${JSON.stringify(shown)}` : ''}`,
      expected: wantText,
      ...(ctx.check ? { ranInCheck: true } : {}),
    });
  },
};

const fileExists: CheckPredicate = {
  ...linuxPredicateInfos.file_exists,
  async evaluate(ctx, expected) {
    const e = typeof expected === 'string' ? { path: expected } : expected as { path: string; exists?: boolean; become?: boolean };
    if (typeof e?.path !== 'string') return bad('file_exists: expected a path');
    const r = await run(ctx, `test -e ${quoteShell(e.path)}`, { mutates: false, become: e.become === true });
    if (!r.ok) return r;
    const exists = r.value.exitCode === 0;
    const want = e.exists ?? true;
    return ok({ pass: exists === want, actual: `${e.path} ${exists ? 'exists' : 'does not exist'}`, expected: `${e.path} ${want ? 'exists' : 'absent'}` });
  },
};

/** `name`, `name >= 8.0`, or { name: <names or per-family map>, version: '>= 8.0' } */
function parsePackageExpect(expected: unknown): { names: PackageNames; version?: string } | undefined {
  if (typeof expected === 'string') {
    const m = /^\s*([^\s<>=!]+)\s*((?:>=|<=|==|!=|=|>|<).*)?$/.exec(expected);
    if (!m?.[1]) return undefined;
    return m[2] ? { names: m[1], version: m[2] } : { names: m[1] };
  }
  if (typeof expected === 'object' && expected !== null && 'name' in expected) {
    const e = expected as { name: PackageNames; version?: string };
    return e.version !== undefined ? { names: e.name, version: e.version } : { names: e.name };
  }
  return undefined;
}

const packageInstalled: CheckPredicate = {
  ...linuxPredicateInfos.package_installed,
  async evaluate(ctx, expected) {
    const e = parsePackageExpect(expected);
    if (!e) return bad(`package_installed: cannot read ${str(expected)}`);
    const constraint = e.version !== undefined ? parseConstraint(e.version) : undefined;
    if (e.version !== undefined && !constraint) return bad(`package_installed: bad version constraint '${e.version}'`);
    const f = await guestFacts(ctx);
    if (!f.ok) return f;
    const pm = f.value.package_manager;
    if (!pm) return bad('package_installed: no supported package manager on the guest');
    const names = namesFor(e.names, f.value.os.family);
    if (!names?.length) return bad(`package_installed: no name for OS family ${f.value.os.family}`);
    const invalid = invalidPackageName(names, f.value.os.family);
    if (invalid) return bad(`package_installed: ${invalid}`);
    const r = await run(ctx, queryCommand(pm, names), { mutates: false });
    if (!r.ok) return r;
    const { installed } = parseQuery(r.value.stdout);
    const expectText = `${names.join(' or ')}${e.version ? ` ${e.version}` : ''}`;
    if (installed.size === 0) return ok({ pass: false, actual: `${names.join(', ')} not installed`, expected: expectText });
    const seen = [...installed].map(([n, v]) => `${n} ${v}`).join(', ');
    // the package manager's own ordering (rpm / dpkg); epoch and release count only when the constraint names them
    const pass = [...installed.values()].some((v) => !constraint || satisfies(v, constraint, schemeForPackageManager(pm)));
    return ok({ pass, actual: seen, expected: expectText });
  },
};

const serviceActive: CheckPredicate = {
  ...linuxPredicateInfos.service_active,
  async evaluate(ctx: StepContext, expected) {
    const names = typeof expected === 'string' ? [expected] : Array.isArray(expected) ? expected.map(String) : undefined;
    if (!names?.length) return bad('service_active: expected a service name or a list of candidates');
    const invalid = invalidServiceName(names);
    if (invalid) return bad(`service_active: ${invalid}`);
    const r = await run(ctx, serviceProbeCommand(names), { mutates: false });
    if (!r.ok) return r;
    const s = parseServiceProbe(r.value.stdout).found[0];
    if (!s) return ok({ pass: false, actual: `none of ${names.join(', ')} exists`, expected: `${names.join(' or ')} active` });
    return ok({ pass: s.active, actual: `${s.name} is ${s.active ? 'active' : 'inactive'}`, expected: `${s.name} active` });
  },
};

export const linuxPredicates: CheckPredicate[] = [commandPredicate, fileExists, packageInstalled, serviceActive];
