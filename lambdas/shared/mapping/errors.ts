/**
 * Errors of the mapping stage. Both are permanent (retrying the same window gives the same result):
 * the window fails and nothing of it is published.
 */

/** Longest excerpt of an offending value quoted in an error message. */
export const MAX_QUOTED_VALUE = 100;

/** Placeholder used instead of the value of a personal or pseudonymized field. */
export const REDACTED_VALUE = '<redacted personal value>';

/** Quotes a value for an error message, truncated so a huge text cannot flood the logs. */
export function quoteValue(value: string): string {
  const excerpt = value.length > MAX_QUOTED_VALUE ? `${value.slice(0, MAX_QUOTED_VALUE)}…` : value;
  return JSON.stringify(excerpt);
}

export interface CoercionErrorDetails {
  readonly operatorId: string;
  readonly stream: string;
  /** Landed column (canonical field, `<field>_source` or `_cursor`). */
  readonly field: string;
  /** Source column the value came from. */
  readonly column: string;
  /** The value as text, or undefined when it is personal (never put into messages or logs). */
  readonly value: string | null | undefined;
  /** Whether the value is personal data and must be redacted. */
  readonly personal: boolean;
  /** What is wrong with the value, e.g. `has 3 decimals but the landed type is DECIMAL(18,2)`. */
  readonly problem: string;
  /** What to do about it, e.g. `widen scale in streams.payments.columns.amount or fix the source`. */
  readonly hint: string;
  /** Index of the first offending row in its batch. */
  readonly rowIndex: number;
  /** `field "value"` of the row's primary key, when the key is not personal. */
  readonly rowKey?: string;
}

/**
 * A source value cannot be converted exactly to its landed type (a decimal that would need rounding,
 * an integer out of range, an unparseable timestamp, a NULL primary key, ...). Not retryable.
 */
export class CoercionError extends Error {
  override readonly name = 'CoercionError';
  readonly retryable = false;
  readonly operatorId: string;
  readonly stream: string;
  readonly field: string;
  readonly column: string;
  readonly rowIndex: number;

  constructor(details: CoercionErrorDetails, options?: { cause?: unknown }) {
    super(formatCoercion(details), options);
    this.operatorId = details.operatorId;
    this.stream = details.stream;
    this.field = details.field;
    this.column = details.column;
    this.rowIndex = details.rowIndex;
  }
}

function formatCoercion(d: CoercionErrorDetails): string {
  const value =
    d.value === null
      ? 'value is NULL'
      : d.personal || d.value === undefined
        ? REDACTED_VALUE
        : `value ${quoteValue(d.value)}`;
  const row = d.rowKey ? ` (first bad row: ${d.rowKey})` : ` (first bad row: #${d.rowIndex} of the batch)`;
  return `${d.operatorId}/${d.stream}: ${d.field} (column ${d.column}): ${value} ${d.problem}; ${d.hint}${row}`;
}

/**
 * The mapping itself cannot be set up for a batch: a mapped column is missing from the source, a
 * column's type cannot feed its canonical field, a required field is unmapped. Not retryable; the
 * fix is in the operator config or the source schema.
 */
export class MappingError extends Error {
  override readonly name = 'MappingError';
  readonly retryable = false;

  constructor(
    readonly operatorId: string,
    readonly stream: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${operatorId}/${stream}: ${message}`, options);
  }
}

/**
 * Raised by value converters; the mapper turns it into a {@link CoercionError} with the context.
 * @internal
 */
export class ValueProblem extends Error {
  override readonly name = 'ValueProblem';
  constructor(
    readonly problem: string,
    readonly hint: string,
    /** What kind of problem, so a caller can rephrase it for its landed type. */
    readonly code: 'syntax' | 'fraction' | 'range' | 'other' = 'other',
  ) {
    super(problem);
  }
}
