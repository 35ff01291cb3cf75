/**
 * The machine-readable reason written beside a quarantined file, and the error that carries it.
 *
 * The zod schema is the one definition: the TypeScript type and the published JSON Schema
 * ({@link QUARANTINE_REASON_JSON_SCHEMA}) are derived from it.
 */
import { z } from 'zod';
import { FILE_ERROR_CODE_LIST, type FileErrorCode } from './codes.ts';

/** Version of the reason document; bumped only for incompatible changes. */
export const QUARANTINE_REASON_VERSION = 1;

/** Problems listed in a reason document by default; `errorCount` counts them all. */
export const DEFAULT_MAX_LISTED_ERRORS = 20;

const codeSchema = z.enum(FILE_ERROR_CODE_LIST as [FileErrorCode, ...FileErrorCode[]]);

/** One problem found in a file, located as precisely as the format allows. */
export const fileProblemSchema = z
  .strictObject({
    line: z
      .number()
      .int()
      .min(1)
      .nullable()
      .describe(
        'Physical line (1-based) where the record starts; a CSV record with quoted newlines spans several lines. Null for Parquet.',
      ),
    row: z
      .number()
      .int()
      .min(1)
      .nullable()
      .describe(
        'Data row (1-based, not counting the CSV header or blank JSON Lines lines); null for file-level problems.',
      ),
    column: z
      .string()
      .nullable()
      .describe('Column (file header or JSON key) the problem is in, when it is one column.'),
    code: codeSchema.describe('Stable code of the problem.'),
    message: z.string().describe('What is wrong and how to fix it.'),
    example: z
      .string()
      .nullable()
      .describe('The offending value, JSON-quoted and truncated; redacted for personal data; null when there is none.'),
  })
  .describe('One problem in a file.');

/** The document written to `quarantine/<stream>/<name>.reason.json` beside the original. */
export const quarantineReasonSchema = z
  .strictObject({
    version: z.literal(QUARANTINE_REASON_VERSION).describe('Version of this document format.'),
    operatorId: z.string().describe('Operator the file was dropped for.'),
    file: z.string().describe('S3 key the file was dropped under (inbound/<stream>/<name>).'),
    stream: z.string().nullable().describe('Canonical stream, when the key names one.'),
    code: codeSchema.describe('Stable code of the (first) problem; see the list of codes.'),
    message: z.string().describe('Summary for a person.'),
    size: z.number().int().min(0).nullable().describe('Size of the object in bytes, when known.'),
    receivedAt: z.iso.datetime().describe('When the object was received (S3 event time), ISO 8601 UTC.'),
    errors: z.array(fileProblemSchema).describe('The first problems found, in file order.'),
    errorCount: z.number().int().min(0).describe('How many problems were found in total.'),
    truncated: z
      .boolean()
      .describe('True when `errors` does not list every problem (more than listed, or the scan stopped early).'),
  })
  .describe('Why a dropped file was quarantined.');

/** One problem found in a file. */
export type FileProblem = z.infer<typeof fileProblemSchema>;

/** Why a dropped file was quarantined (the `.reason.json` document). */
export type QuarantineReason = z.infer<typeof quarantineReasonSchema>;

/** JSON Schema (draft 2020-12) of {@link QuarantineReason}, for operators' tooling and the docs. */
export const QUARANTINE_REASON_JSON_SCHEMA = z.toJSONSchema(quarantineReasonSchema, { target: 'draft-2020-12' });

/** Where a file came from, for the reason document. */
export interface FileContext {
  readonly operatorId: string;
  /** The object key. */
  readonly file: string;
  readonly stream: string | null;
  readonly size: number | null;
  readonly receivedAt: Date;
}

/**
 * Builds a reason document. `problems` lists at least the problem that `code` names (a whole-file
 * problem is listed as one entry with what is known of its place).
 */
export function buildReason(
  context: FileContext,
  code: FileErrorCode,
  message: string,
  problems: readonly FileProblem[],
  errorCount = problems.length,
  scanStopped = false,
): QuarantineReason {
  return {
    version: QUARANTINE_REASON_VERSION,
    operatorId: context.operatorId,
    file: context.file,
    stream: context.stream,
    code,
    message,
    size: context.size,
    receivedAt: context.receivedAt.toISOString(),
    errors: [...problems],
    errorCount,
    truncated: scanStopped || problems.length < errorCount,
  };
}

/**
 * A whole file cannot be landed: its key, size, compression, encoding, format or header is wrong,
 * or (from {@link InboundFile.result}) it has bad rows. Not retryable: the same bytes fail the same
 * way. The ingest function moves the original to `quarantine/` with {@link reason} beside it.
 */
export class FileRejectedError extends Error {
  override readonly name = 'FileRejectedError';
  readonly retryable = false;
  readonly code: FileErrorCode;
  readonly reason: QuarantineReason;

  constructor(reason: QuarantineReason, options?: { cause?: unknown }) {
    super(`${reason.operatorId}/${reason.stream ?? '?'}: ${reason.file}: ${reason.code}: ${reason.message}`, options);
    this.code = reason.code;
    this.reason = reason;
  }
}

/**
 * A problem found while reading, before the file context is known to the code that found it;
 * {@link readInboundFile} turns it into a {@link FileRejectedError}.
 * @internal
 */
export class FileProblemError extends Error {
  override readonly name = 'FileProblemError';
  readonly code: FileErrorCode;
  readonly line: number | null;
  readonly row: number | null;
  readonly column: string | null;
  readonly example: string | null;
  /** The problems to list, when there are several (e.g. every missing column); else this one. */
  readonly listed: readonly FileProblem[] | undefined;

  constructor(
    code: FileErrorCode,
    message: string,
    where: {
      line?: number | null;
      row?: number | null;
      column?: string | null;
      example?: string | null;
      problems?: readonly FileProblem[];
      cause?: unknown;
    } = {},
  ) {
    super(message, where.cause === undefined ? undefined : { cause: where.cause });
    this.code = code;
    this.line = where.line ?? null;
    this.row = where.row ?? null;
    this.column = where.column ?? null;
    this.example = where.example ?? null;
    this.listed = where.problems;
  }

  /** The problems this error stands for. */
  problems(): FileProblem[] {
    if (this.listed !== undefined && this.listed.length > 0) return [...this.listed];
    return [
      {
        line: this.line,
        row: this.row,
        column: this.column,
        code: this.code,
        message: this.message,
        example: this.example,
      },
    ];
  }
}
