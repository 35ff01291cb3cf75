/**
 * CSV reader: `csv-parse` in streaming mode over validated UTF-8 chunks.
 *
 * RFC 4180: the first record is the header; fields may be quoted with `format.quote`, a quote
 * inside a quoted field is doubled, quoted fields may hold delimiters and line breaks. Records end
 * with CRLF or LF (both may appear in one file). Empty lines are skipped. An empty field is NULL
 * (CSV cannot tell an empty string from a missing value). A quote inside an unquoted field, or
 * text after a closing quote, is an `INVALID_CSV` error: such files cannot be read unambiguously.
 * A header alone is a valid file with no rows: it says the export ran and found nothing.
 *
 * Records are handed over by `on_record` while `csv-parse` parses each chunk, and nothing is
 * pushed through its readable side: that avoids one object-mode stream hop per record and keeps
 * memory to one chunk plus one batch.
 */

import { once } from 'node:events';
import { type CsvError, parse } from 'csv-parse';
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

function countNewlinesIn(record: readonly string[]): number {
  let n = 0;
  for (const field of record) {
    for (let i = field.indexOf('\n'); i >= 0; i = field.indexOf('\n', i + 1)) n++;
  }
  return n;
}

function csvProblem(
  err: CsvError,
  format: FilePlan['format'],
  formatPath: string,
  maxRecord: number,
  lineCorrection: number,
): Error {
  const line = typeof err.lines === 'number' ? err.lines - lineCorrection : null;
  const at = line === null ? '' : ` (line ${line})`;
  switch (err.code) {
    case 'CSV_MAX_RECORD_SIZE':
      return new FileProblemError(
        'LINE_TOO_LONG',
        `a record is longer than ${maxRecord} characters${at}; is ${formatPath}.quote (${JSON.stringify(format.quote)}) right, or is a quote never closed?`,
        { line, cause: err },
      );
    case 'CSV_QUOTE_NOT_CLOSED':
      return new FileProblemError(
        'INVALID_CSV',
        `a quoted field is never closed${line === null ? '' : ` (the file ends in a quoted field started on or before line ${line})`}; double quotes inside quoted fields`,
        { line, cause: err },
      );
    case 'CSV_INVALID_CLOSING_QUOTE':
    case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE':
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
    default:
      // csv-parse messages quote field values; only the code and line are reported.
      return new FileProblemError('INVALID_CSV', `the CSV cannot be parsed: ${err.code}${at}`, {
        line,
        cause: err,
      });
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
  let endLine = 0;
  /** csv-parse counts a carriage return inside a quoted field as a line of its own; lines count LFs. */
  let carriageReturns = 0;
  let record: string[] = [];
  const location = {
    line: () => endLine - countNewlinesIn(record),
    row: () => ctx.rowsRead,
  };
  const checker = new RowChecker(plan, problems, location, true, true);

  const onRecord = (fields: string[], info: { lines: number }): null => {
    if (stopped !== undefined || ctx.stoppedEarly) return null;
    for (const field of fields) {
      if (field.indexOf('\r') >= 0) {
        for (let i = field.indexOf('\r'); i >= 0; i = field.indexOf('\r', i + 1)) carriageReturns++;
      }
    }
    endLine = info.lines - carriageReturns;
    record = fields;
    if (headerLength < 0) {
      try {
        indexes = resolveColumns(plan, fields, {
          what: 'header',
          line: location.line(),
          delimiter: format.delimiter,
        });
      } catch (e) {
        stopped = e as Error;
        return null;
      }
      headerLength = fields.length;
      return null;
    }
    ctx.rowsRead++;
    if (fields.length !== headerLength) {
      problems.add({
        line: location.line(),
        row: ctx.rowsRead,
        column: null,
        code: 'FIELD_COUNT',
        message: `the row has ${fields.length} fields but the header has ${headerLength}; check ${formatPath}.delimiter (${JSON.stringify(format.delimiter)}) and quoting`,
        example: null,
      });
    } else {
      const cells: (string | null)[] = new Array(width);
      for (let c = 0; c < width; c++) {
        const value = fields[indexes[c]!]!;
        cells[c] = value === '' ? null : value;
      }
      if (checker.check(cells)) pending.push(cells);
    }
    if (problems.count >= ctx.stopAfterProblems) ctx.stoppedEarly = true;
    return null;
  };

  const parser = parse({
    delimiter: format.delimiter,
    quote: format.quote,
    escape: format.quote,
    record_delimiter: ['\r\n', '\n'],
    relax_column_count: true,
    skip_empty_lines: true,
    max_record_size: ctx.maxRecordBytes,
    encoding: 'utf8',
    on_record: onRecord as never,
  });
  parser.on('error', () => {}); // surfaced through `parser.errored` below
  parser.resume();

  const failIfErrored = () => {
    if (stopped !== undefined) throw stopped;
    const err = parser.errored as CsvError | null;
    if (err) throw csvProblem(err, format, formatPath, ctx.maxRecordBytes, carriageReturns);
  };

  try {
    for await (const chunk of text) {
      parser.write(chunk);
      failIfErrored();
      if (pending.length >= ctx.batchRows) {
        const batch = pending;
        pending = [];
        yield batch;
      }
      if (ctx.stoppedEarly) break;
    }
    if (!ctx.stoppedEarly) {
      parser.end();
      await Promise.race([once(parser, 'end'), once(parser, 'close')]).catch(() => {});
      failIfErrored();
      if (headerLength < 0) {
        throw new FileProblemError('EMPTY_FILE', 'the file has no header row (it is empty or only blank lines)');
      }
    }
    if (pending.length > 0) yield pending;
  } finally {
    parser.destroy();
  }
}
