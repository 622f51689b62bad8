/**
 * A fast reader for the plain YAML most playbooks and inventories are written in (issue 17,
 * start-up): block maps and sequences, one-line plain, quoted and flow values, literal block
 * scalars (`|`, `|-`), comments, LF or CR LF line breaks. It builds the same nodes the `yaml`
 * package would (Scalar, YAMLMap, YAMLSeq, Pair with their `range`), so every position lookup of
 * yaml-doc.ts works unchanged, and the same plain value `toJS` would.
 *
 * Why: `yaml` reads through nested generators; run by the interpreter on a short-lived process,
 * reading a 5.7 KB, 50-host inventory allocated ~5.5 MB and cost ~15–20 ms of a `validate` that
 * takes ~170 ms (BENCHMARKS.md, "Fifteenth pass").
 *
 * Anything outside that subset — anchors, aliases, tags, folded block scalars, a value continued
 * on the next line, a flow collection over several lines, document markers, directives, tabs, a key
 * that is not a plain word or a one-line quoted string, a duplicate key, anything yaml would call
 * an error — makes `parseFast` return undefined, and the caller reads the text with `yaml` as
 * before: this reader never reports an error, and never accepts what yaml would read otherwise.
 * test/load/yaml-fast.test.ts holds it to that: every document it accepts (the repository's YAML
 * files and random and mutated documents) must read, node for node and range for range, as yaml
 * reads it.
 *
 * Scalars resolve by YAML 1.2's core schema as yaml 2.9.1 does it (node_modules/yaml/dist/schema/):
 * common/null.js:10, core/bool.js:9, core/int.js:18,26,35 (parseInt of the digits after the
 * prefix, core/int.js:6), core/float.js:10,23,34 (parseFloat), tried in core/schema.js's order.
 * Maps become plain objects the way nodes/addPairToJSMap.js:24-33 makes them (a key already `in`
 * the object, `__proto__` or `toString`, is defined as an own property).
 *
 * Ranges are [start, end of the value, end of the value]: yaml's third number (the end including
 * trailing comments) is not read by pvrun. Where yaml ends a block collection is followed: after
 * the newline of its last content line (a comment on that line included), or, when its last value
 * is empty (a null scalar where the next token would start), at that value or after the comments
 * that follow it. A comment line that yaml would count into the end of a collection or of its
 * last item (one indented as far as a collection that ends there) is left to yaml.
 */
import { Pair, Scalar, YAMLMap, YAMLSeq } from 'yaml';

export type FastNode = Scalar | YAMLMap | YAMLSeq;

export interface FastYaml {
  contents: FastNode;
  value: unknown;
}

/** a block collection read: its node and value, the line after its last one, the end of its range */
interface Block<N> {
  node: N;
  value: unknown;
  next: number;
  end: number;
}

/** thrown inside the reader when the text leaves the subset; never escapes parseFast */
const BAIL = new Error('outside the fast YAML subset');

/**
 * characters the reader leaves to yaml: tab and other controls, a CR that does not end a line
 * (CR LF does, as in yaml: Windows-edited files), C1 controls, NEL, LS, PS, BOM
 */
// eslint-disable-next-line no-control-regex
const UNSUPPORTED_CHARS = /[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ufeff]|\r(?!\n)/;
/** a plain key: a word of letters, digits and `_ . - /` (no spaces, no indicators) */
const PLAIN_KEY = /^[A-Za-z0-9_][A-Za-z0-9_./-]*$/;

// YAML 1.2 core schema, as yaml 2.9.1 resolves a plain scalar (file:line above)
const NULL_RE = /^(?:~|[Nn]ull|NULL)?$/;
const BOOL_RE = /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/;
const INT_OCT_RE = /^0o[0-7]+$/;
const INT_RE = /^[-+]?[0-9]+$/;
const INT_HEX_RE = /^0x[0-9a-fA-F]+$/;
const FLOAT_NAN_RE = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
const FLOAT_EXP_RE = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/;
const FLOAT_RE = /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/;

/** The value of a plain scalar by the core schema (yaml's order: null, bool, int, float, string). */
export function resolvePlain(s: string): unknown {
  if (NULL_RE.test(s)) return null;
  if (BOOL_RE.test(s)) return s[0] === 't' || s[0] === 'T';
  if (INT_OCT_RE.test(s)) return parseInt(s.substring(2), 8);
  if (INT_RE.test(s)) return parseInt(s, 10);
  if (INT_HEX_RE.test(s)) return parseInt(s.substring(2), 16);
  if (FLOAT_NAN_RE.test(s)) return s.slice(-3).toLowerCase() === 'nan' ? NaN : s[0] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  if (FLOAT_EXP_RE.test(s) || FLOAT_RE.test(s)) return parseFloat(s);
  return s;
}

