/**
 * The SQS side of the ingest function: one message per dropped object, processed one after the
 * other with Powertools batch processing, so a message whose object hit an infrastructure error is
 * reported as a partial batch failure and retried alone.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { parseObjectCreatedEvent } from './event.ts';
import { type IngestDeps, type IngestOutcome, ingestObject } from './ingest.ts';

/** Called with each outcome (metrics, logs, schema drift); a returned promise is awaited, and a rejection fails the record. */
export type OutcomeListener = (outcome: IngestOutcome, eventTime: Date) => unknown;

/**
 * The batch handler of the ingest function. Records are processed sequentially (a file may use
 * much of the function's memory and time); a record that throws is reported in
 * `batchItemFailures`. When every record fails, Powertools throws, and the whole batch is retried.
 */
export function createIngestBatchHandler(
  deps: IngestDeps | (() => IngestDeps),
  onOutcome?: OutcomeListener,
): (event: SQSEvent, context?: Context) => Promise<SQSBatchResponse> {
  const processor = new BatchProcessor(EventType.SQS);
  const resolve = typeof deps === 'function' ? deps : () => deps;
  const recordHandler = async (record: SQSRecord): Promise<IngestOutcome> => {
    const event = parseObjectCreatedEvent(record.body);
    const outcome = await ingestObject(resolve(), event);
    await onOutcome?.(outcome, event.time);
    return outcome;
  };
  return async (event, context) =>
    processPartialResponse(event, recordHandler, processor, {
      ...(context ? { context } : {}),
      processInParallel: false,
    }) as Promise<SQSBatchResponse>;
}
