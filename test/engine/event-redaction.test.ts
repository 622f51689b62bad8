/**
 * One redacted copy of an event per redactor, shared by the journal and the reporters
 * (src/util/redact.ts, redactedOnce): the sharing must never hand one output a copy made with
 * another redactor, and the copy must hold no secret in any field, a key included.
 */
import { describe, expect, it } from 'vitest';
import { eventJson, type RunEvent } from '../../src/engine/events.js';
import { createPlainReporter } from '../../src/report/plain.js';
import { Redactor, redactedOnce as redactedEvent } from '../../src/util/redact.js';

const SECRET = 'hunter2-"quoted"\nline';

function stepResult(): RunEvent {
  return {
    type: 'step-result', host: 'h1', step: `print ${SECRET}`, stepType: 'run-script', index: 0, phase: 'main',
    status: 'failed', summary: `exit 1: ${SECRET}`, diff: `+ echo ${SECRET}`, durationMs: 12, time: '2026-12-07T00:00:00.000Z',
  };
}

describe('redactedOnce (one redacted copy of an event)', () => {
  it('masks every string of the event, and the journal text and a reporter see the same copy', () => {
    const r = new Redactor();
    r.add(SECRET);
    const redact = (s: string): string => r.redact(s);
    const e = stepResult();
    const v = redactedEvent(e, redact);
    expect(JSON.stringify(v)).not.toContain('hunter2');
    expect(v).not.toBe(e);
    expect(redactedEvent(e, redact)).toBe(v);
    // the journal's JSON is made from that copy
    expect(eventJson(e, redact)).not.toContain('hunter2');
    // the event itself is left as it was
    expect(e.type === 'step-result' && e.summary).toContain('hunter2');
    let out = '';
    const rep = createPlainReporter({ write: (s: string) => { out += s; return true; } } as NodeJS.WritableStream, { color: false, verbose: 0, diff: true, redact, check: false });
    rep.event(e);
    expect(out).toContain('exit 1: ***');
    expect(out).not.toContain('hunter2');
  });

  it('does not hand a copy made by one redactor to another', () => {
    const none = (s: string): string => s;
    const r = new Redactor();
    r.add(SECRET);
    const masked = (s: string): string => r.redact(s);
    const e = stepResult();
    // the first caller's redactor masks nothing: its copy is the event itself
    expect(redactedEvent(e, none)).toBe(e);
    // a second output with a real redactor still gets a masked copy, not the cached one
    expect(JSON.stringify(redactedEvent(e, masked))).not.toContain('hunter2');
    expect(eventJson(e, masked)).not.toContain('hunter2');
  });
});