const SP = 0x20;
const HASH = 0x23;

/** One read of one text; positions are offsets into it. */
class Reader {
  private readonly starts: number[] = [];
  /** where each line's content ends (before its CR LF or LF) */
  private readonly ends: number[] = [];
  /** where the next line starts (after the line break; the text's end for the last line) */
  private readonly afters: number[] = [];
  /** the first non-space offset of each line */
  private readonly firsts: number[] = [];

  constructor(private readonly t: string, private readonly maxDepth: number) {
    let s = 0;
    for (;;) {
      const nl = t.indexOf('\n', s);
      const e = nl < 0 ? t.length : nl > s && t.charCodeAt(nl - 1) === 0x0d ? nl - 1 : nl;
      let f = s;
      while (f < e && t.charCodeAt(f) === SP) f++;
      this.starts.push(s);
      this.ends.push(e);
      this.afters.push(nl < 0 ? t.length : nl + 1);
      this.firsts.push(f);
      if (nl < 0) break;
      s = nl + 1;
    }
  }

  /** the index of the first line from `li` with content (not blank, not only a comment), or the line count */
  private content(li: number): number {
    const n = this.starts.length;
    while (li < n) {
      const f = this.firsts[li]!;
      if (f < this.ends[li]! && this.t.charCodeAt(f) !== HASH) return li;
      li++;
    }
    return n;
  }

  private indent(li: number): number {
    return this.firsts[li]! - this.starts[li]!;
  }

  /** the end of line `li` with its line break (a block collection's end, as yaml sets it) */
  private after(li: number): number {
    return this.afters[li]!;
  }

  private isDash(o: number, end: number): boolean {
    return this.t.charCodeAt(o) === 0x2d && (o + 1 === end || this.t.charCodeAt(o + 1) === SP);
  }

  read(): FastYaml {
    const t = this.t;
    for (let li = 0; li < this.starts.length; li++) {
      const s = this.starts[li]!;
      // document markers and directives: yaml's business
      if (t.startsWith('---', s) || t.startsWith('...', s) || t.charCodeAt(s) === 0x25) throw BAIL;
    }
    const li = this.content(0);
    if (li === this.starts.length) throw BAIL; // an empty document
    const r = this.block(li, 1);
    if (this.content(r.next) !== this.starts.length) throw BAIL; // content left over (less indented than the first line)
    return { contents: r.node, value: r.value };
  }

  /** the block collection whose first line is `li` */
  private block(li: number, depth: number): Block<YAMLMap | YAMLSeq> {
    if (depth > this.maxDepth) throw BAIL;
    const f = this.firsts[li]!;
    if (this.isDash(f, this.ends[li]!)) return this.seq(li, depth);
    return this.map(li, f, depth);
  }

  /** a block sequence whose items start at the indentation of line `li` */
  private seq(li: number, depth: number): Block<YAMLSeq> {
    const t = this.t;
    const col = this.indent(li);
    const node = new YAMLSeq();
    const value: unknown[] = [];
    const start = this.firsts[li]!;
    let last = li;
    let rangeEnd = 0;
    let cur = li;
    while (cur < this.starts.length && this.indent(cur) === col && this.isDash(this.firsts[cur]!, this.ends[cur]!)) {
      const end = this.ends[cur]!;
      let v = this.firsts[cur]! + 1;
      while (v < end && t.charCodeAt(v) === SP) v++;
      if (v === end || t.charCodeAt(v) === HASH) {
        // `-` alone: the item is the block below it (an empty item is left to yaml)
        const nx = this.content(cur + 1);
        if (nx === this.starts.length || this.indent(nx) <= col) throw BAIL;
        const r = this.block(nx, depth + 1);
        node.items.push(r.node);
        value.push(r.value);
        last = r.next - 1;
        rangeEnd = r.end;
        cur = this.content(r.next);
        continue;
      }
      if (this.isDash(v, end)) throw BAIL; // `- - x`
      if (this.keyAt(v, end)) {
        // `- key: value`: a map whose keys line up with this first key
        const r = this.map(cur, v, depth + 1);
        node.items.push(r.node);
        value.push(r.value);
        last = r.next - 1;
        rangeEnd = r.end;
        cur = this.content(r.next);
        continue;
      }
      if (t.charCodeAt(v) === 0x7c) {
        const b = this.literal(cur, v, end, col);
        node.items.push(b.node);
        value.push(b.value);
        last = b.last;
        rangeEnd = this.after(b.last);
        cur = this.content(b.last + 1);
        if (cur < this.starts.length && this.indent(cur) > col) throw BAIL;
        continue;
      }
      const r = this.inline(v, end, depth + 1);
      this.lineRest(r.end, end);
      node.items.push(r.node);
      value.push(r.value);
      last = cur;
      rangeEnd = this.after(cur);
      cur = this.content(cur + 1);
      // a more indented line would continue this value (or be an error): yaml's business
      if (cur < this.starts.length && this.indent(cur) > col) throw BAIL;
    }
    this.endOfCollection(last, cur, col, false);
    node.range = [start, rangeEnd, rangeEnd];
    return { node, value, next: last + 1, end: rangeEnd };
  }

