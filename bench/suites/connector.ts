import type { SuiteContext, SuiteResult } from '../lib/suite.js';
export async function connectorSuite(_ctx: SuiteContext): Promise<SuiteResult> {
  return { name: 'connector', title: 'connector', markdown: 'TODO', data: {} };
}
