/**
 * Reading and validating one dropped file, in one pass.
 *
 * **How the ingest function uses it.** A file is landed all or nothing: nothing may be published
 * while any row of it is bad. Reading a 2 GB file twice (validate, then convert) costs twice the
 * time and S3 traffic, so validation and conversion share one pass:
 *
 * 1. {@link checkInboundObject} on the S3 event (key, stream, size) before downloading anything;
 * 2. {@link readInboundFile} on the object body, and `createRowMapper` with `file.columns`;
 * 3. for each yielded batch (only rows that passed every check), map it and write Parquet parts
 *    under the run's own keys, which no reader sees until a manifest names them. Once
 *    `file.hasErrors` is true there is no point writing more parts: keep iterating (cheap) so the
 *    reason lists the first problems and counts them all;
 * 4. when the iteration ends, `file.result()`: if `ok`, publish the manifest (the file has
 *    landed); if not, or if the iteration threw a {@link FileRejectedError}, delete the parts and
 *    quarantine the original with `reason` beside it.
 *
 * Errors: {@link FileRejectedError} (stable name, `code`, `reason`) for everything wrong with the
 * file itself; anything else (an S3 read reset, a Lambda timeout) is infrastructure and is
 * rethrown unchanged, so the event is retried instead of the file being quarantined.
 *
 * **On worker threads** (CSV and JSON Lines): {@link openInboundChunks} reads the same file as record-aligned
 * chunks that other threads check and map (`ingest/land-file.ts` drives it); the merged outcome
 * is the one {@link readInboundFile} gives.
 *
 * Memory stays bounded whatever the file size: bytes are streamed (gunzip, decoding and parsing
 * work chunk by chunk), batches hold `batchRows` rows, Parquet is read one row group at a time
 * from a spooled copy. A record or line longer than `maxRecordBytes` is refused (`LINE_TOO_LONG`).
 */
import type { StreamName } from '../canonical.ts';
import type { FileFormat, OperatorConfig } from '../config/schema.ts';
import type { SourceBatch, SourceColumn } from '../types.ts';
import { type ReadContext, readCsv, splitCsv, type TextChunk } from './csv.ts';
import { checkObjectSize, type InboundBody, type InboundStats, type InputLimits, openInbound } from './input.ts';
import { readJsonLines, splitJsonLines } from './jsonl.ts';
import { parseInboundKey } from './key.ts';
import { readParquet } from './parquet.ts';
import { type FilePlan, ProblemCollector, planFile } from './plan.ts';
import {
  buildReason,
  DEFAULT_MAX_LISTED_ERRORS,
  type FileContext,
  type FileProblem,
  FileProblemError,
  FileRejectedError,
  type QuarantineReason,
} from './reason.ts';
import { decodeText } from './text.ts';

const MIB = 1024 * 1024;

/** Limits of one file; every one has a default. */
export interface FileLimits extends Partial<InputLimits> {
  /**
   * Longest CSV record or JSON line, in bytes (characters for CSV).
   * @default 1 MiB
   */
  readonly maxRecordBytes?: number;
  /**
   * Problems listed in the reason (all are counted).
   * @default 20
   */
  readonly maxListedErrors?: number;
  /**
   * Stop reading after this many row problems (the count is then a lower bound and the reason
   * says `truncated`). A file with that many bad rows is not worth reading to the end.
   * @default 10000
   */
  readonly stopAfterErrors?: number;
  /**
   * Rows one file may hold; more is refused (`TOO_MANY_ROWS`). Never above `MAX_FILE_ROWS`, which
   * `_source_seq` can number within one receive second.
   * @default MAX_FILE_ROWS (1,000,000,000)
   */
  readonly maxRows?: number;
}

export const DEFAULT_MAX_RECORD_BYTES = MIB;
export const DEFAULT_STOP_AFTER_ERRORS = 10_000;
export const DEFAULT_BATCH_ROWS = 10_000;

/** The object to check before reading it. */
export interface InboundObject {
  readonly config: OperatorConfig;
  /** Object key, decoded (see `decodeS3EventKey`). */
  readonly key: string;
  /** Object size in bytes, from the S3 event. */
  readonly size?: number;
  /** When the object was received (the S3 event time). @default now */
  readonly receivedAt?: Date;
  readonly limits?: FileLimits;
}

