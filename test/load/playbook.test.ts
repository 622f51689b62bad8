import { describe, expect, it } from 'vitest';
import { formatDiagnostics } from '../../src/load/diagnostics.js';
import { loadPlaybook, parsePlaybook } from '../../src/load/playbook.js';
import { rigRegistry } from './rig-registry.js';

const reg = rigRegistry();
const parse = (text: string) => parsePlaybook('pb.yml', text, reg);
const messages = (text: string): string[] => {
  const r = parse(text);
  return r.ok ? [] : r.error.map((d) => `${d.line}:${d.col}: ${d.message}`);
};

describe('loadPlaybook', () => {
  it('loads the valid example into model types', () => {
    const r = loadPlaybook('test/fixtures/valid/site.yml', reg);
    if (!r.ok) throw new Error(formatDiagnostics(r.error));
    const [linux, win] = r.value.plays;
    expect(linux!.serial).toEqual([{ count: 1 }, { percent: 50 }]);
    expect(linux!.forks).toBe(4);
    expect(linux!.maxFailPercentage).toBe(25);
    expect(linux!.onFailure).toBeUndefined();
    expect(linux!.steps.map((s) => s.type)).toEqual(['snapshot', 'attach-iso', 'run-script', 'reboot', 'run-script']);
    const install = linux!.steps[2]!;
    expect(install).toMatchObject({ name: 'install', timeoutMs: 600_000, retries: 2, delayMs: 30_000, register: 'install', tags: ['install'] });
    expect(install.when).toEqual([{ path: 'facts.os.family', in: ['redhat', 'debian'] }, { not: { path: 'vars.skip_install', truthy: true } }]);
    expect(install.pos).toEqual({ file: 'test/fixtures/valid/site.yml', line: 18, col: 7 });
    expect(linux!.steps[3]!.args).toEqual({ mode: 'guest' }); // shorthand
    expect(linux!.steps[4]!).toMatchObject({ checkMode: true, ignoreErrors: true, args: { script: 'rpm -q xe-guest-utilities-latest' } });
    expect(linux!.cleanup.map((s) => s.args)).toEqual([{ script: 'umount /mnt' }]);
    expect(win!).toMatchObject({ serial: [{ count: 1 }], onFailure: 'rollback', forks: 5, name: 'Windows guest tools' });
    expect(win!.steps[0]!.args).toEqual({});
  });

  it('defaults: serial all at once, forks 5, name from hosts, step name from type', () => {
    const r = parse('- hosts: web\n  steps:\n    - snapshot:\n');
    expect(r.ok && r.value.playbook.plays[0]).toMatchObject({ name: 'web', serial: [{ percent: 100 }], forks: 5, cleanup: [], vars: {} });
    expect(r.ok && r.value.playbook.plays[0]!.steps[0]).toMatchObject({ name: 'snapshot', args: {}, retries: 0, when: [], tags: [], ignoreErrors: false });
  });

  it('serial forms', () => {
    const serial = (s: string) => { const r = parse(`- hosts: web\n  serial: ${s}\n  steps: []\n`); return r.ok ? r.value.playbook.plays[0]!.serial : r.error.map((d) => d.message); };
    expect(serial('1')).toEqual([{ count: 1 }]);
    expect(serial('"25%"')).toEqual([{ percent: 25 }]);
    expect(serial('[1, 5, "20%"]')).toEqual([{ count: 1 }, { count: 5 }, { percent: 20 }]);
    expect(serial('0')).toEqual(['bad serial 0: a batch needs at least 1 host']);
    expect(serial('"150%"')).toEqual(["bad serial '150%': a percentage must be more than 0% and at most 100%"]);
    expect(serial('abc')).toEqual(['bad serial \'abc\': expected a host count ≥ 1 or a percentage like "25%"']);
    expect(serial('[1, -2]')).toEqual(['bad serial -2: a batch needs at least 1 host']);
    expect(serial('1.5')).toEqual(['bad serial 1.5: a host count must be a whole number']);
    expect(serial('[]')).toEqual(['bad serial: the list is empty']);
  });

  it('durations', () => {
    const t = (d: string) => { const r = parse(`- hosts: w\n  steps:\n    - snapshot: {}\n      timeout: ${d}\n`); return r.ok ? r.value.playbook.plays[0]!.steps[0]!.timeoutMs : r.error[0]!.message; };
    expect(t('30s')).toBe(30_000);
    expect(t('5m')).toBe(300_000);
    expect(t('1h')).toBe(3_600_000);
    expect(t('1h30m')).toBe(5_400_000);
    expect(t('90')).toBe(90_000);
    expect(t('2.5')).toBe(2500);
    expect(t('5 minutes')).toMatch(/^bad duration '5 minutes'/);
    expect(t('0')).toBe('bad duration: a timeout must be more than 0');
  });

  it('collects all errors at once with positions', () => {
    expect(messages(`- name: x
  hosts: web
  serail: 1
  steps:
    - snapshot: {}
      reboot: guest
    - rebot: guest
    - name: nothing
    - run-script: {script: 3}
    - reboot: {mode: "{{ vars.m }}", wait: "{{ vars.w }}"}
      regster: x
`)).toEqual([
      "3:3: unknown key 'serail' in play (did you mean 'serial'?)",
      "6:7: step has two step-type keys: 'snapshot' and 'reboot'",
      "7:7: unknown step type 'rebot' (did you mean 'reboot'?)",
      '8:7: step has no step-type key (one of: snapshot, reboot, run-script, attach-iso)',
      "9:28: 'script' must be a string, got the number 3",
      "11:7: unknown key 'regster' in step (did you mean 'register'?)",
    ]);
  });

  it('templates are accepted where a non-string is expected, and in strings', () => {
    expect(messages('- hosts: w\n  steps:\n    - reboot: { wait: "{{ vars.w }}", mode: "{{ vars.mode }}" }\n    - snapshot: "{{ vars.snap_args }}"\n')).toEqual([]);
  });

  it('duplicate register names are reported', () => {
    expect(messages('- hosts: w\n  steps:\n    - snapshot: {}\n      register: a\n    - snapshot: {}\n      register: a\n'))
      .toEqual(["6:17: 'a' is already registered by an earlier step (line 4)"]);
  });

  it('a playbook must be a list of plays', () => {
    expect(messages('hosts: web\n')).toEqual(["1:1: a playbook is a list of plays (start each play with '- '), got a map"]);
    expect(messages('')).toEqual(['1:1: the playbook is empty: expected a list of plays']);
  });

  it('a missing file is a diagnostic', () => {
    const r = loadPlaybook('test/fixtures/nope.yml', reg);
    expect(r.ok ? [] : r.error).toEqual([{ file: 'test/fixtures/nope.yml', line: 1, col: 1, message: 'cannot read playbook: no such file' }]);
  });
});
