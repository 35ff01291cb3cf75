/**
 * CSV reader: the byte-level {@link CsvRecordParser} over validated UTF-8 chunks.
 *
 * RFC 4180: the first record is the header; fields may be quoted with `format.quote`, a quote
 * inside a quoted field is doubled, quoted fields may hold delimiters and line breaks. Records end
 * with CRLF or LF (both may appear in one file). Empty lines are skipped. An empty field is NULL
 * (CSV cannot tell an empty string from a missing value). A quote inside an unquoted field, or
 * text after a closing quote, is an `INVALID_CSV` error: such files cannot be read unambiguously.
 * A header alone is a valid file with no rows: it says the export ran and found nothing.
 *
 * Each chunk is parsed into one batch of records (values decoded only field by field), which is
 * checked at once: memory stays at one chunk plus one batch.
 */

import { ChunkCutter } from './chunk-cutter.ts';
import { type CsvRecordBatch, CsvRecordParser, type CsvSyntaxError } from './csv-records.ts';
import { type FilePlan, type ProblemCollector, RowChecker, resolveColumns } from './plan.ts';
import { FileProblemError } from './reason.ts';

/** What a format reader needs besides the bytes. */
export interface ReadContext {
  readonly plan: FilePlan;
  readonly problems: ProblemCollector;
  /** Rows per yielded batch (approximately: a batch may exceed it by one chunk's rows). */
  readonly batchRows: number;
  /** Longest record (CSV) or line (JSON Lines), in characters or bytes. */
  readonly maxRecordBytes: number;
  /** Stop reading once this many row problems were found. */
  readonly stopAfterProblems: number;
  /** Data rows read so far, good or bad. */
  rowsRead: number;
  /** Whether reading stopped early because of `stopAfterProblems`. */
  stoppedEarly: boolean;
}

function csvProblem(err: CsvSyntaxError, format: FilePlan['format'], formatPath: string, maxRecord: number): Error {
  const line = err.line;
  const at = ` (line ${line})`;
  switch (err.code) {
    case 'MAX_RECORD_SIZE':
      return new FileProblemError(
        'LINE_TOO_LONG',
        `a record is longer than ${maxRecord} characters${at}; is ${formatPath}.quote (${JSON.stringify(format.quote)}) right, or is a quote never closed?`,
        { line, cause: err },
      );
    case 'QUOTE_NOT_CLOSED':
      return new FileProblemError(
        'INVALID_CSV',
        `a quoted field is never closed (the file ends in a quoted field started on or before line ${line}); double quotes inside quoted fields`,
        { line, cause: err },
      );
    case 'INVALID_CLOSING_QUOTE':
      return new FileProblemError(
        'INVALID_CSV',
        `text follows a closing quote${at}; a quote inside a quoted field must be doubled`,
        { line, cause: err },
      );
    case 'INVALID_OPENING_QUOTE':
      return new FileProblemError(
        'INVALID_CSV',
        `a quote character appears inside an unquoted field${at}; quote the field and double the quote`,
        { line, cause: err },
      );
  }
}

/** The file's header as resolved against the plan: what each chunk's rows are read with. */
export interface CsvHeader {
  /** For each planned column, its field index in the records. */
  readonly indexes: readonly number[];
  /** Fields of the header record (every row must have as many). */
  readonly length: number;
}

/** The record parser of a plan's dialect; an unreadable dialect is an `INVALID_CSV` file problem. */
export function csvParser(plan: FilePlan, maxRecordBytes: number, startLine = 1): CsvRecordParser {
  const format = plan.format;
  try {
    return new CsvRecordParser({
      delimiter: format.delimiter,
      quote: format.quote,
      maxRecordSize: maxRecordBytes,
      skipEmptyLines: true,
      startLine,
    });
  } catch (e) {
    throw new FileProblemError(
      'INVALID_CSV',
      `streams.${plan.stream}.format cannot be read: ${(e as Error).message}; agree a delimiter and a quote character with your connector contact`,
      { cause: e },
    );
  }
}

/**
 * Checks parsed records into rows: the header first (unless given), then each data record
 * (field count, {@link RowChecker}), counting `ctx.rowsRead` and collecting problems into
 * `ctx.problems`. Rows that passed every check accumulate in {@link pending}.
 */
export class CsvRows {
  /** Rows that passed every check, in plan column order, not yet taken by the caller. */
  pending: (string | null)[][] = [];
  private headerLength: number;
  private indexes: readonly number[];
  private line = 0;
  private readonly checker: RowChecker;
  private readonly formatPath: string;
  private readonly width: number;

  constructor(
    private readonly ctx: ReadContext,
    header?: CsvHeader,
  ) {
    this.headerLength = header?.length ?? -1;
    this.indexes = header?.indexes ?? [];
    this.formatPath = `streams.${ctx.plan.stream}.format`;
    this.width = ctx.plan.columns.length;
    const location = { line: () => this.line, row: () => ctx.rowsRead };
    this.checker = new RowChecker(ctx.plan, ctx.problems, location, true, true);
  }

