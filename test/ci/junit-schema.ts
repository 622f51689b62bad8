/**
 * A JUnit XML check for tests, with no dependency: a small well-formedness parser (elements,
 * attributes, text, entities, matched tags) and the structure of the JUnit schema CI systems
 * read (Jenkins' junit-10.xsd, which GitLab and the GitHub test-report actions follow):
 *
 *   testsuites[name?, tests?, failures?, errors?, skipped?, time?]
 *     > testsuite[name, tests, failures?, errors?, skipped?, time?, timestamp?, hostname?, id?, package?]
 *       > properties?, testcase*, system-out?, system-err?
 *         testcase[name, classname?, time?, assertions?, status?]
 *           > skipped?, error*, failure*, system-out*, system-err*   (failure/error[message?, type?])
 */
export interface XmlEl { name: string; attrs: Record<string, string>; children: XmlEl[]; text: string }

const ENTITY: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(s: string, at: number): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-z]+);|&/g, (m, e: string | undefined) => {
    if (!e) throw new Error(`bare '&' near offset ${at}`);
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(Number(e.slice(1)));
    const v = ENTITY[e];
    if (v === undefined) throw new Error(`unknown entity ${m} near offset ${at}`);
    return v;
  });
}

export function parseXml(xml: string): XmlEl {
  let i = 0;
  if (xml.startsWith('<?xml')) i = xml.indexOf('?>') + 2;
  // eslint-disable-next-line no-control-regex
  const bad = /[\x00-\x08\x0b\x0c\x0e-\x1f]/.exec(xml);
  if (bad) throw new Error(`control character U+${bad[0].charCodeAt(0).toString(16)} at ${bad.index} is not allowed in XML 1.0`);
  const stack: XmlEl[] = [];
  let root: XmlEl | undefined;
  const nameRe = /[A-Za-z_][\w.-]*/y;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const textEnd = lt < 0 ? xml.length : lt;
    const text = xml.slice(i, textEnd);
    if (text.trim() !== '') {
      const top = stack.at(-1);
      if (!top) throw new Error(`text outside the root element at ${i}`);
      top.text += decode(text, i);
    }
    if (lt < 0) break;
    i = lt;
    if (xml.startsWith('<!--', i)) { i = xml.indexOf('-->', i) + 3; continue; }
    if (xml.startsWith('</', i)) {
      nameRe.lastIndex = i + 2;
      const m = nameRe.exec(xml);
      const top = stack.pop();
      if (!m || !top || top.name !== m[0]) throw new Error(`mismatched closing tag at ${i}: </${m?.[0] ?? '?'}> for <${top?.name ?? 'nothing'}>`);
      i = xml.indexOf('>', i) + 1;
      continue;
    }
    nameRe.lastIndex = i + 1;
    const m = nameRe.exec(xml);
    if (!m) throw new Error(`bad tag at ${i}`);
    const el: XmlEl = { name: m[0], attrs: {}, children: [], text: '' };
    i = nameRe.lastIndex;
    const attrRe = /\s+([A-Za-z_][\w.:-]*)="([^"<]*)"|\s*(\/?)>/y;
    for (;;) {
      attrRe.lastIndex = i;
      const a = attrRe.exec(xml);
      if (!a) throw new Error(`bad attribute syntax in <${el.name}> at ${i}`);
      i = attrRe.lastIndex;
      if (a[1] !== undefined) {
        if (a[1] in el.attrs) throw new Error(`duplicate attribute ${a[1]} in <${el.name}>`);
        el.attrs[a[1]] = decode(a[2]!, i);
        continue;
      }
      const parent = stack.at(-1);
      if (parent) parent.children.push(el);
      else if (root) throw new Error('more than one root element');
      else root = el;
      if (a[3] !== '/') stack.push(el);
      break;
    }
  }
  if (stack.length) throw new Error(`unclosed <${stack.at(-1)!.name}>`);
  if (!root) throw new Error('no root element');
  return root;
}

