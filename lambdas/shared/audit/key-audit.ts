/**
 * The key audit of one stream: compares the primary keys of the source table with those of the
 * stream's serving table (compare.ts), then repairs the lake through the normal committed-window path:
 *
 * - **Deleted keys** (in the lake, gone from the source): each gets a **tombstone**, the key's
 *   current serving row re-landed with `_deleted = true` and the time of detection as its version,
 *   in one committed window of the audit's run; the publish MERGE deletes the serving row (a
 *   tombstone at least as new as the row). Before a key is tombstoned the source is asked once more
 *   whether it holds the key at all (out of the audit's scope: a cursor before the horizon or NULL),
 *   and such keys are reported, not deleted.
 * - **Missing keys** (in the source, not in the lake: rows lost for any reason): re-extracted by key,
 *   through the same reader, mapper, reconciliation and commit as every window, restricted to the
 *   range the lake should already hold (cursor from the horizon to the stream's watermark). A missing
 *   key whose cursor is at or past the watermark is not lost but not synced yet (`pendingKeys`): the
 *   next incremental run lands it.
 *
 * The run is `audit-<time>`; its windows are registered for publishing like any other, so the next
 * publish applies them (the audit's state machine publishes right after it).
 */
import type { QueryEngine } from '../adapters/athena.ts';
import type { StreamName } from '../canonical.ts';
import type { OperatorConfig } from '../config/schema.ts';
import { resolveStreamPlan } from '../config/stream-plan.ts';
import type { KeyAuditCounts } from '../contracts/steps.ts';
import { type ExtractRangeOutcome, extractRange } from '../extract/extract-range.ts';
import { sourcePlanOf } from '../extract/source-plan.ts';
import { type LandedColumn, landedColumnsOf } from '../landed-schema.ts';
import { PartitionedPartWriter } from '../landing/part-writer.ts';
import { commitWindow, newAttemptId, type WindowManifest } from '../landing/window.ts';
import { dateBound, utcToLocalWallTime, wallTimeBound } from '../mapping/time.ts';
import { parseUnscaled } from '../parquet/decimal-text.ts';
import type { Pseudonymizer } from '../pii/pseudonymizer.ts';
import { pseudonymInput } from '../pii/pseudonymizer.ts';
import type { ObjectSink } from '../sink/sink.ts';
import { MAX_KEYS_PER_READ, type SourceConnection } from '../sources/source.ts';
import type { LandedBatch, LandedValue, SourceKind } from '../types.ts';
import { type CompareResult, compareKeys, startDepth } from './compare.ts';
import { LakeKeySide, lakeRowsStatement } from './lake-side.ts';
import { PseudonymKeySide, type SourceKeyScope, SqlKeySide } from './source-side.ts';

/** A stream cannot be audited (not audited, no snapshot yet). Not retryable. */
export class KeyAuditError extends Error {
  override readonly name = 'KeyAuditError';
  readonly retryable = false;
}

/** Tuning of an audit (config `streams.<stream>.keyAudit`, defaults there). */
export interface KeyAuditTuning {
  /** Keys per source statement. */
  readonly pageRows: number;
  /** A differing bucket of at most this many keys is listed key by key. */
  readonly leafRows: number;
  /** Most keys listed (and differences repaired) by one audit. */
  readonly maxKeys: number;
  /** Depth of the first pass. @default from the table's row estimate (`startDepth`) */
  readonly startDepth?: number;
}

export const DEFAULT_KEY_AUDIT_TUNING: KeyAuditTuning = { pageRows: 100_000, leafRows: 2_000, maxKeys: 50_000 };

export interface KeyAuditDeps {
  readonly config: OperatorConfig;
  readonly source: SourceConnection;
  /** The Athena seam, in the operator's workgroup. */
  readonly athena: QueryEngine;
  /** The operator's Glue database. */
  readonly database: string;
  readonly sink: ObjectSink;
  readonly pseudonymizer: Pseudonymizer;
  readonly pseudonymKey: Buffer;
  /** Registers a window for publishing just before it commits (as extraction does). */
  readonly beforeCommit: (manifest: WindowManifest) => Promise<void>;
  /** @default () => new Date() */
  readonly now?: () => Date;
  readonly tuning?: Partial<KeyAuditTuning>;
}

export interface KeyAuditRequest {
  readonly stream: StreamName;
  /** `audit-…` ({@link auditRunId}). */
  readonly runId: string;
  /** Start of the lake's data for the stream: the first snapshot's start. Older rows never landed. */
  readonly horizon: Date;
  /** The stream's watermark: rows with an earlier cursor should be in the lake. */
  readonly watermark: Date;
}

/** What an audit compared, found and repaired, with the range it covered (the sync state keeps the last one per stream). */
export interface KeyAuditReport extends KeyAuditCounts {
  readonly stream: StreamName;
  readonly horizon: string;
  readonly watermark: string;
}

