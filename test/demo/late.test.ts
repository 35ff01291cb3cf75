import { describe, expect, it } from 'vitest';
import type { StreamName } from '#shared/canonical';
import type { IncrementalSyncResult } from '#shared/contracts/steps';
import { expectedLateness, lateArrivalChecks, observedLateness, type SourceRead } from '../../demo/integrity/late.ts';

const MIN = 60_000;
const W0 = Date.UTC(2026, 0, 1, 12);
const W1 = W0 + 30 * MIN;

const read = (versions: Record<string, number>, to: number): SourceRead => ({
  state: new Map<StreamName, Map<string, { cursorMs: number }>>([
    ['payments', new Map(Object.entries(versions).map(([k, cursorMs]) => [k, { cursorMs }]))],
  ]),
  ranges: new Map([['payments', { from: to - 60 * MIN, to }]]),
});

describe('demo late-arrival expectation', () => {
  it('counts versions of the previous read’s lookback region that it did not see, late by its watermark − cursor', () => {
    const snapshot = read({ a: W0 - 40 * MIN, b: W0 - 5 * MIN }, W0);
    // Before run 1: c committed late (10 min before the cutoff), b updated after the cutoff, d far behind.
    const run1 = read({ a: W0 - 40 * MIN, b: W0 + MIN, c: W0 - 10 * MIN, d: W0 - 90 * MIN }, W1);
    // Before run 2: e late by 25 minutes against run 1's watermark.
    const run2 = read(
      { a: W0 - 40 * MIN, b: W0 + MIN, c: W0 - 10 * MIN, d: W0 - 90 * MIN, e: W1 - 25 * MIN },
      W1 + 30 * MIN,
    );
    expect(expectedLateness([snapshot, run1, run2], 60 * MIN)).toEqual({ rows: 2, maxSeconds: 25 * 60 });
  });

  it('takes the observed values from the complete, measured results only', () => {
    const results = [
      { status: 'complete', stream: 'payments', lateness: { rows: 1, maxLatenessSeconds: 600 } },
      { status: 'continue', stream: 'payments' },
      { status: 'complete', stream: 'players', lateness: { rows: 2, maxLatenessSeconds: 1500.0004 } },
    ] as unknown as IncrementalSyncResult[];
    expect(observedLateness(results)).toEqual({ rows: 3, maxSeconds: 1500 });
    expect(observedLateness([{ status: 'complete', stream: 'payments' } as unknown as IncrementalSyncResult])).toBe(
      undefined,
    );
    const checks = lateArrivalChecks([read({}, W0), read({ x: W0 - MIN }, W1)], results, 60 * MIN);
    expect(checks).toEqual([
      { field: 'lateRows', observed: 3, expected: 1 },
      { field: 'maxLatenessSeconds', observed: 1500, expected: 60 },
    ]);
  });
});
