import { describe, expect, it } from 'vitest';
import { formatDiagnostics, sortDiagnostics } from '../../src/load/diagnostics.js';
import { locate, parseYaml } from '../../src/load/yaml-doc.js';

describe('diagnostics', () => {
  it('file:line:col: message, the line, a caret', () => {
    expect(formatDiagnostics([
      { file: 'pb.yml', line: 2, col: 5, message: "unknown key 'serail' in play", sourceLine: '  serail: 1' },
      { file: '<--limit>', line: 1, col: 3, message: 'x', severity: 'warning' },
    ])).toBe("pb.yml:2:5: unknown key 'serail' in play\n    serail: 1\n      ^\n<--limit>:1:3: warning: x");
  });
  it('tabs in the echoed line keep the caret aligned', () => {
    expect(formatDiagnostics([{ file: 'f', line: 1, col: 3, message: 'm', sourceLine: '\ta: b' }])).toBe('f:1:3: m\n  \ta: b\n  \t ^');
  });
  it('sorted by file of first appearance, then position; duplicates removed', () => {
    const d = (file: string, line: number, col: number) => ({ file, line, col, message: 'm' });
    expect(sortDiagnostics([d('b', 2, 1), d('a', 3, 1), d('b', 1, 9), d('b', 1, 9)])).toEqual([d('b', 1, 9), d('b', 2, 1), d('a', 3, 1)]);
  });
});

describe('YAML positions', () => {
  const text = '- name: x\n  hosts: "web"\n  steps:\n    - snapshot: {}\n      tags: [a, b]\n  empty:\n';
  const { source, value, diagnostics } = parseYaml('pb.yml', text);
  it('parses', () => {
    expect(diagnostics).toEqual([]);
    expect(value).toEqual([{ name: 'x', hosts: 'web', steps: [{ snapshot: {}, tags: ['a', 'b'] }], empty: null }]);
  });
  it('maps a value path to its value or key node', () => {
    expect(locate(source, [0, 'hosts'])).toMatchObject({ line: 2, col: 10 });
    expect(locate(source, [0, 'hosts'], 'key')).toMatchObject({ line: 2, col: 3 });
    expect(locate(source, [0, 'steps', 0, 'tags', 1])).toMatchObject({ line: 5, col: 17 });
    expect(locate(source, [0, 'empty'])).toMatchObject({ line: 6, col: 3 }); // no value node: the key
    expect(locate(source, [0, 'steps', 0, 'nope'])).toMatchObject({ line: 4, col: 7 }); // deepest existing node
  });
  it('every syntax error is a diagnostic (duplicate keys too); cascades are dropped', () => {
    const r = parseYaml('f.yml', 'a: 1\na: 2\nb:\n\t- x\n');
    expect(r.diagnostics.map((d) => `${d.line}:${d.col}: ${d.message}`)).toEqual([
      "2:1: duplicate key 'a'",
      '4:1: tab character used for indentation (YAML indentation must be spaces)',
    ]);
    expect(parseYaml('f.yml', 'a: *nope\n').diagnostics.map((d) => d.message)).toEqual(["unknown YAML alias '*nope'"]);
    expect(parseYaml('f.yml', 'a: 1\n---\nb: 2\n').diagnostics.map((d) => d.message)).toEqual(['more than one YAML document in this file (remove the `---` separator)']);
  });
});
