/**
 * Incremental runs. The run-lock handler begins a run (once a snapshot has completed, under the
 * operator's run lock) and ends it; in between, incremental-sync lands each stream's changes:
 * it holds the lock ({@link holdIncrementalLock}), reads the range from the stream's watermark
 * minus the lookback (which catches rows committed late with an earlier cursor) up to now minus
 * the safety lag ({@link incrementalRange}), and once the range has landed advances the watermark
 * with a write that never moves it backwards ({@link recordIncrementalRun}).
 */
import type { StreamName } from '../canonical.ts';
import type { OperatorConfig } from '../config/schema.ts';
import { INCREMENTAL_LOCK_TTL_SECONDS } from '../contracts/locks.ts';
import type {
  BeginIncrementalInput,
  BeginIncrementalResult,
  EndIncrementalInput,
  EndIncrementalResult,
} from '../contracts/steps.ts';
import { acceptSchemas } from '../drift/check.ts';
import type { ExtractRangeOutcome } from '../extract/extract-range.ts';
import { holdRangeEnd, type OpenTransactions } from '../sources/open-transactions.ts';
import { INCREMENTAL_LOCK } from '../state/keys.ts';
import type { LockStore } from '../state/locks.ts';
import type { SchemaLedger } from '../state/schemas.ts';
import type { SyncStateStore } from '../state/store.ts';
import type { WatermarkStore } from '../state/watermarks.ts';
import { incrementalRunIdFor, instant } from './ids.ts';
import { databaseStreams } from './snapshot.ts';
import { causeText } from './step-error.ts';

/**
 * Starts an incremental run: nothing to do before a snapshot has completed (`waiting`); otherwise
 * takes the operator's run lock for the execution (`locked` when another run holds it). Taking a
 * lock the same owner already holds succeeds, so a retried step is harmless.
 */
export async function beginIncrementalRun(
  deps: { readonly config: OperatorConfig; readonly store: SyncStateStore },
  input: BeginIncrementalInput,
): Promise<BeginIncrementalResult> {
  const { config, store } = deps;
  const owner = String(input.executionName);
  const startTime = instant(input.startTime, 'startTime', `operator ${config.operatorId}`);
  if (!(await store.snapshots.hasCompleted())) {
    return {
      status: 'waiting',
      reason: `operator ${config.operatorId}: no snapshot has completed yet; incremental syncs start after the first one`,
    };
  }
  if (!(await store.locks.acquire(INCREMENTAL_LOCK, owner, INCREMENTAL_LOCK_TTL_SECONDS))) {
    const holder = (await store.locks.get(INCREMENTAL_LOCK))?.owner ?? 'unknown';
    return {
      status: 'locked',
      holder,
      reason: `operator ${config.operatorId}: incremental run ${holder} is still running`,
    };
  }
  return { status: 'acquired', runId: incrementalRunIdFor(startTime, owner), owner, streams: databaseStreams(config) };
}

/** Ends an incremental run: releases the lock and summarizes the streams' outcomes. */
export async function endIncrementalRun(
  deps: { readonly config: OperatorConfig; readonly store: SyncStateStore },
  input: EndIncrementalInput,
): Promise<EndIncrementalResult> {
  const released = await deps.store.locks.release(INCREMENTAL_LOCK, String(input.owner));
  if (input.error) {
    return {
      released,
      failed: 1,
      summary: `${input.error.Error ?? 'error'}: ${causeText(input.error.Cause)}`,
    };
  }
  const results = input.results ?? [];
  const nullCursorRows: Record<string, number> = {};
  for (const r of results) if (typeof r.nullCursorRows === 'number') nullCursorRows[r.stream] = r.nullCursorRows;
  const withNulls = Object.entries(nullCursorRows).filter(([, n]) => n > 0);
  const nullsText =
    withNulls.length > 0
      ? `; not landed: rows with a NULL cursor (${withNulls.map(([s, n]) => `${s} ${n}`).join(', ')})`
      : '';
  const failed = results.filter((r) => r.status === 'failed');
  if (failed.length > 0) {
    const summary = failed
      .map((r) => `stream ${r.stream} (${r.error ?? 'error'}${r.cause ? ` – ${causeText(r.cause, 200)}` : ''})`)
      .join('; ');
    return { released, failed: failed.length, summary: `${summary}${nullsText}`, nullCursorRows };
  }
  const landed = results.filter((r) => r.status === 'complete').map((r) => r.stream);
  const skipped = results.filter((r) => r.status === 'skipped').map((r) => r.stream);
  return {
    released,
    failed: 0,
    summary: `landed ${landed.join(', ') || 'no stream'}${skipped.length > 0 ? `; skipped ${skipped.join(', ')}` : ''}${nullsText}`,
    nullCursorRows,
  };
}