  /** a block map whose first key starts at offset `k` of line `li`; its keys line up with that one */
  private map(li: number, k: number, depth: number): Block<YAMLMap> {
    if (depth > this.maxDepth) throw BAIL;
    const t = this.t;
    const col = k - this.starts[li]!;
    const node = new YAMLMap();
    const value: Record<string, unknown> = {};
    const seen = new Set<string>();
    let last = li;
    let rangeEnd = 0;
    let endsEmpty = false;
    let cur = li;
    let at = k;
    for (;;) {
      const end = this.ends[cur]!;
      const key = this.key(at, end);
      if (!key || seen.has(key.text)) throw BAIL; // not a key this reader reads, or a duplicate (yaml's error)
      seen.add(key.text);
      let v = key.colon + 1;
      while (v < end && t.charCodeAt(v) === SP) v++;
      let valueNode: FastNode;
      let jsValue: unknown;
      endsEmpty = false;
      if (v === end || t.charCodeAt(v) === HASH) {
        const nx = this.content(cur + 1);
        if (nx < this.starts.length && (this.indent(nx) > col || (this.indent(nx) === col && this.isDash(this.firsts[nx]!, this.ends[nx]!)))) {
          // the value is the block below (a sequence may sit at the key's own indentation)
          const r = this.block(nx, depth + 1);
          valueNode = r.node;
          jsValue = r.value;
          last = r.next - 1;
          rangeEnd = r.end;
          cur = this.content(r.next);
        } else {
          const empty = new Scalar(null);
          empty.range = [v, v, v];
          valueNode = empty;
          jsValue = null;
          last = cur;
          // yaml ends a collection whose last value is empty at that value, or after the comments
          // that follow it (on its line or the lines below, up to the next content)
          let lastComment = v < end ? cur : -1;
          for (let c = cur + 1; c < nx; c++) if (this.firsts[c]! < this.ends[c]!) lastComment = c;
          // (at the end of the text, with a comment: the whole rest, blank lines too)
          rangeEnd = lastComment < 0 ? v : nx === this.starts.length ? this.t.length : this.after(lastComment);
          endsEmpty = true;
          cur = nx;
        }
      } else if (t.charCodeAt(v) === 0x7c) {
        const b = this.literal(cur, v, end, col);
        valueNode = b.node;
        jsValue = b.value;
        last = b.last;
        rangeEnd = this.after(b.last);
        cur = this.content(b.last + 1);
        if (cur < this.starts.length && this.indent(cur) > col) throw BAIL;
      } else {
        const r = this.inline(v, end, depth + 1);
        this.lineRest(r.end, end);
        valueNode = r.node;
        jsValue = r.value;
        last = cur;
        rangeEnd = this.after(cur);
        cur = this.content(cur + 1);
        if (cur < this.starts.length && this.indent(cur) > col) throw BAIL; // a continued value
      }
      node.items.push(new Pair(key.node, valueNode));
      setKey(value, key.text, jsValue);
      if (cur >= this.starts.length || this.indent(cur) !== col) break;
      at = this.firsts[cur]!;
      if (this.isDash(at, this.ends[cur]!)) break; // a sequence at the map's indentation ends it (checked below)
    }
    this.endOfCollection(last, cur, col, endsEmpty);
    node.range = [k, rangeEnd, rangeEnd];
    return { node, value, next: last + 1, end: rangeEnd };
  }

