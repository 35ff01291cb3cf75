/**
 * publish: plans and ends a publish of committed windows into the serving tables (see
 * shared/serving/publish.ts), and audits the wallet ledger of the players a publish touched (see
 * shared/integrity/wallet-audit.ts). The MERGE statements between plan and end are Athena tasks of
 * the Publish state machine.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { athenaWorkGroupName, queryEngineFor } from '#shared/adapters/athena';
import { ENV } from '#shared/contracts/environment';
import { PUBLISH_METRICS, WALLET_LEDGER_METRICS } from '#shared/contracts/metrics';
import type { EndPublishResult, PlanPublishResult, PublishInput, WalletAuditResult } from '#shared/contracts/steps';
import { auditWalletLedger } from '#shared/integrity/wallet-audit';
import { RuntimeConfigError } from '#shared/runtime/context';
import { wrapHandler } from '#shared/runtime/observability';
import { createRuntime } from '#shared/runtime/runtime';
import { endPublish, planPublish } from '#shared/serving/publish';

const rt = createRuntime();
const { config, store, publications: ledger, obs } = rt;
const sink = rt.sink();
/** Athena in the operator's workgroup (locally, the harness's engine); resolved on first use. */
let engine: ReturnType<typeof queryEngineFor> | undefined;
const queryEngine = () => {
  engine ??= queryEngineFor({
    workGroup: athenaWorkGroupName(config.operatorId, config.stage),
    database: database(),
    // Well inside the function's timeout: a slow audit fails and is reported instead of timing out.
    timeoutMs: 10 * 60_000,
  });
  return engine;
};
const { logger, metrics } = obs;

/** Name of the Glue database the statements run in (the stack sets it). */
function database(): string {
  const name = rt.variable(ENV.glueDatabase);
  if (!name)
    throw new RuntimeConfigError(
      `environment variable ${ENV.glueDatabase} is not set (the stack sets it on the publish function)`,
    );
  return name;
}

/** The action is unknown. Not retryable. */
export class PublishInputError extends Error {
  override readonly name = 'PublishInputError';
}

export async function publish(event: PublishInput): Promise<PlanPublishResult | EndPublishResult | WalletAuditResult> {
  if (event.action === 'plan') {
    const result = await planPublish(
      { config, database: database(), store, ledger, sink },
      String(event.executionName),
    );
    if (result.status === 'locked') {
      logger.info('another publish is running; this one does nothing', { holder: result.holder });
      return result;
    }
    metrics.addMetric(PUBLISH_METRICS.publishBacklogAgeSeconds, MetricUnit.Seconds, result.backlogAgeSeconds);
    metrics.addMetric(PUBLISH_METRICS.abandonedPublications, MetricUnit.Count, result.abandoned);
    if (result.abandoned > 0)
      logger.warn('dropped registrations of windows that never committed', { abandoned: result.abandoned });
    if (result.status === 'planned') {
      logger.info('publish planned', {
        windows: result.windows,
        remaining: result.remaining,
        statements: result.streams.reduce((n, s) => n + s.statements.length, 0),
      });
    }
    return result;
  }
  if (event.action === 'end') {
    const result = await endPublish({ config, store, ledger }, event);
    metrics.addMetric(PUBLISH_METRICS.publishedWindows, MetricUnit.Count, result.published);
    metrics.addMetric(PUBLISH_METRICS.publishFailures, MetricUnit.Count, result.failed);
    if (result.failed > 0) logger.error('publish failed', { summary: result.summary });
    else logger.info('publish ended', { published: result.published, scannedBytes: result.scannedBytes });
    return result;
  }
  if (event.action === 'audit-wallet') {
    let result: WalletAuditResult;
    try {
      result = await auditWalletLedger(
        { config, database: database(), engine: queryEngine(), sink },
        { publish: String(event.publish), sources: event.sources ?? [] },
      );
    } catch (error) {
      metrics.addMetric(WALLET_LEDGER_METRICS.walletLedgerAuditFailures, MetricUnit.Count, 1);
      throw error;
    }
    if (result.status === 'skipped') {
      logger.info('wallet ledger audit skipped', { reason: result.reason });
      return result;
    }
    await store.walletAudit.record({
      breaks: result.breaks,
      windows: result.windows,
      publish: String(event.publish),
      ...(result.report ? { report: result.report } : {}),
    });
    metrics.addMetric(WALLET_LEDGER_METRICS.walletLedgerAuditFailures, MetricUnit.Count, 0);
    metrics.addMetric(WALLET_LEDGER_METRICS.walletLedgerBreaks, MetricUnit.Count, result.breaks);
    // Counts and the report's location only: the breaks themselves are in the encrypted report.
    if (result.breaks > 0) {
      logger.warn('wallet ledger breaks found', {
        breaks: result.breaks,
        windows: result.windows,
        report: result.report,
      });
    } else logger.info('wallet ledger audited', { windows: result.windows, scannedBytes: result.scannedBytes });
    return result;
  }
  throw new PublishInputError(
    `operator ${config.operatorId}: publish action must be "plan", "end" or "audit-wallet", got ${JSON.stringify((event as { action?: unknown }).action)}`,
  );
}

export const handler = wrapHandler(obs, publish);
