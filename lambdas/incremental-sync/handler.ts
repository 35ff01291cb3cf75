/**
 * incremental-sync: lands one stream's changes since its watermark (minus the lookback, which
 * catches rows committed late with an earlier cursor) up to now minus the safety lag, then
 * advances the watermark with a write that can never move it backwards.
 *
 * Only one incremental run per operator at a time: the state machine holds the operator's run
 * lock and passes its owner (the handler renews it); a direct invocation takes the lock itself
 * and reports `skipped` when another run holds it.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { isStreamName, type StreamName } from '#shared/canonical';
import { DIMENSIONS, METRICS } from '#shared/contracts/metrics';
import { acceptSchemas, checkSchemas } from '#shared/drift/check';
import { ReconciliationError } from '#shared/extract/extract-range';
import { deleteDigestsBefore } from '#shared/extract/lateness';
import type { IncrementalSyncInput, IncrementalSyncResult, SchemaDriftSummary } from '#shared/pipeline/contracts';
import {
  createExtractorRuntime,
  extractForInvocation,
  invocationTools,
  openOperatorSource,
} from '#shared/runtime/extractor';
import { loggableError, wrapHandler } from '#shared/runtime/observability';
import { reportSchemaCheck, summarize } from '#shared/runtime/schema-drift';
import { holdRangeEnd, openTransactions } from '#shared/sources/open-transactions';
import type { SourceConnection } from '#shared/sources/source';
import { INCREMENTAL_LOCK } from '#shared/state/keys';

const rt = createExtractorRuntime();
const { logger, metrics } = rt.obs;

/** Lock lifetime; a crashed run's lock expires after it. Longer than one Lambda invocation. */
const LOCK_TTL_SECONDS = 20 * 60;
const WINDOW_ID = 'incr';

/** The stream cannot be synced incrementally yet, or the run lost its lock. Not retryable. */
export class IncrementalSyncError extends Error {
  override readonly name = 'IncrementalSyncError';
}

