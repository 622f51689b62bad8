/** The CLI as users meet it: flags, exit codes, messages; discovery against the simulator over HTTP. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XapiSimulator } from '../../src/lab/xapi-sim/index.js';
import { pvrun, REPO } from '../e2e/harness.js';

describe('pvrun CLI: input errors', () => {
  it('a bad flag exits 5 with a suggestion and no stack trace', async () => {
    const r = await pvrun(['playbooks/linux-tools.yml', '--chek']);
    expect(r.code).toBe(5);
    expect(r.err).toContain("unknown option '--chek'");
    expect(r.err).toContain('--check');
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it('a bad --forks value exits 5', async () => {
    const r = await pvrun(['playbooks/linux-tools.yml', '-i', 'example-prod', '-f', 'many']);
    expect(r.code).toBe(5);
    expect(r.err).toContain("'--forks' wants a whole number");
  });

  it('an unknown inventory exits 5 and names what was tried', async () => {
    const r = await pvrun(['validate', 'playbooks/linux-tools.yml', '-i', 'nope']);
    expect(r.code).toBe(5);
    expect(r.err).toContain("<-i>:1:1: inventory not found: tried 'inventories/nope.yml'");
  });

  it('validate prints the plan of a shipped playbook', async () => {
    const r = await pvrun(['validate', 'playbooks/linux-tools.yml', '-i', 'example-prod']);
    expect(r.code).toBe(0);
    expect(r.out).toContain("play 1 'Install Xen guest tools on Linux VMs from the tools ISO': 3 hosts, 3 batches [1, 1, 1], 12 steps, 2 cleanup");
  });

  it.each(['linux-tools', 'linux-tools-online', 'windows-tools', 'windows-citrix-migrate'])('the shipped playbook %s validates against the example inventory', async (name) => {
    const r = await pvrun(['validate', `playbooks/${name}.yml`, '-i', 'example-prod']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^valid: 1 play, [1-3] hosts?, \d+ steps/m);
  });

  it('a missing secret is an input error before anything is contacted', async () => {
    const env = { ...process.env };
    delete process.env['XAPI_PASSWORD'];
    try {
      const r = await pvrun(['playbooks/linux-tools.yml', '-i', 'example-prod', '--state-dir', join(tmpdir(), 'pvrun-cli-secret')]);
      expect(r.code).toBe(5);
      expect(r.err).toMatch(/inventories\/example-prod\.yml:\d+:\d+: environment variable 'XAPI_PASSWORD' is not set/);
    } finally {
      process.env = env;
    }
  });

  it('inventory --graph shows groups and hosts as a tree', async () => {
    const r = await pvrun(['inventory', '-i', 'example-prod', '--graph']);
    expect(r.code).toBe(0);
    expect(r.out).toBe(['@all:', '  |--@linux:', '  |  |--@web:', '  |  |  |--web-01', '  |  |  |--web-02', '  |  |--@db:', '  |  |  |--db-01',
      '  |--@windows:', '  |  |--win-01', '  |--@windows_citrix:', '  |  |--win-02', ''].join('\n'));
  });

  it('--help shows examples and exit codes', async () => {
    const r = await pvrun(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('pvrun playbooks/linux-tools.yml -i prod --check --diff');
    expect(r.out).toContain('5 invalid input');
  });
});

describe('pvrun inventory --from-pool (discovery) against the simulator', () => {
  let sim: XapiSimulator;
  let dir: string;
  let inv: string;
  beforeAll(async () => {
    sim = new XapiSimulator({
      definition: {
        pool: 'p1', password: 'sekret-pw', vms: [
          { name: 'web-01', os: 'Ubuntu 22.04', power: 'Running', tools: 'drivers' },
          { name: 'db-01', os: 'Rocky Linux 9', power: 'Running', tools: 'agent' },
          { name: 'win-01', os: 'Windows Server 2022', power: 'Running', tools: 'none' },
          { name: 'old-01', os: 'Debian 12', power: 'Halted', tools: 'none' },
        ],
      },
      guestReportDelayMs: 0,
    });
    await sim.start();
    dir = mkdtempSync(join(tmpdir(), 'pvrun-discover-'));
    writeFileSync(join(dir, 'pw'), 'sekret-pw\n');
    inv = join(dir, 'inv.yml');
    writeFileSync(inv, `hypervisors:\n  p1:\n    url: ${sim.url}\n    username: root\n    password: { file: ${join(dir, 'pw')} }\n`);
    // let the simulated guests report their tools after boot
    await new Promise((r) => setTimeout(r, 300));
  });
  afterAll(async () => {
    await sim?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists exactly the VMs without tools, with read-only calls only', async () => {
    sim.calls.length = 0;
    const r = await pvrun(['inventory', '-i', inv, '--from-pool', 'p1', '--missing-tools', '--yaml'], REPO);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('web-01');
    expect(r.out).toContain('win-01');
    expect(r.out).toContain('old-01');
    expect(r.out).not.toContain('db-01');
    expect(sim.calls.filter((c) => !c.readOnly && !c.method.startsWith('session.')).map((c) => c.method)).toEqual([]);
  });

  it('an unknown pool is an input error naming the known ones', async () => {
    const r = await pvrun(['inventory', '-i', inv, '--from-pool', 'p2']);
    expect(r.code).toBe(5);
    expect(r.err).toMatch(/no hypervisor 'p2' in the inventory.*; known: p1/);
  });
});
