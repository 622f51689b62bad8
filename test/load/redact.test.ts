import { describe, expect, it } from 'vitest';
import { Redactor } from '../../src/util/redact.js';

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
});
