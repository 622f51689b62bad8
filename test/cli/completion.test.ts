/**
 * `pvrun completion bash|zsh|fish` (issue 16). The bash script is sourced in a real bash and its
 * completion function run the way bash runs it (COMP_WORDS / COMP_CWORD), in a project directory
 * with playbooks/ and inventories/.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../harness/cli.js';
import { describeUnless, requireBinary } from '../harness/require.js';

const env = { ...process.env, CI: 'true', NO_COLOR: '1' };
let dir: string;
let script: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pvrun-completion-'));
  for (const d of ['playbooks', 'inventories', 'site']) mkdirSync(join(dir, d));
  writeFileSync(join(dir, 'playbooks', 'linux-tools.yml'), '[]\n');
  writeFileSync(join(dir, 'playbooks', 'windows.yaml'), '[]\n');
  writeFileSync(join(dir, 'inventories', 'prod.yml'), '{}\n');
  writeFileSync(join(dir, 'inventories', 'staging.yaml'), '{}\n');
  writeFileSync(join(dir, 'site', 'rollout.yml'), '[]\n');
  writeFileSync(join(dir, 'notes.txt'), 'x\n');
  const r = await runCli(['completion', 'bash'], { env });
  expect(r).toMatchObject({ code: 0, err: '' });
  script = join(dir, 'pvrun.bash');
  writeFileSync(script, r.out);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What bash offers after these words (the last one is the word being completed). */
function complete(...words: string[]): string[] {
  const quoted = words.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
  const out = execFileSync('bash', ['--norc', '--noprofile', '-c', `source "$1"; COMP_WORDS=(pvrun ${quoted}); COMP_CWORD=${words.length}; _pvrun; printf '%s\\n' "\${COMPREPLY[@]}"`, 'bash', script],
    { cwd: dir, encoding: 'utf8' });
  return out.split('\n').filter((l) => l !== '').sort();
}

describe('pvrun completion bash, in a real bash', () => {
  it('registers itself for pvrun', () => {
    const out = execFileSync('bash', ['--norc', '--noprofile', '-c', 'source "$1"; complete -p pvrun', 'bash', script], { encoding: 'utf8' });
    expect(out.trim()).toBe('complete -F _pvrun pvrun');
  });

  it('first word: subcommands, playbook names from playbooks/, YAML files and directories', () => {
    expect(complete('')).toEqual(['completion', 'demo', 'inventory', 'lab', 'linux-tools', 'playbooks', 'playbooks/', 'preflight', 'report', 'resume', 'rollback', 'runs',
      'schema', 'show', 'site/', 'inventories/', 'snapshots', 'validate', 'windows'].sort());
    expect(complete('r')).toEqual(['report', 'resume', 'rollback', 'runs']);
    expect(complete('site/')).toEqual(['site/rollout.yml']);
  });

  it('after -i: inventory names from inventories/ (and files)', () => {
    expect(complete('linux-tools', '-i', '')).toEqual(['inventories/', 'playbooks/', 'prod', 'site/', 'staging']);
    expect(complete('validate', 'linux-tools', '--inventory', 'pr')).toEqual(['prod']);
  });

  it('flags of the run and of each subcommand, from the program itself', () => {
    expect(complete('linux-tools', '--list-')).toEqual(['--list-hosts', '--list-tasks']);
    expect(complete('linux-tools', '--start-at-')).toEqual(['--start-at-step', '--start-at-task']);
    expect(complete('-i', 'prod', 'linux-tools', '--ask')).toEqual(['--ask-become-pass']);
    expect(complete('inventory', '--')).toContain('--missing-tools');
    expect(complete('inventory', '--')).not.toContain('--check');
    expect(complete('snapshots', 'prune', '--older')).toEqual(['--older-than']);
  });

  it('sub-words: snapshots, lab, playbooks, completion', () => {
    expect(complete('snapshots', '')).toEqual(['list', 'prune']);
    expect(complete('lab', '')).toEqual(['down', 'image', 'status', 'up', 'xapi']);
    expect(complete('completion', '')).toEqual(['bash', 'fish', 'zsh']);
  });

  it('a flag\'s value is not taken for the subcommand', () => {
    // `-l validate` is a limit pattern, not the validate subcommand: the word after it is a playbook again
    expect(complete('-l', 'validate', '')).toContain('linux-tools');
    expect(complete('-l', '')).toEqual([]);
  });
});

