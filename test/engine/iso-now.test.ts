import { afterEach, describe, expect, it, vi } from 'vitest';
import { isoNow } from '../../src/util/iso-now.js';

describe('isoNow', () => {
  afterEach(() => { vi.useRealTimers(); });

  it('is new Date().toISOString() of the current millisecond, made again when the clock moves', () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2026-12-07T05:30:00.123Z'));
    expect(isoNow()).toBe('2026-12-07T05:30:00.123Z');
    expect(isoNow()).toBe('2026-12-07T05:30:00.123Z');
    vi.setSystemTime(new Date('2026-12-07T05:30:00.124Z'));
    expect(isoNow()).toBe('2026-12-07T05:30:00.124Z');
    // a clock set back (NTP) is followed too
    vi.setSystemTime(new Date('2026-12-07T05:29:59.000Z'));
    expect(isoNow()).toBe('2026-12-07T05:29:59.000Z');
  });

  it('follows the real clock', () => {
    const before = Date.now();
    const t = Date.parse(isoNow());
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(Date.now());
  });
});
