/**
 * Cold-start wiring shared by the extractor handlers: environment, config, AWS clients, adapters,
 * the pseudonym key, and opening the operator's database with its secret.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { type Adapters, createAdapters } from '../adapters/index.ts';
import type { StreamName } from '../canonical.ts';
import type { OperatorConfig } from '../config/schema.ts';
import { ENV } from '../contracts/environment.ts';
import { METRICS } from '../contracts/metrics.ts';
import { defaultBatchWorkers } from '../extract/batch-pool.ts';
import { type ExtractRangeOutcome, type ExtractRangeRequest, extractRange } from '../extract/extract-range.ts';
import { ensureKeyForm, loadPseudonymKey } from '../pii/key.ts';
import { createPseudonymizer, type Pseudonymizer } from '../pii/pseudonymizer.ts';
import { publicationOf } from '../serving/backlog.ts';
import { S3Sink } from '../sink/s3.ts';
import { type OperatorDatabase, openOperatorDatabase } from '../sources/connect.ts';
import { applicationNameFor, type SourceConnection } from '../sources/index.ts';
import { PublicationLedger } from '../state/publications.ts';
import { SchemaLedger } from '../state/schemas.ts';
import { SyncStateStore } from '../state/store.ts';
import { type AwsClients, createAwsClients, loadRuntimeConfig, type RuntimeEnv, readRuntimeEnv } from './context.ts';
import { createObservability, type Observability } from './observability.ts';

export interface ExtractorRuntime {
  readonly env: RuntimeEnv;
  readonly config: OperatorConfig;
  readonly clients: AwsClients;
  readonly adapters: Adapters;
  readonly store: SyncStateStore;
  /** The publication backlog: every window is registered just before it commits. */
  readonly publications: PublicationLedger;
  /** Each stream's source-schema fingerprint and last drift. */
  readonly schemas: SchemaLedger;
  readonly obs: Observability;
  /** Milliseconds kept back from the Lambda budget to close, reconcile and commit. */
  readonly reserveMs: number;
  /** Worker threads per window (batch-pool.ts). @default defaultBatchWorkers() (one per vCPU from 2 vCPUs) */
  readonly batchWorkers?: number;
}

/** Builds the runtime once per execution environment (module scope). */
export function createExtractorRuntime(processEnv: NodeJS.ProcessEnv = process.env): ExtractorRuntime {
  const env = readRuntimeEnv(processEnv);
  const config = loadRuntimeConfig(processEnv);
  const clients = createAwsClients(processEnv);
  const reserve = Number(processEnv.CONNECTOR_TIME_RESERVE_MS ?? '90000');
  return {
    env,
    config,
    clients,
    adapters: createAdapters(processEnv, { operatorId: env.operatorId }),
    store: new SyncStateStore(clients.doc, env.stateTable),
    publications: new PublicationLedger(clients.doc, env.stateTable),
    schemas: new SchemaLedger(clients.doc, env.stateTable),
    obs: createObservability(`${env.operatorId}-${env.stage}`),
    reserveMs: Number.isFinite(reserve) && reserve >= 0 ? reserve : 90_000,
  };
}

export interface InvocationTools {
  readonly sink: S3Sink;
  readonly pseudonymKey: Buffer;
  readonly pseudonymizer: Pseudonymizer;
}

let pseudonymizer: { key: Buffer; value: Pseudonymizer } | undefined;

/** The sink and the pseudonym key of an invocation (the key is unwrapped once per environment). */
export async function invocationTools(
  rt: ExtractorRuntime,
  stream: StreamName,
  windowId: string,
): Promise<InvocationTools> {
  const pseudonymKey = await loadPseudonymKey({ keys: rt.adapters.keys, store: rt.store, keyId: rt.env.kmsKeyArn });
  await ensureKeyForm({
    store: rt.store,
    operatorId: rt.config.operatorId,
    comparison: rt.config.source.keyComparison,
  });
  if (pseudonymizer?.key !== pseudonymKey)
    pseudonymizer = { key: pseudonymKey, value: createPseudonymizer(pseudonymKey) };
  const sink = new S3Sink({
    client: rt.clients.s3,
    bucket: rt.env.bucket,
    kmsKeyArn: rt.env.kmsKeyArn,
    context: { operatorId: rt.config.operatorId, stream, windowId },
  });
  return { sink, pseudonymKey, pseudonymizer: pseudonymizer.value };
}

/**
 * Opens the operator database: connection settings from the config, user name and password from
 * its secret (cached by the adapter, read again once when the login is refused).
 */
export async function openOperatorSource(rt: ExtractorRuntime, stream: StreamName): Promise<SourceConnection> {
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
  rt: ExtractorRuntime,
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
        workers: rt.batchWorkers ?? defaultBatchWorkers(),
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
  rt: ExtractorRuntime,
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
