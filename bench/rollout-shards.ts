/**
 * Issue 18 scale bench: 4 shard processes × 1,000 hosts of one rollout (`--shard i/4 --rollout`),
 * every host on bench/fake-sshd.ts (an ssh2 Server answering every exec at once) and the XAPI
 * simulator as the pool that holds the rollout's state (no VM is resolved: run-script steps only,
 * --skip-preflight). Against one process with the same 1,000-host slice and no --rollout, to see
 * what the coordination costs. Counts the coordination XAPI calls the simulator answered.
 *
 *   node --import tsx bench/rollout-shards.ts [hostsPerShard=1000] [runs=1]
 * Prints a Markdown table (BENCHMARKS.md, "Sharded rollouts").
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../src/lab/sshd.js';
import { XapiSimulator } from '../src/lab/xapi-sim/index.js';

const execFileP = promisify(execFile);
const REPO = join(import.meta.dirname, '..');
const MAIN = join(REPO, 'src', 'cli', 'main.ts');
const perShard = Number(process.argv[2] ?? 1000);
const runs = Number(process.argv[3] ?? 1);
const SHARDS = 4;

const dir = mkdtempSync(join(tmpdir(), 'pvbench-rollout-'));
const hostKey = join(dir, 'host_key');
const clientKey = join(dir, 'client_key');
await execFileP('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
await execFileP('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', clientKey]);
const port = await freePort();
writeFileSync(join(dir, 'fake.json'), JSON.stringify({ hostKey, clientPub: `${clientKey}.pub`, port, workers: 2 }));
const fake = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'bench', 'fake-sshd.ts'), join(dir, 'fake.json')], { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise<void>((res, rej) => { fake.stdout!.once('data', () => res()); fake.once('exit', (c) => rej(new Error(`fake sshd exited ${c}`))); });
const [type, b64] = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/);
writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${type} ${b64}\n`);

const sim = new XapiSimulator({ definition: { pool: 'bench-pool', username: 'root', password: 'pw', isos: [], vms: [] } });
await sim.start();
writeFileSync(join(dir, 'pw'), 'pw');

// the host names of each shard are whatever the hash gives: 4,000 names, about 1,000 per shard
const n = perShard * SHARDS;
const user = userInfo().username;
writeFileSync(join(dir, 'inventory.yml'), [
  'hypervisors:', '  pool1:', `    url: ${sim.url}`, '    username: root', '    password: { file: pw }', '    tls: {}',
  'groups:', '  all:',
  `    connection: { type: ssh, address: 127.0.0.1, port: ${port}, user: ${user}, key: ${clientKey}, known_hosts: ${join(dir, 'known_hosts')}, host_key_checking: strict }`,
  'hosts:', ...Array.from({ length: n }, (_, i) => `  s${String(i + 1).padStart(5, '0')}: { vm: { pool: pool1, name_label: s${String(i + 1).padStart(5, '0')} } }`),
].join('\n') + '\n');
const steps = [1, 2, 3].map((i) => `    - name: step ${i}\n      run-script: { script: "true" }\n`).join('');
writeFileSync(join(dir, 'pb.yml'), `- name: sharded\n  hosts: all\n  serial: [1, "10%"]\n  max_fail_percentage: 5\n  forks: 100\n  steps:\n${steps}`);

interface Out { code: number | null; wallS: number; err: string }
function pvrun(args: string[], state: string): Promise<Out> {
  const t0 = process.hrtime.bigint();
  return new Promise((res) => {
    const c = spawn(process.execPath, ['--import', 'tsx', MAIN, join(dir, 'pb.yml'), '-i', join(dir, 'inventory.yml'), '--skip-preflight', '--state-dir', state, ...args],
      { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CI: 'true' } });
    let err = '';
    c.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('exit', (code) => res({ code, wallS: Number(process.hrtime.bigint() - t0) / 1e9, err }));
  });
}
const poolCalls = (): number => sim.calls.filter((c) => c.method.startsWith('pool.')).length;

const rows: string[] = [];
try {
  for (let r = 0; r < runs; r++) {
    // one process, the first shard's slice, no coordination
    const single = await pvrun(['--shard', '1/4'], join(dir, `single-${r}`));
    rows.push(`| one process, --shard 1/4, no --rollout | ${single.wallS.toFixed(1)} | — | — | exit ${single.code} |`);
    // 4 shards at once without coordination: the same CPU contention, for the comparison
    const t1 = Date.now();
    const plain = await Promise.all([1, 2, 3, 4].map((i) => pvrun(['--shard', `${i}/4`], join(dir, `plain-${r}-s${i}`))));
    rows.push(`| 4 shards × ~${perShard} at once, no --rollout | ${((Date.now() - t1) / 1000).toFixed(1)} (shards: ${plain.map((o) => o.wallS.toFixed(1)).join(', ')}) | — | — | ${plain.map((o) => `exit ${o.code}`).join(', ')} |`);
    // 4 shards of one rollout at once
    const before = poolCalls();
    const id = `B${r}`;
    const t0 = Date.now();
    const outs = await Promise.all([1, 2, 3, 4].map((i) => pvrun(['--shard', `${i}/4`, '--rollout', id], join(dir, `${id}-s${i}`))));
    const wall = (Date.now() - t0) / 1000;
    const calls = poolCalls() - before;
    const lines = outs.map((o) => /rollout \S+ shard (\d)\/4: (\d+) XAPI calls for coordination \(([\d.]+) per host, (\d+) hosts/.exec(o.err));
    const hosts = lines.reduce((a, m) => a + Number(m?.[4] ?? 0), 0);
    rows.push(`| 4 shards × ~${perShard}, one --rollout (all 4 at once) | ${wall.toFixed(1)} (shards: ${outs.map((o) => o.wallS.toFixed(1)).join(', ')}) | ${calls} (${lines.map((m) => m?.[2] ?? '?').join(' + ')}) | ${(calls / hosts).toFixed(3)} (${hosts} hosts) | ${outs.map((o) => `exit ${o.code}`).join(', ')} |`);
    for (const o of outs) if (o.code !== 0) process.stderr.write(o.err.slice(-800));
  }
} finally {
  fake.kill('SIGTERM');
  await sim.stop();
  rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(['| run | wall s | coordination XAPI calls | per host | exit |', '| --- | --- | --- | --- | --- |', ...rows].join('\n') + '\n');