/** What {@link readInboundFile} needs. */
export interface ReadInboundOptions extends InboundObject {
  /** The object's content (the S3 GetObject body). */
  readonly body: InboundBody;
  /** @default 10000 */
  readonly batchRows?: number;
  /** Where Parquet files are spooled. @default os.tmpdir() */
  readonly tmpDir?: string;
}

/** A key that passed {@link checkInboundObject}. */
export interface CheckedObject {
  readonly stream: StreamName;
  /** File name under `inbound/<stream>/`. */
  readonly name: string;
  readonly maxBytes: number;
}

/** Outcome of reading a file to the end. */
export interface InboundResult {
  /** True when every row passed: the file may be published. */
  readonly ok: boolean;
  /** Data rows read (good and bad). */
  readonly rowsRead: number;
  /** Rows yielded (they passed every check). */
  readonly rowsValid: number;
  /** Bytes of the object read. */
  readonly storedBytes: number;
  /** Content bytes after decompression. */
  readonly bytes: number;
  readonly gzip: boolean;
  /** Problems found in total. */
  readonly errorCount: number;
  /** The reason document to quarantine the file with, when not `ok`. */
  readonly reason: QuarantineReason | undefined;
}

/** One dropped file being read: iterate once for its good rows, then ask for the {@link result}. */
export interface InboundFile extends AsyncIterable<SourceBatch> {
  readonly stream: StreamName;
  readonly name: string;
  readonly format: FileFormat;
  /** Columns of every yielded batch, fixed by the config (same as `fileSourceColumns`). */
  readonly columns: readonly SourceColumn[];
  /** Whether a row problem has been found so far. */
  readonly hasErrors: boolean;
  /** Data rows read so far. */
  readonly rowsRead: number;
  readonly stats: Readonly<InboundStats>;
  /** The outcome; only after the iteration has ended without throwing. */
  result(): InboundResult;
}

function contextOf(options: InboundObject, stream: string | null): FileContext {
  return {
    operatorId: options.config.operatorId,
    file: options.key,
    stream,
    size: options.size ?? null,
    receivedAt: options.receivedAt ?? new Date(),
  };
}

function rejection(
  context: FileContext,
  error: FileProblemError,
  extra: readonly FileProblem[] = [],
  extraCount = 0,
  max = DEFAULT_MAX_LISTED_ERRORS,
): FileRejectedError {
  const own = error.problems();
  const listed = [...own, ...extra].slice(0, Math.max(max, own.length));
  const reason = buildReason(context, error.code, error.message, listed, own.length + extraCount);
  return new FileRejectedError(reason, { cause: error });
}

/** A format reader's context for a file's plan, with the limits' defaults. */
function readContextOf(
  plan: FilePlan,
  problems: ProblemCollector,
  batchRows: number | undefined,
  limits: FileLimits,
): ReadContext {
  return {
    plan,
    problems,
    batchRows: batchRows ?? DEFAULT_BATCH_ROWS,
    maxRecordBytes: limits.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES,
    stopAfterProblems: limits.stopAfterErrors ?? DEFAULT_STOP_AFTER_ERRORS,
    rowsRead: 0,
    stoppedEarly: false,
  };
}

/** Largest object accepted for an operator: `fileDrop.maxFileSizeMb`, unless `limits.maxBytes` says otherwise. */
export function maxBytesOf(config: OperatorConfig, limits?: FileLimits): number {
  return limits?.maxBytes ?? (config.fileDrop?.maxFileSizeMb ?? 5120) * MIB;
}

/**
 * Checks an object from its S3 event alone: key (`INVALID_KEY`, `UNKNOWN_STREAM`) and size
 * (`EMPTY_FILE`, `FILE_TOO_LARGE`). Throws {@link FileRejectedError}; a folder marker (a key
 * ending with `/`) is refused with `INVALID_KEY` and `reason.errors[0]` says so — see
 * `parseInboundKey` to tell it apart and skip it.
 */
export function checkInboundObject(options: InboundObject): CheckedObject {
  const parsed = parseInboundKey(options.key, options.config);
  if (!parsed.ok) {
    const context = contextOf(options, parsed.stream);
    throw rejection(context, new FileProblemError(parsed.code, parsed.message));
  }
  const maxBytes = maxBytesOf(options.config, options.limits);
  try {
    checkObjectSize(options.size, maxBytes);
  } catch (e) {
    if (e instanceof FileProblemError) throw rejection(contextOf(options, parsed.stream), e);
    throw e;
  }
  return { stream: parsed.stream, name: parsed.name, maxBytes };
}

