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
