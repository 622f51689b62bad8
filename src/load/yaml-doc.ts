// The one module that knows the `yaml` package: parsing with positions, mapping value paths
// back to source nodes, turning YAML errors into diagnostics.
import { Composer, isAlias, isMap, isPair, isScalar, isSeq, Parser, visit, YAMLParseError } from 'yaml';
import type { CST, Document, Node as YamlNode, Pair } from 'yaml';
import type { SourcePos } from '../model/source.js';
import { diagnostic } from './diagnostics.js';
import type { Diagnostic } from './diagnostics.js';
import { inputLimits, MAX_DEPTH_ENV } from './read-file.js';
import { parseFast } from './yaml-fast.js';

export type PathSeg = string | number;
export type Path = readonly PathSeg[];

/** A parsed YAML file: its text (for echoing lines) and its document (for positions). */
export interface YamlSource {
  file: string;
  text: string;
  lines: string[];
  /** offset of each line's first character (our own table: yaml's LineCounter misses newlines inside bad tokens) */
  lineStarts: number[];
  doc: Document.Parsed;
}

export interface ParsedYaml {
  source: YamlSource;
  /** the plain JS value; undefined when the file had syntax errors */
  value: unknown;
  diagnostics: Diagnostic[];
}

const YAML_MESSAGES: Record<string, (raw: string, src: YamlSource, offset: number) => string> = {
  DUPLICATE_KEY: (_raw, src, offset) => {
    const key = /^[^:\s][^:]*?(?=\s*:)/.exec(src.text.slice(offset, src.text.indexOf('\n', offset) >>> 0))?.[0];
    return key ? `duplicate key '${key.replace(/^["']|["']$/g, '')}'` : 'duplicate key';
  },
  TAB_AS_INDENT: () => 'tab character used for indentation (YAML indentation must be spaces)',
  MULTIPLE_DOCS: () => 'more than one YAML document in this file (remove the `---` separator)',
};

/**
 * The first collection nested deeper than `max` (its offset and depth), found without recursion
 * in the parser's concrete syntax tree: the YAML composer and everything after it recurse once
 * per level, so a deep document must be refused before it is composed.
 */
export function tooDeep(tokens: readonly CST.Token[], max: number): { offset: number; depth: number } | undefined {
  const stack: { tok: CST.Token; depth: number }[] = [];
  for (const t of tokens) if (t.type === 'document' && t.value) stack.push({ tok: t.value, depth: 1 });
  while (stack.length > 0) {
    const { tok, depth } = stack.pop()!;
    if (tok.type !== 'block-map' && tok.type !== 'block-seq' && tok.type !== 'flow-collection') continue;
    if (depth > max) return { offset: tok.offset, depth };
    for (const item of tok.items as { key?: CST.Token | null; value?: CST.Token }[]) {
      if (item.key) stack.push({ tok: item.key, depth: depth + 1 });
      if (item.value) stack.push({ tok: item.value, depth: depth + 1 });
    }
  }
  return undefined;
}

/** parseDocument, split so that the depth limit is checked between parsing and composing. */
function parseLimited(text: string, maxDepth: number): { doc: Document.Parsed; deep?: { offset: number; depth: number } } {
  // uniqueKeys (default) reports duplicate keys as errors; YAML 1.2 core schema: `yes` stays a string.
  const opts = { prettyErrors: false, uniqueKeys: true } as const;
  const tokens = [...new Parser().parse(text)];
  const deep = tooDeep(tokens, maxDepth);
  const composer = new Composer(opts);
  // too deep: compose an empty document (positions still work), the caller reports the depth
  const docs = deep ? [...composer.compose(new Parser().parse(''), true, 0)] : [...composer.compose(tokens, true, text.length)];
  const doc = docs[0]! as Document.Parsed;
  if (docs.length > 1) {
    doc.errors.push(new YAMLParseError([docs[1]!.range[0], docs[1]!.range[1]], 'MULTIPLE_DOCS', 'Source contains multiple documents'));
  }
  return deep ? { doc, deep } : { doc };
}

