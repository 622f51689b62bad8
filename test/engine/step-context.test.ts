/** The StepContext (src/engine/step-context.ts): its signal is made only when a step reads it, through every copy. */
import { describe, expect, it } from 'vitest';
import { extendContext, makeStepContext, predictOnlyContext, type StepContextDeps } from '../../src/engine/step-context.js';
import { ok } from '../../src/util/result.js';

const deps = (): StepContextDeps => ({
  host: { name: 'h1', vars: {}, groups: ['all'], pos: { file: 't', line: 1, col: 1 } } as unknown as StepContextDeps['host'],
  check: false,
  services: { guest: async () => ok({}), vm: async () => ok({}) } as unknown as StepContextDeps['services'],
  facts: {} as StepContextDeps['facts'],
  state: {} as StepContextDeps['state'],
  scope: () => ({ v: 1 }),
  emit: () => {},
  now: () => 't',
});

describe('step context signal', () => {
  it('is asked for only when read, and once per read, through predictOnlyContext and extendContext', () => {
    let asked = 0;
    const ac = new AbortController();
    const base = makeStepContext(deps(), () => { asked++; return ac.signal; }, 's');
    const predicted = predictOnlyContext(base);
    const resumed = extendContext(base, { resumedApply: { intent: { action: 'x' } } as never });
    expect(asked).toBe(0);
    expect(predicted.check).toBe(true);
    expect(base.check).toBe(false);
    expect(resumed.resumedApply).toBeDefined();
    expect(resumed.scope).toEqual({ v: 1 });
    expect(asked).toBe(0);
    expect(predicted.signal).toBe(ac.signal);
    expect(resumed.signal).toBe(ac.signal);
    expect(asked).toBe(2);
  });

  it('a plain AbortSignal is passed through as it is', () => {
    const ac = new AbortController();
    expect(makeStepContext(deps(), ac.signal, 's').signal).toBe(ac.signal);
  });
});

describe('hasTemplateText (a step\'s arguments rendered at run time only when it is true)', () => {
  it('finds `{{` at any depth, in values only, and nothing in constants', async () => {
    const { hasTemplateText } = await import('../../src/util/template-text.js');
    expect(hasTemplateText({ script: 'true', env: { A: '1' }, args: ['x', 2, null, true] })).toBe(false);
    expect(hasTemplateText('{{ registered.x.stdout }}')).toBe(true);
    expect(hasTemplateText({ a: [{ b: ['x', 'y {{ facts.os.id }}'] }] })).toBe(true);
    expect(hasTemplateText({ a: 'unclosed {{ x' })).toBe(true); // rendered, so the error is reported
    expect(hasTemplateText({ '{{ key }}': 'v' })).toBe(false); // keys are never rendered
    expect(hasTemplateText(Object.create({ inherited: '{{ x }}' }))).toBe(false);
    expect(hasTemplateText(undefined)).toBe(false);
  });
});
