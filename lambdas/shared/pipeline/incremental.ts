/**
 * Beginning and ending incremental runs (the run-lock handler): a run starts once a snapshot has
 * completed and holds the operator's run lock until it ends.
 */
import type { StreamName } from '../canonical.ts';
import type { OperatorConfig } from '../config/schema.ts';
import { INCREMENTAL_LOCK_TTL_SECONDS } from '../contracts/locks.ts';
import { INCREMENTAL_LOCK } from '../state/keys.ts';
import type { SyncStateStore } from '../state/store.ts';
import { incrementalRunIdFor, instant } from './ids.ts';
import { databaseStreams } from './snapshot.ts';
import { causeText, type StepError } from './step-error.ts';

/** run-lock `begin` input. */
export interface BeginIncrementalInput {
  /** `$$.Execution.Name`: the lock owner. */
  readonly executionName: string;
  /** `$$.Execution.StartTime` */
  readonly startTime: string;
}

/** run-lock `begin` output. */
export type BeginIncrementalResult =
  | {
      readonly status: 'acquired';
      readonly runId: string;
      /** Lock owner to pass to incremental-sync as `lockOwner`. */
      readonly owner: string;
      readonly streams: readonly StreamName[];
    }
  | { readonly status: 'waiting'; readonly reason: string }
  | { readonly status: 'locked'; readonly holder: string; readonly reason: string };

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

/** One stream's outcome in the incremental Map. */
export interface StreamOutcome {
  readonly stream: string;
  readonly status: 'complete' | 'skipped' | 'failed' | string;
  readonly error?: string;
  readonly cause?: string;
  /** Rows of the stream's table with a NULL cursor (never landed); null when not counted. */
  readonly nullCursorRows?: number | null;
}

/** run-lock `end` input. */
export interface EndIncrementalInput {
  readonly owner: string;
  readonly runId?: string | null;
  readonly results?: readonly StreamOutcome[] | null;
  /** Set when the run failed outside the streams. */
  readonly error?: StepError | null;
}

/** run-lock `end` output. */
export interface EndIncrementalResult {
  /** Whether this call released the lock (false when the run no longer held it). */
  readonly released: boolean;
  /** Streams that failed (or 1 when the run failed outside the streams). */
  readonly failed: number;
  /** Names the failed streams and their errors, or the streams that landed. */
  readonly summary: string;
  /** Rows with a NULL cursor per stream that counted them in this run (never landed). */
  readonly nullCursorRows?: Readonly<Record<string, number>>;
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
