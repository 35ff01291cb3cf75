/**
 * extract-window: extracts one [from, to) window of one stream for a snapshot, returning a
 * continuation when the Lambda time budget runs out, and records the window's progress.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { isStreamName, type StreamName } from '#shared/canonical';
import { DIMENSIONS, METRICS } from '#shared/contracts/metrics';
import type { ExtractResult, ExtractWindowInput } from '#shared/contracts/steps';
import { ReconciliationError } from '#shared/extract/extract-range';
import { extractForInvocation, reportMoneyTotals } from '#shared/runtime/extractor';
import { loggableError, wrapHandler } from '#shared/runtime/observability';
import { createRuntime } from '#shared/runtime/runtime';

const rt = createRuntime();
const { logger, metrics } = rt.obs;

/** The input does not describe a window of this operator. */
export class InvalidWindowError extends Error {
  override readonly name = 'InvalidWindowError';
}

function validate(event: ExtractWindowInput): { stream: StreamName; from: Date; to: Date } {
  const { stream } = event;
  const from = new Date(event.from);
  const to = new Date(event.to);
  if (!isStreamName(stream) || !rt.config.streams[stream]) {
    throw new InvalidWindowError(`${rt.config.operatorId}: stream ${JSON.stringify(stream)} is not configured`);
  }
  if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime()) || from >= to) {
    throw new InvalidWindowError(
      `${rt.config.operatorId}/${event.stream} window ${event.windowId}: invalid range ${event.from} – ${event.to}`,
    );
  }
  return { stream, from, to };
}

export async function extractWindow(event: ExtractWindowInput, context?: Context): Promise<ExtractResult> {
  const { stream, from, to } = validate(event);
  const { snapshotId, runId, windowId } = event;
  logger.appendKeys({ stream, runId, windowId, snapshotId });
  metrics.addDimension(DIMENSIONS.stream, stream);
  const started = Date.now();
  await rt.store.snapshots.markWindowRunning(snapshotId, stream, windowId);
  try {
    // The windows that reach into the lookback of the snapshot's cutoff record the versions they
    // read there, so the first incremental run can tell late arrivals from versions already landed.
    const lookbackMs = rt.config.incremental.lookbackMinutes * 60_000;
    const cutoff = (await rt.store.snapshots.get(snapshotId))?.cutoff;
    const outcome = await extractForInvocation(rt, context, {
      stream,
      runId,
      windowId,
      from,
      to,
      continuation: event.continuation ?? null,
      ...(cutoff && to.getTime() > cutoff.getTime() - lookbackMs
        ? { lateness: { recordUntil: cutoff, lookbackMs } }
        : {}),
    });
    metrics.addMetric(METRICS.rowsExtracted, MetricUnit.Count, outcome.rows);
    metrics.addMetric(METRICS.bytesWritten, MetricUnit.Bytes, outcome.bytes);
    metrics.addMetric(METRICS.windowDurationMs, MetricUnit.Milliseconds, Date.now() - started);
    if (outcome.status === 'continue') {
      await rt.store.snapshots.saveWindowContinuation(snapshotId, stream, windowId, {
        continuation: outcome.continuation,
        rows: outcome.continuation.progress.rowCount,
        bytes: outcome.continuation.progress.bytes,
      });
      logger.info('window continues in the next invocation', { rows: outcome.rows });
      return { status: 'continue', continuation: outcome.continuation, rows: outcome.rows };
    }
    metrics.addMetric(METRICS.reconciliationMismatch, MetricUnit.Count, 0);
    metrics.addMetric(METRICS.strayObjectsDeleted, MetricUnit.Count, outcome.strayObjectsDeleted);
    metrics.addMetric(METRICS.windowsCompleted, MetricUnit.Count, 1);
    const unmapped = Object.values(outcome.unmapped).reduce((a, b) => a + b, 0);
    metrics.addMetric(METRICS.unmappedValues, MetricUnit.Count, unmapped);
    if (unmapped > 0)
      logger.warn('enumeration values without a mapping landed as "unmapped"', { unmapped: outcome.unmapped });
    await reportMoneyTotals(rt, stream, runId, windowId, outcome);
    await rt.store.snapshots.markWindowDone(snapshotId, stream, windowId, {
      rows: outcome.totalRows,
      bytes: outcome.totalBytes,
      manifestKey: outcome.manifestKey,
    });
    logger.info('window landed', { rows: outcome.totalRows, manifestKey: outcome.manifestKey });
    return {
      status: 'complete',
      rows: outcome.totalRows,
      bytes: outcome.totalBytes,
      manifestKey: outcome.manifestKey,
      reconciliation: outcome.reconciliation,
    };
  } catch (error) {
    if (error instanceof ReconciliationError) {
      metrics.addMetric(METRICS.reconciliationMismatch, MetricUnit.Count, 1);
    }
    metrics.addMetric(METRICS.extractFailures, MetricUnit.Count, 1);
    await rt.store.snapshots
      .markWindowFailed(snapshotId, stream, windowId, {
        error: `${(error as Error).name}: ${(error as Error).message}`,
      })
      .catch((e) => logger.error('could not record the window failure', { error: loggableError(e) }));
    logger.error('window failed', { error: loggableError(error) });
    throw error;
  }
}

export const handler = wrapHandler(rt.obs, extractWindow);
