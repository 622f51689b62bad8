import { describe, expect, it } from 'vitest';
import { loadInventories } from '../../src/load/inventory.js';
import { matchPattern } from '../../src/load/patterns.js';

const r = loadInventories(['test/fixtures/valid/inventory.yml']);
if (!r.ok) throw new Error('fixture inventory should load');
const inv = r.value;
const m = (p: string) => matchPattern(p, inv);

describe('host patterns', () => {
  it('names, groups (with children), all', () => {
    expect(m('web-2').hosts).toEqual(['web-2']);
    expect(m('web').hosts).toEqual(['web-1', 'web-2']);
    expect(m('linux').hosts).toEqual(['web-1', 'web-2', 'db-1', 'db-2']);
    expect(m('all').hosts).toEqual(['web-1', 'web-2', 'db-1', 'db-2', 'win-1']);
    expect(m('*').hosts).toHaveLength(5);
  });
  it('globs match host and group names', () => {
    expect(m('db-*').hosts).toEqual(['db-1', 'db-2']);
    expect(m('w*').hosts).toEqual(['web-1', 'web-2', 'win-1']);
    expect(m('web-?').hosts).toEqual(['web-1', 'web-2']);
  });
  it('union, intersection, exclusion, in inventory order whatever the term order', () => {
    expect(m('win-1:web-1').hosts).toEqual(['web-1', 'win-1']);
    expect(m('win-1,db-2').hosts).toEqual(['db-2', 'win-1']);
    expect(m('linux:&db').hosts).toEqual(['db-1', 'db-2']);
    expect(m('linux:!db-1').hosts).toEqual(['web-1', 'web-2', 'db-2']);
    expect(m('!linux').hosts).toEqual(['win-1']);
    expect(m('all:!web:&linux').hosts).toEqual(['db-1', 'db-2']);
  });
  it('unknown names are problems with their offset and a suggestion', () => {
    expect(m('linux:&dbb').problems).toEqual([{ offset: 7, message: "unknown host or group 'dbb' (did you mean 'db'?)" }]);
    expect(m('nope-*').problems).toEqual([{ offset: 0, message: "'nope-*' matches no host or group" }]);
    expect(m('web::db').problems).toEqual([]);
    expect(m('').problems).toEqual([{ offset: 0, message: 'empty host pattern' }]);
    expect(m('web:!').problems).toEqual([{ offset: 5, message: "empty term in host pattern 'web:!'" }]);
  });
});