  /** The header, once its record has been taken. */
  get header(): CsvHeader | undefined {
    return this.headerLength < 0 ? undefined : { indexes: this.indexes, length: this.headerLength };
  }

  /** Checks the records of a batch; then throws what stopped the file, if anything. */
  take(batch: CsvRecordBatch): void {
    const { ctx, width, formatPath } = this;
    const { plan, problems } = ctx;
    const format = plan.format;
    const { values, starts, lines } = batch;
    let stopped: Error | undefined;
    for (let r = 0; r < batch.count; r++) {
      if (ctx.stoppedEarly) break;
      const first = starts[r]!;
      const fieldCount = starts[r + 1]! - first;
      this.line = lines[r]!;
      if (this.headerLength < 0) {
        try {
          this.indexes = resolveColumns(plan, values.slice(first, first + fieldCount), {
            what: 'header',
            line: this.line,
            delimiter: format.delimiter,
          });
        } catch (e) {
          stopped = e as Error;
          break;
        }
        this.headerLength = fieldCount;
        continue;
      }
      ctx.rowsRead++;
      if (fieldCount !== this.headerLength) {
        problems.add({
          line: this.line,
          row: ctx.rowsRead,
          column: null,
          code: 'FIELD_COUNT',
          message: `the row has ${fieldCount} fields but the header has ${this.headerLength}; check ${formatPath}.delimiter (${JSON.stringify(format.delimiter)}) and quoting`,
          example: null,
        });
      } else {
        const cells: (string | null)[] = new Array(width);
        const indexes = this.indexes;
        for (let c = 0; c < width; c++) {
          const value = values[first + indexes[c]!]!;
          cells[c] = value === '' ? null : value;
        }
        if (this.checker.check(cells)) this.pending.push(cells);
      }
      if (problems.count >= ctx.stopAfterProblems) ctx.stoppedEarly = true;
    }
    if (stopped !== undefined) throw stopped;
    if (batch.error !== undefined) throw csvProblem(batch.error, format, formatPath, ctx.maxRecordBytes);
  }
}

/** Reads CSV text; yields rows (in plan column order) that passed every check. */
export async function* readCsv(text: AsyncIterable<Buffer>, ctx: ReadContext): AsyncGenerator<(string | null)[][]> {
  const parser = csvParser(ctx.plan, ctx.maxRecordBytes);
  const rows = new CsvRows(ctx);
  for await (const chunk of text) {
    rows.take(parser.push(chunk));
    if (rows.pending.length >= ctx.batchRows) {
      const batch = rows.pending;
      rows.pending = [];
      yield batch;
    }
    if (ctx.stoppedEarly) break;
  }
  if (!ctx.stoppedEarly) {
    rows.take(parser.end());
    if (rows.header === undefined) {
      throw new FileProblemError('EMPTY_FILE', 'the file has no header row (it is empty or only blank lines)');
    }
  }
  if (rows.pending.length > 0) yield rows.pending;
}

/** One reader batch inside a chunk of a text file: where it ends and the data rows through it. */
export interface TextChunkBatch {
  /** Byte offset in the chunk just after the batch's last record. */
  readonly end: number;
  /** Data rows of the file up to and including the batch's last one. */
  readonly rows: number;
}

/** Where a chunk of a CSV or JSON Lines file is: what a worker needs to read it as part of the whole file. */
export interface TextChunkPlace {
  /** Physical line (1-based) the chunk starts on. */
  readonly firstLine: number;
  /** Data rows of the file before the chunk (the 0-based ordinal of its first row). */
  readonly firstRow: number;
  /**
   * The batches the one-thread reader would yield from these records, in order: a row is mapped
   * in the same batch, so a mapping error names the same row. Rows after the last one are checked only.
   */
  readonly batches: readonly TextChunkBatch[];
  /** The chunk ends the file: its last record may end without a line break. */
  readonly final: boolean;
}

/** A record-aligned range of a text file (see {@link splitCsv}, `splitJsonLines`). */
export interface TextChunk extends TextChunkPlace {
  /** The range's bytes, in a buffer of their own (it can be transferred to another thread). */
  readonly bytes: Buffer;
  /** Data rows in the chunk (complete records, good or bad). */
  readonly rows: number;
  /** The CSV header (CSV files only). */
  readonly header?: CsvHeader;
  /**
   * What ends the file after this chunk's records: a syntax error (found in the chunk's last
   * bytes) or an invalid encoding (in the bytes after it). {@link readCsv} throws it unless it had
   * stopped early (`stopAfterProblems`) at a row up to `unlessStoppedBy`; nothing follows it.
   */
  readonly error?: { readonly problem: Error; readonly unlessStoppedBy: number };
}

/** A record-aligned range of a CSV file (see {@link splitCsv}). */
export interface CsvChunk extends TextChunk {
  readonly header: CsvHeader;
}

