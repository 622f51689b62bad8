// The fast YAML reader (src/load/yaml-fast.ts) against the real `yaml` package: whatever it
// accepts must read exactly as yaml reads it — no error in yaml, the same plain value, the same
// nodes with the same positions — and what it does not read is left to yaml. Attacked with the
// repository's own YAML files, with random documents in the styles operators write, and with
// those documents mutated a character at a time (near misses: an indentation off by one, a
// colon, a quote, a comma). PVRUN_YAML_SEED replays the random part.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isMap, isPair, isScalar, isSeq, parseDocument } from 'yaml';
import { parseFast, resolvePlain } from '../../src/load/yaml-fast.js';
import { parseYaml, locate, mapKeys } from '../../src/load/yaml-doc.js';

const REPO = join(import.meta.dirname, '..', '..');
const MAX_DEPTH = 64;

/** yaml's reading, with the options src/load/yaml-doc.ts uses */
function yamlRead(text: string): { doc: ReturnType<typeof parseDocument>; value: unknown } {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  return { doc, value: doc.errors.length === 0 ? doc.toJS({ maxAliasCount: 1000 }) : undefined };
}

/** a difference between two node trees (yaml's and the fast reader's), or undefined */
function nodeDiff(a: unknown, b: unknown, at: string): string | undefined {
  const kind = (n: unknown): string => (isMap(n) ? 'map' : isSeq(n) ? 'seq' : isScalar(n) ? 'scalar' : String(n));
  if (kind(a) !== kind(b)) return `${at}: ${kind(a)} against ${kind(b)}`;
  const ra = (a as { range?: number[] }).range;
  const rb = (b as { range?: number[] }).range;
  // [start, end of value]: what pvrun reads (the third number is not read)
  if (ra?.[0] !== rb?.[0] || ra?.[1] !== rb?.[1]) return `${at}: range ${JSON.stringify(ra)} against ${JSON.stringify(rb)}`;
  if (isScalar(a) && isScalar(b)) return Object.is(a.value, b.value) ? undefined : `${at}: ${String(a.value)} against ${String(b.value)}`;
  const ia = (a as { items: unknown[] }).items;
  const ib = (b as { items: unknown[] }).items;
  if (ia.length !== ib.length) return `${at}: ${ia.length} items against ${ib.length}`;
  for (let i = 0; i < ia.length; i++) {
    const x = ia[i];
    const y = ib[i];
    if (isPair(x) !== isPair(y)) return `${at}[${i}]: pair against not`;
    if (isPair(x) && isPair(y)) {
      const d = nodeDiff(x.key, y.key, `${at}.key${i}`) ?? nodeDiff(x.value, y.value, `${at}.value${i}`);
      if (d) return d;
    } else {
      const d = nodeDiff(x, y, `${at}[${i}]`);
      if (d) return d;
    }
  }
  return undefined;
}

/** deep equality with Object.is for leaves, own enumerable keys in order, arrays as arrays */
function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return Object.is(a, b);
  if (Array.isArray(a) !== Array.isArray(b) || Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length || ka.some((k, i) => k !== kb[i])) return false;
  return ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** the property: accepted ⇒ read as yaml reads it. Returns whether the fast reader accepted. */
function check(text: string): boolean {
  const fast = parseFast(text, MAX_DEPTH);
  if (!fast) return false;
  const y = yamlRead(text);
  if (y.doc.errors.length > 0) throw new Error(`accepted what yaml refuses (${y.doc.errors[0]!.code}):\n${text}`);
  if (!sameValue(fast.value, y.value)) throw new Error(`another value:\n${text}\nyaml: ${JSON.stringify(y.value)}\nfast: ${JSON.stringify(fast.value)}`);
  const d = nodeDiff(y.doc.contents, fast.contents, '$');
  if (d) throw new Error(`other nodes (${d}):\n${text}`);
  return true;
}

// ---- random documents in the styles operators write ---------------------------------------

