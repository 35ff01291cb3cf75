/**
 * The core of landing one dropped file: its bytes read, checked, mapped and written as Parquet row
 * groups by a part writer, on this thread or on the process's worker pool. `ingestObject` wraps it
 * with the S3 object, the ledger, the commit and the quarantine; the file-drop benchmark runs it
 * as it is.
 *
 * **On this thread** (no workers, a file smaller than a chunk, or Parquet, which is not cut into chunks):
 * `readInboundFile` yields the rows that passed every check, the row mapper maps them and the
 * part writer encodes them.
 *
 * **On the pool** (CSV, JSON Lines): this thread gunzips and validates the bytes, resolves the CSV
 * header and cuts the text into record-aligned chunks of a few MiB, with the record parser in scan
 * mode (`splitCsv`) or at line breaks (`splitJsonLines`); each chunk's bytes are moved to a worker,
 * which parses, checks, maps and encodes it (`readCsvChunk`, `readJsonLinesChunk`,
 * batch-worker.ts) and returns its problems and Parquet row groups. The replies
 * are merged in file order, so the file's problems, the quarantine reason (the first problems, the
 * count, `truncated`), the rows and their `_source_seq` are exactly those of this thread's path:
 * - chunks carry their first line and first data row, so lines, rows and ordinals are absolute;
 * - chunks end where the single-thread reader's batches end, and workers map batch by batch, so
 *   a value the mapper refuses is reported from the same batch (`INVALID_VALUE`, as
 *   {@link mappingRejection} builds it) and `TOO_MANY_ROWS` is decided at the same batch;
 * - problems are counted up to `stopAfterErrors` at the same row; a syntax error or an invalid
 *   encoding ends the file after the rows before it are merged; for JSON Lines, a line refusing
 *   the whole file likewise, and the end-of-file checks (no line, a key on no line) come before a
 *   refusal at the last batch, as in the one-thread reader.
 * Once a problem is known, further chunks are only checked, and row groups after it are dropped.
 * At most two chunks per worker are in flight, which bounds memory.
 */
import type { StreamName } from '../canonical.ts';
import type { OperatorConfig } from '../config/schema.ts';
import { type BatchPoolSession, sharedBatchPool } from '../extract/batch-pool.ts';
import { type FileChunkResult, fromWireError } from '../extract/batch-wire.ts';
import type { TextChunk } from '../files/csv.ts';
import {
  chunkable,
  type FileLimits,
  formatOf,
  type InboundResult,
  openInboundChunks,
  readInboundFile,
} from '../files/index.ts';
import type { InboundBody } from '../files/input.ts';
import { missingKeys } from '../files/jsonl.ts';
import { buildReason, FileProblemError, FileRejectedError } from '../files/reason.ts';
import { landedColumns } from '../landed-schema.ts';
import { type PartitionedPartWriter, partFileOptions } from '../landing/part-writer.ts';
import { CoercionError } from '../mapping/errors.ts';
import { createRowMapper, type RowMapper } from '../mapping/mapper.ts';
import { fileSourceSeq, MAX_FILE_ROWS } from '../mapping/version.ts';
import type { Pseudonymizer } from '../pii/pseudonymizer.ts';

const MIB = 1024 * 1024;

/** Text per chunk a worker reads: large enough that a chunk costs far more than its message. */
export const FILE_CHUNK_BYTES = 8 * MIB;

/** The dropped object, as the S3 event describes it. */
export interface DroppedFile {
  readonly key: string;
  /** Object size from the event. */
  readonly size?: number;
  /** When it was received (the event time): `_source_seq` counts from this second. */
  readonly time: Date;
}

/** What {@link landInboundFile} needs. */
export interface LandFileOptions {
  readonly config: OperatorConfig;
  readonly file: DroppedFile;
  /** The object's content (the S3 GetObject body). */
  readonly body: InboundBody;
  readonly stream: StreamName;
  readonly writer: PartitionedPartWriter;
  readonly pseudonymizer: Pseudonymizer;
  readonly runId: string;
  readonly extractedAt: Date;
  readonly limits?: FileLimits;
  readonly tmpDir?: string;
  /** Rows per batch of the reader. @default the reader's (10,000) */
  readonly batchRows?: number;
  /**
   * Worker threads of the process's pool that read, map and encode CSV and JSON Lines chunks; 0
   * reads on this thread. Needs `pseudonymKey`.
   * @default 0
   */
  readonly workers?: number;
  /** The key `pseudonymizer` was made with: the workers make their own with it. */
  readonly pseudonymKey?: Uint8Array;
  /** @default FILE_CHUNK_BYTES */
  readonly chunkBytes?: number;
  /**
   * Smallest object (bytes as stored, from the event) read on the pool; a smaller one is read on
   * this thread, where it costs less than starting the workers.
   * @default chunkBytes
   */
  readonly workerMinBytes?: number;
}

/** How a file was read: the reader's outcome, and whether the pool read it. */
export interface LandedFile {
  readonly result: InboundResult;
  readonly workers: number;
}