  /**
   * After a collection at `col` whose last content line is `last`: the next content line `cur`
   * must be less indented (or be a map's sequence value, or a sequence's next item, which the
   * caller reads at its own indentation). A comment line between them indented as far as the
   * collection or further is left to yaml, unless the collection ended on an empty value
   * (`ownsComments`, counted in already): yaml counts such a comment into the end of the
   * collection or of its last item. One indented less is not this collection's (yaml's
   * resolve-block-map.js:38,113 and resolve-block-seq.js:33,47; checked against yaml by the tests).
   */
  private endOfCollection(last: number, cur: number, col: number, ownsComments: boolean): void {
    if (cur < this.starts.length && this.indent(cur) > col) throw BAIL;
    if (ownsComments) return;
    for (let c = last + 1; c < cur; c++) if (this.firsts[c]! < this.ends[c]! && this.indent(c) >= col) throw BAIL;
  }

  /** whether a map key (plain word or one-line quoted string, then `:` and a space or the line's end) starts at `o` */
  private keyAt(o: number, end: number): boolean {
    const c = this.t.charCodeAt(o);
    if (c === 0x22 || c === 0x27) {
      const q = this.quoted(o, end);
      return q !== undefined && this.colonAt(q.end, end);
    }
    let e = o;
    while (e < end && this.t.charCodeAt(e) !== 0x3a) e++;
    return e < end && this.colonAt(e, end) && PLAIN_KEY.test(this.t.slice(o, e));
  }

  private colonAt(o: number, end: number): boolean {
    return this.t.charCodeAt(o) === 0x3a && (o + 1 === end || this.t.charCodeAt(o + 1) === SP);
  }

  /** the key at `o`: its node, its text and the offset of its colon; undefined when there is none */
  private key(o: number, end: number): { node: Scalar; text: string; colon: number } | undefined {
    const k = this.keyParts(o, end);
    // yaml refuses a `:` more than 1024 characters after the start of an implicit key
    // (compose/resolve-block-map.js:80, resolve-flow-collection.js:133): such a key is yaml's business
    return k && k.colon - o <= 1000 ? k : undefined;
  }

  private keyParts(o: number, end: number): { node: Scalar; text: string; colon: number } | undefined {
    const t = this.t;
    const c = t.charCodeAt(o);
    if (c === 0x22 || c === 0x27) {
      const q = this.quoted(o, end);
      if (!q || !this.colonAt(q.end, end)) return undefined;
      const node = new Scalar(q.text);
      node.range = [o, q.end, q.end];
      return { node, text: q.text, colon: q.end };
    }
    let e = o;
    while (e < end && t.charCodeAt(e) !== 0x3a) e++;
    if (e >= end || !this.colonAt(e, end)) return undefined;
    const text = t.slice(o, e);
    // a key that reads as null, a boolean or a number, or `<<` (a merge key elsewhere): yaml's business
    if (!PLAIN_KEY.test(text) || typeof resolvePlain(text) !== 'string') return undefined;
    const node = new Scalar(text);
    node.range = [o, e, e];
    return { node, text, colon: e };
  }

  /**
   * A literal block scalar, `|` (clip: one final newline) or `|-` (strip: none), whose header is
   * at `v` on line `li`, the value of a collection at `col` — the scripts of run-script steps.
   * Its indentation is its first line's, which must be deeper than `col`; it ends at the first
   * line indented less (a comment there is no longer content). Keep (`|+`), an indentation
   * indicator, folding (`>`), an empty first line and a line of spaces deeper than the
   * indentation are left to yaml. Its range ends after its last line that is not empty, as yaml's
   * (compose/resolve-block-scalar.js:12-29,110-123: content lines, chomping, range).
   */
  private literal(li: number, v: number, end: number, col: number): { node: Scalar; value: string; last: number } {
    const t = this.t;
    let p = v + 1;
    const strip = t.charCodeAt(p) === 0x2d;
    if (strip) p++;
    this.lineRest(p, end);
    const parts: string[] = [];
    let indent = -1;
    let last = -1;
    let empty = 0;
    for (let l = li + 1; l < this.starts.length; l++) {
      const s = this.starts[l]!;
      const f = this.firsts[l]!;
      if (f === this.ends[l]!) {
        // an empty line: content if another line follows (spaces beyond the indentation are content: yaml's business)
        if (indent < 0 || f - s > indent) throw BAIL;
        empty++;
        continue;
      }
      if (indent < 0) {
        if (f - s <= col) throw BAIL; // an empty block scalar
        indent = f - s;
      }
      if (f - s < indent) break;
      for (; empty > 0; empty--) parts.push('');
      parts.push(t.slice(s + indent, this.ends[l]!));
      last = l;
    }
    if (last < 0) throw BAIL;
    const value = strip ? parts.join('\n') : `${parts.join('\n')}\n`;
    const node = new Scalar(value);
    node.range = [v, this.after(last), this.after(last)];
    return { node, value, last };
  }