function destroyBody(body: InboundBody): void {
  const destroy = (body as { destroy?: () => void }).destroy;
  if (typeof destroy === 'function') destroy.call(body);
}

/** {@link checkInboundObject}; on a refusal the body is destroyed (nothing will read it). */
function checkOrDiscard(options: InboundObject & { readonly body: InboundBody }): CheckedObject {
  try {
    return checkInboundObject(options);
  } catch (e) {
    destroyBody(options.body);
    throw e;
  }
}

/**
 * Opens a dropped file for reading: checks key and size at once (throwing
 * {@link FileRejectedError}), then reads, decodes, parses and validates while iterated. See the
 * module documentation for how the ingest function uses it.
 */
export function readInboundFile(options: ReadInboundOptions): InboundFile {
  const checked = checkOrDiscard(options);
  const { config, limits = {} } = options;
  const plan: FilePlan = planFile(config, checked.stream);
  const context = contextOf(options, checked.stream);
  const maxListed = limits.maxListedErrors ?? DEFAULT_MAX_LISTED_ERRORS;
  const problems = new ProblemCollector(maxListed);
  const ctx = readContextOf(plan, problems, options.batchRows, limits);
  const columns: SourceColumn[] = plan.columns.map(({ name, kind, sourceType }) => ({ name, kind, sourceType }));
  const input = openInbound(options.body, { ...limits, maxBytes: checked.maxBytes });
  let rowsValid = 0;
  let finished = false;
  let started = false;

  async function* iterate(): AsyncGenerator<SourceBatch> {
    if (started) throw new Error('an inbound file can be iterated only once');
    started = true;
    const formatPath = `streams.${checked.stream}.format`;
    const rows =
      plan.format.type === 'parquet'
        ? readParquet(input, ctx, options.tmpDir === undefined ? {} : { tmpDir: options.tmpDir })
        : plan.format.type === 'jsonl'
          ? readJsonLines(decodeText(input, plan.format, formatPath), ctx)
          : readCsv(decodeText(input, plan.format, formatPath), ctx);
    try {
      for await (const batch of rows) {
        rowsValid += batch.length;
        yield { columns, rows: batch };
      }
    } catch (e) {
      if (e instanceof FileProblemError) throw rejection(context, e, problems.listed, problems.count, maxListed);
      throw e;
    }
    finished = true;
  }

  return {
    stream: checked.stream,
    name: checked.name,
    format: plan.format,
    columns,
    get hasErrors() {
      return problems.count > 0;
    },
    get rowsRead() {
      return ctx.rowsRead;
    },
    stats: input.stats,
    [Symbol.asyncIterator]: () => iterate(),
    result(): InboundResult {
      if (!finished) throw new Error('result() is only known once the file has been read to the end');
      return resultOf(context, ctx, input.stats, rowsValid);
    },
  };
}

/** The outcome of a file read to the end: ok, or the reason listing its problems. */
function resultOf(context: FileContext, ctx: ReadContext, stats: InboundStats, rowsValid: number): InboundResult {
  const { problems } = ctx;
  const ok = problems.count === 0;
  let reason: QuarantineReason | undefined;
  if (!ok) {
    const first = problems.listed[0]!;
    const where = first.line !== null ? `line ${first.line}` : `row ${first.row}`;
    reason = buildReason(
      context,
      first.code,
      `${problems.count}${ctx.stoppedEarly ? ' or more' : ''} problem${problems.count === 1 ? '' : 's'} in ${ctx.rowsRead} rows; the first, at ${where}: ${first.message}`,
      problems.listed,
      problems.count,
      ctx.stoppedEarly,
    );
  }
  return {
    ok,
    rowsRead: ctx.rowsRead,
    rowsValid,
    storedBytes: stats.storedBytes,
    bytes: stats.bytes,
    gzip: stats.gzip,
    errorCount: problems.count,
    reason,
  };
}

/** What {@link openInboundChunks} needs. */
export interface InboundChunksOptions extends ReadInboundOptions {
  /** Bytes of text per chunk (chunks end where a batch ends, so they may be longer). */
  readonly chunkBytes: number;
}

/**
 * A CSV or JSON Lines file being read in record-aligned chunks that other threads check and map
 * (`readCsvChunk`, `readJsonLinesChunk`); this thread decodes the bytes, resolves the header and merges what the chunks
 * found, in file order, into {@link context} (`rowsRead`, `stoppedEarly`, `problems`), exactly as
 * {@link readInboundFile} would have found it.
 */
