/**
 * XAPI calls per VM for playbooks/linux-tools.yml, in the lab (Lab.start: the XAPI simulator
 * over HTTP plus container guests over real SSH), the CLI run in-process through main() as
 * test/e2e/harness.ts does. Counted from the simulator's call log and split into
 * session (login/logout), reads, writes (mutating, incl. Async.*) and waits (event.from /
 * event.next, task.get_* polls). Polling interval: for every call that repeats with the same
 * method and parameters (tokens and sessions left out), the shortest gap between two of them.
 * Needs root (skipped with the reason otherwise).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { main, type Io } from '../../src/cli/main.js';
import { Lab } from '../../src/lab/lab.js';
import { missingTools } from '../../src/lab/guest/prereqs.js';
import type { GuestSpec } from '../../src/lab/guest/definition.js';
import type { CallLogEntry } from '../../src/lab/xapi-sim/server.js';
import { REPO } from '../lib/build.js';
import { onCleanup } from '../lib/cleanup.js';
import { fmt, table } from '../lib/stats.js';
import type { SuiteContext, SuiteResult } from '../lib/suite.js';

type Kind = 'session' | 'read' | 'write' | 'wait';

/** event.from with timeout 0 returns at once (a read of current state or of changes since a
 *  token); with a timeout it is a long-poll wait. task.get_* while a task runs are task polls. */
export function kindOf(c: CallLogEntry): Kind {
  if (c.method.startsWith('session.')) return 'session';
  if (c.method === 'event.from') return Number(c.params[2] ?? 0) > 0 ? 'wait' : 'read';
  if (c.method === 'event.next' || /^task\.get_(status|record|progress|result|error_info)$/.test(c.method)) return 'wait';
  return c.readOnly ? 'read' : 'write';
}

const refsOf = (c: CallLogEntry): string[] => JSON.stringify(c.params).match(/OpaqueRef:[0-9a-f-]+/g) ?? [];

/**
 * Timer-driven polling: the same wait call (task.get_*, event.from with a timeout; same method
 * and parameters) made again without a long-poll
 * event.from on one of its objects in between. Returns, per such call, how often it was
 * repeated that way and the shortest gap.
 */
export function timerRepeats(calls: CallLogEntry[]): { key: string; repeats: number; minGapMs: number }[] {
  const out = new Map<string, { repeats: number; minGapMs: number }>();
  const lastSeen = new Map<string, number>();
  for (let i = 0; i < calls.length; i++) {
    const c = calls[i]!;
    if (kindOf(c) !== 'wait') continue;
    const key = `${c.method} ${JSON.stringify(c.params)}`;
    const prev = lastSeen.get(key);
    lastSeen.set(key, i);
    if (prev === undefined) continue;
    const refs = new Set(refsOf(c));
    const woken = calls.slice(prev + 1, i).some((x) => x.method === 'event.from' && Number(x.params[2] ?? 0) > 0 && refsOf(x).some((r) => refs.has(r)));
    if (woken) continue;
    const o = out.get(key) ?? { repeats: 0, minGapMs: Infinity };
    o.repeats++;
    o.minGapMs = Math.min(o.minGapMs, c.time - calls[prev]!.time);
    out.set(key, o);
  }
  return [...out.entries()].map(([key, v]) => ({ key, ...v })).sort((a, b) => b.repeats - a.repeats || a.minGapMs - b.minGapMs);
}

/** parameters that identify what is polled: without event tokens */
function pollKey(c: CallLogEntry): string {
  if (c.method === 'event.from') return `${c.method} ${JSON.stringify(c.params[0])} timeout=${JSON.stringify(c.params[2])}`;
  return `${c.method} ${JSON.stringify(c.params)}`;
}

