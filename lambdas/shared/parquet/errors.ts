/**
 * Errors of the Parquet writer, with stable `name`s that Step Functions Retry/Catch match:
 *
 * | name | retryable | when |
 * | --- | --- | --- |
 * | `ParquetEncodeError` | no | a value does not fit its landed column (wrong kind of value, a decimal wider than its precision, a NULL in a required column); the mapper or the file validator let it through |
 * | `ParquetWriteError` | no | the WebAssembly Parquet writer produced a file that does not hold the rows it was given (no footer, another row count); a defect to report, not bad data |
 *
 * Messages name the operator, stream and window when known and never contain the value of a
 * personal column.
 */
import { describeContext, type WriteContext } from '../write-context.ts';

/** A value cannot be written to its landed Parquet column. Not retryable: the data or the mapping must change. */
export class ParquetEncodeError extends Error {
  override readonly name = 'ParquetEncodeError';
  readonly retryable = false;

  constructor(
    readonly context: WriteContext,
    readonly column: string,
    readonly rowIndex: number,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`${describeContext(context)}column ${column}, row #${rowIndex} of the batch: ${problem}`, options);
  }
}

/** The Parquet writer's output does not match its input. Not retryable: an encoder defect. */
export class ParquetWriteError extends Error {
  override readonly name = 'ParquetWriteError';
  readonly retryable = false;

  constructor(problem: string, options?: { cause?: unknown }) {
    super(problem, options);
  }
}
