import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runSimulatorCli } from '../../src/lab/xapi-sim/index.js';
import { client, must } from './helpers.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** run `pvrun lab xapi` as its own process (as the CLI will), return its URL and a stopper */
async function startCli(args: string[]): Promise<{ url: string; out: string[]; stop: () => Promise<number | null> }> {
  const code = `import('./src/lab/xapi-sim/cli.ts').then((m) => m.runSimulatorCli(${JSON.stringify(args)})).then((c) => process.exit(c))`;
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', code], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: string[] = [];
  const url = await new Promise<string>((res, rej) => {
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      out.splice(0, out.length, ...buf.split('\n'));
      const m = /master (http\S+)/.exec(buf);
      if (m) res(m[1]!);
    });
    child.stderr.on('data', (d: Buffer) => { buf += d.toString(); });
    child.once('exit', (c) => rej(new Error(`simulator exited ${c}: ${buf}`)));
  });
  return {
    url, out,
    stop: () => new Promise((res) => {
      child.once('exit', (c) => res(c));
      child.kill('SIGTERM');
    }),
  };
}

describe('pvrun lab xapi (standalone simulator)', () => {
  it('rejects bad arguments', async () => {
    const err: string[] = [];
    expect(await runSimulatorCli(['--bogus'], { out: () => undefined, err: (l) => void err.push(l) })).toBe(2);
    expect(err.join()).toMatch(/usage/);
  });

  it('serves a state file, saves its state on exit, and loads it again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvrun-sim-'));
    const file = join(dir, 'pool.yml');
    writeFileSync(file, 'pool: cli-pool\nusername: root\npassword: pw\nvms:\n  - { name: alpha, power: Running, tools: none }\n  - { name: beta, power: Halted }\n');
    const s = await startCli(['--state', file, '--save']);
    const c = client(s.url);
    const names = Object.values(must(await c.call<Record<string, { name_label: string; is_a_template: boolean; is_control_domain: boolean }>>('VM.get_all_records', [])))
      .filter((v) => !v.is_a_template && !v.is_control_domain).map((v) => v.name_label).sort();
    expect(names).toEqual(['alpha', 'beta']);
    const beta = must(await c.call<string[]>('VM.get_by_name_label', ['beta']))[0]!;
    must(await c.call('VM.add_to_other_config', [beta, 'saved', 'yes']));
    await c.close();
    expect(await s.stop()).toBe(0);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toHaveProperty('dump');

    const again = await startCli(['--state', file]);
    const c2 = client(again.url);
    const beta2 = must(await c2.call<string[]>('VM.get_by_name_label', ['beta']))[0]!;
    expect(must(await c2.call<Record<string, string>>('VM.get_other_config', [beta2]))).toMatchObject({ saved: 'yes' });
    await c2.close();
    expect(await again.stop()).toBe(0);
  });
});
