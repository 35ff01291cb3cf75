/**
 * Extraction on top of the {@link Runtime}: the pseudonym key and sink of an invocation, opening
 * the operator's database with its secret, and running one extraction request. Imported only by
 * the functions that read the operator database or land rows, so the others load no driver.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import type { StreamName } from '../canonical.ts';
import { ENV } from '../contracts/environment.ts';
import { METRICS } from '../contracts/metrics.ts';
import { defaultBatchWorkers } from '../extract/batch-pool.ts';
import { type ExtractRangeOutcome, type ExtractRangeRequest, extractRange } from '../extract/extract-range.ts';
import type { Pseudonymizer } from '../pii/pseudonymizer.ts';
import { publicationOf } from '../serving/backlog.ts';
import type { S3Sink } from '../sink/s3.ts';
import { type OperatorDatabase, openOperatorDatabase } from '../sources/connect.ts';
import { applicationNameFor, type SourceConnection } from '../sources/index.ts';
import { operatorPseudonymizer } from './pseudonyms.ts';
import type { Runtime } from './runtime.ts';

export interface InvocationTools {
  readonly sink: S3Sink;
  readonly pseudonymKey: Buffer;
  readonly pseudonymizer: Pseudonymizer;
}

/** The sink and the pseudonym key of an invocation (the key is unwrapped once per environment). */
export async function invocationTools(rt: Runtime, stream: StreamName, windowId: string): Promise<InvocationTools> {
  const { key: pseudonymKey, pseudonymizer } = await operatorPseudonymizer(rt);
  return { sink: rt.sink({ stream, windowId }), pseudonymKey, pseudonymizer };
}

/**
 * Opens the operator database: connection settings from the config, user name and password from
 * its secret (cached by the adapter, read again once when the login is refused).
 */
export async function openOperatorSource(rt: Runtime, stream: StreamName): Promise<SourceConnection> {
  const source = rt.config.source;
  if (source.type === 'files') throw new Error(`${rt.config.operatorId}: file-drop operators have no source database`);
  if (!rt.env.secretId) throw new Error(`environment variable ${ENV.secretId} is not set (database sources need it)`);
  const database: OperatorDatabase = {
    source,
    stage: rt.config.stage,
    secrets: rt.adapters.secrets,
    secretId: rt.env.secretId,
    ...(rt.adapters.sourceOverride ? { override: rt.adapters.sourceOverride } : {}),
  };
  return openOperatorDatabase(database, {
    applicationName: applicationNameFor(rt.config.operatorId, stream),
    statementTimeoutSeconds: source.statementTimeoutSeconds,
    timeZone: source.timeZone,
    operatorId: rt.config.operatorId,
    stream,
    logger: {
      debug: (message, extra) => rt.obs.logger.debug(message, extra ?? {}),
      info: (message, extra) => rt.obs.logger.info(message, extra ?? {}),
      warn: (message, extra) => rt.obs.logger.warn(message, extra ?? {}),
    },
  });
}

/** Milliseconds left in the invocation (unbounded outside Lambda). */
export function remainingTime(context: Context | undefined): () => number {
  return () =>
    typeof context?.getRemainingTimeInMillis === 'function'
      ? context.getRemainingTimeInMillis()
      : Number.MAX_SAFE_INTEGER;
}

/**
 * Opens the operator database, runs {@link extractRange} for one request with the invocation's
 * sink, pseudonym key and time budget, and closes the session whatever happens. `beforeRead` runs
 * on the open session first (the schema-drift check); what it throws fails the invocation.
 */
export async function extractForInvocation(
  rt: Runtime,
  context: Context | undefined,
  request: ExtractRangeRequest,
  beforeRead?: (source: SourceConnection) => Promise<void>,
): Promise<ExtractRangeOutcome> {
  const tools = await invocationTools(rt, request.stream, `${request.runId}/${request.windowId}`);
  const source = await openOperatorSource(rt, request.stream);
  try {
    await beforeRead?.(source);
    return await extractRange(
      {
        config: rt.config,
        source,
        sink: tools.sink,
        pseudonymizer: tools.pseudonymizer,
        pseudonymKey: tools.pseudonymKey,
        remainingMs: remainingTime(context),
        reserveMs: rt.reserveMs,
        beforeCommit: (manifest) => rt.publications.register(publicationOf(rt.config, manifest)),
        workers: defaultBatchWorkers(),
      },
      request,
    );
  } finally {
    await source.close();
  }
}

/**
 * Reports a committed window's money totals reconciliation (extract/money-totals.ts): the metric
 * `MoneyTotalsMismatches`, a warning naming the manifest when totals differ (counts only: the
 * totals are in the manifest), and the stream's sync state for `connector status`. Nothing for
 * streams without money totals.
 */
export async function reportMoneyTotals(
  rt: Runtime,
  stream: StreamName,
  runId: string,
  windowId: string,
  outcome: Extract<ExtractRangeOutcome, { status: 'complete' }>,
): Promise<void> {
  const mismatches = outcome.reconciliation.moneyTotalsMismatches;
  if (mismatches === undefined) return;
  rt.obs.metrics.addMetric(METRICS.moneyTotalsMismatches, MetricUnit.Count, mismatches);
  if (mismatches > 0) {
    rt.obs.logger.warn(
      'money totals differ between the source and the lake; see the runbook section "Money totals differ"',
      { moneyTotalsMismatches: mismatches, manifestKey: outcome.manifestKey },
    );
  }
  await rt.store.watermarks.recordMoneyTotals(stream, {
    runId,
    windowId,
    mismatches,
    manifestKey: outcome.manifestKey,
  });
}
