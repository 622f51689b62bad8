/**
 * `task.get_result` is an XML-RPC-encoded value even over JSON-RPC, e.g.
 * `<value>OpaqueRef:5ad0…</value>` or `<value><array><data><value>…</value></data></array></value>`.
 * We only need scalars and arrays of scalars (refs), so this is a small decoder, not a parser.
 */
export type XmlRpcValue = string | XmlRpcValue[];

const ENTITIES: Record<string, string> = { '&lt;': '<', '&gt;': '>', '&amp;': '&', '&quot;': '"', '&apos;': "'" };

function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos);/g, (m) => ENTITIES[m] ?? m);
}

export function decodeTaskResult(xml: string): XmlRpcValue {
  const s = xml.trim();
  if (s === '') return '';
  const arr = /^<value>\s*<array>\s*<data>([\s\S]*)<\/data>\s*<\/array>\s*<\/value>$/.exec(s);
  if (arr) {
    const items: XmlRpcValue[] = [];
    for (const m of arr[1]!.matchAll(/<value>([\s\S]*?)<\/value>/g)) items.push(decodeTaskResult(`<value>${m[1]}</value>`));
    return items;
  }
  const v = /^<value>([\s\S]*)<\/value>$/.exec(s);
  if (!v) return unescapeXml(s);
  const inner = v[1]!.trim();
  const typed = /^<(string|int|i4|boolean|double)>([\s\S]*)<\/\1>$/.exec(inner);
  return unescapeXml(typed ? typed[2]! : v[1]!);
}

/** The ref an Async call produced (VM.snapshot → the snapshot's ref), or '' for void calls. */
export function taskResultRef(xml: string): string {
  const v = decodeTaskResult(xml);
  return typeof v === 'string' ? v : '';
}