export function parseYaml(file: string, input: string): ParsedYaml {
  // a UTF-8 byte order mark is not content (read-file.ts drops it already; text from elsewhere too)
  const text = input.startsWith('\uFEFF') ? input.slice(1) : input;
  const { maxDepth } = inputLimits();
  let parsed: ReturnType<typeof parseLimited>;
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') lineStarts.push(i + 1);
  // Plain YAML (most playbooks and inventories) is read by yaml-fast.ts: the same nodes and value,
  // without yaml's generators (issue 17). Anything else, errors included, is read by yaml below.
  const fast = parseFast(text, maxDepth);
  if (fast) {
    // the document as the position lookups below use it: its contents (no alias to resolve, no error)
    const doc = { contents: fast.contents, errors: [], warnings: [] } as unknown as Document.Parsed;
    return { source: { file, text, lines: text.split(/\n/), lineStarts, doc }, value: fast.value, diagnostics: [] };
  }
  try {
    parsed = parseLimited(text, maxDepth);
  } catch (e) {
    // a stack overflow in the composer despite the depth limit: still the user's input, located at its start
    if (!(e instanceof RangeError)) throw e;
    const doc = parseLimited('', maxDepth).doc;
    const source: YamlSource = { file, text, lines: text.split(/\n/), lineStarts, doc };
    return { source, value: undefined, diagnostics: [diagAtOffset(source, 0, `cannot read YAML: nested too deeply for this process (${MAX_DEPTH_ENV} is ${maxDepth})`)] };
  }
  const doc = parsed.doc;
  const source: YamlSource = { file, text, lines: text.split(/\n/), lineStarts, doc };
  if (parsed.deep) {
    const msg = `nesting deeper than ${maxDepth} levels (lists and maps inside each other; ${MAX_DEPTH_ENV} raises the limit)`;
    return { source, value: undefined, diagnostics: [diagAtOffset(source, parsed.deep.offset, msg)] };
  }
  const diagnostics: Diagnostic[] = [];
  const linesWithError = new Set<number>();
  for (const e of doc.errors) {
    // After a syntax error the parser reports every following token as unexpected: noise.
    if (e.code === 'UNEXPECTED_TOKEN' && diagnostics.length > 0) continue;
    let offset = e.pos[0];
    if (e.code === 'DUPLICATE_KEY') {
      // After a key with an empty value the reported offset is the end of that line: move to the key.
      const m = /^(\s|#[^\n]*)*/.exec(text.slice(offset));
      offset += m ? m[0].length : 0;
    }
    const make = YAML_MESSAGES[e.code];
    const msg = make ? make(e.message, source, offset) : `YAML syntax error: ${lowerFirst(e.message)}`;
    const d = diagAtOffset(source, offset, msg);
    if (linesWithError.has(d.line) && e.code !== 'DUPLICATE_KEY') continue; // one syntax error per line
    linesWithError.add(d.line);
    diagnostics.push(d);
  }
  // An alias is written `*name`: without a `*` anywhere in the text there is none to check, and
  // the walk over every node is skipped (~2 % of loading a 1,000-host inventory, issue 17).
  if (diagnostics.length === 0 && text.includes('*')) {
    visit(doc, {
      Alias(_key, node) {
        if (!node.resolve(doc)) {
          diagnostics.push(diagAtOffset(source, node.range?.[0] ?? 0, `unknown YAML alias '*${node.source}'`));
        }
      },
    });
  }
  if (diagnostics.length > 0) return { source, value: undefined, diagnostics };
  let value: unknown;
  try {
    // maxAliasCount guards against alias bombs ("billion laughs").
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    diagnostics.push(diagAtOffset(source, 0, `cannot read YAML: ${lowerFirst(e instanceof Error ? e.message : String(e))}`));
  }
  return { source, value, diagnostics };
}

function lowerFirst(s: string): string {
  return s.length > 0 ? s[0]!.toLowerCase() + s.slice(1) : s;
}

export function posAtOffset(src: YamlSource, offset: number): SourcePos {
  const o = Math.max(0, Math.min(offset, src.text.length));
  // Binary search the line whose start is the last one ≤ o.
  let lo = 0;
  let hi = src.lineStarts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (src.lineStarts[mid]! <= o) lo = mid;
    else hi = mid - 1;
  }
  return { file: src.file, line: lo + 1, col: o - src.lineStarts[lo]! + 1 };
}

export function diagAtOffset(src: YamlSource, offset: number, message: string, severity: 'error' | 'warning' = 'error'): Diagnostic {
  const pos = posAtOffset(src, offset);
  return diagnostic(pos, message, src.lines[pos.line - 1], severity);
}

function deref(src: YamlSource, node: unknown): unknown {
  return isAlias(node) ? node.resolve(src.doc) : node;
}

/**
 * The node at `path` (or the deepest node found on the way) and, when the last segment is a map
 * key, that key's node.
 */
export function findNode(src: YamlSource, path: Path): { node: YamlNode | undefined; keyNode?: YamlNode; complete: boolean } {
  let node: unknown = src.doc.contents;
  let keyNode: YamlNode | undefined;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    const cur = deref(src, node);
    let next: unknown;
    let nextKey: YamlNode | undefined;
    if (isMap(cur)) {
      const item = pairAt(src, cur, String(seg));
      if (item) {
        next = item.value ?? undefined;
        nextKey = (isScalar(item.key) || isAlias(item.key)) ? (item.key as YamlNode) : undefined;
        // A key with no value (`steps:`) has no (or an empty) value node: point at the key.
        const r = (next as { range?: [number, number, number] } | null | undefined)?.range;
        if (next === null || next === undefined || (isScalar(next) && next.value === null && r && r[0] === r[1])) next = nextKey;
      }
    } else if (isSeq(cur) && typeof seg === 'number') {
      next = cur.items[seg];
    }
    if (next === undefined || next === null) {
      return { node: cur as YamlNode | undefined, complete: false, ...(keyNode ? { keyNode } : {}) };
    }
    node = next;
    keyNode = nextKey;
  }
  return { node: node as YamlNode | undefined, complete: true, ...(keyNode ? { keyNode } : {}) };
}

