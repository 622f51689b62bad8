import { describe, expect, it } from 'vitest';
import { evaluateWhen, predicatePaths } from '../../src/engine/when.js';
import { versionSatisfies } from '../../src/util/version.js';
import type { Predicate } from '../../src/model/playbook.js';

const scope = {
  vars: { mode: 'offline', count: 3, flag: true },
  facts: { guest: { os: { family: 'redhat', version: '9.4' } }, vm: { pv_drivers_version: '9.4.0.12' } },
  registered: { probe: { exit_code: 1, stdout: 'xe-daemon running' } },
};

describe('when predicates', () => {
  it.each<[Predicate, boolean]>([
    [{ path: 'vars.mode', equals: 'offline' }, true],
    [{ path: 'vars.mode', equals: 'online' }, false],
    [{ path: 'vars.count', equals: '3' }, true],
    [{ path: 'vars.mode', not_equals: 'online' }, true],
    [{ path: 'facts.guest.os.family', in: ['redhat', 'suse'] }, true],
    [{ path: 'facts.guest.os.family', not_in: ['redhat'] }, false],
    [{ path: 'registered.probe.stdout', matches: 'xe-(daemon|linux)' }, true],
    [{ path: 'registered.probe.exit_code', not_equals: 0 }, true],
    [{ path: 'vars.missing', exists: false }, true],
    [{ path: 'vars.mode', exists: false }, false],
    [{ path: 'vars.flag', truthy: true }, true],
    [{ path: 'facts.vm.pv_drivers_version', version: '>= 9.0' }, true],
    [{ path: 'facts.vm.pv_drivers_version', version: '< 9.4' }, false],
    [{ path: 'facts.guest.os.version', version: '9.4' }, true],
    [{ any: [{ path: 'vars.mode', equals: 'x' }, { path: 'vars.count', equals: 3 }] }, true],
    [{ all: [{ path: 'vars.mode', equals: 'offline' }, { path: 'vars.count', equals: 4 }] }, false],
    [{ not: { path: 'vars.mode', equals: 'offline' } }, false],
    [{ path: 'vars.missing', version: '>= 1' }, false],
  ])('%j → %s', (p, want) => {
    expect(evaluateWhen([p], scope).pass).toBe(want);
  });

  it('says why a predicate failed', () => {
    expect(evaluateWhen([{ path: 'facts.guest.os.family', in: ['debian'] }], scope).why)
      .toBe('facts.guest.os.family is "redhat", not one of ["debian"]');
  });

  it('lists the paths it reads, through any/all/not', () => {
    expect(predicatePaths([{ any: [{ path: 'a.b', equals: 1 }, { not: { path: 'facts.vm.x', exists: true } }] }]))
      .toEqual(['a.b', 'facts.vm.x']);
  });
});

describe('version constraints', () => {
  it.each<[string, string, boolean | undefined]>([
    ['9.10', '> 9.9', true],
    ['9.4.0.12', '>= 9.4', true],
    ['8.2', '>= 9', false],
    ['9', '== 9.0.0', true],
    ['9.1', '!= 9.1', false],
    ['7.30', '<= 7.4', false],
    ['9.0', 'banana', undefined],
  ])('%s %s → %s', (a, c, want) => {
    expect(versionSatisfies(a, c)).toBe(want);
  });

  it('a bare version means what the caller says (at least, for driver versions)', () => {
    expect(versionSatisfies('9.4', '9.0')).toBe(false);
    expect(versionSatisfies('9.4', '9.0', '>=')).toBe(true);
  });
});
