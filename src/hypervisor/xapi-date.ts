/**
 * XAPI datetimes come as `20260126T11:51:32Z` (XML-RPC style, what JSON-RPC returns), sometimes
 * with fractional seconds or in extended ISO form. Returns epoch ms, or undefined if unparseable.
 */
export function parseXapiDate(s: unknown): number | undefined {
  if (typeof s !== 'string') return undefined;
  // seconds since the epoch, as a float ("1627478400."): a form the SDKs must read (xen-api
  // component-test vector vm_special_value, ocaml/sdk-gen/component-test/spec/xapi-24)
  const epoch = /^\s*(\d+)(\.\d*)?\s*$/.exec(s);
  if (epoch) return Math.round(Number(epoch[1] + (epoch[2] && epoch[2] !== '.' ? epoch[2] : '')) * 1000);
  const m = /^(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):?(\d{2}):?(\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/.exec(s.trim());
  if (!m) return undefined;
  const frac = m[7] ? Math.round(Number(m[7]) * 1000) : 0;
  let t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), frac);
  const tz = m[8];
  if (tz && tz !== 'Z') {
    const sign = tz.startsWith('-') ? -1 : 1;
    const d = tz.slice(1).replace(':', '');
    t -= sign * (Number(d.slice(0, 2)) * 60 + Number(d.slice(2, 4))) * 60_000;
  }
  return t;
}
