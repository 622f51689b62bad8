import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseExtraVars } from '../../src/load/extra-vars.js';

const msgs = (args: string[]) => { const r = parseExtraVars(args); return r.ok ? r.value : r.error.map((d) => `${d.file}:${d.line}:${d.col}: ${d.message}`); };

describe('-e extra vars', () => {
  it('key=value pairs are YAML-typed, quotes keep spaces, later wins', () => {
    expect(msgs(['a=1 b=true c=x d="two words" e=[1,2] f= g=null'])).toEqual({ a: 1, b: true, c: 'x', d: 'two words', e: [1, 2], f: '', g: null });
    expect(msgs(['a=1', 'a=2'])).toEqual({ a: 2 });
    expect(msgs(['url=https://x.example/a?b=c'])).toEqual({ url: 'https://x.example/a?b=c' });
  });
  it('JSON and YAML flow maps', () => {
    expect(msgs(['{"a": 1, "b": [true]}'])).toEqual({ a: 1, b: [true] });
    expect(msgs(['{a: x}'])).toEqual({ a: 'x' });
  });
  it('@file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvrun-e-'));
    writeFileSync(join(dir, 'v.yml'), 'iso: tools.iso\nretries: 3\n');
    writeFileSync(join(dir, 'list.yml'), '- a\n');
    expect(msgs([`@${join(dir, 'v.yml')}`])).toEqual({ iso: 'tools.iso', retries: 3 });
    expect(msgs([`@${join(dir, 'list.yml')}`])).toEqual([`${join(dir, 'list.yml')}:1:1: an extra vars file must hold a map of variables, got a list`]);
  });
  it('bad input is located in the argument', () => {
    expect(msgs(['a=1 oops'])).toEqual(["<-e>:1:5: expected key=value, got 'oops'"]);
    expect(msgs(['=1'])).toEqual(['<-e>:1:1: missing variable name before =']);
    expect(msgs(['a.b=1'])).toEqual(["<-e>:1:1: invalid variable name 'a.b' (letters, digits and _ only)"]);
    expect(msgs(['a="x'])).toEqual(['<-e>:1:1: unclosed " quote in extra variable']);
    expect(msgs(['@'])).toEqual(["<-e>:1:1: '@' must be followed by a file name, e.g. -e @vars.yml"]);
    expect(msgs(['  '])).toEqual(['<-e>:1:1: empty extra variable: expected key=value, @file.yml or a {"json": "map"}']);
    expect((msgs(['{"a": [1']) as string[])[0]).toMatch(/^<-e>:1:\d+: bad -e map: YAML syntax error/);
  });
});
