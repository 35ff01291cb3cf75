/**
 * incremental-sync: lands one stream's changes since its watermark (minus the lookback, which
 * catches rows committed late with an earlier cursor) up to now minus the safety lag, then
 * advances the watermark with a write that can never move it backwards (`pipeline/incremental.ts`).
 *
 * Only one incremental run per operator at a time: the state machine holds the operator's run
 * lock and passes its owner (the handler renews it); a direct invocation takes the lock itself
 * and reports `skipped` when another run holds it.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { isStreamName, type StreamName } from '#shared/canonical';
import { DIMENSIONS, METRICS } from '#shared/contracts/metrics';
import type { IncrementalSyncInput, IncrementalSyncResult, SchemaDriftSummary } from '#shared/contracts/steps';
import { checkSchemas } from '#shared/drift/check';
import { ReconciliationError } from '#shared/extract/extract-range';
import { deleteDigestsBefore } from '#shared/extract/lateness';
import {
  holdIncrementalLock,
  INCREMENTAL_WINDOW_ID,
  IncrementalSyncError,
  incrementalRange,
  recordIncrementalRun,
} from '#shared/pipeline/incremental';
import {
  extractForInvocation,
  invocationTools,
  openOperatorSource,
  reportMoneyTotals,
} from '#shared/runtime/extractor';
import { loggableError, wrapHandler } from '#shared/runtime/observability';
import { createRuntime } from '#shared/runtime/runtime';
import { reportSchemaCheck, summarize } from '#shared/runtime/schema-drift';
import { openTransactions } from '#shared/sources/open-transactions';
import type { SourceConnection } from '#shared/sources/source';

const rt = createRuntime();
const { logger, metrics } = rt.obs;

export async function incrementalSync(event: IncrementalSyncInput, context?: Context): Promise<IncrementalSyncResult> {
  const { stream, runId } = event;
  const where = `${rt.config.operatorId}/${stream} run ${runId}`;
  if (!isStreamName(stream) || !rt.config.streams[stream]) {
    throw new IncrementalSyncError(`${rt.config.operatorId}: stream ${JSON.stringify(stream)} is not configured`);
  }
  logger.appendKeys({ stream, runId, windowId: INCREMENTAL_WINDOW_ID });
  metrics.addDimension(DIMENSIONS.stream, stream);
  const started = Date.now();

  const lock = await holdIncrementalLock(rt.store.locks, { runId, stream, lockOwner: event.lockOwner, where });
  if (!lock) {
    logger.info('another incremental run holds the lock; skipping');
    return {
      status: 'skipped',
      stream,
      reason: 'another incremental run of this operator holds the lock',
      nullCursorRows: null,
    };
  }

  try {
    const { range, from, to, previousWatermark, heldBackSeconds } = await incrementalRange(
      {
        config: rt.config,
        watermarks: rt.store.watermarks,
        openTransactions: () => readOpenTransactions(stream),
        onHoldback: reportHoldback,
      },
      { stream, runId, where, range: event.range },
    );

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
        windowId: INCREMENTAL_WINDOW_ID,
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
    await reportMoneyTotals(rt, stream, runId, INCREMENTAL_WINDOW_ID, outcome);
    const { watermark, nullCursorRows, lateness } = await recordIncrementalRun(
      { watermarks: rt.store.watermarks, schemas: rt.schemas },
      { stream, runId, to, landed: outcome },
    );
    // The digests of earlier watermarks are read by no run any more (the lifecycle rule is the backstop).
    await deleteDigestsBefore(
      (await invocationTools(rt, stream, `${runId}/${INCREMENTAL_WINDOW_ID}`)).sink,
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
    await lock.release();
  }
}

/** Reads the operator database's open transactions in a short session of its own. */
async function readOpenTransactions(stream: StreamName) {
  const connection = await openOperatorSource(rt, stream);
  try {
    return await openTransactions(connection);
  } finally {
    await connection.close();
  }
}

/** Emits `WatermarkHeldBackSeconds` and says when the range end was held (or cannot be). */
function reportHoldback(held: { heldBackSeconds: number; visibility: 'all' | 'own'; to: Date }): void {
  metrics.addMetric(METRICS.watermarkHeldBackSeconds, MetricUnit.Seconds, held.heldBackSeconds);
  if (held.visibility === 'own') {
    logger.warn(
      'the connector user sees only its own sessions: the watermark cannot be held behind other open transactions (GRANT pg_read_all_stats; see the runbook section "Lookback too short")',
    );
  }
  if (held.heldBackSeconds > 0) {
    logger.info('range end held behind an open transaction', {
      heldBackSeconds: held.heldBackSeconds,
      to: held.to.toISOString(),
    });
  }
}

export const handler = wrapHandler(rt.obs, incrementalSync);
