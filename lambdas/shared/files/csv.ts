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

/** Reads CSV text; yields rows (in plan column order) that passed every check. */
export async function* readCsv(text: AsyncIterable<Buffer>, ctx: ReadContext): AsyncGenerator<(string | null)[][]> {
  const { plan, problems } = ctx;
  const format = plan.format;
  const formatPath = `streams.${plan.stream}.format`;
  const width = plan.columns.length;

  let headerLength = -1;
  let indexes: number[] = [];
  let pending: (string | null)[][] = [];
  let stopped: Error | undefined;
  let line = 0;
  const location = {
    line: () => line,
    row: () => ctx.rowsRead,
  };
  const checker = new RowChecker(plan, problems, location, true, true);
  let parser: CsvRecordParser;
  try {
    parser = new CsvRecordParser({
      delimiter: format.delimiter,
      quote: format.quote,
      maxRecordSize: ctx.maxRecordBytes,
      skipEmptyLines: true,
    });
  } catch (e) {
    throw new FileProblemError(
      'INVALID_CSV',
      `${formatPath} cannot be read: ${(e as Error).message}; agree a delimiter and a quote character with your connector contact`,
      { cause: e },
    );
  }

  /** Checks the records of a batch; then throws what stopped the file, if anything. */
  const take = (batch: CsvRecordBatch): void => {
    const { values, starts, lines } = batch;
    for (let r = 0; r < batch.count; r++) {
      if (stopped !== undefined || ctx.stoppedEarly) break;
      const first = starts[r]!;
      const fieldCount = starts[r + 1]! - first;
      line = lines[r]!;
      if (headerLength < 0) {
        try {
          indexes = resolveColumns(plan, values.slice(first, first + fieldCount), {
            what: 'header',
            line,
            delimiter: format.delimiter,
          });
        } catch (e) {
          stopped = e as Error;
          break;
        }
        headerLength = fieldCount;
        continue;
      }
      ctx.rowsRead++;
      if (fieldCount !== headerLength) {
        problems.add({
          line,
          row: ctx.rowsRead,
          column: null,
          code: 'FIELD_COUNT',
          message: `the row has ${fieldCount} fields but the header has ${headerLength}; check ${formatPath}.delimiter (${JSON.stringify(format.delimiter)}) and quoting`,
          example: null,
        });
      } else {
        const cells: (string | null)[] = new Array(width);
        for (let c = 0; c < width; c++) {
          const value = values[first + indexes[c]!]!;
          cells[c] = value === '' ? null : value;
        }
        if (checker.check(cells)) pending.push(cells);
      }
      if (problems.count >= ctx.stopAfterProblems) ctx.stoppedEarly = true;
    }
    if (stopped !== undefined) throw stopped;
    if (batch.error !== undefined) throw csvProblem(batch.error, format, formatPath, ctx.maxRecordBytes);
  };

  for await (const chunk of text) {
    take(parser.push(chunk));
    if (pending.length >= ctx.batchRows) {
      const batch = pending;
      pending = [];
      yield batch;
    }
    if (ctx.stoppedEarly) break;
  }
  if (!ctx.stoppedEarly) {
    take(parser.end());
    if (headerLength < 0) {
      throw new FileProblemError('EMPTY_FILE', 'the file has no header row (it is empty or only blank lines)');
    }
  }
  if (pending.length > 0) yield pending;
}
