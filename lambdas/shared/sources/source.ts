/**
 * The engine-independent contract of the source readers, and the helpers both engines share.
 */
import { SAFE_IDENTIFIER } from '../config/schema.ts';
import { wallTimeToEpochMicros } from '../mapping/time.ts';
import type { SourceBatch, SourceColumn, SourceKind } from '../types.ts';
import { type SourceErrorContext, SourceQueryError } from './errors.ts';

/** The subset of the Powertools Logger the readers use. */
export interface SourceLogger {
  debug(message: string, extra?: Record<string, unknown>): void;
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
}

/** How a session is opened. */
export interface SourceOptions {
  /**
   * Name the operator's DBA sees for this session: PostgreSQL `application_name`, MySQL
   * `program_name` connection attribute and a comment in front of every statement. Use
   * {@link applicationNameFor}.
   */
  readonly applicationName: string;
  /** Server-side limit for any one statement (PostgreSQL `statement_timeout`, MySQL `max_execution_time`, MariaDB `max_statement_time`). */
  readonly statementTimeoutSeconds: number;
  /** IANA zone in which naive timestamps (`timestamp without time zone`, `DATETIME`) are stored. */
  readonly timeZone: string;
  /** For error messages. */
  readonly operatorId?: string;
  /** For error messages. */
  readonly stream?: string;
  /** Receives the generated SQL at debug level (never values). */
  readonly logger?: SourceLogger;
  /**
   * Seconds to wait for the TCP connection and handshake.
   * @default 15
   */
  readonly connectTimeoutSeconds?: number;
}

/** A key-set position: the last row already read, in the exact text the reader returned. */
export interface KeysetPosition {
  readonly cursor: string;
  readonly key: string;
}

/** Which rows of one table a read covers. */
export interface RangeSpec {
  readonly schema: string;
  readonly table: string;
  /** Incremental cursor column; rows are ordered by (cursor, key). */
  readonly cursorColumn: string;
  /** Primary key column: NOT NULL and unique (at least within one cursor value). */
  readonly keyColumn: string;
  /** Inclusive lower bound on the cursor (a UTC instant); needs a timestamp, timestamptz or date cursor. */
  readonly from?: Date;
  /** Exclusive upper bound on the cursor (a UTC instant). */
  readonly to?: Date;
  /** Exclusive key-set continuation: only rows after this (cursor, key) position. */
  readonly after?: KeysetPosition;
  /**
   * Only rows whose key is one of these (the key audit re-reads lost rows by key), in the reader's
   * text form of the key; bound values, at most {@link MAX_KEYS_PER_READ}.
   */
  readonly keys?: readonly string[];
}

/** Most keys one ranged read may name (each is a bound value). */
export const MAX_KEYS_PER_READ = 1000;

/** Refuses an empty or oversized key list. */
export function checkKeyList(keys: readonly string[], context: SourceErrorContext): void {
  if (keys.length === 0 || keys.length > MAX_KEYS_PER_READ) {
    throw new SourceQueryError(`a read by keys names 1 to ${MAX_KEYS_PER_READ} keys, got ${keys.length}`, { context });
  }
}

/** A read of one table range. */
export interface ReadSpec extends RangeSpec {
  /**
   * The mapped source columns, in output order. The cursor and key columns are appended when not
   * listed, so a continuation can always be taken from the last row. Nothing else is selected.
   */
  readonly columns: readonly string[];
  /**
   * Rows per yielded batch. Small batches keep fewer rows alive across garbage collections; 5,000
   * was the fastest of 2,000–20,000 on the 10-column benchmark.
   * @default 5000
   */
  readonly batchRows?: number;
  /**
   * PostgreSQL: yield batches carrying their undecoded COPY text (`SourceBatch.copyText`, rows
   * decoded lazily), for a consumer that parses them in a worker thread. Other engines ignore it.
   * @default false
   */
  readonly copyText?: boolean;
  /**
   * Rows per statement. Each statement is ordered by (cursor, key) with a LIMIT and continues
   * from the last row of the previous one, so no single statement runs for long (the statement
   * timeout applies to each, including the time the consumer takes to drain it).
   * @default 200000
   */
  readonly pageRows?: number;
}

/** A range and the money columns to sum over it, for reconciliation. */
export interface CountSpec extends RangeSpec {
  readonly moneyColumns: readonly string[];
}

/** Row count and exact sums of a range. */
export interface CountAndSums {
  readonly count: bigint;
  /** Column → exact decimal text of the sum of its non-NULL values; `"0"` when there are none. */
  readonly sums: Readonly<Record<string, string>>;
}

/** A range, the columns to group it by and the money columns to sum per group (the money totals). */
export interface GroupedSumsSpec extends RangeSpec {
  readonly groupColumns: readonly string[];
  readonly moneyColumns: readonly string[];
}

