/**
 * The SSH connector against a bare ssh2 client, on the same real OpenSSH sshd:
 * - per-exec latency over one open connection, sequential (`true`, M times): pvrun's
 *   SshConnector.exec; bare ssh2 exec of `true`; bare ssh2 exec of the exact command line
 *   pvrun sends (buildRemoteCommand: /bin/sh wrapper printing the process-group marker), so the
 *   connector's own client-side cost is told apart from the remote wrapper's cost;
 * - 5 execs in flight on one connection (pvrun's default channel limit): time per exec;
 * - connection set-up (TCP + key exchange + auth until ready), pvrun vs bare.
 * Blocks alternate between the variants; figures are medians of the per-exec times.
 */
import { readFileSync } from 'node:fs';
import { startSshd } from '../../src/lab/sshd.js';
import { SshConnector } from '../../src/connectors/ssh/connector.js';
import { resolveSsh } from '../../src/connectors/ssh/options.js';
import { buildRemoteCommand } from '../../src/connectors/ssh/remote-command.js';
import { err } from '../../src/util/result.js';
import { connectHost, execOnce, knownKeys, type Client } from '../lib/bare-ssh.js';
import { trackPid, untrackPid } from '../lib/cleanup.js';
import { spread, fmtSpread, fmt, table, type Spread } from '../lib/stats.js';
import type { SuiteContext, SuiteResult } from '../lib/suite.js';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';

const now = () => Number(process.hrtime.bigint()) / 1e6;

export async function connectorSuite(ctx: SuiteContext): Promise<SuiteResult> {
  const rounds = ctx.quick ? 3 : 8;
  const block = ctx.quick ? 30 : 50;
  const conns = ctx.quick ? 6 : 20;
  const sshd = await startSshd({});
  trackPid(sshd.pid());
  const khFile = join(ctx.tmp, 'known_hosts');
  writeFileSync(khFile, sshd.knownHostsLine() + '\n');
  const known = knownKeys(khFile);
  const key = readFileSync(sshd.clientKeyPath);
  const cfg = resolveSsh('bench', {
    type: 'ssh', address: '127.0.0.1', port: sshd.port, user: sshd.user, key: sshd.clientKeyPath, known_hosts: khFile, host_key_checking: 'strict',
  }, () => err('no secrets in the bench'), {}, '');
  if (!cfg.ok) throw new Error(cfg.error);
  const wrapped = buildRemoteCommand('true', { become: 'none' });
  if (!wrapped.ok) throw new Error(wrapped.message);
  const t = { pvrun: [] as number[], bare: [] as number[], bareWrapped: [] as number[] };
  const par = { pvrun: [] as number[], bare: [] as number[] };
  const setup = { pvrun: [] as number[], bare: [] as number[] };
  const pv = new SshConnector('bench', cfg.value);
  let bare: Client | undefined;
  try {
    const c = await pv.connect();
    if (!c.ok) throw new Error(`pvrun connect: ${JSON.stringify(c.error)}`);
    bare = await connectHost('127.0.0.1', sshd.port, { user: sshd.user }, key, known);
    // warm-up
    for (let i = 0; i < 10; i++) { await pv.exec('true'); await execOnce(bare, 'true'); }
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < block; i++) {
        const t0 = now();
        const x = await pv.exec('true');
        t.pvrun.push(now() - t0);
        if (!x.ok || x.value.exitCode !== 0) throw new Error(`pvrun exec failed: ${JSON.stringify(x)}`);
      }
      for (let i = 0; i < block; i++) {
        const t0 = now();
        await execOnce(bare, 'true');
        t.bare.push(now() - t0);
      }
      for (let i = 0; i < block; i++) {
        const t0 = now();
        await execOnce(bare, wrapped.command);
        t.bareWrapped.push(now() - t0);
      }
      // 5 in flight: time per exec = elapsed / count
      {
        const t0 = now();
        let next = 0;
        await Promise.all(Array.from({ length: 5 }, async () => { while (next++ < block) await pv.exec('true'); }));
        par.pvrun.push((now() - t0) / block);
      }
      {
        const t0 = now();
        let next = 0;
        const b = bare;
        await Promise.all(Array.from({ length: 5 }, async () => { while (next++ < block) await execOnce(b, 'true'); }));
        par.bare.push((now() - t0) / block);
      }
    }
    await pv.close();
    await new Promise<void>((res) => { bare!.once('close', () => res()); bare!.end(); });
    bare = undefined;
    for (let i = 0; i < conns; i++) {
      {
        const one = new SshConnector('bench', cfg.value);
        const t0 = now();
        const x = await one.connect();
        setup.pvrun.push(now() - t0);
        if (!x.ok) throw new Error('pvrun connect failed');
        await one.close();
      }
      {
        const t0 = now();
        const b = await connectHost('127.0.0.1', sshd.port, { user: sshd.user }, key, known);
        setup.bare.push(now() - t0);
        await new Promise<void>((res) => { b.once('close', () => res()); b.end(); });
      }
    }
  } finally {
    await pv.close();
    bare?.end();
    const p = sshd.pid();
    await sshd.stop();
    untrackPid(p);
  }
  const s = {
    pvrun: spread(t.pvrun), bare: spread(t.bare), bareWrapped: spread(t.bareWrapped),
    parPvrun: spread(par.pvrun), parBare: spread(par.bare), setupPvrun: spread(setup.pvrun), setupBare: spread(setup.bare),
  };
  const d = (a: Spread, b: Spread) => fmt(a.median - b.median);
  const md = [
    `One OpenSSH sshd on 127.0.0.1; ${rounds} alternating blocks of ${block} execs per variant (${t.pvrun.length} each), ${conns} connections each; milliseconds, median (min–max).`,
    '',
    table(['what', 'pvrun SshConnector', 'bare ssh2', 'bare ssh2, pvrun\'s wrapped command', 'connector overhead (pvrun − bare wrapped)', 'wrapper overhead (bare wrapped − bare)'], [
      ['exec `true`, sequential, ms per exec', fmtSpread(s.pvrun), fmtSpread(s.bare), fmtSpread(s.bareWrapped), d(s.pvrun, s.bareWrapped), d(s.bareWrapped, s.bare)],
      ['exec `true`, 5 in flight, ms per exec', fmtSpread(s.parPvrun), fmtSpread(s.parBare), '—', `${d(s.parPvrun, s.parBare)} (vs bare)`, '—'],
      ['connection set-up until ready, ms', fmtSpread(s.setupPvrun), fmtSpread(s.setupBare), '—', d(s.setupPvrun, s.setupBare), '—'],
    ]),
  ].join('\n');
  return { name: 'connector', title: 'SSH connector: per-exec overhead and connection set-up', markdown: md, data: { raw: { t, par, setup }, s } };
}