/** scalars as operators write them */
const ordinaryScalars = [
  'web-01', 'pvrun-{{ run.id }}', '/mnt/Linux/install.sh', 'uname -a', '10.0.0.1', '1.2.3', 'a b  c', 'x#y', 'a:b', 'http://x/y', 'true', 'false', '0', '42', '1.5',
  '-n', 'é ü 字', "'single'", "'it''s'", '"double"', '"{{ x }}"', '"a \\"q\\" b"', '""', "''",
];
/** scalars at the edges: the core schema's corner cases, indicators, what is not one scalar */
const plainScalars = [
  ...ordinaryScalars.filter((s) => !/^['"]/.test(s)),
  'null', 'Null', 'NULL', '~', 'False', 'TRUE', 'yes', 'no', 'on', '-0', '+12', '007', '0o17', '0o8', '0x1F', '0xg', '1e3', '1E-2', '.5', '5.',
  '1.50', '-.inf', '+.Inf', '.NaN', '.nan', 'nan', '1_000', '-1', '--x', '-', '?x', ':x', '@x', '`x', '%x', '!x', '&a', '*a', '|', '>', 'x:', 'x: y', 'a,b', 'a]b', 'a}b', '[a', '{a',
  "it's", 'a  ', '  a', '<<', '__proto__', 'toString',
];
const quotedScalars = [
  "'a # b'", '"tab\\tnew\\nline"', '"back\\\\slash"', '"\\u00e9"', '"\\x41"', '"a\\/b"', '"unterminated', "'unterminated", '"a" b', "'a'#c",
];
const ordinaryKeys = ['name', 'hosts', 'vars', 'steps', 'run-script', 'web-01', 'a', 'b', 'a.b', 'x_y', '10.0.0.1'];
const trickyKeys = ['1', 'true', 'null', '<<', '__proto__', 'toString', '"quoted key"', "'q'", 'a b', 'k:', 'x#y', '-k'];

type Tree = { k: 'scalar'; s: string } | { k: 'block'; header: string; lines: string[]; extra: number } | { k: 'map'; flow: boolean; entries: [string, Tree][] } | { k: 'seq'; flow: boolean; items: Tree[] };

/** block scalars: the scripts of run-script steps (`|`, `|-`) and the headers left to yaml */
const blockLines = ['echo hi', 'if [ -e /x ]; then', '  exit 1', 'fi', '', '# not a comment here', 'a: b', '- x', 'é', '   deeper', "'quoted'"];
const blockScalar = fc.record({
  k: fc.constant('block' as const),
  header: fc.oneof({ weight: 8, arbitrary: fc.constantFrom('|', '|-') }, { weight: 1, arbitrary: fc.constantFrom('|+', '>', '>-', '|2', '| # c', '|x', '|#c') }),
  lines: fc.array(fc.constantFrom(...blockLines), { minLength: 1, maxLength: 5 }),
  extra: fc.integer({ min: 1, max: 3 }),
});

const scalar = fc.oneof({ weight: 30, arbitrary: fc.constantFrom(...ordinaryScalars) }, { weight: 2, arbitrary: fc.constantFrom(...plainScalars) }, { weight: 1, arbitrary: fc.constantFrom(...quotedScalars) }).map((s): Tree => ({ k: 'scalar', s }));
const key = fc.oneof({ weight: 30, arbitrary: fc.constantFrom(...ordinaryKeys) }, { weight: 1, arbitrary: fc.constantFrom(...trickyKeys) });
const tree: fc.Arbitrary<Tree> = fc.letrec<{ t: Tree }>((tie) => ({
  t: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 3, arbitrary: scalar },
    { weight: 1, arbitrary: blockScalar },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('map' as const), flow: fc.boolean(), entries: fc.array(fc.tuple(key, tie('t')), { maxLength: 4 }) }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('seq' as const), flow: fc.boolean(), items: fc.array(tie('t'), { maxLength: 4 }) }) },
  ),
})).t;