  /** after a value on its line: only spaces, then a comment or the line's end */
  private lineRest(o: number, end: number): void {
    const t = this.t;
    let p = o;
    while (p < end && t.charCodeAt(p) === SP) p++;
    if (p === end) return;
    if (t.charCodeAt(p) === HASH && p > o) return;
    throw BAIL;
  }

  /** a value on one line, in block context: flow collection, quoted or plain scalar */
  private inline(v: number, end: number, depth: number): { node: FastNode; value: unknown; end: number } {
    const c = this.t.charCodeAt(v);
    if (c === 0x5b || c === 0x7b) return this.flow(v, end, depth);
    if (c === 0x22 || c === 0x27) {
      const q = this.quoted(v, end);
      if (!q) throw BAIL;
      const node = new Scalar(q.text);
      node.range = [v, q.end, q.end];
      return { node, value: q.text, end: q.end };
    }
    return this.plain(v, end, false);
  }

  /**
   * A plain scalar from `v`: up to a comment or the line's end (block), or also up to `,` `]` `}`
   * (flow). Whatever could start or be another token in it is left to yaml.
   */
  private plain(v: number, end: number, flow: boolean): { node: Scalar; value: unknown; end: number } {
    const t = this.t;
    const c0 = t.charCodeAt(v);
    // indicators that cannot start a plain scalar, and `?` `:` `-` that sometimes can: yaml decides
    // ( - is allowed before a character that is not a space or an indicator: `-n`, `-1` )
    if ('?:,[]{}#&*!|>\'"%@`'.includes(t[v]!)) throw BAIL;
    if (c0 === 0x2d && (v + 1 >= end || '\x20,[]{}#&*!|>\'"%@`?:-'.includes(t[v + 1]!))) throw BAIL;
    let e = v;
    let lastNonSpace = v;
    for (; e < end; e++) {
      const c = t.charCodeAt(e);
      if (c === SP) {
        if (t.charCodeAt(e + 1) === HASH) break; // ` #`: a comment
        continue;
      }
      if (c === 0x3a) {
        const n = e + 1 < end ? t.charCodeAt(e + 1) : SP;
        // `: ` or a final `:` would make a key (an error, or a map yaml reads): not this reader's
        if (n === SP || (flow && (n === 0x2c || n === 0x5d || n === 0x7d))) throw BAIL;
      }
      if (flow && (c === 0x2c || c === 0x5d || c === 0x7d)) break;
      if (flow && (c === 0x5b || c === 0x7b)) throw BAIL;
      lastNonSpace = e + 1;
    }
    const text = t.slice(v, lastNonSpace);
    const node = new Scalar(resolvePlain(text));
    node.range = [v, lastNonSpace, lastNonSpace];
    return { node, value: node.value, end: lastNonSpace };
  }

  /** a quoted scalar closed on its line: its text and the offset after the closing quote */
  private quoted(v: number, end: number): { text: string; end: number } | undefined {
    const t = this.t;
    if (t.charCodeAt(v) === 0x27) {
      let text = '';
      let p = v + 1;
      for (;;) {
        const q = t.indexOf("'", p);
        if (q < 0 || q >= end) return undefined;
        text += t.slice(p, q);
        if (t.charCodeAt(q + 1) === 0x27 && q + 1 < end) {
          text += "'";
          p = q + 2;
          continue;
        }
        return { text, end: q + 1 };
      }
    }
    let text = '';
    let p = v + 1;
    for (;;) {
      let q = p;
      while (q < end && t.charCodeAt(q) !== 0x22 && t.charCodeAt(q) !== 0x5c) q++;
      if (q >= end) return undefined;
      text += t.slice(p, q);
      if (t.charCodeAt(q) === 0x22) return { text, end: q + 1 };
      const esc = ESCAPES[t[q + 1] ?? ''];
      if (esc === undefined || q + 1 >= end) return undefined; // other escapes: yaml's business
      text += esc;
      p = q + 2;
    }
  }

