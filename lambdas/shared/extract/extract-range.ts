/**
 * Extracts one [from, to) cursor range of one stream into Parquet parts, reconciles it against the
 * source, and commits it with its manifest. Shared by the snapshot windows and the incremental
 * runs; both handlers only add state bookkeeping, locks and metrics around it.
 *
 * **Time budget.** Reading stops at a batch boundary once less than `reserveMs` of the Lambda's
 * time is left. The parts written so far are closed, and the caller gets a continuation (sealed
 * last position, part numbers and statistics, source figures) to invoke again with.
 *
 * **Reconciliation.** Each invocation reads and counts inside one REPEATABLE READ READ ONLY
 * transaction, so the source figures describe exactly the rows read, even while the operator's
 * database keeps changing: the rows after the previous position up to the window end, minus,
 * when the invocation stopped early, the rows after its own last position. The sums of the
 * invocations are compared with what landed before the manifest is written; a mismatch fails the
 * window and nothing is published. The window's money totals per currency (deposits, withdrawals,
 * stakes, payouts, GGR) are reconciled too, by one GROUP BY in the same transaction
 * (extract/money-totals.ts): a difference is recorded in the manifest and reported, not failed.
 *
 * **Atomicity.** Nothing is visible before `commitWindow` writes the window's committed list. Each
 * attempt at a window (its first invocation and its continuations) writes under its own attempt
 * prefix; a failed attempt is never visible, and is removed by the next commit of the window or by
 * the landing sweep.
 *
 * A continuation made with other landed columns (a deployment mid-window) is not resumed: the range
 * starts over under a new attempt, so a window's parts always share the schema its manifest records.
 *
 * **Versions.** Every row read in an invocation lands with `_source_seq` = when that invocation's
 * source transaction took its snapshot, by the database's clock (mapping/version.ts); the
 * invocations of one window read disjoint (cursor, key) ranges, so they never hold two versions of
 * one row.
 */
import type { StreamName } from '../canonical.ts';
import type { OperatorConfig } from '../config/schema.ts';
import { resolveStreamPlan } from '../config/stream-plan.ts';
import type { Continuation, LatenessStats, Reconciliation } from '../contracts/steps.ts';
import { type LandedColumn, landedColumnsOf, schemaFingerprint } from '../landed-schema.ts';
import type { EncodedBatch } from '../landing/batch-encoding.ts';
import { PartitionedPartWriter, partFileOptions } from '../landing/part-writer.ts';
import { commitWindow, newAttemptId, type WindowManifest } from '../landing/window.ts';
import { createRowMapper, type RowMapper } from '../mapping/mapper.ts';
import { databaseSourceSeq } from '../mapping/version.ts';
import { addDecimalTexts, decimalTextsEqual, subtractDecimalTexts } from '../parquet/decimal-text.ts';
import type { Pseudonymizer } from '../pii/pseudonymizer.ts';
import type { ObjectSink } from '../sink/sink.ts';
import type { CountAndSums, KeysetPosition, SourceConnection } from '../sources/source.ts';
import type { SourceBatch } from '../types.ts';
import { type BatchPoolSession, JOB_ROWS, sharedBatchPool } from './batch-pool.ts';
import { checkCursorLookback } from './cursor-check.ts';
import { digestKey, LatenessTracker, loadDigest, mergeLateness, storeDigestPart } from './lateness.ts';
import {
  combineMoneyTotals,
  compareMoneyTotals,
  landedMoneyTotals,
  type MoneyTotals,
  moneyTotalsPlan,
  sourceMoneyTotals,
} from './money-totals.ts';
import { openPosition, sealPosition } from './position.ts';
import { sourcePlanOf } from './source-plan.ts';

/** Landed figures differ from the source's for the same range. Not retryable: it needs a look. */
export class ReconciliationError extends Error {
  override readonly name = 'ReconciliationError';
  constructor(
    message: string,
    readonly reconciliation: Reconciliation,
  ) {
    super(message);
  }
}