interface Style { indent: number; seqAtKeyIndent: boolean; comments: boolean; crlf: boolean }

/** a tree written out, blocks with `indent` spaces, flow collections on one line */
function render(t: Tree, st: Style, rnd: () => number): string {
  const flowText = (n: Tree): string => n.k === 'scalar' ? n.s : n.k === 'block' ? JSON.stringify(n.lines.join(' '))
    : n.k === 'map' ? `{ ${n.entries.map(([k, v]) => `${k}: ${flowText(v)}`).join(', ')} }`
      : `[${n.items.map(flowText).join(', ')}]`;
  const comment = (): string => (st.comments && rnd() < 0.2 ? ' # note' : '');
  const lines: string[] = [];
  const block = (n: Tree, ind: number, lead: string): void => {
    // `lead` is what starts the first line (`- ` of a sequence item), indentation `ind` after it
    const pad = ' '.repeat(ind);
    const blockLinesAt = (b: { lines: string[]; extra: number }, at: number): void => {
      for (const l of b.lines) lines.push(l === '' ? (rnd() < 0.2 ? ' '.repeat(at) : '') : `${' '.repeat(at)}${l}`);
    };
    if (n.k === 'block') {
      lines.push(`${lead}${pad}${n.header}`);
      blockLinesAt(n, lead.length + ind + n.extra - (lead.endsWith('- ') ? 2 : 0));
      return;
    }
    if (n.k === 'scalar' || n.flow || (n.k === 'map' ? n.entries.length === 0 : n.items.length === 0)) {
      lines.push(`${lead}${pad}${flowText(n)}${comment()}`);
      return;
    }
    // comment lines at any indentation: yaml counts them into the end of one collection or another
    const commentLine = (): string => `${' '.repeat(Math.floor(rnd() * (lead.length + ind + 4)))}# between`;
    if (st.comments && rnd() < 0.15) lines.push(commentLine());
    if (n.k === 'map') {
      n.entries.forEach(([k, v], i) => {
        const first = i === 0 ? `${lead}${pad}` : ' '.repeat(lead.length + ind);
        if (v.k === 'block') {
          lines.push(`${first}${k}: ${v.header}`);
          blockLinesAt(v, lead.length + ind + v.extra);
        } else if (v.k === 'scalar' || v.flow || (v.k === 'map' ? v.entries.length === 0 : v.items.length === 0)) {
          lines.push(`${first}${k}: ${flowText(v)}${comment()}`);
        } else {
          lines.push(`${first}${k}:${comment()}`);
          const inner = v.k === 'seq' && st.seqAtKeyIndent ? 0 : st.indent;
          block(v, lead.length + ind + inner, '');
        }
      });
    } else {
      n.items.forEach((v, i) => {
        const first = i === 0 ? lead : ' '.repeat(lead.length);
        block(v, 0, `${first}${pad}- `);
      });
    }
    if (st.comments && rnd() < 0.15) lines.push(rnd() < 0.5 ? '' : commentLine());
  };
  block(t, 0, '');
  return `${lines.join(st.crlf ? '\r\n' : '\n')}${st.crlf ? '\r\n' : '\n'}`;
}

const MUTATIONS = [' ', '  ', ':', ': ', '-', '- ', '#', ' #', "'", '"', '{', '}', '[', ']', ',', '\n', '\n  ', 'x', '\\', '&', '*', '!', '|', '\t', '\r', '\r\n'];

