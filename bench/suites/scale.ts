import type { SuiteContext, SuiteResult } from '../lib/suite.js';
export async function scaleSuite(_ctx: SuiteContext): Promise<SuiteResult> {
  return { name: 'scale', title: 'scale', markdown: 'TODO', data: {} };
}
