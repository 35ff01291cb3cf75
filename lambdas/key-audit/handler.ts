/**
 * key-audit: the scheduled key audit of one stream (`{ "stream": "payments" }`): compares the
 * source's primary keys with the serving table's, lands tombstones for keys deleted at the source
 * and re-extracts rows lost from the lake, as committed windows of an `audit-<time>` run that the
 * key-audit state machine publishes right after (lambdas/shared/audit/).
 *
 * It holds the operator's incremental run lock while it runs (so the watermark and the serving
 * table do not move under it) and does nothing while windows of the stream wait to be published
 * (they would look lost). The outcome is recorded on the stream's sync state (`connector status`)
 * and as metrics: KeyAuditDeletes, KeyAuditRepaired (alarmed above 0) and KeyAuditFailed (alarmed).
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { AwsAthena, localQueryEngine, type QueryEngine } from '#shared/adapters/athena';
import { auditRunId, KeyAuditError, type KeyAuditReport, runKeyAudit } from '#shared/audit/key-audit';
import { isStreamName, type StreamName } from '#shared/canonical';
import { keyAuditedStreams } from '#shared/config/schema';
import { ENV } from '#shared/contracts/environment';
import { INCREMENTAL_LOCK_TTL_SECONDS } from '#shared/contracts/locks';
import { DIMENSIONS, METRICS } from '#shared/contracts/metrics';
import type { KeyAuditInput, KeyAuditResult } from '#shared/contracts/steps';
import { invocationTools, openOperatorSource } from '#shared/runtime/extractor';
import { loggableError, wrapHandler } from '#shared/runtime/observability';
import { createRuntime } from '#shared/runtime/runtime';
import { publicationOf } from '#shared/serving/backlog';
import { INCREMENTAL_LOCK } from '#shared/state/keys';

const rt = createRuntime();
const { logger, metrics } = rt.obs;

function queryEngine(): QueryEngine {
  if (rt.adapters.mode === 'local') return localQueryEngine();
  const database = rt.variable(ENV.glueDatabase);
  const workGroup = rt.variable(ENV.athenaWorkGroup);
  if (!database || !workGroup) {
    throw new KeyAuditError(
      `environment variables ${ENV.glueDatabase} and ${ENV.athenaWorkGroup} must be set (the stack sets them on the key-audit function)`,
    );
  }
  return new AwsAthena({ workGroup, database });
}

export async function keyAudit(event: KeyAuditInput, _context?: Context): Promise<KeyAuditResult> {
  const stream = event?.stream;
  const audited = keyAuditedStreams(rt.config).map((s) => s.stream as string);
  if (typeof stream !== 'string' || !isStreamName(stream) || !audited.includes(stream)) {
    throw new KeyAuditError(
      `${rt.config.operatorId}: stream ${JSON.stringify(stream)} has no key audit (audited: ${audited.join(', ') || 'none'}); see streams.<stream>.keyAudit`,
    );
  }
  const runId = auditRunId(new Date());
  logger.appendKeys({ stream, runId });
  metrics.addDimension(DIMENSIONS.stream, stream);
  const where = `${rt.config.operatorId}/${stream} key audit ${runId}`;
  const owner = `${runId}/${stream}`;
  if (!(await rt.store.locks.acquire(INCREMENTAL_LOCK, owner, INCREMENTAL_LOCK_TTL_SECONDS))) {
    logger.info('an incremental run holds the lock; the audit runs at its next schedule');
    return { status: 'skipped', stream, reason: 'an incremental run holds the lock', windows: [] };
  }
  try {
    const pending = await rt.publications.pending(stream as StreamName);
    if (pending.length > 0) {
      logger.info('windows of the stream wait to be published; the audit runs at its next schedule', {
        pending: pending.length,
      });
      return { status: 'skipped', stream, reason: 'windows of the stream wait to be published', windows: [] };
    }
    const [watermark, horizon] = await Promise.all([
      rt.store.watermarks.get(stream),
      rt.store.snapshots.lakeHorizon(stream),
    ]);
    if (!watermark || !horizon) {
      throw new KeyAuditError(`${where}: the stream has no completed snapshot yet; nothing to audit`);
    }
    const tools = await invocationTools(rt, stream, `${runId}/audit`);
    const source = await openOperatorSource(rt, stream);
    let report: KeyAuditReport;
    try {
      report = await runKeyAudit(
        {
          config: rt.config,
          source,
          athena: queryEngine(),
          database: rt.variable(ENV.glueDatabase) ?? '',
          sink: tools.sink,
          pseudonymizer: tools.pseudonymizer,
          pseudonymKey: tools.pseudonymKey,
          beforeCommit: (manifest) => rt.publications.register(publicationOf(rt.config, manifest)),
        },
        { stream, runId, horizon, watermark },
      );
    } finally {
      await source.close();
    }
    const { horizon: _h, watermark: _w, ...counts } = report;
    await rt.store.watermarks.recordKeyAudit(stream, {
      status: 'completed',
      runId,
      at: report.finishedAt,
      sourceKeys: report.sourceKeys,
      lakeKeys: report.lakeKeys,
      bucketsCompared: report.bucketsCompared,
      passes: report.passes,
      keysListed: report.keysListed,
      deletesDetected: report.deletesDetected,
      outOfScopeKeys: report.outOfScopeKeys,
      missingKeys: report.missingKeys,
      rowsRepaired: report.rowsRepaired,
      pendingKeys: report.pendingKeys,
    });
    metrics.addMetric(METRICS.keyAuditDeletes, MetricUnit.Count, report.deletesDetected);
    metrics.addMetric(METRICS.keyAuditRepaired, MetricUnit.Count, report.rowsRepaired);
    metrics.addMetric(METRICS.keyAuditFailed, MetricUnit.Count, 0);
    if (report.rowsRepaired > 0) {
      logger.warn('rows were missing from the lake and were re-extracted; see the runbook section "Key audit"', {
        rowsRepaired: report.rowsRepaired,
      });
    }
    logger.info('key audit completed', { ...counts, windows: report.windows.length });
    return { status: 'completed', ...counts };
  } catch (error) {
    metrics.addMetric(METRICS.keyAuditFailed, MetricUnit.Count, 1);
    logger.error('key audit failed', { error: loggableError(error) });
    await rt.store.watermarks
      .recordKeyAudit(stream, {
        status: 'failed',
        runId,
        at: new Date().toISOString(),
        error: error instanceof Error ? `${error.name}: ${error.message}` : 'unknown error',
      })
      .catch(() => undefined);
    throw error;
  } finally {
    await rt.store.locks.release(INCREMENTAL_LOCK, owner).catch(() => undefined);
  }
}

export const handler = wrapHandler(rt.obs, keyAudit);