/** `audit-<UTC time, compact>`: the run id of an audit. */
export function auditRunId(at: Date): string {
  return `audit-${at.toISOString().replace(/[-:.]/g, '').replace('Z', '')}`;
}

/** Whether the lake holds pseudonyms of the stream's primary key. */
export function keyIsPseudonymized(config: OperatorConfig, stream: StreamName): boolean {
  return resolveStreamPlan(config, stream).key.treatment === 'pseudonymize';
}

/** A UTC instant as text the database compares with a cursor column of this kind. */
export function cursorBoundText(at: Date, kind: SourceKind, engine: 'postgres' | 'mysql', timeZone: string): string {
  const ms = at.getTime();
  switch (kind) {
    case 'timestamptz':
      return engine === 'postgres' ? at.toISOString() : utcToLocalWallTime(ms, 'UTC');
    case 'timestamp':
      return wallTimeBound(ms, timeZone);
    case 'date':
      return dateBound(ms, timeZone);
    default:
      throw new RangeError(`a key audit needs a time cursor; the cursor column is of kind ${kind}`);
  }
}

/** Milliseconds of an engine's text of a timestamp (`YYYY-MM-DD HH:MM:SS[.fff…]`, UTC). */
function timestampMs(text: string): number {
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.(\d+))?/.exec(text);
  if (!m) throw new RangeError(`not a timestamp: ${JSON.stringify(text)}`);
  const ms = Date.parse(`${m[1]}T${m[2]}.${(m[3] ?? '').padEnd(3, '0').slice(0, 3)}Z`);
  if (Number.isNaN(ms)) throw new RangeError(`not a timestamp: ${JSON.stringify(text)}`);
  return ms;
}

/** A landed value from the text of a serving column (CAST AS varchar on Athena and DuckDB). */
export function landedValueOf(column: LandedColumn, text: string | null): LandedValue {
  if (text === null) return null;
  switch (column.type.kind) {
    case 'string':
      return text;
    case 'int32':
      return Number.parseInt(text, 10);
    case 'int64':
      return BigInt(text);
    case 'boolean':
      return text === 'true';
    case 'decimal':
      return parseUnscaled(text, column.type.scale);
    case 'timestamp':
      return timestampMs(text);
    case 'date':
      return Math.round(Date.parse(`${text.slice(0, 10)}T00:00:00Z`) / 86_400_000);
  }
}

/**
 * Tombstones of some keys from their current serving rows: the same row, `_deleted = true`, read by
 * this run at `detectedAt`, with a version newer than the row's own (`_cursor_us` the detection time,
 * or the row's cursor when that is later; `_source_seq` the detection time).
 */
export function tombstoneBatch(
  columns: readonly LandedColumn[],
  rows: readonly Record<string, unknown>[],
  runId: string,
  detectedAt: Date,
): LandedBatch {
  const detectedUs = BigInt(detectedAt.getTime()) * 1000n;
  const values = columns.map(() => [] as LandedValue[]);
  for (const row of rows) {
    const text = (name: string) => {
      const v = row[name];
      return v === null || v === undefined ? null : String(v);
    };
    const rowCursorUs = text('_cursor_us') === null ? 0n : BigInt(text('_cursor_us')!);
    const cursorUs = rowCursorUs > detectedUs ? rowCursorUs : detectedUs;
    columns.forEach((c, i) => {
      let v: LandedValue;
      switch (c.name) {
        case '_deleted':
          v = true;
          break;
        case '_cursor_us':
          v = cursorUs;
          break;
        case '_source_seq':
          v = detectedUs;
          break;
        case '_cursor':
          v = Number(cursorUs / 1000n);
          break;
        case '_run_id':
          v = runId;
          break;
        case '_extracted_at':
          v = detectedAt.getTime();
          break;
        default:
          v = landedValueOf(c, text(c.name));
      }
      values[i]!.push(v);
    });
  }
  return { rowCount: rows.length, columns: values };
}

