/**
 * File-drop ingestion: from an S3 Object Created event to landed Parquet or a quarantined file.
 * See `ingest.ts` for the flow and its guarantees.
 */

export {
  FileBusyError,
  FileLedger,
  type FileLedgerEntry,
  type FileLedgerOptions,
  type FileLedgerStatus,
  fileVersionOf,
} from '../state/file-ledger.ts';
export { createIngestBatchHandler, type OutcomeListener } from './batch.ts';
export {
  type InboundObjectEvent,
  InvalidIngestEventError,
  objectCreatedEventBody,
  parseObjectCreatedEvent,
} from './event.ts';
export {
  FILE_WINDOW_ID,
  ForeignBucketError,
  fileRunId,
  type IngestDeps,
  type IngestLogger,
  type IngestOutcome,
  ingestObject,
} from './ingest.ts';
export {
  type DroppedFile,
  FILE_CHUNK_BYTES,
  type LandedFile,
  type LandFileOptions,
  landInboundFile,
  mappingRejection,
  tooManyRows,
} from './land-file.ts';
export {
  copyObjectVersion,
  deleteObjectVersion,
  getObjectVersion,
  isMissingObject,
  type ObjectRef,
} from './objects.ts';
