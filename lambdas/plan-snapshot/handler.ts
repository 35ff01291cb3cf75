/**
 * plan-snapshot: the first step of the snapshot state machine. Records a new snapshot (full, or a
 * replay of a range) with its windows, or reads a snapshot being resumed, and returns the windows
 * that are not done yet. A new snapshot opens one short read-only session on the operator database:
 * it counts each stream's rows with a NULL cursor (they belong to no window, so a snapshot counts
 * them here, once) and, with `snapshot.targetRowsPerWindow`, sizes windows from row estimates.
 *
 * `CONNECTOR_MAX_WINDOWS_PER_EXECUTION` lowers the number of windows one execution runs (default and
 * maximum 1,000); the rest continue in a new execution.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { StreamName } from '#shared/canonical';
import { ENV } from '#shared/contracts/environment';
import { DIMENSIONS, METRICS, PIPELINE_METRICS } from '#shared/contracts/metrics';
import type { PlanSnapshotInput, PlanSnapshotResult } from '#shared/contracts/steps';
import { checkSchemas } from '#shared/drift/check';
import { countNullCursors, estimateStreams, MAX_WINDOWS_PER_EXECUTION, planSnapshot } from '#shared/pipeline/snapshot';
import { openOperatorSource } from '#shared/runtime/extractor';
import { wrapHandler } from '#shared/runtime/observability';
import { createRuntime } from '#shared/runtime/runtime';
import { reportSchemaCheck } from '#shared/runtime/schema-drift';
import type { SourceConnection } from '#shared/sources/source';

const rt = createRuntime();
const { logger, metrics } = rt.obs;
const asked = Number(rt.variable(ENV.maxWindowsPerExecution));
const maxWindows =
  Number.isInteger(asked) && asked >= 1 ? Math.min(asked, MAX_WINDOWS_PER_EXECUTION) : MAX_WINDOWS_PER_EXECUTION;

export async function planSnapshotHandler(event: PlanSnapshotInput): Promise<PlanSnapshotResult> {
  // One read-only session for the NULL-cursor counts and the row estimates of a new snapshot.
  let source = undefined as SourceConnection | undefined;
  const open = async (streams: readonly StreamName[]) => {
    const [first] = streams;
    if (!first) throw new Error(`${rt.config.operatorId}: a snapshot needs at least one stream`);
    source ??= await openOperatorSource(rt, first);
    return source;
  };
  let plan: PlanSnapshotResult;
  try {
    plan = await planSnapshot(
      {
        config: rt.config,
        store: rt.store,
        estimate: async (streams) => (streams.length ? estimateStreams(await open(streams), rt.config, streams) : {}),
        countNullCursors: async (streams, snapshotId) =>
          streams.length ? countNullCursors(await open(streams), rt.config, streams, snapshotId) : {},
        // One catalog read for the tables of every stream with windows to run.
        checkSchemas: async (streams, snapshotId) => {
          const checked = await checkSchemas({
            source: await open(streams),
            config: rt.config,
            ledger: rt.schemas,
            streams,
            runId: snapshotId,
          });
          for (const c of Object.values(checked)) {
            if (!c) continue;
            reportSchemaCheck(rt.obs, c.stream, c.table, c.changes);
            if (c.error)
              logger.error('stream not snapshotted: schema drift', { stream: c.stream, error: c.error.message });
          }
          return checked;
        },
        maxWindows,
      },
      event,
    );
  } finally {
    await source?.close();
  }
  logger.appendKeys({ snapshotId: plan.snapshotId, runId: plan.runId });
  metrics.addMetric(PIPELINE_METRICS.snapshotWindowsPlanned, MetricUnit.Count, plan.windows.length);
  if (plan.mode !== 'resume') {
    // Once per snapshot: rows with a NULL cursor belong to no window.
    for (const [stream, rows] of Object.entries(plan.nullCursorRows)) {
      const single = metrics.singleMetric();
      single.addDimension(DIMENSIONS.stream, stream);
      single.addMetric(METRICS.nullCursorRows, MetricUnit.Count, rows);
      if (rows > 0) {
        logger.warn('rows with a NULL cursor are not landed; see the runbook section "NULL-cursor rows"', {
          stream,
          nullCursorRows: rows,
        });
      }
    }
  }
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