// ------------------------------------------------------------------------------------- one stream

/** Window id of an incremental run's objects: a run reads one range per stream. */
export const INCREMENTAL_WINDOW_ID = 'incr';

/** The stream cannot be synced incrementally yet, or the run lost its lock. Not retryable. */
export class IncrementalSyncError extends Error {
  override readonly name = 'IncrementalSyncError';
}

/** The operator's run lock as one invocation of a stream's run holds it. */
export interface HeldRunLock {
  readonly owner: string;
  /** Releases a lock the invocation took itself (a lock the state machine holds stays). Never throws. */
  readonly release: () => Promise<void>;
}

/**
 * Holds the operator's incremental lock for one invocation of a stream's run. Under the state
 * machine (`lockOwner` given) the lock is renewed, and an invocation whose run no longer holds it
 * fails; a direct invocation takes the lock itself, and gets undefined when another run holds it.
 */
export async function holdIncrementalLock(
  locks: LockStore,
  input: {
    readonly runId: string;
    readonly stream: string;
    readonly lockOwner?: string | undefined;
    /** Names the operator, stream and run in errors. */
    readonly where: string;
  },
): Promise<HeldRunLock | undefined> {
  const owner = input.lockOwner ?? `${input.runId}/${input.stream}`;
  if (input.lockOwner) {
    if (!(await locks.renew(INCREMENTAL_LOCK, owner, INCREMENTAL_LOCK_TTL_SECONDS))) {
      throw new IncrementalSyncError(`${input.where}: the run no longer holds the operator's incremental lock`);
    }
    return { owner, release: async () => undefined };
  }
  if (!(await locks.acquire(INCREMENTAL_LOCK, owner, INCREMENTAL_LOCK_TTL_SECONDS))) return undefined;
  return {
    owner,
    release: () =>
      locks.release(INCREMENTAL_LOCK, owner).then(
        () => undefined,
        () => undefined,
      ),
  };
}

/** The range a stream's run reads, and what it was computed from. */
export interface IncrementalRange {
  /** ISO-8601, as the run's invocations pass it on. */
  readonly range: { readonly from: string; readonly to: string };
  readonly from: Date;
  readonly to: Date;
  /** The watermark the previous run (or the snapshot) ended at; undefined before the first. */
  readonly previousWatermark?: Date;
  /** Seconds the range end was held behind an open transaction, when that was checked. */
  readonly heldBackSeconds?: number;
}