const INT = /^\d+$/;
const DECIMAL = /^\d+(\.\d+)?$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/;

function checkAttrs(el: XmlEl, required: string[], optional: Record<string, RegExp | null>, path: string, out: string[]): void {
  const allowed = new Set([...required, ...Object.keys(optional)]);
  for (const r of required) if (el.attrs[r] === undefined) out.push(`${path}: missing attribute '${r}'`);
  for (const [k, v] of Object.entries(el.attrs)) {
    if (!allowed.has(k)) { out.push(`${path}: attribute '${k}' is not in the schema`); continue; }
    const re = optional[k];
    if (re && !re.test(v)) out.push(`${path}: ${k}='${v}' does not match ${re}`);
  }
}

/** Problems against the JUnit schema; [] when valid. Counts must agree with the children. */
export function validateJunit(xml: string): string[] {
  const out: string[] = [];
  let root: XmlEl;
  try { root = parseXml(xml); } catch (e) { return [`not well-formed: ${(e as Error).message}`]; }
  if (root.name !== 'testsuites') return [`root is <${root.name}>, not <testsuites>`];
  checkAttrs(root, [], { name: null, tests: INT, failures: INT, errors: INT, skipped: INT, disabled: INT, time: DECIMAL }, 'testsuites', out);
  let total = 0;
  for (const [si, s] of root.children.entries()) {
    const sp = `testsuite[${si}]`;
    if (s.name !== 'testsuite') { out.push(`testsuites: child <${s.name}> is not allowed`); continue; }
    checkAttrs(s, ['name', 'tests'], { failures: INT, errors: INT, skipped: INT, disabled: INT, time: DECIMAL, timestamp: TIMESTAMP, hostname: null, id: null, package: null }, sp, out);
    const order = ['properties', 'testcase', 'system-out', 'system-err'];
    let last = 0;
    let f = 0, e = 0, k = 0, n = 0;
    for (const c of s.children) {
      const o = order.indexOf(c.name);
      if (o < 0) { out.push(`${sp}: child <${c.name}> is not allowed`); continue; }
      if (o < last) out.push(`${sp}: <${c.name}> out of order`);
      last = o;
      if (c.name !== 'testcase') continue;
      n++;
      const cp = `${sp}/testcase[${c.attrs['name'] ?? '?'}]`;
      checkAttrs(c, ['name'], { classname: null, time: DECIMAL, assertions: INT, status: null, file: null, line: INT }, cp, out);
      let skippedSeen = 0;
      for (const x of c.children) {
        switch (x.name) {
          case 'skipped': skippedSeen++; k++; checkAttrs(x, [], { message: null }, `${cp}/skipped`, out); break;
          case 'failure': f++; checkAttrs(x, [], { message: null, type: null }, `${cp}/failure`, out); break;
          case 'error': e++; checkAttrs(x, [], { message: null, type: null }, `${cp}/error`, out); break;
          case 'system-out': case 'system-err': checkAttrs(x, [], {}, `${cp}/${x.name}`, out); break;
          default: out.push(`${cp}: child <${x.name}> is not allowed`);
        }
        if (x.children.length) out.push(`${cp}/${x.name}: must hold text only`);
      }
      if (skippedSeen > 1) out.push(`${cp}: more than one <skipped>`);
    }
    total += n;
    const want = (a: string, v: number): void => {
      if (s.attrs[a] !== undefined && Number(s.attrs[a]) !== v) out.push(`${sp}: ${a}="${s.attrs[a]}" but ${v} found`);
    };
    want('tests', n); want('failures', f); want('errors', e); want('skipped', k);
  }
  if (root.attrs['tests'] !== undefined && Number(root.attrs['tests']) !== total) out.push(`testsuites: tests="${root.attrs['tests']}" but ${total} found`);
  return out;
}