/**
 * Cuts CSV text into record-aligned chunks of about `chunkBytes` for {@link readCsvChunk},
 * without decoding any field past the header: the record parser only scans. The header is
 * resolved here (its problems are thrown, as {@link readCsv} throws them); each chunk says where it
 * starts (line, data row) and where {@link readCsv}'s batches end in it, so reading the chunks
 * apart finds what reading the whole text finds, at the same lines and rows. Chunks end where a
 * batch of {@link readCsv} ends (and at the end of the text). `ctx` is only read.
 */
export async function* splitCsv(
  text: AsyncIterable<Buffer>,
  ctx: Pick<ReadContext, 'plan' | 'batchRows' | 'maxRecordBytes'>,
  chunkBytes: number,
): AsyncGenerator<CsvChunk> {
  const { plan } = ctx;
  const format = plan.format;
  const formatPath = `streams.${plan.stream}.format`;
  const parser = csvParser(plan, ctx.maxRecordBytes);
  const cutter = new ChunkCutter();
  let header: CsvHeader | undefined;
  let rows = 0;
  let pendingRows = 0;

  const chunk = (end: number, final: boolean, error?: CsvChunk['error']): CsvChunk => ({
    ...cutter.chunk(end, rows, final, error),
    header: header!,
  });
  /** Takes the records of one parser call; true when the text ends there (a syntax error). */
  const take = (batch: CsvRecordBatch): CsvChunk | undefined => {
    let count = batch.count;
    if (header === undefined && count > 0) {
      const { values, starts } = batch;
      const indexes = resolveColumns(plan, values.slice(starts[0], starts[1]), {
        what: 'header',
        line: batch.lines[0]!,
        delimiter: format.delimiter,
      });
      header = { indexes, length: starts[1]! - starts[0]! };
      parser.decode = false;
      count--;
      cutter.skip(batch.ends[0]!);
    }
    const before = rows;
    rows += count;
    if (batch.error !== undefined) {
      const problem = csvProblem(batch.error, format, formatPath, ctx.maxRecordBytes);
      if (header === undefined) throw problem;
      return chunk(cutter.end, true, { problem, unlessStoppedBy: before });
    }
    pendingRows += count;
    if (pendingRows >= ctx.batchRows) {
      pendingRows = 0;
      cutter.batchEnd(parser.consumed, rows);
    }
    return undefined;
  };

  const iterator = text[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<Buffer>;
    try {
      next = await iterator.next();
    } catch (e) {
      // The records read so far are checked before the file fails, as readCsv checks them.
      if (header === undefined || !(e instanceof FileProblemError)) throw e;
      yield chunk(parser.consumed, false, { problem: e, unlessStoppedBy: rows });
      return;
    }
    if (next.done) break;
    cutter.push(next.value);
    const failed = take(parser.push(next.value));
    if (failed) {
      yield failed;
      return;
    }
    if (cutter.bytesToLastBatch >= chunkBytes) yield chunk(cutter.lastBatchEnd!, false);
  }
  const failed = take(parser.end());
  if (failed) {
    yield failed;
    return;
  }
  if (header === undefined) {
    throw new FileProblemError('EMPTY_FILE', 'the file has no header row (it is empty or only blank lines)');
  }
  if (pendingRows > 0) cutter.batchEnd(parser.consumed, rows);
  if (cutter.pending) yield chunk(cutter.end, true);
}

/**
 * Reads one chunk of {@link splitCsv} as {@link readCsv} reads those records of the whole file:
 * `ctx.rowsRead` must start at the chunk's `firstRow`; problems get the file's lines and rows.
 * Hands the rows of each of the chunk's batches to `onBatch` while the chunk has no problem (a
 * file with a problem cannot land). A syntax error ends the reading quietly: the chunk's `error`
 * already says it.
 */
export function readCsvChunk(
  bytes: Uint8Array,
  place: TextChunkPlace,
  header: CsvHeader,
  ctx: ReadContext,
  onBatch: (rows: (string | null)[][], batch: TextChunkBatch) => void,
): void {
  const parser = csvParser(ctx.plan, ctx.maxRecordBytes, place.firstLine);
  const rows = new CsvRows(ctx, header);
  const take = (batch: CsvRecordBatch): boolean => {
    try {
      rows.take(batch);
    } catch (e) {
      if (e instanceof FileProblemError) return false;
      throw e;
    }
    return !ctx.stoppedEarly;
  };
  let from = 0;
  let ended = false;
  for (const batch of place.batches) {
    if (!take(parser.push(bytes.subarray(from, batch.end)))) return;
    from = batch.end;
    // The file's last batch may end with a record that has no line break: only the end completes it.
    if (place.final && from === bytes.length) {
      ended = true;
      if (!take(parser.end())) return;
    }
    const pending = rows.pending;
    rows.pending = [];
    if (ctx.problems.count === 0) onBatch(pending, batch);
  }
  if (ended) return;
  if (!take(parser.push(bytes.subarray(from)))) return;
  if (place.final) take(parser.end());
}
