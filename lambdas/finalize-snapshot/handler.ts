/**
 * finalize-snapshot: the last step of a snapshot execution. Completes the snapshot when every
 * window is done (each stream's incremental watermark starts at the cutoff), reports that windows
 * remain for a following execution, or records the failed windows and marks the snapshot failed.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { PIPELINE_METRICS } from '#shared/contracts/metrics';
import type { FinalizeSnapshotInput, FinalizeSnapshotResult } from '#shared/contracts/steps';
import { finalizeSnapshot } from '#shared/pipeline/snapshot';
import { wrapHandler } from '#shared/runtime/observability';
import { createRuntime } from '#shared/runtime/runtime';

const rt = createRuntime();
const { config, store, schemas, obs } = rt;
const { logger, metrics } = obs;

export async function finalizeSnapshotHandler(event: FinalizeSnapshotInput): Promise<FinalizeSnapshotResult> {
  logger.appendKeys({ snapshotId: event.snapshotId });
  const result = await finalizeSnapshot(
    {
      config,
      store,
      // Straight to the ledger: this function never opens the operator database (no driver to load).
      acceptSchemas: async (streams, snapshotId) => {
        for (const stream of streams) await schemas.accept(stream, snapshotId);
      },
    },
    event,
  );
  if (result.status === 'completed') {
    metrics.addMetric(PIPELINE_METRICS.snapshotsCompleted, MetricUnit.Count, 1);
    metrics.addMetric(PIPELINE_METRICS.snapshotRows, MetricUnit.Count, result.rows);
    logger.info(result.summary);
  } else if (result.status === 'failed') {
    metrics.addMetric(PIPELINE_METRICS.snapshotsFailed, MetricUnit.Count, 1);
    metrics.addMetric(PIPELINE_METRICS.snapshotWindowsFailed, MetricUnit.Count, result.failed);
    logger.error('snapshot failed', { summary: result.summary });
  } else {
    metrics.addMetric(PIPELINE_METRICS.snapshotExecutionsContinued, MetricUnit.Count, 1);
    logger.info(result.summary);
  }
  return result;
}

export const handler = wrapHandler(obs, finalizeSnapshotHandler);
