/**
 * Where pvrun's time goes: pvrun run once under `node --cpu-prof` for W(50,10,50) on the sshd
 * farm and for 1,000 hosts on the ssh2 endpoint is not repeated here; this suite profiles the
 * workload size given (default 50x10x50) and pvrun's start-up (`--version`, and 1 host × 1 step),
 * and summarises self time by area, file and function.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFarm } from '../lib/farm.js';
import { measure } from '../lib/measure.js';
import { FLOOR_JS, PVRUN_JS } from '../lib/build.js';
import type { FloorSpec } from '../floor.js';
import { callers, summarise, type ProfileSummary } from '../lib/cpuprofile.js';
import { fmt, table, MiB } from '../lib/stats.js';
import type { SuiteContext, SuiteResult } from '../lib/suite.js';

function render(title: string, s: ProfileSummary): string {
  const pct = (v: number) => `${fmt(v, 0)} ms (${fmt((100 * v) / s.totalMs, 0)}%)`;
  return [
    `**${title}** — ${fmt(s.totalMs, 0)} ms sampled on the main thread.`,
    '',
    table(['area (self time)', 'ms'], s.byArea.map(([k, v]) => [k, pct(v)])),
    '',
    table(['function (self time)', 'ms'], s.byFunction.map(([k, v]) => [`\`${k}\``, pct(v)])),
  ].join('\n');
}

export async function profileSuite(ctx: SuiteContext): Promise<SuiteResult> {
  const [n, k, f] = ctx.sizes?.[0] ?? (ctx.quick ? [20, 10, 20] : [100, 10, 50]);
  const farm = await startFarm(n, ctx.log);
  const parts: string[] = [];
  const data: Record<string, unknown> = {};
  try {
    const dir = ctx.tmp;
    const mk = (name: string, hosts: number, steps: number) => {
      const st = Array.from({ length: steps }, (_, i) => `    - name: step ${i + 1}\n      run-script: { script: "true" }\n`).join('');
      writeFileSync(join(dir, `${name}.yml`), `- name: profile\n  hosts: all\n  on_failure: stop\n  steps:\n${st}`);
      writeFileSync(join(dir, `${name}-inv.yml`), ['groups:', '  all:',
        `    connection: { type: ssh, address: 127.0.0.1, user: ${farm.user}, key: ${farm.clientKey}, known_hosts: ${farm.knownHosts}, host_key_checking: strict }`,
        'hosts:', ...farm.hosts.slice(0, hosts).map((h) => `  ${h.name}: { connection: { port: ${h.port} } }`)].join('\n') + '\n');
    };
    mk('one', 1, 1);
    mk('w', n, k);
    const spec: FloorSpec = { hosts: farm.hosts.slice(0, n).map((h) => ({ host: '127.0.0.1', port: h.port })), user: farm.user, key: farm.clientKey, knownHosts: farm.knownHosts, k, forks: f, command: 'true' };
    writeFileSync(join(dir, 'floor.json'), JSON.stringify(spec));
    const cases: [string, string[], string?][] = [
      ['pvrun --version (module loading only)', ['--version']],
      ['pvrun, 1 host × 1 step', [join(dir, 'one.yml'), '-i', join(dir, 'one-inv.yml'), '--json', '--state-dir', join(dir, 's1')]],
      [`pvrun W(${n},${k},${f})`, [join(dir, 'w.yml'), '-i', join(dir, 'w-inv.yml'), '-f', String(f), '--json', '--state-dir', join(dir, 's2')]],
      [`floor W(${n},${k},${f}) (for comparison)`, [join(dir, 'floor.json')], FLOOR_JS],
    ];
    const timing: string[][] = [];
    for (const [i, [title, args, script]] of cases.entries()) {
      const js = script ?? PVRUN_JS;
      // plain timing first (3 runs, median), then one profiled run
      const walls: number[] = [];
      let cpu = 0;
      let rss = 0;
      for (let r = 0; r < 3; r++) {
        const m = await measure([process.execPath, js, ...args], { cwd: dir, env: { ...process.env, CI: 'true' } });
        walls.push(m.wallS);
        cpu = m.cpuS;
        rss = m.peakRssBytes;
      }
      walls.sort((a, b) => a - b);
      timing.push([title, fmt(walls[1]!), fmt(cpu), fmt(rss / MiB, 0)]);
      const pdir = join(dir, `prof-${i}`);
      mkdirSync(pdir);
      await measure([process.execPath, '--cpu-prof', `--cpu-prof-dir=${pdir}`, js, ...args], { cwd: dir, env: { ...process.env, CI: 'true' } });
      const file = readdirSync(pdir).find((x) => x.endsWith('.cpuprofile'));
      if (!file) continue;
      const s = summarise(join(pdir, file));
      const natives = s.byFunction.map(([k]) => k).filter((k) => !k.includes(' ') && !k.startsWith('(')).slice(0, 3);
      const cl = callers(join(pdir, file), natives);
      data[title] = { ...s, callers: cl };
      parts.push(render(title, s));
      const lines = Object.entries(cl).flatMap(([fn, cs]) => cs.map(([c, v]) => `- \`${fn}\` ${fmt(v, 0)} ms from \`${c}\``));
      if (lines.length) parts.push(`Callers of the busiest native functions:\n\n${lines.join('\n')}`);
      ctx.log(`profile: ${title}: ${fmt(s.totalMs, 0)} ms sampled; top: ${s.byArea.slice(0, 4).map(([a, v]) => `${a} ${fmt(v, 0)}`).join(', ')}`);
    }
    parts.unshift(table(['case', 'wall s (median of 3)', 'CPU s', 'peak RSS MiB'], timing), '');
  } finally {
    await farm.stop();
  }
  return { name: 'profile', title: 'Where pvrun spends its time (node --cpu-prof)', markdown: parts.join('\n\n'), data };
}