  /** a flow collection closed on its line, of flow scalars and flow collections */
  private flow(v: number, end: number, depth: number): { node: YAMLMap | YAMLSeq; value: unknown; end: number } {
    if (depth > this.maxDepth) throw BAIL;
    const t = this.t;
    const isMap = t.charCodeAt(v) === 0x7b;
    const close = isMap ? 0x7d : 0x5d;
    const node = isMap ? new YAMLMap() : new YAMLSeq();
    node.flow = true;
    const value: unknown = isMap ? {} : [];
    const seen = new Set<string>();
    let p = this.skipSpaces(v + 1, end);
    if (t.charCodeAt(p) === close) {
      node.range = [v, p + 1, p + 1];
      return { node, value, end: p + 1 };
    }
    for (;;) {
      if (p >= end) throw BAIL;
      if (isMap) {
        const key = this.key(p, end);
        if (!key || seen.has(key.text)) throw BAIL;
        seen.add(key.text);
        const vp = this.skipSpaces(key.colon + 1, end);
        const c = t.charCodeAt(vp);
        if (vp >= end || c === 0x2c || c === close || c === HASH) throw BAIL; // `{ a: }`: yaml's business
        const r = this.flowItem(vp, end, depth);
        (node as YAMLMap).items.push(new Pair(key.node, r.node));
        setKey(value as Record<string, unknown>, key.text, r.value);
        p = r.end;
      } else {
        const r = this.flowItem(p, end, depth);
        (node as YAMLSeq).items.push(r.node);
        (value as unknown[]).push(r.value);
        p = r.end;
      }
      p = this.skipSpaces(p, end);
      const c = t.charCodeAt(p);
      if (p < end && c === close) {
        node.range = [v, p + 1, p + 1];
        return { node, value, end: p + 1 };
      }
      if (p >= end || c !== 0x2c) throw BAIL;
      p = this.skipSpaces(p + 1, end);
      if (t.charCodeAt(p) === close || t.charCodeAt(p) === 0x2c) throw BAIL; // a trailing or doubled comma: yaml's business
    }
  }

  private flowItem(p: number, end: number, depth: number): { node: FastNode; value: unknown; end: number } {
    const t = this.t;
    const c = t.charCodeAt(p);
    let r: { node: FastNode; value: unknown; end: number };
    if (c === 0x5b || c === 0x7b) r = this.flow(p, end, depth + 1);
    else if (c === 0x22 || c === 0x27) {
      const q = this.quoted(p, end);
      if (!q) throw BAIL;
      const node = new Scalar(q.text);
      node.range = [p, q.end, q.end];
      r = { node, value: q.text, end: q.end };
    } else r = this.plain(p, end, true);
    // `[a: b]` or `{ a: b: c }`: a pair where yaml reads one, or an error
    const after = this.skipSpaces(r.end, end);
    if (t.charCodeAt(after) === 0x3a) throw BAIL;
    return r;
  }

  private skipSpaces(p: number, end: number): number {
    while (p < end && this.t.charCodeAt(p) === SP) p++;
    return p;
  }
}

/** the double-quoted escapes this reader reads (yaml's full table has more: those are left to it) */
const ESCAPES: Record<string, string> = { '\\': '\\', '"': '"', '/': '/', n: '\n', t: '\t', r: '\r', '0': '\0' };

/** a key as nodes/addPairToJSMap.js:24-33 sets it: one already `in` the object is defined as its own */
function setKey(obj: Record<string, unknown>, key: string, v: unknown): void {
  if (key in obj) Object.defineProperty(obj, key, { value: v, writable: true, enumerable: true, configurable: true });
  else obj[key] = v;
}

/**
 * The document's nodes and value when the text is in the subset this reader reads, undefined when
 * it is not (the caller then reads it with yaml). `maxDepth` as for yaml-doc.ts: a deeper document
 * is left to yaml's path, which reports it.
 */
export function parseFast(text: string, maxDepth: number): FastYaml | undefined {
  if (UNSUPPORTED_CHARS.test(text)) return undefined;
  try {
    return new Reader(text, maxDepth).read();
  } catch (e) {
    if (e === BAIL || e instanceof RangeError) return undefined;
    throw e;
  }
}