export async function incrementalSync(event: IncrementalSyncInput, context?: Context): Promise<IncrementalSyncResult> {
  const { stream, runId } = event;
  const where = `${rt.config.operatorId}/${stream} run ${runId}`;
  if (!isStreamName(stream) || !rt.config.streams[stream]) {
    throw new IncrementalSyncError(`${rt.config.operatorId}: stream ${JSON.stringify(stream)} is not configured`);
  }
  logger.appendKeys({ stream, runId, windowId: WINDOW_ID });
  metrics.addDimension(DIMENSIONS.stream, stream);
  const started = Date.now();

  const owner = event.lockOwner ?? `${runId}/${stream}`;
  if (event.lockOwner) {
    if (!(await rt.store.locks.renew(INCREMENTAL_LOCK, owner, LOCK_TTL_SECONDS))) {
      throw new IncrementalSyncError(`${where}: the run no longer holds the operator's incremental lock`);
    }
  } else if (!(await rt.store.locks.acquire(INCREMENTAL_LOCK, owner, LOCK_TTL_SECONDS))) {
    logger.info('another incremental run holds the lock; skipping');
    return {
      status: 'skipped',
      stream,
      reason: 'another incremental run of this operator holds the lock',
      nullCursorRows: null,
    };
  }

  try {
    let range = event.range ?? null;
    // The watermark the previous run (or the snapshot) ended at: it does not move before this run
    // completes, so every invocation of the run reads the same one.
    const previousWatermark = await rt.store.watermarks.get(stream);
    let heldBackSeconds: number | undefined;
    if (!range) {
      const watermark = previousWatermark;
      if (!watermark) {
        throw new IncrementalSyncError(`${where}: no watermark yet; the stream's snapshot has not completed`);
      }
      const { lookbackMinutes, safetyLagSeconds } = rt.config.incremental;
      const from = new Date(watermark.getTime() - lookbackMinutes * 60_000);
      let to = new Date(Math.max(Date.now() - safetyLagSeconds * 1000, watermark.getTime()));
      const held = await holdBehindOpenTransactions(stream, runId, to, watermark);
      if (held) {
        to = held.to;
        heldBackSeconds = held.heldBackSeconds;
      }
      range = { from: from.toISOString(), to: to.toISOString() };
    }
    const from = new Date(range.from);
    const to = new Date(range.to);

    // The first invocation of a run checks the table's columns before reading (continuations read
    // on from where it stopped, under the same check).
    let schemaDrift: SchemaDriftSummary[] | undefined;
    const checkSchema = event.continuation
      ? undefined
      : async (source: SourceConnection) => {
          const checked = (
            await checkSchemas({ source, config: rt.config, ledger: rt.schemas, streams: [stream], runId })
          )[stream];
          if (!checked) return;
          reportSchemaCheck(rt.obs, stream, checked.table, checked.changes);
          if (checked.error) throw checked.error;
          schemaDrift = summarize(checked.changes);
        };
    const outcome = await extractForInvocation(
      rt,
      context,
      {
        stream,
        runId,
        windowId: WINDOW_ID,
        from,
        to,
        continuation: event.continuation ?? null,
        incremental: true,
        lateness: {
          ...(previousWatermark ? { previousWatermark } : {}),
          recordUntil: to,
          lookbackMs: rt.config.incremental.lookbackMinutes * 60_000,
        },
      },
      checkSchema,
    );
    metrics.addMetric(METRICS.rowsExtracted, MetricUnit.Count, outcome.rows);
    metrics.addMetric(METRICS.bytesWritten, MetricUnit.Bytes, outcome.bytes);
    metrics.addMetric(METRICS.windowDurationMs, MetricUnit.Milliseconds, Date.now() - started);
    if (outcome.status === 'continue') {
      return {
        status: 'continue',
        stream,
        range,
        continuation: outcome.continuation,
        rows: outcome.rows,
        ...(schemaDrift ? { schemaDrift } : {}),
      };
    }
    // Recorded before the watermark moves: the watermark is the run's success, and a retry after a
    // failed write here reads the same range again.
    const nullCursorRows = outcome.nullCursorRows ?? 0;
    await rt.store.watermarks.recordNullCursorRows(stream, { rows: nullCursorRows, runId });
    const lateness = outcome.lateness
      ? { rows: outcome.lateness.rows, maxLatenessSeconds: outcome.lateness.maxMicros / 1e6 }
      : undefined;
    if (outcome.lateness && lateness) {
      await rt.store.watermarks.recordLateness(stream, {
        runId,
        rows: lateness.rows,
        maxSeconds: lateness.maxLatenessSeconds,
        histogram: outcome.lateness.histogram,
      });
    }
    const advanced = await rt.store.watermarks.advance(stream, to, runId, { rowCount: outcome.totalRows });
    const watermark = advanced.current ?? to;
    // The run succeeded: the columns it saw become the stream's fingerprint.
    await acceptSchemas(rt.schemas, [stream], runId);
    // The digests of earlier watermarks are read by no run any more (the lifecycle rule is the backstop).
    await deleteDigestsBefore(
      (await invocationTools(rt, stream, `${runId}/${WINDOW_ID}`)).sink,
      stream,
      watermark,
    ).catch((error) => logger.warn('could not delete superseded lookback digests', { error: loggableError(error) }));
    if (lateness) {
      metrics.addMetric(METRICS.lateRows, MetricUnit.Count, lateness.rows);
      metrics.addMetric(METRICS.maxLatenessSeconds, MetricUnit.Seconds, lateness.maxLatenessSeconds);
      if (lateness.rows > 0) {
        const share = lateness.maxLatenessSeconds / (rt.config.incremental.lookbackMinutes * 60);
        logger.info('late arrivals caught by the lookback', {
          lateRows: lateness.rows,
          maxLatenessSeconds: lateness.maxLatenessSeconds,
          shareOfLookback: Number.isFinite(share) ? Number(share.toFixed(3)) : null,
        });
      }
    } else {
      logger.info(
        'late arrivals not measured: no digest of the previous read (first run after the upgrade, or it expired)',
      );
    }
    metrics.addMetric(METRICS.reconciliationMismatch, MetricUnit.Count, 0);
    metrics.addMetric(METRICS.strayObjectsDeleted, MetricUnit.Count, outcome.strayObjectsDeleted);
    metrics.addMetric(
      METRICS.freshnessLagSeconds,
      MetricUnit.Seconds,
      Math.max(0, (Date.now() - watermark.getTime()) / 1000),
    );
    const unmapped = Object.values(outcome.unmapped).reduce((a, b) => a + b, 0);
    metrics.addMetric(METRICS.unmappedValues, MetricUnit.Count, unmapped);
    if (unmapped > 0)
      logger.warn('enumeration values without a mapping landed as "unmapped"', { unmapped: outcome.unmapped });
    metrics.addMetric(METRICS.nullCursorRows, MetricUnit.Count, nullCursorRows);
    if (nullCursorRows > 0) {
      logger.warn('rows with a NULL cursor are not landed; see the runbook section "NULL-cursor rows"', {
        nullCursorRows,
      });
    }
    logger.info('incremental run landed', { rows: outcome.totalRows, watermark: watermark.toISOString() });
    return {
      status: 'complete',
      stream,
      range,
      rows: outcome.totalRows,
      bytes: outcome.totalBytes,
      manifestKey: outcome.manifestKey,
      reconciliation: outcome.reconciliation,
      watermark: watermark.toISOString(),
      nullCursorRows,
      ...(schemaDrift ? { schemaDrift } : {}),
      ...(lateness ? { lateness } : {}),
      ...(heldBackSeconds !== undefined ? { heldBackSeconds } : {}),
    };
  } catch (error) {
    if (error instanceof ReconciliationError) metrics.addMetric(METRICS.reconciliationMismatch, MetricUnit.Count, 1);
    metrics.addMetric(METRICS.extractFailures, MetricUnit.Count, 1);
    logger.error('incremental run failed', { error: loggableError(error) });
    throw error;
  } finally {
    if (!event.lockOwner) await rt.store.locks.release(INCREMENTAL_LOCK, owner).catch(() => undefined);
  }
}