export interface ExtractRangeDeps {
  readonly config: OperatorConfig;
  readonly source: SourceConnection;
  readonly sink: ObjectSink;
  readonly pseudonymizer: Pseudonymizer;
  /** The operator's pseudonym key, which also seals continuation positions. */
  readonly pseudonymKey: Buffer;
  /** Milliseconds left in the invocation. */
  readonly remainingMs: () => number;
  /**
   * Stop reading when less than this is left (closing parts, counting and committing need it).
   * @default 90000
   */
  readonly reserveMs?: number;
  /** @default 10000 */
  readonly batchRows?: number;
  /** Parquet part size limit. @default the writer's (128 MiB) */
  readonly partBytes?: number;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** Called with the manifest just before the window commits (registers it for publishing). */
  readonly beforeCommit?: (manifest: WindowManifest) => Promise<void>;
  /**
   * Worker threads that map batches and encode them into Parquet row groups (batch-pool.ts) while
   * this thread reads, places the row groups in the parts and uploads; 0 does everything on this
   * thread. The workers are the process's shared pool, kept warm between windows; they
   * pseudonymize with `pseudonymKey` (as `pseudonymizer` does). The Lambda runtime passes
   * `defaultBatchWorkers()`.
   * @default 0
   */
  readonly workers?: number;
  /**
   * Rows the window's first batch must hold for the workers to start: a window smaller than one
   * batch is mapped on this thread, since starting a worker costs more than mapping it there.
   * @default batchRows (the first batch is full, so more follow)
   */
  readonly workerMinRows?: number;
  /**
   * Source rows gathered into one job for a worker; a row group ends at each job boundary.
   * @default JOB_ROWS (65536)
   */
  readonly workerJobRows?: number;
}

export interface ExtractRangeRequest {
  readonly stream: StreamName;
  readonly runId: string;
  readonly windowId: string;
  readonly from: Date;
  readonly to: Date;
  readonly continuation?: Continuation | null;
  /**
   * An incremental run: its first invocation counts the table's rows with a NULL cursor (which no
   * range ever holds) and refuses a naive cursor the lookback does not cover, before reading.
   * @default false
   */
  readonly incremental?: boolean;
  /**
   * Late-arrival measurement (extract/lateness.ts): the versions found in the digest region of the
   * read that ended at `previousWatermark` and missing from its digest are counted late; the versions
   * found in [recordUntil − lookback, recordUntil) are recorded as this read's digest part.
   */
  readonly lateness?: {
    readonly previousWatermark?: Date;
    readonly recordUntil?: Date;
    readonly lookbackMs: number;
  };
  /**
   * Only these keys of the range (the key audit re-extracting lost rows), in the reader's text form;
   * at most `MAX_KEYS_PER_READ`.
   */
  readonly keys?: readonly string[];
}

export type ExtractRangeOutcome =
  | { readonly status: 'continue'; readonly continuation: Continuation; readonly rows: number; readonly bytes: number }
  | {
      readonly status: 'complete';
      /** Rows read by this invocation. */
      readonly rows: number;
      /** Rows of the whole range (all invocations). */
      readonly totalRows: number;
      /** Bytes written by this invocation. */
      readonly bytes: number;
      /** Parquet bytes of the whole range. */
      readonly totalBytes: number;
      readonly manifestKey: string;
      /** Objects of other attempts at the window removed by the commit. */
      readonly strayObjectsDeleted: number;
      readonly reconciliation: Reconciliation;
      /** Unmapped enumeration values seen by this invocation, per canonical field. */
      readonly unmapped: Record<string, number>;
      /** Incremental runs: rows of the table whose cursor is NULL, counted by the first invocation. */
      readonly nullCursorRows?: number;
      /** Late versions found by the whole range; absent when not measured (no previous digest). */
      readonly lateness?: LatenessStats;
    };

function lastPosition(batch: SourceBatch, cursorColumn: string, keyColumn: string): KeysetPosition {
  const row = batch.copyText ? batch.copyText.lastRow : batch.rows[batch.rows.length - 1];
  const c = batch.columns.findIndex((col) => col.name === cursorColumn);
  const k = batch.columns.findIndex((col) => col.name === keyColumn);
  const cursor = row?.[c];
  const key = row?.[k];
  if (cursor == null || key == null) throw new Error('a read row has a NULL cursor or key');
  return { cursor, key };
}

function subtract(a: CountAndSums, b: CountAndSums | undefined): { count: bigint; sums: Record<string, string> } {
  const sums: Record<string, string> = {};
  for (const [col, value] of Object.entries(a.sums)) {
    sums[col] = b ? subtractDecimalTexts(value, b.sums[col] ?? '0') : value;
  }
  return { count: a.count - (b?.count ?? 0n), sums };
}