export interface IncrementalRangeDeps {
  readonly config: OperatorConfig;
  readonly watermarks: WatermarkStore;
  /** Reads the source's open transactions; called only on PostgreSQL with `incremental.holdBackForOpenTransactions`. */
  readonly openTransactions: () => Promise<OpenTransactions>;
  /** Told how far the range end was held, before that is recorded (metrics and logs). */
  readonly onHoldback?: (held: {
    readonly heldBackSeconds: number;
    readonly visibility: OpenTransactions['visibility'];
    readonly to: Date;
  }) => void;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * The range of a stream's run: the one its first invocation fixed (continuations pass it on), or
 * [watermark − lookback, now − safety lag], never ending before the watermark and, on PostgreSQL,
 * held behind the oldest open writing transaction (recorded with the stream's state). Fails with
 * {@link IncrementalSyncError} before the stream's snapshot has completed.
 */
export async function incrementalRange(
  deps: IncrementalRangeDeps,
  input: {
    readonly stream: StreamName;
    readonly runId: string;
    readonly where: string;
    readonly range?: { readonly from: string; readonly to: string } | null | undefined;
  },
): Promise<IncrementalRange> {
  // The watermark the previous run (or the snapshot) ended at: it does not move before this run
  // completes, so every invocation of the run reads the same one.
  const previousWatermark = await deps.watermarks.get(input.stream);
  const previous = previousWatermark ? { previousWatermark } : {};
  if (input.range) {
    return { ...previous, range: input.range, from: new Date(input.range.from), to: new Date(input.range.to) };
  }
  if (!previousWatermark) {
    throw new IncrementalSyncError(`${input.where}: no watermark yet; the stream's snapshot has not completed`);
  }
  const { lookbackMinutes, safetyLagSeconds } = deps.config.incremental;
  const now = (deps.now ?? Date.now)();
  const from = new Date(previousWatermark.getTime() - lookbackMinutes * 60_000);
  let to = new Date(Math.max(now - safetyLagSeconds * 1000, previousWatermark.getTime()));
  const held = await holdBehindOpenTransactions(deps, input, to, previousWatermark);
  if (held) to = held.to;
  const range = { from: from.toISOString(), to: to.toISOString() };
  return {
    ...previous,
    range,
    from: new Date(range.from),
    to: new Date(range.to),
    ...(held ? { heldBackSeconds: held.heldBackSeconds } : {}),
  };
}

/**
 * PostgreSQL: the range end held behind the oldest open writing transaction (minus the margin),
 * recorded in the sync state. Undefined for other engines or when the holdback is off.
 */
async function holdBehindOpenTransactions(
  deps: IncrementalRangeDeps,
  input: { readonly stream: StreamName; readonly runId: string },
  proposed: Date,
  watermark: Date,
): Promise<{ to: Date; heldBackSeconds: number } | undefined> {
  const { source, incremental } = deps.config;
  if (source.type !== 'postgres' || !incremental.holdBackForOpenTransactions) return undefined;
  const open = await deps.openTransactions();
  const held = holdRangeEnd(proposed, watermark, open, incremental.openTransactionMarginSeconds * 1000);
  const heldBackSeconds = held.heldBackMs / 1000;
  deps.onHoldback?.({ heldBackSeconds, visibility: open.visibility, to: held.to });
  await deps.watermarks.recordHoldback(input.stream, {
    runId: input.runId,
    heldBackSeconds,
    visibility: open.visibility,
  });
  return { to: held.to, heldBackSeconds };
}

/** What the last invocation of a run landed, as the extractor reports it. */
export type LandedRange = Pick<
  Extract<ExtractRangeOutcome, { readonly status: 'complete' }>,
  'totalRows' | 'nullCursorRows' | 'lateness'
>;

/** The run's success as recorded in the stream's state. */
export interface RecordedIncrementalRun {
  /** The stream's watermark after the run (a newer one, when another run had moved it further). */
  readonly watermark: Date;
  /** Rows of the stream's table with a NULL cursor (never landed), as counted by the run. */
  readonly nullCursorRows: number;
  /** Late arrivals found by the run; undefined when not measured (no digest of the previous read). */
  readonly lateness?: { readonly rows: number; readonly maxLatenessSeconds: number };
}

/**
 * Records a run whose range has landed: the NULL-cursor count and the late arrivals first, then the
 * watermark moves to the range end (never backwards), then the columns the run saw become the
 * stream's schema fingerprint.
 */
export async function recordIncrementalRun(
  deps: { readonly watermarks: WatermarkStore; readonly schemas: SchemaLedger },
  input: { readonly stream: StreamName; readonly runId: string; readonly to: Date; readonly landed: LandedRange },
): Promise<RecordedIncrementalRun> {
  const { stream, runId, to, landed } = input;
  // Recorded before the watermark moves: the watermark is the run's success, and a retry after a
  // failed write here reads the same range again.
  const nullCursorRows = landed.nullCursorRows ?? 0;
  await deps.watermarks.recordNullCursorRows(stream, { rows: nullCursorRows, runId });
  const lateness = landed.lateness
    ? { rows: landed.lateness.rows, maxLatenessSeconds: landed.lateness.maxMicros / 1e6 }
    : undefined;
  if (landed.lateness && lateness) {
    await deps.watermarks.recordLateness(stream, {
      runId,
      rows: lateness.rows,
      maxSeconds: lateness.maxLatenessSeconds,
      histogram: landed.lateness.histogram,
    });
  }
  const advanced = await deps.watermarks.advance(stream, to, runId, { rowCount: landed.totalRows });
  const watermark = advanced.current ?? to;
  // The run succeeded: the columns it saw become the stream's fingerprint.
  await acceptSchemas(deps.schemas, [stream], runId);
  return { watermark, nullCursorRows, ...(lateness ? { lateness } : {}) };
}