/** A map's key text → its first pair with that key (a duplicate key is an error reported elsewhere). */
const pairIndex = new WeakMap<object, { items: unknown[]; length: number; byKey: Map<string, Pair> }>();
/** Maps this small are searched in place: an index would cost more than it saves. */
const INDEX_FROM_ITEMS = 16;

/**
 * The first pair of `map` whose key reads as `key`. A large map is indexed on its first lookup:
 * the loader locates every host of an inventory (`hosts.NAME`), and searching the map from its
 * start each time made loading 1,000 hosts quadratic (issue 17, BENCHMARKS.md "Ninth pass").
 * A parsed document is not changed afterwards; a map that is (the Ansible INI reader builds its
 * own document item by item) is indexed again when its items array or its length differs.
 */
function pairAt(src: YamlSource, map: { items: unknown[] }, key: string): Pair | undefined {
  const keyText = (item: Pair): string => {
    const k = deref(src, item.key);
    return String(isScalar(k) ? k.value : k);
  };
  if (map.items.length < INDEX_FROM_ITEMS) {
    for (const item of map.items) if (isPair(item) && keyText(item) === key) return item;
    return undefined;
  }
  let index = pairIndex.get(map);
  if (!index || index.items !== map.items || index.length !== map.items.length) {
    const byKey = new Map<string, Pair>();
    for (const item of map.items) {
      if (!isPair(item)) continue;
      const k = keyText(item);
      if (!byKey.has(k)) byKey.set(k, item);
    }
    index = { items: map.items, length: map.items.length, byKey };
    pairIndex.set(map, index);
  }
  return index.byKey.get(key);
}

/** Position of the value at `path` (or its key with which='key'); the deepest existing node otherwise. */
export function locate(src: YamlSource, path: Path, which: 'key' | 'value' = 'value'): SourcePos {
  const { node, keyNode, complete } = findNode(src, path);
  const target = complete && which === 'key' && keyNode ? keyNode : node;
  const offset = (target as { range?: [number, number, number] } | undefined)?.range?.[0] ?? 0;
  return posAtOffset(src, offset);
}

/** Byte range of the node at `path` in the source (for finding a `{{ }}` inside a scalar). */
export function nodeRange(src: YamlSource, path: Path): [number, number] | undefined {
  const { node, complete } = findNode(src, path);
  const r = (node as { range?: [number, number, number] } | undefined)?.range;
  return complete && r ? [r[0], r[1]] : undefined;
}

export function diagAt(src: YamlSource, path: Path, message: string, which: 'key' | 'value' = 'value', severity: 'error' | 'warning' = 'error'): Diagnostic {
  const pos = locate(src, path, which);
  return diagnostic(pos, message, src.lines[pos.line - 1], severity);
}

/** Key order of a map node, for "inventory order" without relying on JS object key order (numeric keys sort first there). */
export function mapKeys(src: YamlSource, path: Path): string[] {
  const { node, complete } = findNode(src, path);
  const n = deref(src, node);
  if (!complete || !isMap(n)) return [];
  const out: string[] = [];
  for (const item of n.items) {
    if (!isPair(item)) continue;
    const k = deref(src, item.key);
    out.push(String(isScalar(k) ? k.value : k));
  }
  return out;
}

/**
 * Position of `snippet` (found at `offset` in the scalar's value) in the source: exact for plain
 * and simply quoted scalars, found by search otherwise, the scalar's start as a last resort.
 */
export function locateInScalar(src: YamlSource, path: Path, offset: number, snippet: string): SourcePos {
  // The value may not exist as such in the file (a shorthand expanded into a map): then search
  // the closest enclosing node that does.
  for (let n = path.length; n >= 0; n--) {
    const r = nodeRange(src, path.slice(0, n));
    if (!r) continue;
    const raw = src.text.slice(r[0], r[1]);
    const shift = raw.startsWith('"') || raw.startsWith("'") ? 1 : 0;
    let idx = n === path.length && raw.slice(shift + offset).startsWith(snippet) ? shift + offset : raw.indexOf(snippet);
    if (idx < 0 || snippet === '') idx = 0;
    return posAtOffset(src, r[0] + idx);
  }
  return locate(src, path);
}

export function diagInScalar(src: YamlSource, path: Path, offset: number, snippet: string, message: string, severity: 'error' | 'warning' = 'error'): Diagnostic {
  const pos = locateInScalar(src, path, offset, snippet);
  return diagnostic(pos, message, src.lines[pos.line - 1], severity);
}
