/**
 * Locating values in a parsed YAML file (src/load/yaml-doc.ts): every diagnostic's file:line:col
 * comes from here, and the loader locates every host of an inventory, so a lookup in a large map
 * must not search the map from its start each time (issue 17: 1,000 hosts made it quadratic).
 */
import { describe, expect, it } from 'vitest';
import { isMap } from 'yaml';
import { findNode, locate, parseYaml } from '../../src/load/yaml-doc.js';

function hostsFile(n: number, extra = ''): string {
  const lines = ['hosts:'];
  for (let i = 0; i < n; i++) lines.push(`  h${i}:`, `    connection: { address: 10.0.0.${i % 250} }`);
  return lines.join('\n') + '\n' + extra;
}

describe('locating values in YAML', () => {
  it('finds every key of a large map at its own line, keys, values and missing keys alike', () => {
    const n = 300;
    const { source, diagnostics } = parseYaml('inv.yml', hostsFile(n));
    expect(diagnostics).toEqual([]);
    for (let i = 0; i < n; i++) {
      expect(locate(source, ['hosts', `h${i}`], 'key')).toMatchObject({ line: 2 + 2 * i, col: 3 });
      expect(locate(source, ['hosts', `h${i}`, 'connection', 'address'])).toMatchObject({ line: 3 + 2 * i });
    }
    // a missing key: the deepest node that exists (the hosts map), as for a small map
    expect(findNode(source, ['hosts', 'nope']).complete).toBe(false);
    expect(locate(source, ['hosts', 'nope'])).toMatchObject({ line: 2, col: 3 });
  });

  it('a key given twice points at its first occurrence in a large map, as in a small one', () => {
    for (const n of [3, 40]) {
      const text = hostsFile(n).replace('  h1:\n', '  h1:\n    vars: { first: true }\n') + '  h1:\n    vars: { second: true }\n';
      const { source } = parseYaml('inv.yml', text);
      expect(locate(source, ['hosts', 'h1', 'vars']).line, `${n} hosts`).toBe(5);
    }
  });

  it('a map changed after a lookup (as the Ansible INI reader builds one) is searched as it is now', () => {
    const { source } = parseYaml('inv.yml', hostsFile(40));
    const hosts = (source.doc.contents as { items: { value: unknown }[] }).items[0]!.value;
    if (!isMap(hosts)) throw new Error('hosts is not a map');
    expect(findNode(source, ['hosts', 'h3']).complete).toBe(true);
    hosts.items = hosts.items.filter((p) => String((p.key as { value: unknown }).value) !== 'h3');
    expect(findNode(source, ['hosts', 'h3']).complete).toBe(false);
    const moved = hosts.items.pop()!;
    expect(findNode(source, ['hosts', 'h39']).complete).toBe(false);
    hosts.items.push(moved);
    expect(findNode(source, ['hosts', 'h39']).complete).toBe(true);
  });

  it('locating every key of a map reads each item a bounded number of times, not once per lookup', () => {
    const count = (n: number): number => {
      const { source } = parseYaml('inv.yml', hostsFile(n));
      const hosts = (source.doc.contents as { items: { value: unknown }[] }).items[0]!.value;
      if (!isMap(hosts)) throw new Error('hosts is not a map');
      let reads = 0;
      // count every read of an item of the hosts map (a search from the start reads n/2 per lookup)
      hosts.items = new Proxy(hosts.items, {
        get(target, prop, receiver) {
          if (typeof prop === 'string' && /^\d+$/.test(prop)) reads++;
          return Reflect.get(target, prop, receiver) as unknown;
        },
      });
      for (let i = 0; i < n; i++) locate(source, ['hosts', `h${i}`]);
      return reads;
    };
    const small = count(200);
    const large = count(800);
    // linear in the number of lookups: 4× the hosts, about 4× the reads (a scan per lookup: 16×)
    expect(large).toBeLessThan(small * 6);
    expect(large).toBeLessThanOrEqual(2 * 800);
  });
});
