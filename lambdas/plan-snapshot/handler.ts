/**
 * plan-snapshot: the first step of the snapshot state machine. Records a new snapshot (full, or a
 * replay of a range) with its windows, or reads a snapshot being resumed, and returns the windows
 * that are not done yet. With `snapshot.targetRowsPerWindow` it sizes windows from the source's
 * row estimates (one short read-only session on the operator database).
 *
 * `CONNECTOR_MAX_WINDOWS_PER_EXECUTION` lowers the number of windows one execution runs (default and
 * maximum 1,000); the rest continue in a new execution.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { StreamName } from '#shared/canonical';
import {
  estimateStreams,
  MAX_WINDOWS_PER_EXECUTION,
  PIPELINE_METRICS,
  type PlanSnapshotInput,
  type PlanSnapshotResult,
  planSnapshot,
} from '#shared/pipeline/plan';
import { createExtractorRuntime, openOperatorSource } from '#shared/runtime/extractor';
import { wrapHandler } from '#shared/runtime/observability';

const rt = createExtractorRuntime();
const { logger, metrics } = rt.obs;
const asked = Number(process.env.CONNECTOR_MAX_WINDOWS_PER_EXECUTION);
const maxWindows =
  Number.isInteger(asked) && asked >= 1 ? Math.min(asked, MAX_WINDOWS_PER_EXECUTION) : MAX_WINDOWS_PER_EXECUTION;

async function estimate(streams: readonly StreamName[]) {
  const [first] = streams;
  if (!first) return {};
  const source = await openOperatorSource(rt, first);
  try {
    return await estimateStreams(source, rt.config, streams);
  } finally {
    await source.close();
  }
}

export async function planSnapshotHandler(event: PlanSnapshotInput): Promise<PlanSnapshotResult> {
  const plan = await planSnapshot({ config: rt.config, store: rt.store, estimate, maxWindows }, event);
  logger.appendKeys({ snapshotId: plan.snapshotId, runId: plan.runId });
  metrics.addMetric(PIPELINE_METRICS.snapshotWindowsPlanned, MetricUnit.Count, plan.windows.length);
  logger.info('snapshot planned', {
    mode: plan.mode,
    cutoff: plan.cutoff,
    total: plan.total,
    done: plan.done,
    now: plan.windows.length,
    remaining: plan.remaining,
  });
  return plan;
}

export const handler = wrapHandler(rt.obs, planSnapshotHandler);