/** The rows of a range with one tuple of group values, and their exact sums. */
export interface GroupSums {
  /** Values of the group columns, in the reader's text form (as {@link SourceConnection.readRange} returns them). */
  readonly values: readonly (string | null)[];
  readonly count: bigint;
  /** Money column → exact decimal text of the sum of its non-NULL values; `"0"` when there are none. */
  readonly sums: Readonly<Record<string, string>>;
}

/** Rows whose cursor is NULL, and how the cursor column stores time. */
export interface NullCursorCount {
  readonly rows: bigint;
  /**
   * The cursor column as the readers read it: kind `timestamp` or `date` is a naive wall-clock
   * value read in the source's zone, `timestamptz` an instant.
   */
  readonly cursor: SourceColumn;
}

/** What a {@link SourceConnection.snapshot} transaction tells the calls made inside it. */
export interface SnapshotView {
  /**
   * When the transaction's snapshot was taken, by the database's clock, in microseconds since the
   * epoch (UTC): PostgreSQL `statement_timestamp()` of the transaction's first statement (which
   * takes the snapshot), MySQL/MariaDB `NOW(6)` of the statement right after `START TRANSACTION
   * WITH CONSISTENT SNAPSHOT`. Rows read in the transaction land with it as `_source_seq`.
   */
  readonly readAtMicros: bigint;
}

/** Smallest and largest cursor values of a range, in the reader's text form. */
export interface CursorBounds {
  readonly min: string | null;
  readonly max: string | null;
  readonly kind: SourceKind;
}

/**
 * One read-only session on an operator database.
 *
 * **Ordering and continuation.** Reads are ordered by (cursor, key) and use key-set pagination,
 * so rows with equal cursor values that straddle a batch, page or Lambda-invocation boundary are
 * neither lost nor duplicated: pass the cursor and key text of the last row written as `after`.
 *
 * **NULL cursors.** Rows whose cursor is NULL are never returned by {@link readRange} nor
 * counted by {@link countAndSums} (SQL comparisons exclude them, and unbounded reads add
 * `cursor IS NOT NULL`): they cannot be placed in a window or behind a watermark, so they never
 * land. {@link countNullCursor} counts them: the snapshot's plan step once per stream, and every
 * incremental run per stream, which report the count (metric `NullCursorRows`, a warning, the step
 * result and the stream's sync state, shown by `connector status`).
 *
 * **Consistency.** Each call runs in its own REPEATABLE READ READ ONLY transaction, unless made
 * inside {@link snapshot}, which shares one transaction (and so one view of the data) between
 * a read and the reconciliation counts.
 *
 * One operation at a time: finish (or break out of) a `readRange` iteration before the next call.
 */
export interface SourceConnection {
  readonly engine: 'postgres' | 'mysql';
  /** Streams the rows of a range as text batches; memory stays bounded whatever the range size. */
  readRange(spec: ReadSpec): AsyncIterable<SourceBatch>;
  /** Row count and exact sums of money columns over the same range as {@link readRange}. */
  countAndSums(spec: CountSpec): Promise<CountAndSums>;
  /**
   * Row count and exact money sums over the same range, per distinct tuple of the group columns'
   * values (one GROUP BY statement; values compared byte for byte, whatever the collation).
   */
  groupedSums(spec: GroupedSumsSpec): Promise<GroupSums[]>;
  /** Rows of the table whose cursor is NULL (never read by ranged reads), and the cursor column's kind. */
  countNullCursor(spec: Pick<RangeSpec, 'schema' | 'table' | 'cursorColumn'>): Promise<NullCursorCount>;
  /** Planner estimate of the table's row count (pg_class.reltuples / information_schema.TABLES.TABLE_ROWS); null when unknown. */
  estimateRows(schema: string, table: string): Promise<number | null>;
  /** Smallest and largest cursor in a range; nulls when the range is empty. */
  cursorBounds(spec: RangeSpec): Promise<CursorBounds>;
  /** The database server's clock. */
  serverTime(): Promise<Date>;
  /**
   * Runs `fn` inside one REPEATABLE READ READ ONLY transaction shared by the calls it makes, and
   * tells it when the transaction's snapshot was taken, by the database's clock. A nested call
   * joins the enclosing transaction (and gets its view).
   */
  snapshot<T>(fn: (view: SnapshotView) => Promise<T>): Promise<T>;
  /**
   * Runs one read-only statement with bound parameters (`$1` in PostgreSQL, `?` in MySQL) and
   * returns its rows as text. For diagnostics (access checks, discovery) and tests.
   */
  query(sql: string, params?: readonly (string | number | null)[]): Promise<(string | null)[][]>;
  /** Ends the session; safe to call twice. */
  close(): Promise<void>;
}

