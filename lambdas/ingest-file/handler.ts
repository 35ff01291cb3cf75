/**
 * ingest-file: lands the files an operator drops under `inbound/<stream>/`. Triggered by the
 * landing bucket's Object Created events through EventBridge and an SQS queue; each message is one
 * object, processed by `ingestObject` (landed as Parquet, or quarantined with its reason).
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { isStreamName } from '#shared/canonical';
import { DIMENSIONS, INGEST_METRICS, METRICS } from '#shared/contracts/metrics';
import { recordFileSchema } from '#shared/drift/files';
import { defaultBatchWorkers } from '#shared/extract/batch-pool';
import { createIngestBatchHandler, FileLedger, type IngestOutcome } from '#shared/ingest/index';
import type { Pseudonymizer } from '#shared/pii/pseudonymizer';
import { wrapHandler } from '#shared/runtime/observability';
import { operatorPseudonymizer } from '#shared/runtime/pseudonyms';
import { createRuntime } from '#shared/runtime/runtime';
import { reportSchemaCheck } from '#shared/runtime/schema-drift';
import { publicationOf } from '#shared/serving/backlog';

const rt = createRuntime();
const { logger, metrics } = rt.obs;
const ledger = new FileLedger({ doc: rt.clients.doc, tableName: rt.env.stateTable });
const pseudonymizer = async (): Promise<Pseudonymizer> => (await operatorPseudonymizer(rt)).pseudonymizer;
const pseudonymKey = async (): Promise<Uint8Array> => (await operatorPseudonymizer(rt)).key;

/**
 * Per-file metrics: rows and lag per stream (a batch may hold several streams), and the columns the
 * file showed compared with the previous accepted file's (schema drift).
 */
async function record(outcome: IngestOutcome, eventTime: Date): Promise<void> {
  if (outcome.status === 'landed') {
    const changes = await recordFileSchema({ config: rt.config, ledger: rt.schemas }, outcome);
    reportSchemaCheck(rt.obs, outcome.stream, outcome.key, changes);
    files.ingested++;
    const single = metrics.singleMetric();
    single.addDimension(DIMENSIONS.stream, outcome.stream);
    single.addMetric(INGEST_METRICS.rowsIngested, MetricUnit.Count, outcome.rows);
    single.addMetric(METRICS.strayObjectsDeleted, MetricUnit.Count, outcome.strayObjectsDeleted);
    single.addMetric(
      INGEST_METRICS.ingestLagSeconds,
      MetricUnit.Seconds,
      Math.max(0, (Date.now() - eventTime.getTime()) / 1000),
    );
  } else if (outcome.status === 'quarantined') {
    files.quarantined++;
    const stream = outcome.reason.stream;
    if (stream !== null && isStreamName(stream) && rt.config.streams[stream]) {
      const changes = await recordFileSchema(
        { config: rt.config, ledger: rt.schemas },
        { ...outcome, status: 'quarantined', stream },
      );
      if (changes.length > 0) reportSchemaCheck(rt.obs, stream, outcome.key, changes);
    }
  } else {
    logger.info('event needed no ingestion', { key: outcome.key, status: outcome.status });
  }
}

let files = { ingested: 0, quarantined: 0 };

const processBatch = createIngestBatchHandler(
  {
    config: rt.config,
    s3: rt.clients.s3,
    bucket: rt.env.bucket,
    kmsKeyArn: rt.env.kmsKeyArn,
    ledger,
    pseudonymizer,
    // One worker thread per vCPU (none on one): CSV and JSON Lines files are read, mapped and encoded in chunks there.
    workers: defaultBatchWorkers(),
    pseudonymKey,
    beforeCommit: (manifest) => rt.publications.register(publicationOf(rt.config, manifest)),
    logger: {
      info: (message, extra) => logger.info(message, extra ?? {}),
      warn: (message, extra) => logger.warn(message, extra ?? {}),
    },
  },
  record,
);

/** Processes a batch of object events; failed records are returned for SQS to redeliver. */
export async function ingestFiles(event: SQSEvent, context: Context): Promise<SQSBatchResponse> {
  files = { ingested: 0, quarantined: 0 };
  try {
    return await processBatch(event, context);
  } finally {
    // Published on every invocation, zeros included, so alarms on them never lack data.
    metrics.addMetric(INGEST_METRICS.filesIngested, MetricUnit.Count, files.ingested);
    metrics.addMetric(INGEST_METRICS.filesQuarantined, MetricUnit.Count, files.quarantined);
  }
}

export const handler = wrapHandler(rt.obs, ingestFiles);