async function scenario(ctx: SuiteContext, extra: string[], label: string): Promise<{ markdown: string; data: unknown; skipped?: string }> {
  const missing = missingTools();
  const why = missing.length ? `lab tools missing: ${missing.join(', ')}` : process.getuid?.() !== 0 ? 'the lab needs root' : undefined;
  if (why) {
    ctx.log(`xapi: skipped: ${why}`);
    return { markdown: `Skipped: ${why}.`, data: { skipped: why }, skipped: why };
  }
  const guests: GuestSpec[] = ctx.quick
    ? [{ name: 'web-01', distro: 'ubuntu', version: '22.04' }, { name: 'db-01', distro: 'rocky', version: '9' }]
    : [{ name: 'web-01', distro: 'ubuntu', version: '22.04' }, { name: 'db-01', distro: 'rocky', version: '9' }, { name: 'app-01', distro: 'debian', version: '12' }, { name: 'app-02', distro: 'alma', version: '9' }];
  const dir = mkdtempSync(join(tmpdir(), 'pvbench-lab-'));
  const unhook = onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const t0 = Date.now();
  const started = await Lab.start({ stateDir: dir, definition: { guests } });
  if (!started.ok) {
    rmSync(dir, { recursive: true, force: true });
    unhook();
    throw new Error(`lab did not start: ${started.error}`);
  }
  const lab = started.value;
  let out = '';
  let code = -1;
  let wallS = 0;
  let calls: CallLogEntry[] = [];
  try {
    ctx.log(`xapi: lab with ${guests.length} guests up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    lab.sim.calls.length = 0;
    const o = new PassThrough();
    const e = new PassThrough();
    o.on('data', (d: Buffer) => { out += d.toString(); });
    e.on('data', (d: Buffer) => { out += d.toString(); });
    const io: Io = { out: o as unknown as NodeJS.WriteStream, err: e as unknown as NodeJS.WriteStream, env: { ...process.env, CI: 'true' }, cwd: REPO };
    const t1 = Date.now();
    code = await main([join(REPO, 'playbooks', 'linux-tools.yml'), '-i', lab.inventoryPath, '--state-dir', join(dir, 'pvrun'), ...extra], io);
    wallS = (Date.now() - t1) / 1000;
    calls = [...lab.sim.calls];
    ctx.log(`xapi: playbook exit ${code} in ${fmt(wallS, 1)} s, ${calls.length} XAPI calls`);
  } finally {
    await lab.stop();
    rmSync(dir, { recursive: true, force: true });
    unhook();
  }
  const vms = guests.length;
  const by: Record<Kind, number> = { session: 0, read: 0, write: 0, wait: 0 };
  const methods = new Map<string, { kind: Kind; n: number }>();
  for (const c of calls) {
    const k = kindOf(c);
    by[k]++;
    const m = methods.get(c.method) ?? { kind: k, n: 0 };
    m.n++;
    methods.set(c.method, m);
  }
  const repeats = timerRepeats(calls);
  const loops = repeats.filter((r) => r.repeats >= 2);
  const longPolls = calls.filter((c) => kindOf(c) === 'wait' && c.method === 'event.from').length;
  // reads that repeat an identical earlier read (same method and parameters)
  const seenReads = new Map<string, number>();
  for (const c of calls) {
    if (kindOf(c) !== 'read') continue;
    const key = `${c.method} ${JSON.stringify(c.params)}`;
    seenReads.set(key, (seenReads.get(key) ?? 0) + 1);
  }
  const redundantReads = [...seenReads.values()].reduce((a, n) => a + n - 1, 0);
  const redundantByMethod = new Map<string, number>();
  for (const [k, n] of seenReads) if (n > 1) redundantByMethod.set(k.split(' ')[0]!, (redundantByMethod.get(k.split(' ')[0]!) ?? 0) + n - 1);
  const total = calls.length;
  const perVm = (total - by.session) / vms;
  const recap = out.split('\n').filter((l) => /RECAP|^\s+\S+\s+(ok|changed|skipped|failed|rolled-back|unreachable|needs-attention)\s+ok=/.test(l)).join('\n');
  const md = [
    `**${label}** — lab: ${vms} Linux guests (${guests.map((g) => `${g.distro} ${g.version}`).join(', ')}), none with tools; \`pvrun playbooks/linux-tools.yml\` run once in-process; exit ${code}, ${fmt(wallS, 1)} s.`,
    '',
    table(['', 'session', 'reads', 'writes', 'waits', 'total', 'per VM (without session)'], [
      ['calls', String(by.session), String(by.read), String(by.write), String(by.wait), String(total), fmt(perVm, 1)],
      ['per VM', fmt(by.session / vms, 1), fmt(by.read / vms, 1), fmt(by.write / vms, 1), fmt(by.wait / vms, 1), fmt(total / vms, 1), ''],
    ]),
    '',
    'Calls by method (whole run):',
    '',
    table(['method', 'kind', 'calls', 'per VM'], [...methods.entries()].sort((a, b) => b[1].n - a[1].n).map(([m, v]) => [m, v.kind, String(v.n), fmt(v.n / vms, 1)])),
    '',
    `Waiting: ${longPolls} long-poll event.from calls (${fmt(longPolls / vms, 1)} per VM), each woken by an event or its timeout. ` +
      `Wait calls repeated identically without a long-poll on their objects in between (what a timer-driven poll looks like): ` +
      (repeats.length ? repeats.slice(0, 6).map((r) => `\`${r.key.slice(0, 80)}\` ×${r.repeats + 1}, shortest gap ${r.minGapMs} ms`).join('; ') : 'none') + '. ' +
      (loops.length ? `Poll loops (3 or more identical wait calls): ${loops.length}, fastest gap ${Math.min(...loops.map((l) => l.minGapMs))} ms.` : 'No poll loop (3 or more identical wait calls without a long-poll in between) was seen.'),
    '',
    `Redundant reads (an identical read already made earlier in the run): ${redundantReads} (${fmt(redundantReads / vms, 1)} per VM) — ` +
      [...redundantByMethod.entries()].sort((a, b) => b[1] - a[1]).map(([m, n]) => `${m} ${n}`).join(', ') + '.',
    '',
    'Recap:', '', '```', recap, '```',
  ].join('\n');
  return { markdown: md, data: { code, wallS, by, total, perVm, methods: Object.fromEntries(methods), repeats, redundantReads, calls: calls.map((c) => ({ m: c.method, t: c.time, ro: c.readOnly, p: c.params })) } };
}

export async function xapiSuite(ctx: SuiteContext): Promise<SuiteResult> {
  const title = 'XAPI calls per VM (linux-tools.yml in the lab)';
  const a = await scenario(ctx, [], 'as shipped (keep_snapshot: 7d, so no snapshot is deleted)');
  if (a.skipped) return { name: 'xapi', title, markdown: a.markdown, data: a.data };
  const b = await scenario(ctx, ['-e', 'keep_snapshot=false'], 'with -e keep_snapshot=false (the snapshot is deleted after success)');
  return { name: 'xapi', title, markdown: `${a.markdown}\n\n${b.markdown}`, data: { shipped: a.data, deleteSnapshot: b.data } };
}