/** A value the reader accepted but the mapper refused: a file problem, reported as INVALID_VALUE. */
export function mappingRejection(config: OperatorConfig, file: DroppedFile, stream: StreamName, e: CoercionError) {
  const reason = buildReason(
    { operatorId: config.operatorId, file: file.key, stream, size: file.size ?? null, receivedAt: file.time },
    'INVALID_VALUE',
    e.message,
    [{ line: null, row: null, column: e.column, code: 'INVALID_VALUE', message: e.message, example: null }],
  );
  return new FileRejectedError(reason, { cause: e });
}

/** The file has more rows than `_source_seq` can number within its receive second. */
export function tooManyRows(config: OperatorConfig, file: DroppedFile, stream: StreamName, maxRows: number) {
  const message = `the file holds more than ${maxRows} rows, the most one delivery may hold; split it into smaller files`;
  const reason = buildReason(
    { operatorId: config.operatorId, file: file.key, stream, size: file.size ?? null, receivedAt: file.time },
    'TOO_MANY_ROWS',
    message,
    [{ line: null, row: maxRows + 1, column: null, code: 'TOO_MANY_ROWS', message, example: null }],
  );
  return new FileRejectedError(reason);
}

/**
 * Reads, checks, maps and writes one dropped file into `writer` (not closed). Resolves with the
 * reader's outcome: `ok`, or the reason to quarantine the file with. Throws
 * {@link FileRejectedError} for a file refused before its end (its reason), anything else for
 * errors that are not the file's fault.
 */
export async function landInboundFile(o: LandFileOptions): Promise<LandedFile> {
  const workers = o.workers ?? 0;
  const chunkBytes = o.chunkBytes ?? FILE_CHUNK_BYTES;
  const small = o.file.size !== undefined && o.file.size < (o.workerMinBytes ?? chunkBytes);
  if (workers > 0 && o.pseudonymKey && !small && chunkable(formatOf(o.config, o.stream))) {
    return { result: await landOnPool(o, workers, o.pseudonymKey, chunkBytes), workers };
  }
  return { result: await landHere(o), workers: 0 };
}

function readOptions(o: LandFileOptions) {
  return {
    config: o.config,
    key: o.file.key,
    body: o.body,
    receivedAt: o.file.time,
    ...(o.file.size === undefined ? {} : { size: o.file.size }),
    ...(o.limits ? { limits: o.limits } : {}),
    ...(o.tmpDir ? { tmpDir: o.tmpDir } : {}),
    ...(o.batchRows ? { batchRows: o.batchRows } : {}),
  };
}

const maxRowsOf = (o: LandFileOptions) => Math.min(o.limits?.maxRows ?? MAX_FILE_ROWS, MAX_FILE_ROWS);

/** This thread's path: reader, mapper and part writer in one loop. */
async function landHere(o: LandFileOptions): Promise<InboundResult> {
  const { config, stream, writer } = o;
  const file = readInboundFile(readOptions(o));
  let mapper: RowMapper | undefined;
  const sourceSeq = fileSourceSeq(o.file.time);
  const maxRows = maxRowsOf(o);
  let rows = 0;
  for await (const batch of file) {
    // Once a row is bad the file cannot land: keep reading only to list and count its problems.
    if (file.hasErrors || batch.rows.length === 0) continue;
    rows += batch.rows.length;
    if (rows > maxRows) throw tooManyRows(config, o.file, stream, maxRows);
    mapper ??= createRowMapper({
      config,
      stream,
      sourceColumns: file.columns,
      pseudonymizer: o.pseudonymizer,
      runId: o.runId,
      extractedAt: o.extractedAt,
      sourceSeq,
      origin: 'fileDrop',
    });
    try {
      await writer.write(mapper.map(batch));
    } catch (e) {
      if (e instanceof CoercionError) throw mappingRejection(config, o.file, stream, e);
      throw e;
    }
  }
  return file.result();
}