/** Runs the key audit of one stream and repairs what it finds (see the module doc). */
export async function runKeyAudit(deps: KeyAuditDeps, req: KeyAuditRequest): Promise<KeyAuditReport> {
  const { config, source, athena } = deps;
  const now = deps.now ?? (() => new Date());
  const startedAt = now();
  const tuning = { ...DEFAULT_KEY_AUDIT_TUNING, ...deps.tuning };
  const where = `${config.operatorId}/${req.stream} key audit ${req.runId}`;
  const streamPlan = resolveStreamPlan(config, req.stream);
  const plan = sourcePlanOf(streamPlan);
  const range = {
    schema: plan.schema,
    table: plan.table,
    cursorColumn: plan.cursorColumn,
    keyColumn: plan.keyColumn,
  };
  const bounds = await source.cursorBounds({ ...range, from: req.horizon });
  const scope: SourceKeyScope = {
    ...range,
    horizon: cursorBoundText(req.horizon, bounds.kind, source.engine, streamPlan.timeZone),
  };
  const pseudonymized = streamPlan.key.treatment === 'pseudonymize';
  const sideOptions = { pageRows: tuning.pageRows };
  let sourceSide: SqlKeySide | PseudonymKeySide;
  if (pseudonymized) {
    const input = pseudonymInput(req.stream, streamPlan.key.field, streamPlan.keyComparison);
    sourceSide = new PseudonymKeySide(
      source,
      scope,
      (text) => deps.pseudonymizer.pseudonymize(input(text)),
      sideOptions,
    );
  } else {
    sourceSide = new SqlKeySide(source, scope, sideOptions);
  }
  const lakeSide = new LakeKeySide(athena, deps.database, req.stream);
  const estimate = await source.estimateRows(plan.schema, plan.table);
  const compared: CompareResult = await compareKeys(
    sourceSide,
    lakeSide,
    {
      startDepth: tuning.startDepth ?? startDepth(estimate, tuning.leafRows),
      leafRows: tuning.leafRows,
      maxKeys: tuning.maxKeys,
    },
    where,
  );

  const outOfScope = compared.extra.length > 0 ? await sourceSide.present(compared.extra) : new Set<string>();
  const deleted = compared.extra.filter((k) => !outOfScope.has(k));
  const windows: string[] = [];
  const columns = landedColumnsOf(streamPlan);

  // Tombstones, from the keys' current serving rows, in one window per 1,000 keys.
  for (let i = 0; i < deleted.length; i += MAX_KEYS_PER_READ) {
    const chunk = deleted.slice(i, i + MAX_KEYS_PER_READ);
    const served = columns.filter((c) => c.name !== '_deleted').map((c) => c.name);
    const { rows } = await athena.execute(lakeRowsStatement(deps.database, req.stream, served, chunk));
    if (rows.length === 0) continue;
    const detectedAt = now();
    const batch = tombstoneBatch(columns, rows, req.runId, detectedAt);
    const windowId = `tombstones-${i / MAX_KEYS_PER_READ}`;
    const writer = new PartitionedPartWriter({
      sink: deps.sink,
      stream: req.stream,
      runId: req.runId,
      windowId,
      attempt: newAttemptId(detectedAt),
      columns,
      operatorId: config.operatorId,
    });
    try {
      await writer.write(batch);
    } catch (error) {
      await writer.abort().catch(() => undefined);
      throw error;
    }
    const progress = await writer.close();
    const cursorIndex = columns.findIndex((c) => c.name === '_cursor');
    const cursors = (batch.columns[cursorIndex] ?? []) as number[];
    await commitWindow(deps.sink, {
      operatorId: config.operatorId,
      stream: req.stream,
      runId: req.runId,
      windowId,
      from: new Date(Math.min(...cursors)),
      to: new Date(Math.max(...cursors) + 1),
      columns,
      progress,
      now: now(),
      beforeCommit: deps.beforeCommit,
    });
    windows.push(windowId);
  }

  // Lost rows, re-extracted by key over the range the lake should hold.
  const missing = [...compared.missing.values()].sort();
  let rowsRepaired = 0;
  for (let i = 0; i < missing.length; i += MAX_KEYS_PER_READ) {
    const windowId = `repair-${i / MAX_KEYS_PER_READ}`;
    let continuation = null;
    let outcome: ExtractRangeOutcome;
    do {
      outcome = await extractRange(
        {
          config,
          source,
          sink: deps.sink,
          pseudonymizer: deps.pseudonymizer,
          pseudonymKey: deps.pseudonymKey,
          // A repair window is at most 1,000 keys: it finishes in one go.
          remainingMs: () => Number.MAX_SAFE_INTEGER,
          beforeCommit: deps.beforeCommit,
          now,
        },
        {
          stream: req.stream,
          runId: req.runId,
          windowId,
          from: req.horizon,
          to: req.watermark,
          keys: missing.slice(i, i + MAX_KEYS_PER_READ),
          continuation,
        },
      );
      continuation = outcome.status === 'continue' ? outcome.continuation : null;
    } while (outcome.status === 'continue');
    if (outcome.totalRows > 0) windows.push(windowId);
    rowsRepaired += outcome.totalRows;
  }

  return {
    stream: req.stream,
    runId: req.runId,
    startedAt: startedAt.toISOString(),
    finishedAt: now().toISOString(),
    pseudonymized,
    horizon: req.horizon.toISOString(),
    watermark: req.watermark.toISOString(),
    sourceKeys: Number(compared.sourceRows),
    lakeKeys: Number(compared.lakeRows),
    bucketsCompared: compared.bucketsCompared,
    passes: compared.passes,
    bucketsListed: compared.bucketsListed,
    keysListed: compared.keysListed,
    deletesDetected: deleted.length,
    outOfScopeKeys: outOfScope.size,
    missingKeys: compared.missing.size,
    rowsRepaired,
    pendingKeys: compared.missing.size - rowsRepaired,
    windows,
  };
}
