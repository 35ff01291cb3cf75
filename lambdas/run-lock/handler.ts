/**
 * run-lock: begins and ends an incremental execution. `begin` checks that a snapshot has completed
 * and takes the operator's run lock for the execution; `end` releases it and summarizes the
 * streams' outcomes. A Lambda rather than DynamoDB service integrations: taking over an expired
 * lock compares its expiry with the current epoch second, which a state machine cannot compute.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { PIPELINE_METRICS } from '#shared/contracts/metrics';
import type { BeginIncrementalResult, EndIncrementalResult, RunLockInput } from '#shared/contracts/steps';
import { beginIncrementalRun, endIncrementalRun } from '#shared/pipeline/incremental';
import { wrapHandler } from '#shared/runtime/observability';
import { createRuntime } from '#shared/runtime/runtime';

const rt = createRuntime();
const { config, store, obs } = rt;
const { logger, metrics } = obs;

/** The action is unknown. Not retryable. */
export class RunLockInputError extends Error {
  override readonly name = 'RunLockInputError';
}

export async function runLock(event: RunLockInput): Promise<BeginIncrementalResult | EndIncrementalResult> {
  if (event.action === 'begin') {
    const result = await beginIncrementalRun({ config, store }, event);
    if (result.status === 'acquired') {
      metrics.addMetric(PIPELINE_METRICS.incrementalRunsStarted, MetricUnit.Count, 1);
      logger.appendKeys({ runId: result.runId });
      logger.info('incremental run started', { streams: result.streams });
    } else {
      metrics.addMetric(PIPELINE_METRICS.incrementalRunsSkipped, MetricUnit.Count, 1);
      logger.info('incremental run skipped', { status: result.status, reason: result.reason });
    }
    return result;
  }
  if (event.action === 'end') {
    if (event.runId) logger.appendKeys({ runId: event.runId });
    const result = await endIncrementalRun({ config, store }, event);
    metrics.addMetric(PIPELINE_METRICS.incrementalStreamsFailed, MetricUnit.Count, result.failed);
    if (!result.released) logger.warn('the run no longer held the incremental lock when it ended');
    if (result.failed > 0) logger.error('incremental run failed', { summary: result.summary });
    else logger.info('incremental run ended', { summary: result.summary });
    return result;
  }
  throw new RunLockInputError(
    `operator ${config.operatorId}: run-lock action must be "begin" or "end", got ${JSON.stringify((event as { action?: unknown }).action)}`,
  );
}

export const handler = wrapHandler(obs, runLock);
