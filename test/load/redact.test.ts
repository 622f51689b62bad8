import { describe, expect, it } from 'vitest';
import { escapeRedacted, redactJsonText, Redactor } from '../../src/util/redact.js';

describe('Redactor', () => {
  const r = new Redactor();
  r.add('s3cr3t p@ss');
  it('masks the value, its base64 and URL-encoded forms', () => {
    expect(r.redact('password=s3cr3t p@ss;')).toBe('password=***;');
    expect(r.redact(`auth ${Buffer.from('s3cr3t p@ss').toString('base64')}`)).toMatch(/^auth \*\*\*[A-Za-z0-9+/=]{0,3}$/);
    expect(r.redact(`?pw=${encodeURIComponent('s3cr3t p@ss')}&x=1`)).toBe('?pw=***&x=1');
    expect(r.redact('?pw=s3cr3t+p%40ss')).toBe('?pw=***');
  });
  it('masks base64 of the secret inside a longer payload (Basic auth header)', () => {
    for (const user of ['root', 'ab', 'admin']) {
      const header = Buffer.from(`${user}:s3cr3t p@ss`).toString('base64');
      const out = r.redact(`Authorization: Basic ${header}`);
      expect(out).toContain('***');
      expect(out).not.toContain(header);
    }
  });
  it('redacts nested values and ignores too-short secrets', () => {
    expect(r.redactValue({ a: ['x s3cr3t p@ss'], n: 1 })).toEqual({ a: ['x ***'], n: 1 });
    const q = new Redactor();
    expect(q.add('ab')).toBe(false);
    expect(q.redact('abc')).toBe('abc');
    expect(q.size).toBe(0);
  });

  it('masks the forms each output format escapes a secret to', () => {
    const q = new Redactor();
    const pw = 'p"a\\s&s<w>o%r\'d$1';
    q.add(pw);
    for (const form of [
      pw,
      JSON.stringify(pw).slice(1, -1), // p\"a\\s…
      JSON.stringify(JSON.stringify(pw).slice(1, -1)).slice(1, -1), // a JSON string inside a JSON string
      'p"a\\s&amp;s&lt;w&gt;o%r\'d$1',
      'p&quot;a\\s&amp;s&lt;w&gt;o%r&apos;d$1',
      'p&quot;a\\s&amp;s&lt;w&gt;o%r&#39;d$1',
      'p"a\\s&s<w>o%25r\'d$1', // a GitHub annotation's data
      "p\"a\\s&s<w>o%r'\\''d$1", // inside a shell single-quoted word
    ]) expect(q.redact(`<${form}>`), form).toBe('<***>');
  });
  it('redactValue masks string values and keys, never numbers or booleans', () => {
    const q = new Redactor();
    q.add('true');
    q.add('1234');
    expect(q.redactValue({ check: true, n: 1234, s: 'true 1234', true: ['is true'] })).toEqual({ check: true, n: 1234, s: '*** ***', '***': ['is ***'] });
    expect(q.stringify({ check: true, n: 1234, s: 'x true' })).toBe('{"check":true,"n":1234,"s":"x ***"}');
  });
  it('redactValue copies only what it masks: key order kept, input untouched, a clean value returned as is', () => {
    const q = new Redactor();
    q.add('hunter2');
    const clean = { a: 'x', b: { c: ['y', 1] }, d: null };
    expect(q.redactValue(clean)).toBe(clean);
    // the secret in the middle: the keys before it copied as they are, the ones after redacted too
    const v = { first: 'ok', mid: 'pw hunter2', hunter2: 'key', last: ['hunter2', 'fine'], n: 7 };
    const before = JSON.stringify(v);
    const r = q.redactValue(v);
    expect(Object.keys(r)).toEqual(['first', 'mid', '***', 'last', 'n']);
    expect(r).toEqual({ first: 'ok', mid: 'pw ***', '***': 'key', last: ['***', 'fine'], n: 7 });
    expect(JSON.stringify(v)).toBe(before);
    // a nested clean branch is shared, a changed one is a copy
    const w = { keep: { x: 'a' }, change: { y: 'hunter2' } };
    const rw = q.redactValue(w);
    expect(rw.keep).toBe(w.keep);
    expect(rw.change).not.toBe(w.change);
  });
  it('the late JSON pass masks inside string tokens only and keeps the JSON valid', () => {
    const q = new Redactor();
    q.add('n1234');
    const redact = (s: string): string => q.redact(s);
    // the raw secret in a value is re-encoded masked; an escape sequence spelling it (\n1234) masks the token
    expect(redactJsonText('{"a":"x n1234","b":"\\n1234","n1234":1}', redact)).toBe('{"a":"x ***","b":"***","***":1}');
    JSON.parse(redactJsonText('{"a":"\\n1234"}', redact));
  });
  it('escapeRedacted masks the whole value when its escaped text spells a secret', () => {
    const q = new Redactor();
    q.add('amp;x');
    const xml = (s: string): string => s.replace(/&/g, '&amp;');
    expect(escapeRedacted('a&x', xml, (s) => q.redact(s))).toBe('***');
    expect(escapeRedacted('a&y', xml, (s) => q.redact(s))).toBe('a&amp;y');
  });
});

