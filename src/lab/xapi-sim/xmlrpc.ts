/**
 * The XML-RPC face of the simulator (`POST /`), for clients that only speak it (XenAPI.py, older
 * SDKs). A small decoder for method calls and an encoder for XAPI's response envelope
 * `{Status: Success, Value}` / `{Status: Failure, ErrorDescription: [code, …params]}`.
 */
type Token = { tag: string; close: boolean; self: boolean } | { text: string };

function tokenize(xml: string): Token[] {
  const out: Token[] = [];
  for (const m of xml.replace(/<\?[^>]*\?>/g, '').matchAll(/<(\/?)([A-Za-z0-9_.:-]+)[^>]*?(\/?)>|([^<]+)/g)) {
    if (m[4] !== undefined) out.push({ text: m[4] });
    else out.push({ tag: m[2]!, close: m[1] === '/', self: m[3] === '/' });
  }
  return out;
}

const unescape = (s: string) =>
  s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

class Parser {
  private i = 0;
  constructor(private readonly t: Token[]) {}

  private skipSpace(): void {
    while (this.i < this.t.length) {
      const x = this.t[this.i]!;
      if ('text' in x && x.text.trim() === '') this.i++;
      else break;
    }
  }

  private open(tag: string): void {
    this.skipSpace();
    const x = this.t[this.i];
    if (!x || 'text' in x || x.close || x.tag !== tag) throw new Error(`expected <${tag}>`);
    this.i++;
  }

  private close(tag: string): void {
    this.skipSpace();
    const x = this.t[this.i];
    if (!x || 'text' in x || !x.close || x.tag !== tag) throw new Error(`expected </${tag}>`);
    this.i++;
  }

  private peekTag(): string | undefined {
    this.skipSpace();
    const x = this.t[this.i];
    return x && !('text' in x) && !x.close ? x.tag : undefined;
  }

  private text(): string {
    const x = this.t[this.i];
    if (x && 'text' in x) {
      this.i++;
      return unescape(x.text);
    }
    return '';
  }

  value(): unknown {
    this.open('value');
    const x = this.t[this.i];
    // <value>bare text</value> is a string
    if (x && 'text' in x && this.t[this.i + 1] && !('text' in this.t[this.i + 1]!) && (this.t[this.i + 1] as { close: boolean }).close) {
      const s = this.text();
      this.close('value');
      return s;
    }
    const tag = this.peekTag();
    let v: unknown;
    if (tag === undefined) v = '';
    else if ((this.t[this.i] as { self: boolean }).self) {
      this.i++;
      v = tag === 'array' ? [] : tag === 'struct' ? {} : '';
    } else {
      this.open(tag);
      switch (tag) {
        case 'string': case 'dateTime.iso8601': v = this.text(); break;
        case 'int': case 'i4': case 'i8': v = Number(this.text()); break;
        case 'double': v = Number(this.text()); break;
        case 'boolean': v = this.text().trim() === '1'; break;
        case 'nil': v = null; break;
        case 'array': {
          const arr: unknown[] = [];
          this.open('data');
          while (this.peekTag() === 'value') arr.push(this.value());
          this.close('data');
          v = arr;
          break;
        }
        case 'struct': {
          const o: Record<string, unknown> = {};
          while (this.peekTag() === 'member') {
            this.open('member');
            this.open('name');
            const k = this.text();
            this.close('name');
            o[k] = this.value();
            this.close('member');
          }
          v = o;
          break;
        }
        default: throw new Error(`unknown XML-RPC type <${tag}>`);
      }
      this.close(tag);
    }
    this.close('value');
    return v;
  }

  methodCall(): { method: string; params: unknown[] } {
    this.open('methodCall');
    this.open('methodName');
    const method = this.text().trim();
    this.close('methodName');
    const params: unknown[] = [];
    if (this.peekTag() === 'params') {
      this.open('params');
      while (this.peekTag() === 'param') {
        this.open('param');
        params.push(this.value());
        this.close('param');
      }
      this.close('params');
    }
    this.close('methodCall');
    return { method, params };
  }
}

export function parseMethodCall(xml: string): { method: string; params: unknown[] } {
  return new Parser(tokenize(xml)).methodCall();
}

export function encodeValue(v: unknown): string {
  if (v === null || v === undefined) return '<value></value>';
  if (typeof v === 'string') return `<value>${escape(v)}</value>`;
  if (typeof v === 'boolean') return `<value><boolean>${v ? 1 : 0}</boolean></value>`;
  if (typeof v === 'number') return Number.isInteger(v) ? `<value><int>${v}</int></value>` : `<value><double>${v}</double></value>`;
  if (Array.isArray(v)) return `<value><array><data>${v.map(encodeValue).join('')}</data></array></value>`;
  if (typeof v === 'object') {
    const members = Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `<member><name>${escape(k)}</name>${encodeValue(x)}</member>`).join('');
    return `<value><struct>${members}</struct></value>`;
  }
  return `<value>${escape(String(v))}</value>`;
}

function envelope(body: Record<string, unknown>): string {
  return `<?xml version="1.0"?>\n<methodResponse><params><param>${encodeValue(body)}</param></params></methodResponse>\n`;
}

export const xmlSuccess = (value: unknown) => envelope({ Status: 'Success', Value: value });
export const xmlFailure = (code: string, params: string[]) => envelope({ Status: 'Failure', ErrorDescription: [code, ...params] });
