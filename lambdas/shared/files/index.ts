/**
 * File drop: reading and validating the CSV, JSON Lines and Parquet files an operator drops under
 * `inbound/<stream>/`, up to (not including) the S3 writes and the Parquet encoding. See
 * `reader.ts` for how the ingest function uses it, and `codes.ts` for the rejection codes.
 */
export { FILE_ERROR_CODE_LIST, FILE_ERROR_CODES, type FileErrorCode, fileErrorCodesMarkdown } from './codes.ts';
export {
  checkObjectSize,
  type InboundBody,
  type InboundBytes,
  type InboundStats,
  type InputLimits,
  openInbound,
} from './input.ts';
export {
  decodeS3EventKey,
  type InboundKey,
  type InboundKeyRejection,
  MAX_KEY_BYTES,
  parseInboundKey,
} from './key.ts';
export { fileSourceColumns, formatOf } from './plan.ts';
export {
  type CheckedObject,
  checkInboundObject,
  chunkable,
  DEFAULT_BATCH_ROWS,
  DEFAULT_MAX_RECORD_BYTES,
  DEFAULT_STOP_AFTER_ERRORS,
  type FileLimits,
  type InboundChunks,
  type InboundChunksOptions,
  type InboundFile,
  type InboundObject,
  type InboundResult,
  type InboundValidation,
  maxBytesOf,
  openInboundChunks,
  type ReadInboundOptions,
  readInboundFile,
  validateInboundFile,
} from './reader.ts';
export {
  DEFAULT_MAX_LISTED_ERRORS,
  type FileProblem,
  FileRejectedError,
  fileProblemSchema,
  QUARANTINE_REASON_JSON_SCHEMA,
  QUARANTINE_REASON_VERSION,
  type QuarantineReason,
  quarantineReasonSchema,
} from './reason.ts';
