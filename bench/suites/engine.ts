/**
 * The engine alone, in-process, no transports:
 * - loading: validate + plan a 1,000-host inventory (groups, vars) with a 50-step playbook
 *   through loadProject (YAML with positions, JSON Schema, patterns, templates per host);
 * - scheduling: a no-op step type (plan says change, apply returns at once) run by the
 *   Scheduler over 1,000 hosts, giving the engine's own cost per host-step.
 */
import { writeFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { join } from 'node:path';
import { loadProject } from '../../src/load/project.js';
import { builtinRegistry } from '../../src/steps/registry.js';
import { Scheduler } from '../../src/engine/scheduler.js';
import { defineStep, type StepType } from '../../src/steps/types.js';
import type { HostSpec } from '../../src/model/inventory.js';
import type { StepSpec } from '../../src/model/playbook.js';
import type { EnginePlay, HostServices } from '../../src/engine/types.js';
import { ok, err } from '../../src/util/result.js';
import { spread, fmt, fmtSpread, table, MiB, type Spread } from '../lib/stats.js';
import type { SuiteContext, SuiteResult } from '../lib/suite.js';

// a full GC before each measurement, also when node was started without --expose-gc
setFlagsFromString('--expose-gc');
const gcFn = runInNewContext('gc') as (() => void) | undefined;
const gc = (): void => { gcFn?.(); };

function writeProject(dir: string, hosts: number, steps: number): { playbook: string; inventory: string } {
  const groups = 10;
  const inv: string[] = ['groups:', '  all:', '    vars: { base: 1 }', '    connection: { type: ssh, user: root, key: /nonexistent/key, host_key_checking: strict }'];
  inv.push('  linux:', `    children: [${Array.from({ length: groups }, (_, g) => `g${g}`).join(', ')}]`, '    vars: { mount_point: /mnt }');
  for (let g = 0; g < groups; g++) {
    inv.push(`  g${g}:`, `    vars: { rack: r${g} }`, '    hosts:');
    for (let i = g; i < hosts; i += groups) inv.push(`      - vm-${String(i).padStart(4, '0')}`);
  }
  inv.push('hosts:');
  for (let i = 0; i < hosts; i++) inv.push(`  vm-${String(i).padStart(4, '0')}: { connection: { address: 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}, port: 22 }, vars: { idx: ${i} } }`);
  const st: string[] = [];
  for (let s = 0; s < steps; s++) {
    st.push(`    - name: step ${s + 1}`, `      run-script: { script: "echo {{ host.name }} {{ vars.rack }} {{ vars.mount_point }} ${s}", timeout: 60 }`);
  }
  const pb = ['- name: plan bench', '  hosts: linux', '  serial: [1, "10%"]', '  forks: 50', '  max_fail_percentage: 10', '  on_failure: stop', '  steps:', ...st].join('\n') + '\n';
  const playbook = join(dir, 'plan-bench.yml');
  const inventory = join(dir, 'plan-bench-inv.yml');
  writeFileSync(playbook, pb);
  writeFileSync(inventory, inv.join('\n') + '\n');
  return { playbook, inventory };
}

interface Timed { wallMs: number; cpuMs: number; heapDeltaMiB: number; rssMiB: number }

async function timed(f: () => Promise<void> | void): Promise<Timed> {
  gc();
  const h0 = process.memoryUsage().heapUsed;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await f();
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const c = process.cpuUsage(c0);
  const mem = process.memoryUsage();
  return { wallMs, cpuMs: (c.user + c.system) / 1000, heapDeltaMiB: (mem.heapUsed - h0) / MiB, rssMiB: mem.rss / MiB };
}

const noop: StepType<Record<string, never>> = defineStep<Record<string, never>>({
  type: 'noop',
  description: 'does nothing (benchmark)',
  schema: { type: 'object' },
  needs: 'none',
  async plan() { return { kind: 'change', summary: 'would do nothing' }; },
  async apply() { return { kind: 'changed', summary: 'did nothing' }; },
});

function hostSpec(name: string): HostSpec {
  return { name, vars: {}, connection: { type: 'none' }, groups: ['all'], pos: { file: 'inv.yml', line: 1, col: 1 } };
}

function stepSpec(i: number): StepSpec {
  return { type: 'noop', args: {}, name: `noop ${i}`, when: [], tags: [], retries: 0, delayMs: 0, ignoreErrors: false, pos: { file: 'pb.yml', line: i + 1, col: 1 } };
}

const services: HostServices = {
  guest: async () => err({ kind: 'step', message: 'no guests' }),
  vm: async () => err({ kind: 'step', message: 'no VMs' }),
  facts: async (ns, h) => ok({ ns, name: h.name }),
};

async function runNoop(hosts: number, steps: number, forks: number): Promise<{ t: Timed; events: number; outcomes: Record<string, number> }> {
  const play: EnginePlay = {
    name: 'noop', hosts: Array.from({ length: hosts }, (_, i) => hostSpec(`h${i}`)), serial: [], forks, onFailure: 'stop',
    steps: Array.from({ length: steps }, (_, i) => ({ spec: stepSpec(i), type: noop, selected: true })), cleanup: [],
    scope: (h) => ({ run: { id: 'bench' }, host: { name: h.name }, vars: {} }),
  };
  let events = 0;
  const s = new Scheduler({
    runId: 'bench', playbook: 'pb.yml', inventories: ['inv.yml'], check: false, diff: false, verbose: false,
    services, emit: () => { events++; }, render: (v) => ok(v),
  });
  let summary: Awaited<ReturnType<Scheduler['run']>> | undefined;
  const t = await timed(async () => { summary = await s.run([play]); });
  const outcomes: Record<string, number> = {};
  for (const r of summary?.recap ?? []) outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
  return { t, events, outcomes };
}

export async function engineSuite(ctx: SuiteContext): Promise<SuiteResult> {
  const runs = ctx.runs ?? (ctx.quick ? 3 : 7);
  const { playbook, inventory } = writeProject(ctx.tmp, 1000, 50);
  const registry = builtinRegistry();
  // loading and planning
  const loads: Timed[] = [];
  let planned = '';
  for (let r = 0; r <= runs; r++) {
    let res: ReturnType<typeof loadProject> | undefined;
    const t = await timed(() => { res = loadProject({ playbook, inventories: [inventory], registry, cwd: ctx.tmp }); });
    if (!res?.ok) throw new Error(`loadProject failed: ${JSON.stringify(res && !res.ok ? res.error.slice(0, 3) : res)}`);
    planned = `${res.value.summary.hosts} hosts, ${res.value.summary.steps} steps, batches ${res.value.summary.plays[0]?.batches.length}`;
    if (r > 0) loads.push(t);
    ctx.log(`engine: loadProject ${r === 0 ? 'warm-up' : `run ${r}`}: ${fmt(t.wallMs, 0)} ms wall, ${fmt(t.cpuMs, 0)} ms CPU (${planned})`);
  }
  // scheduling no-op steps
  const shapes: [number, number, number][] = [[1000, 10, 100], [1000, 10, 1000], [1000, 50, 100]];
  const noopRows: { shape: [number, number, number]; wall: Spread; cpu: Spread; perHostStepUs: Spread; events: number; outcomes: Record<string, number>; heap: Spread }[] = [];
  for (const [h, k, f] of shapes) {
    const ts: Timed[] = [];
    let events = 0;
    let outcomes: Record<string, number> = {};
    for (let r = 0; r <= runs; r++) {
      const x = await runNoop(h, k, f);
      events = x.events;
      outcomes = x.outcomes;
      if (r > 0) ts.push(x.t);
    }
    const wall = spread(ts.map((t) => t.wallMs));
    noopRows.push({
      shape: [h, k, f], wall, cpu: spread(ts.map((t) => t.cpuMs)), perHostStepUs: spread(ts.map((t) => (t.wallMs * 1000) / (h * k))),
      events, outcomes, heap: spread(ts.map((t) => t.heapDeltaMiB)),
    });
    ctx.log(`engine: noop ${h}×${k} forks ${f}: ${fmt(wall.median, 0)} ms, ${fmt((wall.median * 1000) / (h * k), 1)} µs per host-step`);
  }
  const md = [
    `In-process, ${runs} runs after a warm-up; median (min–max).`,
    '',
    `Validate + plan (loadProject: YAML with positions, schema, inventory groups/vars, patterns, templates rendered per host): ${planned}.`,
    '',
    table(['what', 'wall ms', 'CPU ms', 'heap growth MiB'], [[
      'loadProject, 1,000 hosts × 50 steps', fmtSpread(spread(loads.map((t) => t.wallMs)), 0), fmtSpread(spread(loads.map((t) => t.cpuMs)), 0), fmtSpread(spread(loads.map((t) => t.heapDeltaMiB)), 1),
    ]]),
    '',
    'Scheduler with a no-op step type (plan → change, apply → changed; no I/O); events counted, not printed:',
    '',
    table(['hosts × steps, forks', 'wall ms', 'CPU ms', 'wall µs per host-step', 'CPU µs per host-step', 'events', 'outcomes'], noopRows.map((r) => [
      `${r.shape[0]} × ${r.shape[1]}, ${r.shape[2]}`, fmtSpread(r.wall, 0), fmtSpread(r.cpu, 0), fmtSpread(r.perHostStepUs, 1), fmt((r.cpu.median * 1000) / (r.shape[0] * r.shape[1]), 1), String(r.events), JSON.stringify(r.outcomes),
    ])),
  ].join('\n');
  return { name: 'engine', title: 'Engine alone', markdown: md, data: { loads, noopRows } };
}