/** Extracts, reconciles and (when the range is complete) commits one range. */
export async function extractRange(deps: ExtractRangeDeps, req: ExtractRangeRequest): Promise<ExtractRangeOutcome> {
  const { config, source, sink } = deps;
  // The stream's config, resolved once for the source plan, the landed columns and the mapper.
  const streamPlan = resolveStreamPlan(config, req.stream);
  const plan = sourcePlanOf(streamPlan);
  const columns: readonly LandedColumn[] = landedColumnsOf(streamPlan);
  const fingerprint = schemaFingerprint(columns);
  const reserveMs = deps.reserveMs ?? 90_000;
  const now = deps.now ?? (() => new Date());
  // A continuation written with other landed columns (or by a version that named no attempt) starts
  // the range over as a new attempt: one window, one schema. The commit then removes the earlier
  // attempt's parts.
  const previous =
    req.continuation &&
    req.continuation.schemaFingerprint === fingerprint &&
    typeof req.continuation.progress?.attempt === 'string'
      ? req.continuation
      : undefined;
  const after = previous ? openPosition(deps.pseudonymKey, previous.after) : undefined;
  const moneySource = Object.values(plan.moneyColumns);
  // A continuation begun by a version without money totals has no source totals for its earlier
  // segments: that window goes without them.
  const totalsPlan =
    previous && previous.source.moneyTotals === undefined ? undefined : moneyTotalsPlan(config, req.stream);
  const range = {
    schema: plan.schema,
    table: plan.table,
    cursorColumn: plan.cursorColumn,
    keyColumn: plan.keyColumn,
    from: req.from,
    to: req.to,
    ...(req.keys ? { keys: req.keys } : {}),
  };

  const writer = new PartitionedPartWriter({
    sink,
    stream: req.stream,
    runId: req.runId,
    windowId: req.windowId,
    attempt: previous?.progress.attempt ?? newAttemptId(now()),
    columns,
    operatorId: config.operatorId,
    ...(previous ? { resume: previous.progress } : {}),
    ...(deps.partBytes ? { partBytes: deps.partBytes } : {}),
  });

  const tracker = req.lateness ? await latenessTracker(deps, req, req.lateness) : undefined;
  let cursorUsIndex = -1;
  let keyIndex = -1;

  let mapper: RowMapper | undefined;
  const batchRowsLimit = deps.batchRows ?? 10_000;
  const workerMinRows = deps.workerMinRows ?? batchRowsLimit;
  /** Decided at the window's first batch: through the pool, or on this thread. */
  let useWorkers: boolean | undefined;
  // A read that measures or records late arrivals needs each row's key and cursor on this thread:
  // it maps here (incremental runs, and the snapshot windows that reach into the cutoff's lookback).
  const workers = tracker ? 0 : (deps.workers ?? 0);
  let pool: BatchPoolSession | undefined;
  /** Jobs handed to the pool and not yet written, in read order. */
  const inFlight: Promise<EncodedBatch>[] = [];
  /** Source batches of the job being gathered, and their rows. */
  let job: SourceBatch[] = [];
  let jobRows = 0;
  const writeOldest = async () => {
    await writer.writeEncoded(await inFlight.shift()!);
  };
  const submitJob = async () => {
    if (!pool || job.length === 0) return;
    const encoded = pool.encode(job);
    // Awaited in order below; a failure of a later job must not go unhandled meanwhile.
    encoded.catch(() => {});
    inFlight.push(encoded);
    job = [];
    jobRows = 0;
    while (inFlight.length >= pool.maxInFlight) await writeOldest();
  };
  let rows = 0;
  let stoppedAt: KeysetPosition | undefined;
  let nullCursorRows = previous?.nullCursorRows;
  let segment: { count: bigint; sums: Record<string, string>; moneyTotals?: MoneyTotals };
  try {
    segment = await source.snapshot(async (view) => {
      if (req.incremental && !previous) {
        const counted = await source.countNullCursor(range);
        checkCursorLookback(config, { stream: req.stream, where: `run ${req.runId}` }, counted);
        nullCursorRows = Number(counted.rows);
      }
      let last: KeysetPosition | undefined;
      for await (const batch of source.readRange({
        ...range,
        columns: plan.columns,
        ...(after ? { after } : {}),
        batchRows: batchRowsLimit,
        ...(workers > 0 ? { copyText: true } : {}),
      })) {
        const batchRows = batch.copyText ? batch.copyText.rowCount : batch.rows.length;
        if (batchRows === 0) continue;
        useWorkers ??= workers > 0 && batchRows >= workerMinRows;
        if (useWorkers) {
          pool ??= sharedBatchPool().open(
            {
              config,
              stream: req.stream,
              sourceColumns: batch.columns,
              pseudonymKey: deps.pseudonymKey,
              runId: req.runId,
              extractedAt: now().getTime(),
              sourceSeq: databaseSourceSeq(view.readAtMicros),
              cursorColumn: plan.cursorColumn,
              context: { operatorId: config.operatorId, stream: req.stream, windowId: `${req.runId}/${req.windowId}` },
              fileOptions: partFileOptions(req.stream, columns),
            },
            workers,
          );
          job.push(batch);
          jobRows += batchRows;
          if (jobRows >= (deps.workerJobRows ?? JOB_ROWS)) await submitJob();
        } else {
          mapper ??= createRowMapper({
            config,
            stream: req.stream,
            plan: streamPlan,
            sourceColumns: batch.columns,
            pseudonymizer: deps.pseudonymizer,
            runId: req.runId,
            extractedAt: now(),
            sourceSeq: databaseSourceSeq(view.readAtMicros),
            cursorColumn: plan.cursorColumn,
          });
          const landed = mapper.map(batch);
          if (tracker) {
            if (cursorUsIndex < 0) {
              cursorUsIndex = mapper.columns.findIndex((c) => c.name === '_cursor_us');
              keyIndex = batch.columns.findIndex((c) => c.name === plan.keyColumn);
            }
            const cursors = landed.columns[cursorUsIndex]!;
            for (let i = 0; i < batch.rows.length; i++) {
              tracker.observe(String(batch.rows[i]![keyIndex]), BigInt(cursors[i] as bigint));
            }
          }
          await writer.write(landed);
        }
        rows += batchRows;
        last = lastPosition(batch, plan.cursorColumn, plan.keyColumn);
        if (deps.remainingMs() < reserveMs) {
          stoppedAt = last;
          break;
        }
      }
      await submitJob();
      while (inFlight.length > 0) await writeOldest();
      const readFromStart = await source.countAndSums({
        ...range,
        ...(after ? { after } : {}),
        moneyColumns: moneySource,
      });
      const beyondStop = stoppedAt
        ? await source.countAndSums({ ...range, after: stoppedAt, moneyColumns: moneySource })
        : undefined;
      if (!totalsPlan) return subtract(readFromStart, beyondStop);
      // The money totals of the same rows: one GROUP BY over the same range (two when stopped early).
      const grouped = (from: KeysetPosition | undefined) =>
        source.groupedSums({
          ...range,
          ...(from ? { after: from } : {}),
          groupColumns: totalsPlan.sourceGroupColumns,
          moneyColumns: Object.values(totalsPlan.sourceMoneyColumns),
        });
      const totalsFromStart = sourceMoneyTotals(totalsPlan, await grouped(after));
      const moneyTotals = stoppedAt
        ? combineMoneyTotals(totalsFromStart, sourceMoneyTotals(totalsPlan, await grouped(stoppedAt)), -1)
        : totalsFromStart;
      return { ...subtract(readFromStart, beyondStop), moneyTotals };
    });
  } catch (error) {
    pool?.close();
    await writer.abort().catch(() => undefined);
    throw error;
  }
  let unmapped: Record<string, number>;
  try {
    unmapped = pool
      ? Object.fromEntries(Object.entries(await pool.unmapped()).map(([f, u]) => [f, u.count]))
      : (mapper?.unmappedCounts() ?? {});
  } catch (error) {
    await writer.abort().catch(() => undefined);
    throw error;
  } finally {
    pool?.close();
  }
  const progress = await writer.close();
  const digest = tracker?.digest();
  if (digest && req.lateness?.recordUntil) {
    await storeDigestPart(sink, req.stream, req.lateness.recordUntil, digest);
  }
  const lateness =
    tracker?.measured === true
      ? previous?.lateness
        ? mergeLateness(previous.lateness, tracker.stats())
        : tracker.stats()
      : undefined;

  const sourceCount = (BigInt(previous?.source.count ?? '0') + segment.count).toString();
  const sourceSums: Record<string, string> = { ...(previous?.source.sums ?? {}) };
  for (const [col, value] of Object.entries(segment.sums)) {
    sourceSums[col] = sourceSums[col] === undefined ? value : addDecimalTexts(sourceSums[col], value);
  }
  const sourceTotals = segment.moneyTotals
    ? combineMoneyTotals(previous?.source.moneyTotals ?? {}, segment.moneyTotals)
    : undefined;

  if (stoppedAt) {
    return {
      status: 'continue',
      rows,
      bytes: progress.bytes - (previous?.progress.bytes ?? 0),
      continuation: {
        after: sealPosition(deps.pseudonymKey, stoppedAt),
        progress,
        source: { count: sourceCount, sums: sourceSums, ...(sourceTotals ? { moneyTotals: sourceTotals } : {}) },
        invocations: (previous?.invocations ?? 0) + 1,
        schemaFingerprint: fingerprint,
        ...(nullCursorRows !== undefined ? { nullCursorRows } : {}),
        ...(lateness ? { lateness } : {}),
      },
    };
  }

  const sums: Record<string, { source: string; landed: string }> = {};
  let ok = sourceCount === String(progress.rowCount);
  for (const [field, sourceColumn] of Object.entries(plan.moneyColumns)) {
    const landed = progress.moneySums[field] ?? '0';
    const fromSource = sourceSums[sourceColumn] ?? '0';
    sums[field] = { source: fromSource, landed };
    if (!decimalTextsEqual(landed, fromSource)) ok = false;
  }
  const moneyTotals =
    totalsPlan && sourceTotals
      ? compareMoneyTotals(totalsPlan, sourceTotals, landedMoneyTotals(totalsPlan, progress.moneyGroups ?? []))
      : undefined;
  const reconciliation: Reconciliation = {
    ok,
    sourceRows: sourceCount,
    landedRows: String(progress.rowCount),
    sums,
    ...(moneyTotals ? { moneyTotalsMismatches: moneyTotals.mismatches } : {}),
  };
  if (!ok) {
    const detail = Object.entries(sums)
      .filter(([, s]) => !decimalTextsEqual(s.landed, s.source))
      .map(([f, s]) => `${f} source ${s.source} landed ${s.landed}`);
    throw new ReconciliationError(
      `${config.operatorId}/${req.stream} window ${req.runId}/${req.windowId}: landed data does not reconcile with the source ` +
        `(rows source ${sourceCount} landed ${progress.rowCount}${detail.length ? `; ${detail.join('; ')}` : ''}); nothing was published`,
      reconciliation,
    );
  }

  const committed = await commitWindow(sink, {
    operatorId: config.operatorId,
    stream: req.stream,
    runId: req.runId,
    windowId: req.windowId,
    from: req.from,
    to: req.to,
    columns,
    progress,
    now: now(),
    ...(deps.beforeCommit ? { beforeCommit: deps.beforeCommit } : {}),
    ...(moneyTotals ? { moneyTotals } : {}),
  });
  return {
    status: 'complete',
    rows,
    totalRows: progress.rowCount,
    bytes: progress.bytes - (previous?.progress.bytes ?? 0),
    totalBytes: progress.bytes,
    manifestKey: committed.manifestKey,
    strayObjectsDeleted: committed.deletedKeys.length,
    reconciliation,
    unmapped,
    ...(nullCursorRows !== undefined ? { nullCursorRows } : {}),
    ...(lateness ? { lateness } : {}),
  };
}

/**
 * The tracker of one invocation: the previous read's digest (loaded again by every invocation, so
 * continuations need no state but their counts) and the region this read records.
 */
async function latenessTracker(
  deps: ExtractRangeDeps,
  req: ExtractRangeRequest,
  options: NonNullable<ExtractRangeRequest['lateness']>,
): Promise<LatenessTracker> {
  const previous = options.previousWatermark
    ? await loadDigest(deps.sink, req.stream, options.previousWatermark)
    : undefined;
  const until = options.recordUntil;
  const record =
    until && until.getTime() - options.lookbackMs < req.to.getTime()
      ? {
          fromMicros: BigInt(until.getTime() - options.lookbackMs) * 1000n,
          toMicros: BigInt(until.getTime()) * 1000n,
        }
      : undefined;
  return new LatenessTracker({
    key: digestKey(deps.pseudonymKey),
    ...(previous ? { previous } : {}),
    ...(record ? { record } : {}),
  });
}
