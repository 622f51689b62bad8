// A scripted in-memory rig of step types for scheduler tests: pure logic, no transports.
import type { HostSpec } from '../../src/model/inventory.js';
import type { SerialItem, StepSpec, OnFailure } from '../../src/model/playbook.js';
import type { RunEvent } from '../../src/engine/events.js';
import type { EnginePlay, EngineStep, HostServices } from '../../src/engine/types.js';
import { Scheduler } from '../../src/engine/scheduler.js';
import { defineStep, type StepType } from '../../src/steps/types.js';
import { ok, err } from '../../src/util/result.js';
import { stateKey } from '../../src/steps/state.js';

export interface RigArgs {
  /** milliseconds to wait in apply (per host: `{ hostname: ms }` or a number) */
  sleep?: number | Record<string, number>;
  /** hosts on which apply fails */
  failOn?: string[];
  /** hosts on which plan fails */
  planFailOn?: string[];
  /** hosts on which undo fails */
  undoFailOn?: string[];
  /** plan says nothing to do */
  noop?: boolean;
  /** plan says skip-host on these hosts */
  skipHostOn?: string[];
  /** hosts that are unreachable */
  unreachableOn?: string[];
  /** plan fails unless this key was set by an earlier apply on the host */
  needsState?: string;
  /** apply sets this key in host state */
  setsState?: string;
}

export interface CallLog {
  calls: string[];
  active: number;
  maxActive: number;
}

export function makeRig(log: CallLog): StepType<RigArgs>[] {
  const hostOf = (h: HostSpec) => h.name;
  const match = (list: string[] | undefined, h: string) => list?.includes(h) ?? false;
  const sleepFor = (a: RigArgs, h: string) => (typeof a.sleep === 'number' ? a.sleep : a.sleep?.[h] ?? 0);
  const mk = (type: string, restore: boolean): StepType<RigArgs> =>
    defineStep<RigArgs>({
      type,
      description: `rig step ${type}`,
      schema: { type: 'object' },
      needs: 'none',
      makesRestorePoint: restore,
      async plan(ctx, a) {
        const h = hostOf(ctx.host);
        log.calls.push(`${h}:plan:${type}`);
        if (match(a.unreachableOn, h)) return { kind: 'fail', reason: 'unreachable: connection refused', unreachable: true };
        if (match(a.planFailOn, h)) return { kind: 'fail', reason: 'plan failed' };
        if (match(a.skipHostOn, h)) return { kind: 'skip-host', reason: 'already done' };
        if (a.needsState && !ctx.state.has(stateKey(a.needsState))) return { kind: 'fail', reason: `no ${a.needsState}` };
        if (a.noop) return { kind: 'ok', summary: 'nothing to do' };
        return { kind: 'change', summary: `would ${type}`, diff: `+ ${type} on ${h}` };
      },
      async apply(ctx, a) {
        const h = hostOf(ctx.host);
        log.calls.push(`${h}:apply:${type}`);
        log.active++;
        log.maxActive = Math.max(log.maxActive, log.active);
        try {
          const ms = sleepFor(a, h);
          if (ms > 0) await new Promise((r) => setTimeout(r, ms));
          if (match(a.failOn, h)) return { kind: 'failed', reason: `${type} failed on ${h}` };
          if (a.setsState) ctx.state.set(stateKey<boolean>(a.setsState), true);
          return { kind: 'changed', summary: `${type} done`, data: { out: `${type}-${h}` }, undo: { type, h } };
        } finally {
          log.active--;
        }
      },
      async undo(ctx, a) {
        const h = hostOf(ctx.host);
        log.calls.push(`${h}:undo:${type}`);
        if (match(a.undoFailOn, h)) return { ok: false, reason: 'undo broke' };
        return { ok: true, summary: `undid ${type}` };
      },
    });
  return [mk('snap', true), mk('change', false), mk('other', false)];
}

export function host(name: string): HostSpec {
  return { name, vars: {}, connection: { type: 'none' }, groups: ['all'], pos: { file: 'inv.yml', line: 1, col: 1 } };
}

let line = 0;
export function step(type: string, args: RigArgs = {}, extra: Partial<StepSpec> = {}): StepSpec {
  line++;
  return { type, args, name: extra.name ?? `${type}-${line}`, when: [], tags: [], retries: 0, delayMs: 0, ignoreErrors: false, pos: { file: 'pb.yml', line, col: 1 }, ...extra };
}

export function play(opts: {
  hosts: string[]; steps: StepSpec[]; cleanup?: StepSpec[]; serial?: SerialItem[]; forks?: number;
  maxFailPercentage?: number; onFailure?: OnFailure; rig: StepType<RigArgs>[]; selected?: (s: StepSpec) => boolean;
}): EnginePlay {
  const types = new Map(opts.rig.map((t) => [t.type, t]));
  const es = (s: StepSpec, sel: boolean): EngineStep => ({ spec: s, type: types.get(s.type)!, selected: sel });
  return {
    name: 'rig play',
    hosts: opts.hosts.map(host),
    serial: opts.serial ?? [],
    forks: opts.forks ?? 5,
    onFailure: opts.onFailure ?? 'rollback',
    ...(opts.maxFailPercentage !== undefined ? { maxFailPercentage: opts.maxFailPercentage } : {}),
    steps: opts.steps.map((s) => es(s, opts.selected ? opts.selected(s) : true)),
    cleanup: (opts.cleanup ?? []).map((s) => es(s, true)),
    scope: (h) => ({ run: { id: 'r1' }, host: { name: h.name }, vars: {} }),
  };
}

const services: HostServices = {
  guest: async () => err({ kind: 'step', message: 'rig has no guests' }),
  vm: async () => err({ kind: 'step', message: 'rig has no VMs' }),
  facts: async (ns, h) => ok({ ns, name: h.name }),
};

export function scheduler(opts: { check?: boolean } = {}) {
  const events: RunEvent[] = [];
  const s = new Scheduler({
    runId: 'r1', playbook: 'pb.yml', inventories: ['inv.yml'], check: opts.check ?? false, diff: true, verbose: false,
    services, emit: (e) => events.push(e),
    render: (v) => ok(v),
  });
  return { s, events };
}

export function newLog(): CallLog {
  return { calls: [], active: 0, maxActive: 0 };
}