/** `igaming-connector/<operatorId>/<stream>`, limited to what every engine displays intact. */
export function applicationNameFor(operatorId: string, stream?: string): string {
  return sanitizeApplicationName(`igaming-connector/${operatorId}${stream ? `/${stream}` : ''}`);
}

/** Printable ASCII without comment delimiters, at most 63 characters (PostgreSQL's limit). */
export function sanitizeApplicationName(name: string): string {
  return name
    .replace(/[^A-Za-z0-9_./:@=-]/g, '_')
    .replaceAll('*/', '__')
    .slice(0, 63);
}

/**
 * Validates a configured identifier against SAFE_IDENTIFIER; anything else is refused, so quoting
 * never needs escaping.
 */
export function checkIdentifier(value: string, what: string, context: SourceErrorContext): string {
  if (typeof value !== 'string' || !SAFE_IDENTIFIER.test(value)) {
    throw new SourceQueryError(
      `refusing ${what} ${JSON.stringify(value)}: identifiers must be letters, digits and underscores, starting with a letter or underscore, at most 63 characters`,
      { context },
    );
  }
  return value;
}

/** The columns a read selects: the requested ones, then cursor and key if missing. */
export function selectedColumns(spec: ReadSpec): string[] {
  const columns = [...new Set(spec.columns)];
  if (!columns.includes(spec.cursorColumn)) columns.push(spec.cursorColumn);
  if (!columns.includes(spec.keyColumn)) columns.push(spec.keyColumn);
  return columns;
}

/** Validates every identifier of a range spec. */
export function checkRangeIdentifiers(spec: RangeSpec, extra: readonly string[], context: SourceErrorContext): void {
  checkIdentifier(spec.schema, 'schema', context);
  checkIdentifier(spec.table, 'table', context);
  checkIdentifier(spec.cursorColumn, 'cursor column', context);
  checkIdentifier(spec.keyColumn, 'key column', context);
  for (const column of extra) checkIdentifier(column, 'column', context);
}

/** Checks a positive integer option. */
export function positiveInteger(value: number | undefined, fallback: number, what: string): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${what} must be a positive integer, got ${value}`);
  return n;
}

/** Finds the requested columns in a catalog listing, or explains which are missing. */
export function resolveColumns<T extends { readonly name: string }>(
  catalog: readonly T[],
  wanted: readonly string[],
  context: SourceErrorContext,
  caseInsensitive: boolean,
): T[] {
  if (catalog.length === 0) {
    throw new SourceQueryError(
      'table not found, or the connector user cannot see it: check streams.<stream>.table and schema in the config and the grants',
      { context },
    );
  }
  const norm = (s: string) => (caseInsensitive ? s.toLowerCase() : s);
  const byName = new Map(catalog.map((c) => [norm(c.name), c]));
  const missing: string[] = [];
  const found: T[] = [];
  for (const name of wanted) {
    const column = byName.get(norm(name));
    if (column) found.push(column);
    else missing.push(name);
  }
  if (missing.length > 0) {
    const hints = missing.map((name) => {
      const near = catalog.find((c) => c.name.toLowerCase() === name.toLowerCase());
      return near ? `"${name}" (did you mean "${near.name}"?)` : `"${name}"`;
    });
    const available = catalog.map((c) => c.name);
    throw new SourceQueryError(
      `column${missing.length > 1 ? 's' : ''} ${hints.join(', ')} not found; the table has ${available.slice(0, 40).join(', ')}${available.length > 40 ? ', …' : ''}`,
      { context },
    );
  }
  return found;
}

/** The message for a time window on a cursor that is not a time. */
export function notATimeCursor(column: string, sourceType: string, context: SourceErrorContext): SourceQueryError {
  return new SourceQueryError(
    `cursor column ${column} is of type ${sourceType}; time windows (from/to) need a timestamp, timestamptz, datetime or date cursor`,
    { context },
  );
}

/**
 * The {@link SnapshotView} of a transaction from the database's text of its start time (rendered
 * in UTC by the session).
 */
export function snapshotViewOf(text: string | null | undefined, context: SourceErrorContext): SnapshotView {
  const readAtMicros = text == null ? undefined : wallTimeToEpochMicros(text, 'UTC');
  if (readAtMicros === undefined) {
    throw new SourceQueryError(
      `the database returned ${JSON.stringify(text)} as the time of the transaction's snapshot, which is not a timestamp`,
      { context },
    );
  }
  return { readAtMicros };
}

/** Refuses a continuation whose key is NULL: key-set pagination needs a NOT NULL key. */
export function nullKeyError(column: string, context: SourceErrorContext): SourceQueryError {
  return new SourceQueryError(
    `key column ${column} holds NULL values; the key must be the table's NOT NULL primary key for rows to be read exactly once`,
    { context },
  );
}
