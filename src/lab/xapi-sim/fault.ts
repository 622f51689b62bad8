/** An XAPI error raised by a simulated method; the server turns it into a JSON-RPC error. */
export class XapiFault extends Error {
  constructor(readonly code: string, readonly params: string[] = []) {
    super(`${code} [${params.join(', ')}]`);
  }
}

/** Fault injection rule: matching calls fail, are delayed or lose their connection. */
export interface FaultRule {
  /** exact method name (e.g. 'VM.clean_reboot' or 'Async.VM.snapshot') or a RegExp */
  method: string | RegExp;
  /** let this many matching calls through first */
  afterCalls?: number;
  /** fail this many times, then stop (default: always) */
  times?: number;
  /** fail with this XAPI error */
  code?: string;
  params?: string[];
  /** add latency before handling (ms) */
  latencyMs?: number;
  /** destroy the connection without an answer */
  drop?: boolean;
}

export interface FaultState extends FaultRule {
  seen: number;
  fired: number;
}

export function matches(rule: FaultRule, method: string): boolean {
  return typeof rule.method === 'string' ? rule.method === method : rule.method.test(method);
}
