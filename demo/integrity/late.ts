/**
 * The late-arrival check of the demo: what the incremental runs reported (`lateness` of each
 * stream's result) against what the demo's own reads of the source say must be late.
 *
 * A version is late for run i when it lies in the lookback region [W − lookback, W) of the read
 * before it (the snapshot for the first run, else run i − 1, whose watermark is W) and that read did
 * not see it: it is in the source state read just before run i but not in the state read just
 * before the previous read. Its lateness is W − its cursor. The demo injects such versions: the
 * activity of the first step starts 30 minutes before the snapshot cutoff, each step commits a
 * payment 20 or 10 minutes before its start, and every step's new activity and updates up to the
 * previous run's watermark (which is later than the step's start) commit after that run read.
 */
import type { StreamName } from '#shared/canonical';
import type { IncrementalSyncResult } from '#shared/contracts/steps';
import type { IntegrityCheck } from '../integrity.ts';

/** A read of the source: its state just before the read, and per stream the range the read covered. */
export interface SourceRead {
  readonly state: ReadonlyMap<StreamName, ReadonlyMap<string, { readonly cursorMs: number }>>;
  readonly ranges: ReadonlyMap<StreamName, { readonly from: number; readonly to: number }>;
}

const ms3 = (seconds: number) => Math.round(seconds * 1000) / 1000;

/** Late versions each read after the first must find, and the largest lateness among them. */
export function expectedLateness(
  reads: readonly SourceRead[],
  lookbackMs: number,
): { rows: number; maxSeconds: number } {
  let rows = 0;
  let maxSeconds = 0;
  for (let i = 1; i < reads.length; i++) {
    const before = reads[i - 1]!;
    for (const [stream, versions] of reads[i]!.state) {
      const watermark = before.ranges.get(stream)?.to;
      if (watermark === undefined || !reads[i]!.ranges.has(stream)) continue;
      const seen = before.state.get(stream);
      for (const [key, version] of versions) {
        if (version.cursorMs < watermark - lookbackMs || version.cursorMs >= watermark) continue;
        if (seen?.get(key)?.cursorMs === version.cursorMs) continue;
        rows += 1;
        maxSeconds = Math.max(maxSeconds, (watermark - version.cursorMs) / 1000);
      }
    }
  }
  return { rows, maxSeconds: ms3(maxSeconds) };
}

/** What the runs reported: late rows summed over runs and streams, and the largest lateness. */
export function observedLateness(
  results: readonly IncrementalSyncResult[],
): { rows: number; maxSeconds: number } | undefined {
  const measured = results.filter(
    (r): r is Extract<IncrementalSyncResult, { status: 'complete' }> =>
      r.status === 'complete' && r.lateness !== undefined,
  );
  if (measured.length === 0) return undefined;
  return {
    rows: measured.reduce((n, r) => n + (r.lateness?.rows ?? 0), 0),
    maxSeconds: ms3(Math.max(...measured.map((r) => r.lateness?.maxLatenessSeconds ?? 0))),
  };
}

/** The demo's `lateRows` and `maxLatenessSeconds` checks. */
export function lateArrivalChecks(
  reads: readonly SourceRead[],
  results: readonly IncrementalSyncResult[],
  lookbackMs: number,
): IntegrityCheck[] {
  const expected = expectedLateness(reads, lookbackMs);
  const observed = observedLateness(results);
  return [
    { field: 'lateRows', observed: observed?.rows, expected: expected.rows },
    { field: 'maxLatenessSeconds', observed: observed?.maxSeconds, expected: expected.maxSeconds },
  ];
}
