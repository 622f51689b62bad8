import { randomBytes } from 'node:crypto';

/** Time-sortable run id: 20261126T120102Z-3fa9 (UTC, then 4 random hex digits). */
export function newRunId(now = new Date()): string {
  const t = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${t}-${randomBytes(2).toString('hex')}`;
}