/**
 * PostgreSQL: the range end held behind the oldest open writing transaction (minus the margin),
 * recorded in the sync state and emitted as `WatermarkHeldBackSeconds`. Undefined for other engines
 * or when the holdback is off.
 */
async function holdBehindOpenTransactions(
  stream: StreamName,
  runId: string,
  proposed: Date,
  watermark: Date,
): Promise<{ to: Date; heldBackSeconds: number } | undefined> {
  const { source } = rt.config;
  if (source.type !== 'postgres' || !rt.config.incremental.holdBackForOpenTransactions) return undefined;
  const connection = await openOperatorSource(rt, stream);
  let open: Awaited<ReturnType<typeof openTransactions>>;
  try {
    open = await openTransactions(connection);
  } finally {
    await connection.close();
  }
  const marginMs = rt.config.incremental.openTransactionMarginSeconds * 1000;
  const held = holdRangeEnd(proposed, watermark, open, marginMs);
  const heldBackSeconds = held.heldBackMs / 1000;
  metrics.addMetric(METRICS.watermarkHeldBackSeconds, MetricUnit.Seconds, heldBackSeconds);
  if (open.visibility === 'own') {
    logger.warn(
      'the connector user sees only its own sessions: the watermark cannot be held behind other open transactions (GRANT pg_read_all_stats; see the runbook section "Lookback too short")',
    );
  }
  if (heldBackSeconds > 0) {
    logger.info('range end held behind an open transaction', { heldBackSeconds, to: held.to.toISOString() });
  }
  await rt.store.watermarks.recordHoldback(stream, { runId, heldBackSeconds, visibility: open.visibility });
  return { to: held.to, heldBackSeconds };
}

export const handler = wrapHandler(rt.obs, incrementalSync);
