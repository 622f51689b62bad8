import type { RunEvent } from '../engine/events.js';

/** Consumes engine events; the only things that print. */
export interface Reporter {
  event(e: RunEvent): void;
  close(): Promise<void>;
}

export type Redact = (text: string) => string;

export function fanout(reporters: Reporter[]): Reporter {
  return {
    event: (e) => reporters.forEach((r) => r.event(e)),
    close: async () => { for (const r of reporters) await r.close(); },
  };
}
