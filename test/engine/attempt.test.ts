/** One try of a step (src/engine/attempt.ts): what aborts it, what a race settles to, what done() leaves. */
import { describe, expect, it } from 'vitest';
import { ABORTED, Attempt } from '../../src/engine/attempt.js';
import { RunControl } from '../../src/engine/control.js';

const never = (): Promise<string> => new Promise(() => {});

describe('Attempt', () => {
  it('the second interrupt aborts a running try: its signal first (with the run\'s reason), then its race settles ABORTED', async () => {
    const c = new RunControl();
    const a = new Attempt(c, 60_000);
    const order: string[] = [];
    a.signal.addEventListener('abort', () => order.push(`signal:${(a.signal.reason as Error).message}`));
    const r = a.race(async () => { await never(); return 'x'; }).then((v) => { order.push('race'); return v; });
    expect(c.interrupt()).toBe('stop');
    await new Promise((res) => setImmediate(res));
    expect(a.signal.aborted).toBe(false); // the first interrupt lets the step finish
    expect(c.interrupt()).toBe('abort');
    expect(await r).toBe(ABORTED);
    expect(order).toEqual(['signal:aborted by second interrupt', 'race']);
    a.done();
  });

  it('the timeout aborts the try, not the run', async () => {
    const c = new RunControl();
    const a = new Attempt(c, 20);
    expect(await a.race(never)).toBe(ABORTED);
    expect((a.signal.reason as Error).message).toBe('timeout');
    expect(c.aborted).toBe(false);
    a.done();
  });

  it('a settled race returns the value or the thrown error; a race after the abort does not run fn', async () => {
    const c = new RunControl();
    const a = new Attempt(c, 60_000);
    expect(await a.race(async () => 7)).toBe(7);
    const e = await a.race(async () => { throw new Error('bug'); });
    expect(e).toBeInstanceOf(Error);
    expect((e as Error).message).toBe('bug');
    c.interrupt(); c.interrupt();
    let ran = false;
    expect(await a.race(async () => { ran = true; return 1; })).toBe(ABORTED);
    expect(ran).toBe(false);
    a.done();
  });

  it('done() leaves nothing behind: a later abort does not reach the try, and no timer keeps it', async () => {
    const c = new RunControl();
    const a = new Attempt(c, 30);
    a.done();
    c.interrupt(); c.interrupt();
    await new Promise((res) => setTimeout(res, 60));
    expect(a.signal.aborted).toBe(false);
  });

  it('a try started after the run was aborted is not aborted by it (as with the abort listener it replaces)', () => {
    const c = new RunControl();
    c.interrupt(); c.interrupt();
    const a = new Attempt(c, 60_000);
    expect(a.signal.aborted).toBe(false);
    a.done();
  });

  it('makes no AbortSignal for a try whose step never reads it; one aborted first gives a late reader an aborted signal with the reason', async () => {
    const c = new RunControl(); // (it has an AbortController of its own)
    const Real = globalThis.AbortController;
    let made = 0;
    globalThis.AbortController = class extends Real { constructor() { super(); made++; } };
    try {
      const quiet = new Attempt(c, 60_000);
      expect(await quiet.race(async () => 'done')).toBe('done');
      quiet.done();
      expect(made).toBe(0);

      const late = new Attempt(c, 20);
      expect(await late.race(never)).toBe(ABORTED);
      expect(made).toBe(0);
      expect(late.signal.aborted).toBe(true);
      expect((late.signal.reason as Error).message).toBe('timeout');
      expect(late.signal).toBe(late.signal); // one signal, made once
      expect(made).toBe(1);
      late.done();
    } finally {
      globalThis.AbortController = Real;
    }
  });
});
