// A scripted registry of fake step types with real schemas, so loader tests do not depend on
// which step types the product ships at the moment.
import { makeRegistry } from '../../src/steps/registry.js';
import type { AnyStep, StepRegistry } from '../../src/steps/registry.js';

const noop = {
  needs: 'none' as const,
  plan: async () => ({ kind: 'ok' as const, summary: 'nothing to do' }),
  apply: async () => ({ kind: 'ok' as const, summary: 'nothing done' }),
};

export const rigSteps: AnyStep[] = [
  {
    ...noop,
    type: 'snapshot',
    description: 'take a VM snapshot',
    makesRestorePoint: true,
    schema: {
      type: 'object',
      properties: { name: { type: 'string' }, memory: { type: 'boolean' }, keep: { type: 'integer', minimum: 0 } },
      additionalProperties: false,
    },
  },
  {
    ...noop,
    type: 'reboot',
    description: 'reboot the guest',
    schema: {
      type: 'object',
      properties: { mode: { enum: ['guest', 'hard'] }, wait: { type: 'integer', minimum: 1 } },
      additionalProperties: false,
    },
    shorthand: (v) => ({ mode: v ?? 'guest' }),
  },
  {
    ...noop,
    type: 'run-script',
    description: 'run a script in the guest',
    schema: {
      type: 'object',
      properties: {
        script: { type: 'string', minLength: 1 },
        args: { type: 'array', items: { type: 'string' } },
        expect_exit: { type: 'array', items: { type: 'integer' } },
        become: { type: 'boolean' },
      },
      required: ['script'],
      additionalProperties: false,
    },
    shorthand: (v) => ({ script: String(v) }),
  },
  {
    ...noop,
    type: 'attach-iso',
    description: 'insert an ISO into the CD drive',
    schema: {
      type: 'object',
      properties: { iso: { type: 'string' }, sr: { type: 'string' } },
      required: ['iso'],
      additionalProperties: false,
    },
  },
];

export function rigRegistry(): StepRegistry {
  return makeRegistry(rigSteps);
}
