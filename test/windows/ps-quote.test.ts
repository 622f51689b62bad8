import { expect, it, describe } from 'vitest';
import { decodeCommand, encodeCommand, oneLine, psLiteral, quotePs, quotePsArray } from '../../src/util/ps-quote.js';
import { describeWindows, HOSTILE, pwshLocal } from './harness.js';

describe('quotePs (pure)', () => {
  it.each([
    ['', "''"],
    ['abc', "'abc'"],
    ["it's", "'it''s'"],
    ['‘x’', "'‘‘x’’'"],
    ['‚low‛', "'‚‚low‛‛'"],
    ['$x `n "y"', "'$x `n \"y\"'"],
  ])('%j -> %s', (input, expected) => {
    expect(quotePs(input)).toBe(expected);
  });

  it('never leaves a lone quote character inside the literal', () => {
    for (const s of HOSTILE) {
      const inner = quotePs(s).slice(1, -1);
      // after removing doubled quotes no quote character may remain
      expect(inner.replace(/(['\u2018\u2019\u201A\u201B])\1/g, '')).not.toMatch(/['\u2018\u2019\u201A\u201B]/);
    }
  });

  it('arrays and other literals', () => {
    expect(quotePsArray([])).toBe('@()');
    expect(quotePsArray(["a'b", 'c'])).toBe("@('a''b','c')");
    expect(psLiteral(true)).toBe('$true');
    expect(psLiteral(null)).toBe('$null');
    expect(psLiteral(3010)).toBe('3010');
    expect(psLiteral({ a: "x'" })).toBe(`(ConvertFrom-Json -InputObject '{"a":"x''"}')`);
    expect(() => psLiteral(NaN)).toThrow();
  });

  it('encodeCommand is UTF-16LE base64', () => {
    expect(encodeCommand('A')).toBe('QQA=');
    for (const s of HOSTILE) expect(decodeCommand(encodeCommand(s))).toBe(s);
  });
});

describeWindows('quotePs round-trips through real pwsh', { sshd: false }, () => {
  it('every hostile string comes back byte for byte', () => {
    // one pwsh for the whole table: each value is quoted, then printed as base64 of its UTF-8
    const script = HOSTILE.map((s) =>
      `'b:' + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes(${quotePs(s)}))`).join('\n');
    const lines = pwshLocal(script).trim().split(/\r?\n/);
    expect(lines).toHaveLength(HOSTILE.length);
    lines.forEach((b64, i) => expect(Buffer.from(b64.replace(/^b:/, ''), 'base64').toString('utf8')).toBe(HOSTILE[i]));
  });

  it('psLiteral objects and oneLine scripts keep their values', () => {
    const obj = { name: "O'Brien ‘x’", list: [1, 'two'], nested: { ok: true } };
    const out = pwshLocal(`${oneLine(`$v = ${psLiteral(obj)}\nConvertTo-Json -InputObject $v -Compress -Depth 5`)}\n`);
    expect(JSON.parse(out.trim())).toEqual(obj);
  });
});