describeUnless(requireBinary('zsh', 'apt-get install zsh'))('pvrun completion zsh, in a real zsh', () => {
  let zshScript: string;
  beforeAll(async () => {
    const r = await runCli(['completion', 'zsh'], { env });
    expect(r.code).toBe(0);
    expect(r.out.startsWith('#compdef pvrun\n')).toBe(true);
    zshScript = join(dir, '_pvrun');
    writeFileSync(zshScript, r.out);
  });
  /** the bash function as zsh's bashcompinit wrapper runs it (ksharrays: arrays from 0) */
  const zcomplete = (...words: string[]): string[] => {
    const quoted = words.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
    const out = execFileSync('zsh', ['-f', '-c', `autoload -U compinit && compinit -u -D; source "$1"; setopt ksharrays; COMP_WORDS=(pvrun ${quoted}); COMP_CWORD=${words.length}; _pvrun; print -l -- "\${COMPREPLY[@]}"`, 'zsh', zshScript],
      { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return out.split('\n').filter((l) => l !== '').sort();
  };
  it('completes commands, inventory names, flags and sub-words as bash does', () => {
    expect(zcomplete('sn')).toEqual(['snapshots']);
    expect(zcomplete('linux-tools', '-i', '')).toEqual(['inventories/', 'playbooks/', 'prod', 'site/', 'staging']);
    expect(zcomplete('validate', '--list-')).toEqual(['--list-hosts', '--list-tasks']);
    expect(zcomplete('snapshots', '')).toEqual(['list', 'prune']);
    expect(zcomplete('')).toEqual(complete(''));
  });
});

describeUnless(requireBinary('fish', 'apt-get install fish'))('pvrun completion fish, in a real fish', () => {
  let fishScript: string;
  beforeAll(async () => {
    const r = await runCli(['completion', 'fish'], { env });
    expect(r.code).toBe(0);
    fishScript = join(dir, 'pvrun.fish');
    writeFileSync(fishScript, r.out);
  });
  /** `complete -C`: what fish offers for a command line (candidates, without their descriptions) */
  const fcomplete = (line: string): string[] => {
    const out = execFileSync('fish', ['--no-config', '-c', `source $argv[1]; complete -C $argv[2]`, fishScript, line], { cwd: dir, encoding: 'utf8' });
    return out.split('\n').filter((l) => l !== '').map((l) => l.split('\t')[0]!).sort();
  };
  it('completes commands, inventory names, flags and sub-words', () => {
    expect(fcomplete('pvrun sn')).toEqual(['snapshots']);
    expect(fcomplete('pvrun -i ')).toEqual(expect.arrayContaining(['prod', 'staging']));
    expect(fcomplete('pvrun validate --list-')).toEqual(['--list-hosts', '--list-tasks']);
    expect(fcomplete('pvrun snapshots ')).toEqual(['list', 'prune']);
    expect(fcomplete('pvrun completion ')).toEqual(['bash', 'fish', 'zsh']);
    expect(fcomplete('pvrun lin')).toEqual(['linux-tools']);
  });
});

describe('completion: usage', () => {
  it('an unknown shell is a usage error, exit 5', async () => {
    const r = await runCli(['completion', 'powershell'], { env });
    expect(r.code).toBe(5);
    expect(r.err).toContain("unknown shell 'powershell': bash, zsh or fish");
  });
});
