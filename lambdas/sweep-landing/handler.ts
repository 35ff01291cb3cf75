/**
 * sweep-landing: removes the parts and manifests of window attempts that never committed (a
 * coercion error, a timeout or crash before the commit, an S3 error, an aborted or abandoned
 * execution), once they are older than the grace period. They were never visible to readers of
 * the catalog; this keeps them from accumulating. Runs daily on a schedule, for every stream.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { isStreamName, type StreamName } from '#shared/canonical';
import { DIMENSIONS, METRICS } from '#shared/contracts/metrics';
import type { SweepLandingInput, SweepLandingResult } from '#shared/contracts/steps';
import { DEFAULT_STRAY_GRACE_HOURS, type SweepResult, sweepStream } from '#shared/landing/sweep';
import { wrapHandler } from '#shared/runtime/observability';
import { createRuntime } from '#shared/runtime/runtime';

const rt = createRuntime();
const { config, obs } = rt;
const { logger, metrics } = obs;

export async function sweepLanding(event: SweepLandingInput | null | undefined): Promise<SweepLandingResult> {
  const configured = Object.keys(config.streams).filter(isStreamName) as StreamName[];
  const streams = event?.streams ? configured.filter((s) => event.streams?.includes(s)) : configured;
  const graceHours = event?.graceHours ?? DEFAULT_STRAY_GRACE_HOURS;
  const results: Omit<SweepResult, 'deletedKeys'>[] = [];
  for (const stream of streams) {
    const sink = rt.sink({ stream });
    const { deletedKeys: _, ...result } = await sweepStream(sink, stream, {
      graceHours,
      ...(event?.dryRun ? { dryRun: true } : {}),
    });
    results.push(result);
    const single = metrics.singleMetric();
    single.addDimension(DIMENSIONS.stream, stream);
    single.addMetric(METRICS.strayObjectsDeleted, MetricUnit.Count, event?.dryRun ? 0 : result.deletedObjects);
    if (result.strayAttempts > 0) {
      logger.warn('removed attempts that never committed', { ...result, dryRun: Boolean(event?.dryRun) });
    } else {
      logger.info('landing swept', { ...result });
    }
  }
  return { streams: results, deletedObjects: results.reduce((sum, r) => sum + r.deletedObjects, 0) };
}

export const handler = wrapHandler(obs, sweepLanding);