/** The pool's path (see the module documentation). */
async function landOnPool(
  o: LandFileOptions,
  workers: number,
  pseudonymKey: Uint8Array,
  chunkBytes: number,
): Promise<InboundResult> {
  const { config, stream, writer } = o;
  const file = openInboundChunks({ ...readOptions(o), chunkBytes });
  const ctx = file.context;
  const { problems } = ctx;
  const maxRows = maxRowsOf(o);
  const sourceSeq = fileSourceSeq(o.file.time);
  /** The first batch end beyond `maxRows`: the single-thread reader refuses the file there if no row before was bad. */
  let tooManyAt: number | undefined;
  /** Data row at which problems reached `stopAfterErrors`. */
  let stopRow = 0;
  let written = 0;
  let session: BatchPoolSession | undefined;
  const inFlight: { chunk: TextChunk; reply: Promise<FileChunkResult> }[] = [];
  const jsonLines = file.plan.format.type === 'jsonl';
  /** JSON Lines: the mapped keys some line had. */
  const seen = new Uint8Array(file.plan.columns.length + file.plan.dropped.length);
  /**
   * JSON Lines: a refusal decided at the file's last batch, which the one-thread reader yields
   * only after its end-of-file checks (no line, a mapped key on no line): thrown after them.
   */
  let deferred: FileRejectedError | Error | undefined;

  const merge = async (chunk: TextChunk, reply: FileChunkResult): Promise<void> => {
    // Stopped in an earlier chunk: the single-thread reader read no further.
    if (ctx.stoppedEarly) return;
    if (problems.count === 0) {
      // Refusals decided at a batch, while no row up to it is bad: the earlier one wins.
      const firstBad = reply.problemRows[0] ?? Number.POSITIVE_INFINITY;
      const tooMany =
        tooManyAt !== undefined && tooManyAt < firstBad && chunk.batches.some((b) => b.rows === tooManyAt);
      const mapping = reply.mappingError;
      let refusal: Error | undefined;
      let at = 0;
      if (tooMany && (mapping === undefined || tooManyAt! <= mapping.throughRow)) {
        refusal = tooManyRows(config, o.file, stream, maxRows);
        at = tooManyAt!;
      } else if (mapping) {
        const e = fromWireError(mapping.error);
        refusal = e instanceof CoercionError ? mappingRejection(config, o.file, stream, e) : e;
        at = mapping.throughRow;
      }
      if (refusal) {
        const lastBatch = chunk.final && at === chunk.batches.at(-1)?.rows && at === chunk.firstRow + chunk.rows;
        if (!(jsonLines && lastBatch)) throw refusal;
        deferred ??= refusal;
      }
    }
    const { problemRows } = reply;
    for (let i = 0; i < problemRows.length; i++) {
      const row = problemRows[i]!;
      if (ctx.stoppedEarly && row !== stopRow) break;
      // A worker lists as many problems as the file does: past them, the file's list is full.
      if (i < reply.problems.length) problems.add(reply.problems[i]!);
      else problems.count++;
      if (!ctx.stoppedEarly && problems.count >= ctx.stopAfterProblems) {
        ctx.stoppedEarly = true;
        stopRow = row;
      }
    }
    ctx.rowsRead = ctx.stoppedEarly ? stopRow : chunk.firstRow + reply.rows;
    if (reply.seen) for (let i = 0; i < seen.length; i++) seen[i]! |= reply.seen[i]!;
    // The line that refused the file counted as a row; its own problems may have reached the stop.
    if (reply.fatal && (!ctx.stoppedEarly || stopRow === chunk.firstRow + reply.rows)) {
      const { code, message, line, row, column, example, listed } = reply.fatal;
      throw file.reject(
        new FileProblemError(code, message, { line, row, column, example, ...(listed ? { problems: listed } : {}) }),
      );
    }
    if (chunk.error && !(ctx.stoppedEarly && stopRow <= chunk.error.unlessStoppedBy)) {
      throw file.reject(chunk.error.problem);
    }
    if (problems.count === 0 && reply.encoded) {
      for (const encoded of reply.encoded) {
        await writer.writeEncoded(encoded);
        written += encoded.rowCount;
      }
    }
  };
  const mergeOldest = async () => {
    const { chunk, reply } = inFlight.shift()!;
    await merge(chunk, await reply);
  };

  try {
    for await (const chunk of file) {
      if (tooManyAt === undefined) tooManyAt = chunk.batches.find((b) => b.rows > maxRows)?.rows;
      session ??= sharedBatchPool().open(
        {
          config,
          stream,
          sourceColumns: file.columns,
          pseudonymKey,
          runId: o.runId,
          extractedAt: o.extractedAt.getTime(),
          sourceSeq,
          origin: 'fileDrop',
          context: { operatorId: config.operatorId, stream, windowId: o.runId },
          fileOptions: partFileOptions(stream, landedColumns(config, stream)),
          file: {
            format: jsonLines ? 'jsonl' : 'csv',
            ...(chunk.header ? { header: chunk.header } : {}),
            batchRows: ctx.batchRows,
            maxRecordBytes: ctx.maxRecordBytes,
            stopAfterProblems: ctx.stopAfterProblems,
            maxListedErrors: file.maxListedErrors,
            maxRows,
          },
        },
        workers,
      );
      const reply = session.readFileChunk(chunk.bytes, chunk, problems.count === 0);
      // Awaited in order below; a failure of a later chunk must not go unhandled meanwhile.
      reply.catch(() => {});
      inFlight.push({ chunk, reply });
      while (inFlight.length >= session.maxInFlight) await mergeOldest();
      if (ctx.stoppedEarly) break;
    }
    while (inFlight.length > 0 && !ctx.stoppedEarly) await mergeOldest();
  } finally {
    session?.close();
  }
  if (jsonLines && !ctx.stoppedEarly) {
    const missing = missingKeys(file.plan, seen);
    if (missing) throw file.reject(missing);
  }
  if (deferred) throw deferred;
  file.finish(written);
  return file.result();
}
