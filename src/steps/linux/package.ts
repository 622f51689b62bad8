/**
 * package: install or remove packages through the guest's own package manager (from the facts),
 * with names per OS family. Check mode only queries. undo() removes what this step installed.
 */
import { packageInfo } from '../catalog.js';
import { defineStep, type StepContext } from '../types.js';
import { applyFail, commandFailed, failureText, guestFacts, planFail, probe, run } from './common.js';
import {
  enableEpelCommand, installCommand, invalidPackageName, namesFor, parseQuery,
  queryCommand, removeCommand, type PackageNames,
} from './package-manager.js';
import type { GuestFacts } from '../../facts/linux.js';
import { err, ok, type Result } from '../../util/result.js';
import { shape } from '../../util/shape.js';
import type { PackageManager } from '../../facts/linux.js';
import type { StepFailure } from '../types.js';

export interface PackageArgs {
  name: PackageNames;
  state?: 'present' | 'absent';
  /** RHEL family only */
  enable_repo?: 'epel';
  update_cache?: boolean;
  become?: boolean;
  /** seconds, default 1800 */
  timeout?: number;
}

interface Wanted {
  facts: GuestFacts;
  pm: NonNullable<GuestFacts['package_manager']>;
  names: string[];
  /** names whose state differs from the wanted one */
  todo: string[];
  needEpel: boolean;
}

async function assess(ctx: StepContext, a: PackageArgs): Promise<Result<Wanted, StepFailure>> {
  const f = await guestFacts(ctx);
  if (!f.ok) return f;
  const facts = f.value;
  const pm = facts.package_manager;
  if (!pm) return err({ kind: 'step', message: `no supported package manager found on ${facts.os.pretty_name || 'the guest'}` });
  const names = namesFor(a.name, facts.os.family);
  if (!names || names.length === 0) {
    return err({ kind: 'config', message: `no package name given for OS family '${facts.os.family}'` });
  }
  const invalid = invalidPackageName(names, facts.os.family);
  if (invalid) return err({ kind: 'config', message: invalid });
  const wantEpel = a.enable_repo === 'epel' && facts.os.family === 'redhat' && a.state !== 'absent';
  const q = await probe(ctx, queryCommand(pm, wantEpel ? [...names, 'epel-release'] : names));
  if (!q.ok) return q;
  const { installed } = parseQuery(q.value);
  const present = (n: string) => installed.has(n);
  const todo = a.state === 'absent' ? names.filter(present) : names.filter((n) => !present(n));
  // an EPEL that is set up some other way (oracle-epel-release, a mirror) shows up as epel-release
  // missing; installing it again is harmless and cheap compared with a failed install
  const needEpel = wantEpel && todo.length > 0 && !present('epel-release');
  return ok({ facts, pm, names, todo, needEpel });
}

/** what undo() removes: the packages this step installed, with the manager that installed them */
export interface PackageToken {
  remove: string[];
  manager: PackageManager;
  become?: boolean;
}

const MANAGERS: readonly PackageManager[] = ['dnf', 'yum', 'apt', 'zypper', 'apk'];
const isPackageToken = shape<PackageToken>({ remove: 'string[]', manager: { enum: MANAGERS }, become: { optional: 'boolean' } });

export const packageStep = defineStep<PackageArgs, unknown, PackageToken>({
  ...packageInfo, // type, description, schema, shorthand, flags: src/steps/catalog.ts
  undoToken: isPackageToken,

  async plan(ctx, a) {
    const w = await assess(ctx, a);
    if (!w.ok) return planFail(w.error);
    const { todo, pm, names } = w.value;
    if (todo.length === 0) return { kind: 'ok', summary: `${names.join(', ')} ${a.state === 'absent' ? 'not installed' : 'installed'}` };
    const verb = a.state === 'absent' ? 'remove' : 'install';
    return { kind: 'change', summary: `would ${w.value.needEpel ? 'enable EPEL and ' : ''}${verb} ${todo.join(', ')} with ${pm}` };
  },

  async apply(ctx, a) {
    const w = await assess(ctx, a);
    if (!w.ok) return applyFail(w.error);
    const { todo, pm, names, facts, needEpel } = w.value;
    if (todo.length === 0) return { kind: 'ok', summary: `${names.join(', ')} already ${a.state === 'absent' ? 'absent' : 'installed'}` };
    const timeoutMs = (a.timeout ?? 1800) * 1000;
    const become = a.become === true;
    if (needEpel) {
      await ctx.intent({ action: 'enable-repo', detail: { repo: 'epel' } });
      const e = await run(ctx, enableEpelCommand(pm, facts.os.major), { become, timeoutMs });
      if (!e.ok) return applyFail(e.error);
      if (e.value.exitCode !== 0) return applyFail(commandFailed('enabling EPEL', e.value));
    }
    const absent = a.state === 'absent';
    await ctx.intent({ action: absent ? 'package-remove' : 'package-install', detail: { packages: todo, manager: pm } });
    const cmd = absent ? removeCommand(pm, todo) : installCommand(pm, todo, { updateCache: a.update_cache === true });
    const r = await run(ctx, cmd, { become, timeoutMs });
    // the tools facts (installed, version, services) are stale from here on, whatever happened
    ctx.facts.invalidate('guest');
    if (!r.ok) return applyFail(r.error);
    if (r.value.exitCode !== 0) return applyFail(commandFailed(`${pm} ${absent ? 'remove' : 'install'} ${todo.join(' ')}`, r.value));
    const data = { packages: todo, manager: pm, stdout: r.value.stdout };
    return absent
      ? { kind: 'changed', summary: `removed ${todo.join(', ')}`, data }
      : { kind: 'changed', summary: `installed ${todo.join(', ')}`, data, undo: { remove: todo, manager: pm, become } };
  },

  async undo(ctx, _a, token) {
    const t = token;
    if (!t?.remove.length) return { ok: true, summary: 'nothing to undo' };
    const r = await run(ctx, removeCommand(t.manager, t.remove), { become: t.become === true, timeoutMs: 1_800_000 });
    ctx.facts.invalidate('guest');
    if (!r.ok) return { ok: false, reason: failureText(r.error) };
    if (r.value.exitCode !== 0) return { ok: false, reason: failureText(commandFailed(`removing ${t.remove.join(' ')}`, r.value)) };
    return { ok: true, summary: `removed ${t.remove.join(', ')}` };
  },
});
