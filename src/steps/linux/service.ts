/**
 * service: enable and/or start/stop a service. `name` may list candidates (the agent ships as
 * xe-linux-distribution, xe-daemon or xen-guest-agent); the first that exists is used.
 */
import { serviceInfo } from '../catalog.js';
import { defineStep, type StepContext, type StepFailure } from '../types.js';
import { ok, type Result } from '../../util/result.js';
import { applyFail, commandFailed, planFail, probe, run } from './common.js';
import {
  invalidServiceName, parseServiceProbe, serviceActions, serviceCommand,
  serviceProbeCommand, type ServiceInfo,
} from './services.js';
import { err } from '../../util/result.js';
import { shape } from '../../util/shape.js';


export interface ServiceArgs {
  name: string | string[];
  enabled?: boolean;
  state?: 'started' | 'stopped' | 'restarted';
  become?: boolean;
}

function candidates(a: ServiceArgs): string[] {
  return typeof a.name === 'string' ? [a.name] : a.name;
}

/** the service found: what plan() hands apply(), so apply() does not probe a second time */
interface Found {
  init: 'systemd' | 'sysv';
  info: ServiceInfo;
}

export interface ServiceToken {
  name: string;
  init: 'systemd' | 'sysv';
  /** what undoes the apply, in order */
  actions: ('enable' | 'disable' | 'start' | 'stop')[];
  become?: boolean;
}

const isServiceToken = shape<ServiceToken>({
  // the name goes into a command and, for SysV, a path: held to the names a playbook may give
  name: (v) => typeof v === 'string' && invalidServiceName([v]) === undefined, init: { enum: ['systemd', 'sysv'] }, actions: { enumArray: ['enable', 'disable', 'start', 'stop'] }, become: { optional: 'boolean' },
});

async function find(ctx: StepContext, a: ServiceArgs): Promise<Result<Found | null, StepFailure>> {
  // literal names were checked at load; a name from a run-time template is checked here
  const invalid = invalidServiceName(candidates(a));
  if (invalid) return err({ kind: 'config', message: invalid });
  const out = await probe(ctx, serviceProbeCommand(candidates(a)), { become: a.become === true });
  if (!out.ok) return out;
  const info = parseServiceProbe(out.value).found[0];
  return ok(info ? { init: info.init, info } : null);
}

export const serviceStep = defineStep<ServiceArgs, Found, ServiceToken>({
  ...serviceInfo, // type, description, schema, shorthand, flags: src/steps/catalog.ts
  undoToken: isServiceToken,

  async plan(ctx, a) {
    const f = await find(ctx, a);
    if (!f.ok) return planFail(f.error);
    if (f.value === null) {
      // in a rehearsal the package that brings the service may only be "would install"
      if (ctx.check) return { kind: 'change', summary: `none of ${candidates(a).join(', ')} exists yet; would configure it once installed` };
      return { kind: 'fail', reason: `no such service: none of ${candidates(a).join(', ')} exists` };
    }
    const acts = serviceActions(f.value.info, a);
    if (acts.length === 0) return { kind: 'ok', summary: `${f.value.info.name} is as wanted` };
    return { kind: 'change', summary: `would ${acts.join(' + ')} ${f.value.info.name}`, planned: f.value };
  },

  async apply(ctx, a, plan) {
    // the service plan() found a moment ago (an apply without a plan before it probes for itself)
    const f = plan.planned ? ok(plan.planned) : await find(ctx, a);
    if (!f.ok) return applyFail(f.error);
    if (f.value === null) return { kind: 'failed', reason: `no such service: none of ${candidates(a).join(', ')} exists` };
    const { init, info } = f.value;
    const acts = serviceActions(info, a);
    if (acts.length === 0) return { kind: 'ok', summary: `${info.name} is as wanted` };
    await ctx.intent({ action: 'service', detail: { name: info.name, actions: acts } });
    for (const act of acts) {
      const r = await run(ctx, serviceCommand(init, info.name, act), { become: a.become === true, timeoutMs: 300_000 });
      if (!r.ok) return applyFail(r.error);
      if (r.value.exitCode !== 0) return applyFail(commandFailed(`${act} ${info.name}`, r.value));
    }
    ctx.facts.invalidate('guest');
    const opposite = { enable: 'disable', disable: 'enable', start: 'stop', stop: 'start', restart: null } as const;
    const undoActs = acts.map((x) => opposite[x]).filter((x) => x !== null);
    return { kind: 'changed', summary: `${acts.join(' + ')} ${info.name}`, data: { service: info.name }, undo: { name: info.name, init, actions: undoActs.reverse(), become: a.become === true } };
  },

  async undo(ctx, _a, token) {
    // no token: the apply was cut short (or its journal record is not valid); what it did is not known
    if (!token) return { ok: false, reason: 'no record of what was changed (the apply was cut short): the service is left as it is' };
    const t = token;
    for (const act of t.actions) {
      const r = await run(ctx, serviceCommand(t.init, t.name, act), { become: t.become === true, timeoutMs: 300_000 });
      if (!r.ok) return { ok: false, reason: `${act} ${t.name}: ${r.error.kind}` };
      if (r.value.exitCode !== 0) return { ok: false, reason: `${act} ${t.name} failed: ${r.value.stderr.trim()}` };
    }
    return { ok: true, summary: t.actions.length ? `${t.actions.join(' + ')} ${t.name}` : 'nothing to undo' };
  },
});