describe('the fast YAML reader reads what yaml reads, or leaves it to yaml', () => {
  it("reads the repository's plain YAML files exactly as yaml does, and leaves the others to it", () => {
    const files = execFileSync('git', ['ls-files', '*.yml', '*.yaml'], { cwd: REPO, encoding: 'utf8' }).trim().split('\n');
    expect(files.length).toBeGreaterThan(20);
    const accepted = files.filter((f) => check(readFileSync(join(REPO, f), 'utf8')));
    // the start-up benchmark's files and the shipped playbooks (their scripts are `|` block
    // scalars) and inventories are the plain kind this reader exists for: if it stops reading
    // them, the speed-up is gone
    const shipped = files.filter((f) => /^(playbooks|inventories)\/[^/]+\.yml$/.test(f));
    expect(shipped.length).toBeGreaterThan(4);
    for (const f of ['bench/fixtures/startup-inventory.yml', 'bench/fixtures/startup-playbook.yml', ...shipped]) expect(accepted).toContain(f);
    // files yaml reports errors in are never accepted (check() throws), and there are such files
    expect(files.some((f) => parseDocument(readFileSync(join(REPO, f), 'utf8'), { uniqueKeys: true }).errors.length > 0)).toBe(true);
  });

  it('random documents and near misses: accepted ⇒ the same value, nodes and ranges as yaml (PVRUN_YAML_SEED replays)', () => {
    const seed = Number(process.env['PVRUN_YAML_SEED'] ?? Date.now() % 1_000_000);
    console.log(`fast YAML reader: seed ${seed} (PVRUN_YAML_SEED=${seed} replays)`);
    let accepted = 0;
    let total = 0;
    // a fifth of the documents with CR LF line breaks (files edited on Windows)
    const style = fc.record({ indent: fc.integer({ min: 1, max: 4 }), seqAtKeyIndent: fc.boolean(), comments: fc.boolean(), crlf: fc.integer({ min: 0, max: 4 }).map((n) => n === 0) });
    const edit = fc.tuple(fc.nat(), fc.constantFrom(...MUTATIONS), fc.constantFrom('insert', 'delete', 'replace'));
    const mutation = fc.oneof(fc.constant([]), fc.array(edit, { minLength: 1, maxLength: 2 }));
    // a document is a block map or sequence (a lone scalar or flow collection is left to yaml)
    const root = fc.tuple(tree, fc.boolean()).map(([t, asSeq]): Tree => (t.k !== 'scalar' && t.k !== 'block' && !t.flow ? t : asSeq ? { k: 'seq', flow: false, items: [t] } : { k: 'map', flow: false, entries: [['name', t]] }));
    fc.assert(fc.property(root, style, mutation, fc.integer(), (t, st, muts, r0) => {
      let r = r0 >>> 0;
      const rnd = (): number => ((r = (Math.imul(r, 1103515245) + 12345) >>> 0) / 2 ** 32);
      let text = render(t, st, rnd);
      for (const [at, s, op] of muts) {
        const i = at % (text.length + 1);
        text = op === 'insert' ? text.slice(0, i) + s + text.slice(i) : op === 'delete' ? text.slice(0, i) + text.slice(i + 1) : text.slice(0, i) + s + text.slice(i + s.length);
      }
      total++;
      if (check(text)) accepted++;
    }), { numRuns: 3000, seed });
    console.log(`fast YAML reader: ${accepted} of ${total} documents accepted`);
    // the property above must have been tested on accepted documents, not only on fallbacks
    expect(accepted).toBeGreaterThan(total / 10);
  });

  it('resolves plain scalars by the core schema as yaml does', () => {
    let compared = 0;
    for (const s of plainScalars) {
      // (what starts with an indicator is not one plain scalar to yaml: a tag, an anchor, a flow…)
      if (/^[!&*|>%@`?:[\]{}#,'"]/.test(s)) continue;
      const y = parseDocument(`k: ${s}\n`, { uniqueKeys: true });
      if (y.errors.length > 0) continue;
      const v = (y.toJS() as Record<string, unknown>)['k'];
      if (typeof v === 'object' && v !== null) continue;
      expect([s, resolvePlain(s.trim())]).toEqual([s, v]);
      compared++;
    }
    expect(compared).toBeGreaterThan(40);
  });

  it('gives the loader the same positions through parseYaml', () => {
    const text = 'hosts:\n  web-01:\n    address: 10.0.0.1 # x\n  web-02: { address: "10.0.0.2" }\nlist:\n- a\n- b: 1\n  c:\n';
    const viaFast = parseYaml('f.yml', text);
    expect(parseFast(text, MAX_DEPTH)).toBeDefined();
    // the same text read by yaml: a tab in a comment is outside the fast subset, positions are not moved by it
    const viaYaml = parseYaml('f.yml', `${text}#\t\n`);
    expect(parseFast(`${text}#\t\n`, MAX_DEPTH)).toBeUndefined();
    expect(viaFast.value).toEqual(viaYaml.value);
    for (const path of [['hosts'], ['hosts', 'web-01'], ['hosts', 'web-01', 'address'], ['hosts', 'web-02', 'address'], ['list', 0], ['list', 1, 'b'], ['list', 1, 'c'], ['list', 1, 'missing'], ['nope']]) {
      for (const which of ['key', 'value'] as const) expect([path, which, locate(viaFast.source, path, which)]).toEqual([path, which, locate(viaYaml.source, path, which)]);
    }
    expect(mapKeys(viaFast.source, ['hosts'])).toEqual(['web-01', 'web-02']);
  });

  it('leaves to yaml what it does not read: errors, anchors, tags, block scalars, continued values, markers', () => {
    for (const text of ['a: 1\na: 2\n', 'a: &x 1\nb: *x\n', 'a: !!str 1\n', 'a: |+\n  x\n', 'a: |2\n  x\n', 'a: >\n  x\n', 'a: |\n\n  x\n', 'a: |\n  x\n     \n  y\n', 'a: |\nb: 1\n', 'a: x\n  y\n', 'a: [1,\n  2]\n', '---\na: 1\n', '%YAML 1.2\n---\na: 1\n', 'a:\n\t- x\n', 'a: "x\n  y"\n', '? a\n: b\n', 'a: b: c\n', '', '# only a comment\n', 'a\n', '- - x\n', 'a: 1\rb: 2\r', '1: x\n', 'true: x\n']) {
      expect([text, parseFast(text, MAX_DEPTH)]).toEqual([text, undefined]);
    }
  });

  it('reads a file with CR LF line breaks (edited on Windows) as yaml does, the same value as with LF', () => {
    const lf = 'hosts:\n  web-01: { address: 10.0.0.1 }\n  web-02:\nsteps:\n  - run-script:\n      script: |\n        echo a\n\n        echo b\n';
    const crlf = lf.replace(/\n/g, '\r\n');
    expect(check(crlf)).toBe(true);
    expect(parseFast(crlf, MAX_DEPTH)!.value).toEqual(parseFast(lf, MAX_DEPTH)!.value);
    // a CR alone is not a line break to this reader: yaml's business
    expect(parseFast(lf.replace('\n', '\r'), MAX_DEPTH)).toBeUndefined();
  });

  it('leaves a key longer than yaml allows to yaml (which refuses it), and reads one just under', () => {
    const long = `${'k'.repeat(1030)}: x\n`;
    expect(parseDocument(long).errors.map((e) => e.code)).toContain('KEY_OVER_1024_CHARS');
    expect(parseFast(long, MAX_DEPTH)).toBeUndefined();
    expect(parseFast(`{ ${'k'.repeat(1030)}: x }\n`.replace(/^/, 'a: '), MAX_DEPTH)).toBeUndefined();
    expect(check(`${'k'.repeat(900)}: x\n`)).toBe(true);
  });

  it('leaves a document deeper than the limit to yaml (which reports it)', () => {
    const deep = Array.from({ length: 10 }, (_, i) => `${'  '.repeat(i)}k${i}:`).join('\n') + ' x\n';
    expect(parseFast(deep, 20)).toBeDefined();
    expect(parseFast(deep, 5)).toBeUndefined();
  });
});
