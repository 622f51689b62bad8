/** Dynamic inventory groups (source: xapi) filled from the pool at run time, over real HTTP. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XapiSimulator } from '../../src/lab/xapi-sim/index.js';
import { pvrun, recapOutcomes } from '../e2e/harness.js';

describe('dynamic groups (source: xapi)', () => {
  let sim: XapiSimulator;
  let dir: string;
  beforeAll(async () => {
    sim = new XapiSimulator({
      definition: {
        pool: 'p1', password: 'dyn-secret', vms: [
          { name: 'web-01', os: 'Ubuntu 22.04', power: 'Running', tools: 'drivers', tags: ['rollout'] },
          { name: 'db-01', os: 'Rocky Linux 9', power: 'Running', tools: 'agent', tags: ['rollout'] },
          { name: 'app-01', os: 'Debian 12', power: 'Running', tools: 'none', tags: ['rollout'] },
          { name: 'old-01', os: 'Debian 12', power: 'Halted', tools: 'none' },
        ],
      },
      guestReportDelayMs: 0,
    });
    await sim.start();
    await new Promise((r) => setTimeout(r, 300));
    dir = mkdtempSync(join(tmpdir(), 'pvrun-dyn-'));
    writeFileSync(join(dir, 'pw'), 'dyn-secret\n');
    writeFileSync(join(dir, 'inv.yml'), [
      'hypervisors:',
      `  p1: { url: "${sim.url}", username: root, password: { file: ${join(dir, 'pw')} } }`,
      'groups:',
      '  untooled:',
      '    source: xapi',
      '    pool: p1',
      '    filters: { missing_tools: true, tag: rollout }',
      '    connection: { type: none }',
      '',
    ].join('\n'));
    writeFileSync(join(dir, 'pb.yml'), [
      '- name: look at the untooled VMs',
      '  hosts: untooled',
      '  steps:',
      '    - name: no agent yet',
      '      check: { management_agent_detected: false }',
      '',
    ].join('\n'));
  });
  afterAll(async () => {
    await sim?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs the play on exactly the VMs the filters select', async () => {
    const r = await pvrun([join(dir, 'pb.yml'), '-i', join(dir, 'inv.yml'), '--state-dir', join(dir, 'state')]);
    expect(r.code, r.out + r.err).toBe(0);
    expect(recapOutcomes(r.out)).toEqual({ 'web-01': 'ok', 'app-01': 'ok' });
  });
});
