/**
 * The floor: the least any SSH-based engine written for Node must do for the workload W(N,K,F).
 * One ssh2 connection per host (TCP_NODELAY on), host key checked against known_hosts, K execs
 * of the command in order on it, at most F hosts at once; nothing else.
 *
 *   node bench/.build/bench/floor.js spec.json      (spec: FloorSpec as JSON)
 *
 * Prints one JSON line: { hosts, execs, failures, wallS }.
 */
import { readFileSync } from 'node:fs';
import { connectHost, execOnce, knownKeys } from './lib/bare-ssh.js';

export interface FloorSpec {
  hosts: { host: string; port: number }[];
  user: string;
  key: string;
  knownHosts: string;
  k: number;
  forks: number;
  command: string;
  /**
   * 'one' (default): one exec of `command` per step. 'three': what pvrun's run-script does
   * per step — upload the script over stdin, run it, remove it — without pvrun's engine, to
   * separate the cost of that protocol from the cost of the engine.
   */
  execsPerStep?: 'one' | 'three';
}

export async function runFloor(spec: FloorSpec): Promise<{ hosts: number; execs: number; failures: number }> {
  const privateKey = readFileSync(spec.key);
  const known = knownKeys(spec.knownHosts);
  let next = 0;
  let execs = 0;
  let failures = 0;
  const worker = async () => {
    while (next < spec.hosts.length) {
      const h = spec.hosts[next++]!;
      try {
        const c = await connectHost(h.host, h.port, spec, privateKey, known);
        for (let i = 0; i < spec.k; i++) {
          if (spec.execsPerStep === 'three') {
            const f = `/tmp/pvbench-script-${process.pid}-${h.port}-${i}`;
            const up = await execOnce(c, `umask 077; cat > ${f} && chmod 700 ${f}`, spec.command);
            const code = await execOnce(c, `/bin/sh ${f}`);
            const rm = await execOnce(c, `rm -f ${f}`);
            execs += 3;
            if (up !== 0 || code !== 0 || rm !== 0) failures++;
          } else {
            const code = await execOnce(c, spec.command);
            execs++;
            if (code !== 0) failures++;
          }
        }
        await new Promise<void>((r) => { c.once('close', () => r()); c.end(); });
      } catch {
        failures++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(spec.forks, spec.hosts.length)) }, worker));
  return { hosts: spec.hosts.length, execs, failures };
}

const arg = process.argv[2];
if (arg) {
  const t0 = process.hrtime.bigint();
  const spec = JSON.parse(readFileSync(arg, 'utf8')) as FloorSpec;
  const r = await runFloor(spec);
  process.stdout.write(JSON.stringify({ ...r, wallS: Number(process.hrtime.bigint() - t0) / 1e9 }) + '\n');
  process.exitCode = r.failures ? 1 : 0;
}