export interface InboundChunks extends AsyncIterable<TextChunk> {
  readonly stream: StreamName;
  readonly name: string;
  readonly plan: FilePlan;
  /** Columns of the rows, fixed by the config (same as {@link InboundFile.columns}). */
  readonly columns: readonly SourceColumn[];
  /** The reading state the merged chunks update; its `problems` collect theirs. */
  readonly context: ReadContext;
  readonly maxListedErrors: number;
  readonly stats: Readonly<InboundStats>;
  /** The rejection a chunk's `error` (or a mapping failure) ends the file with, listing the problems so far. */
  reject(problem: Error): FileRejectedError;
  /** Records that the chunks were all merged and the file read to the end; then {@link result}. */
  finish(rowsValid: number): void;
  result(): InboundResult;
}

/** Formats whose files {@link openInboundChunks} can cut into chunks. */
export function chunkable(format: FileFormat): boolean {
  return format.type === 'csv' || format.type === 'jsonl';
}

/**
 * Opens a CSV or JSON Lines file for reading in chunks (see {@link InboundChunks}); checks key and size at once
 * as {@link readInboundFile} does. Throws for a format that is not {@link chunkable}.
 */
export function openInboundChunks(options: InboundChunksOptions): InboundChunks {
  const checked = checkOrDiscard(options);
  const { config, limits = {} } = options;
  const plan: FilePlan = planFile(config, checked.stream);
  if (!chunkable(plan.format)) {
    destroyBody(options.body);
    throw new Error(`${plan.format.type} files are not read in chunks`);
  }
  const context = contextOf(options, checked.stream);
  const maxListed = limits.maxListedErrors ?? DEFAULT_MAX_LISTED_ERRORS;
  const problems = new ProblemCollector(maxListed);
  const ctx = readContextOf(plan, problems, options.batchRows, limits);
  const columns: SourceColumn[] = plan.columns.map(({ name, kind, sourceType }) => ({ name, kind, sourceType }));
  const input = openInbound(options.body, { ...limits, maxBytes: checked.maxBytes });
  const formatPath = `streams.${checked.stream}.format`;
  let started = false;
  let rowsValid: number | undefined;
  const reject = (problem: Error): FileRejectedError => {
    if (problem instanceof FileProblemError) {
      return rejection(context, problem, problems.listed, problems.count, maxListed);
    }
    if (problem instanceof FileRejectedError) return problem;
    throw problem;
  };

  async function* iterate(): AsyncGenerator<TextChunk> {
    if (started) throw new Error('an inbound file can be iterated only once');
    started = true;
    try {
      const text = decodeText(input, plan.format, formatPath);
      if (plan.format.type === 'jsonl') yield* splitJsonLines(text, ctx, options.chunkBytes);
      else yield* splitCsv(text, ctx, options.chunkBytes);
    } catch (e) {
      if (e instanceof FileProblemError) throw reject(e);
      throw e;
    }
  }

  return {
    stream: checked.stream,
    name: checked.name,
    plan,
    columns,
    context: ctx,
    maxListedErrors: maxListed,
    stats: input.stats,
    reject,
    [Symbol.asyncIterator]: () => iterate(),
    finish(valid: number) {
      rowsValid = valid;
    },
    result(): InboundResult {
      if (rowsValid === undefined) throw new Error('result() is only known once the file has been read to the end');
      return resultOf(context, ctx, input.stats, rowsValid);
    },
  };
}

/** Outcome of {@link validateInboundFile}. */
export type InboundValidation =
  | { readonly ok: true; readonly result: InboundResult }
  | { readonly ok: false; readonly reason: QuarantineReason; readonly result: InboundResult | undefined };

/**
 * Reads a file to the end without keeping its rows and says whether it may land; for a check
 * without a write (the CLI, tests). Infrastructure errors are rethrown.
 */
export async function validateInboundFile(
  options: ReadInboundOptions,
  onBatch?: (batch: SourceBatch) => void | Promise<void>,
): Promise<InboundValidation> {
  try {
    const file = readInboundFile(options);
    for await (const batch of file) await onBatch?.(batch);
    const result = file.result();
    return result.ok ? { ok: true, result } : { ok: false, reason: result.reason!, result };
  } catch (e) {
    if (e instanceof FileRejectedError) return { ok: false, reason: e.reason, result: undefined };
    throw e;
  }
}
