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

/** Where a write happens, for messages. */
export interface WriteContext {
  readonly operatorId?: string;
  readonly stream?: string;
  readonly windowId?: string;
}

/** Prefix such as `acme-casino/game_rounds window w-0003: ` for messages. */
export function describeContext(context: WriteContext | undefined): string {
  if (!context) return '';
  const where = [context.operatorId, context.stream].filter((part) => part !== undefined).join('/');
  const window = context.windowId ? `window ${context.windowId}` : '';
  const text = [where, window].filter((part) => part !== '').join(' ');
  return text === '' ? '' : `${text}: `;
}

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
