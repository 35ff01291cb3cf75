/**
 * The skeleton both database readers share: one read-only session, one operation at a time,
 * REPEATABLE READ READ ONLY transactions (one per call, or one shared by a {@link SqlSource.snapshot}),
 * key-set paging over (cursor, key), the range conditions, the counts, sums and bounds, and the
 * wrapping of every failure into a reader error ({@link toSourceError}).
 *
 * What differs between the engines' SQL is a {@link SqlDialect}; what differs in their drivers
 * (opening and configuring the session, reading the catalog, streaming one page) is implemented
 * by the engine's subclass (`postgres.ts`: COPY streaming; `mysql.ts`: a streaming query).
 */
import { dateBound, wallTimeBound } from '../mapping/time.ts';
import type { SourceBatch, SourceColumn, SourceKind } from '../types.ts';
import { describeDriverError, type SourceErrorContext, SourceQueryError, toSourceError } from './errors.ts';
import {
  type CountAndSums,
  type CountSpec,
  type CursorBounds,
  checkIdentifier,
  checkKeyList,
  checkRangeIdentifiers,
  type GroupedSumsSpec,
  type GroupSums,
  type NullCursorCount,
  notATimeCursor,
  nullKeyError,
  positiveInteger,
  type RangeSpec,
  type ReadSpec,
  type SnapshotView,
  type SourceConnection,
  type SourceOptions,
  selectedColumns,
  snapshotViewOf,
} from './source.ts';

/** A row as the readers return it: every value as the server's text, NULL as null. */
export type Row = (string | null)[];

/** A column of the table being read, as the engine's catalog describes it. */
export interface SqlColumn {
  readonly name: string;
  readonly kind: SourceKind;
  readonly sourceType: string;
  /** Select expression (the quoted name, or a conversion to text the mapper understands). */
  readonly expr: string;
}

/** Binds one value for comparison with `column` and returns the SQL that stands for it. */
export type Placeholder<C extends SqlColumn> = (value: string, column: C) => string;

/** What differs between the engines' SQL. Statements here never carry values. */
export interface SqlDialect {
  readonly engine: 'postgres' | 'mysql';
  /** Quotes an identifier already checked against SAFE_IDENTIFIER, so it never needs escaping. */
  q(identifier: string): string;
  /** The n-th (1-based) bound parameter of a statement. */
  param(n: number): string;
  /** Starts a REPEATABLE READ READ ONLY transaction. */
  readonly begin: string;
  /** One row, one column: the time the transaction's snapshot was taken, in UTC. */
  readonly snapshotTime: string;
  /** One row, one column: the server's clock in milliseconds since the epoch. */
  readonly serverTime: string;
  /** One row (none when the table is unknown), one column: the table's estimated row count; binds schema and table. */
  readonly estimateRows: string;
  /** A UTC instant as text comparable with an instant (`timestamptz`) cursor. */
  instant(at: Date): string;
  /** `(cursor, key) > (c, k)`; `cursor` and `key` bind a value each time they are called. */
  after(c: string, k: string, cursor: () => string, key: () => string): string;
}

/** The operator and stream of the options, for messages. */
export function errorContextOf(opts: SourceOptions): SourceErrorContext {
  return {
    ...(opts.operatorId ? { operatorId: opts.operatorId } : {}),
    ...(opts.stream ? { stream: opts.stream } : {}),
  };
}

/** Checks a positive number of seconds. */
export function positiveSeconds(value: number, what: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${what} must be a positive number, got ${value}`);
  return value;
}

/** One statement's worth of a read: the range from its continuation on, and what to select. */
export interface PageRead<C extends SqlColumn> {
  /** The read's range, continuing after the last row of the previous page. */
  readonly spec: RangeSpec;
  readonly cursor: C;
  readonly key: C;
  readonly columns: readonly SourceColumn[];
  /** The select list. */
  readonly select: string;
  /** The quoted, qualified table. */
  readonly from: string;
  /** The ORDER BY list: cursor, key. */
  readonly order: string;
  readonly pageRows: number;
  readonly batchRows: number;
  /** See {@link ReadSpec.copyText}. */
  readonly copyText: boolean;
}

/** The GROUP BY statement of {@link SqlSource.groupedSums}, for the engine to run. */
export interface GroupedRead<C extends SqlColumn> {
  readonly spec: RangeSpec;
  readonly cursor: C;
  readonly key: C;
  /** The columns grouped by, in order. */
  readonly groups: readonly C[];
  /** The money columns summed per group, in order. */
  readonly money: readonly C[];
  /** The quoted, qualified table. */
  readonly from: string;
}

/** A read-only session on PostgreSQL or MySQL/MariaDB; see {@link SourceConnection}. */
export abstract class SqlSource<C extends SqlColumn> implements SourceConnection {
  readonly engine: 'postgres' | 'mysql';
  /** Whether a transaction (the call's own, or a snapshot's) is open. */
  protected inTransaction = false;
  /** The view of the snapshot transaction in progress. */
  private view: SnapshotView | undefined;
  private busy = false;
  private closed = false;
  private lost: unknown;
  /** `/* application name *\/ ` in front of every statement, for the DBA. */
  protected readonly comment: string;

  constructor(
    protected readonly dialect: SqlDialect,
    protected readonly opts: SourceOptions,
    protected readonly context: SourceErrorContext,
    protected readonly secrets: readonly string[],
    applicationName: string,
  ) {
    this.engine = dialect.engine;
    this.comment = `/* ${applicationName} */ `;
  }

  /** Runs one statement (with the comment in front) and returns its rows as text. */
  protected abstract rows(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /**
   * Runs the GROUP BY of {@link groupedSums}: one row per distinct tuple of the group columns'
   * values, compared byte for byte and rendered as {@link readPage} renders them, then the count
   * and the money sums (`"0"` when a group has no non-NULL value).
   */
  protected abstract readGrouped(read: GroupedRead<C>): Promise<Row[]>;
  /** Runs a transaction control statement (`begin`, `COMMIT`, `ROLLBACK`). */
  protected abstract control(sql: string): Promise<void>;
  /** The named columns of a table, in the order named; explains missing ones ({@link resolveColumns}). */
  protected abstract describe(schema: string, table: string, names: readonly string[]): Promise<C[]>;
  /** Streams one page (a statement ordered by cursor and key, `LIMIT pageRows`) in batches. */
  protected abstract readPage(page: PageRead<C>): AsyncIterable<SourceBatch>;
  /** Ends the driver's connection. */
  protected abstract end(): Promise<void>;
  /** Called when the connection is lost, before it is logged (ends a statement being streamed). */
  protected interrupt(_err: unknown): void {}

  /** The driver reported the connection lost: every later call fails with the reason. */
  onConnectionLost(err: unknown): void {
    this.lost = err;
    this.interrupt(err);
    this.opts.logger?.warn('source connection lost', { error: describeDriverError(err) });
  }

  protected ctx(schema?: string, table?: string): SourceErrorContext {
    return schema && table ? { ...this.context, table: `${schema}.${table}` } : this.context;
  }

  protected debug(message: string, sql: string): void {
    this.opts.logger?.debug(message, { engine: this.engine, sql });
  }

  private enter(): void {
    if (this.closed) throw new SourceQueryError('the source connection is closed', { context: this.context });
    if (this.busy) {
      throw new SourceQueryError('the source connection is busy: finish the current readRange iteration first', {
        context: this.context,
      });
    }
    if (this.lost !== undefined) throw toSourceError(this.lost, this.context, this.secrets, 'connection lost');
    this.busy = true;
  }

  /** Runs one operation: refuses it while another runs, and turns any failure into a reader error. */
  private async operation<T>(context: SourceErrorContext, action: string, fn: () => Promise<T>): Promise<T> {
    this.enter();
    try {
      return await fn();
    } catch (err) {
      throw toSourceError(err, context, this.secrets, action);
    } finally {
      this.busy = false;
    }
  }

  /** A placeholder that appends each value to `values` and stands for it as a statement parameter. */
  protected binder(values: string[]): Placeholder<C> {
    return (value) => {
      values.push(value);
      return this.dialect.param(values.length);
    };
  }

  /** The WHERE clause of a range; `placeholder` binds each value. */
  protected where(spec: RangeSpec, cursor: C, key: C, placeholder: Placeholder<C>): string {
    const c = this.dialect.q(cursor.name);
    const k = this.dialect.q(key.name);
    const conditions: string[] = [];
    if (spec.from !== undefined) conditions.push(`${c} >= ${placeholder(this.bound(spec.from, cursor, spec), cursor)}`);
    if (spec.to !== undefined) conditions.push(`${c} < ${placeholder(this.bound(spec.to, cursor, spec), cursor)}`);
    if (spec.after !== undefined) {
      const after = spec.after;
      conditions.push(
        this.dialect.after(
          c,
          k,
          () => placeholder(after.cursor, cursor),
          () => placeholder(after.key, key),
        ),
      );
    }
    if (spec.keys !== undefined) {
      checkKeyList(spec.keys, this.ctx(spec.schema, spec.table));
      conditions.push(`${c} IS NOT NULL`);
      conditions.push(`${k} IN (${spec.keys.map((value) => placeholder(value, key)).join(', ')})`);
    }
    if (conditions.length === 0) conditions.push(`${c} IS NOT NULL`);
    return conditions.join(' AND ');
  }

  /** A UTC bound as text comparable with the cursor column. */
  private bound(at: Date, cursor: C, spec: RangeSpec): string {
    const ms = at.getTime();
    if (Number.isNaN(ms)) throw new RangeError('invalid Date in a range bound');
    switch (cursor.kind) {
      case 'timestamptz':
        return this.dialect.instant(at);
      case 'timestamp':
        return wallTimeBound(ms, this.opts.timeZone);
      case 'date':
        return dateBound(ms, this.opts.timeZone);
      default:
        throw notATimeCursor(cursor.name, cursor.sourceType, this.ctx(spec.schema, spec.table));
    }
  }

  /** The quoted, qualified table. */
  private table(schema: string, table: string): string {
    return `${this.dialect.q(schema)}.${this.dialect.q(table)}`;
  }

  /** Runs `fn` in a transaction of its own, unless one is open (then it joins it). */
  private async inOwnTransaction<T>(fn: () => Promise<T>): Promise<T> {
    if (this.inTransaction) return fn();
    await this.control(this.dialect.begin);
    this.inTransaction = true;
    try {
      const result = await fn();
      await this.control('COMMIT');
      return result;
    } catch (err) {
      await this.control('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      this.inTransaction = false;
    }
  }

  async *readRange(spec: ReadSpec): AsyncGenerator<SourceBatch> {
    const context = this.ctx(spec.schema, spec.table);
    this.enter();
    try {
      checkRangeIdentifiers(spec, spec.columns, context);
      const batchRows = positiveInteger(spec.batchRows, 5_000, 'batchRows');
      const pageRows = positiveInteger(spec.pageRows, 200_000, 'pageRows');
      const names = selectedColumns(spec);
      const described = await this.describe(spec.schema, spec.table, names);
      const columns = described.map(({ name, kind, sourceType }) => ({ name, kind, sourceType }));
      const cursorIndex = names.indexOf(spec.cursorColumn);
      const keyIndex = names.indexOf(spec.keyColumn);
      const cursor = described[cursorIndex]!;
      const key = described[keyIndex]!;
      const page = {
        cursor,
        key,
        columns,
        select: described.map((c) => c.expr).join(', '),
        from: this.table(spec.schema, spec.table),
        order: `${this.dialect.q(cursor.name)}, ${this.dialect.q(key.name)}`,
        pageRows,
        batchRows,
        copyText: spec.copyText === true,
      };

      const ownTransaction = !this.inTransaction;
      if (ownTransaction) {
        await this.control(this.dialect.begin);
        this.inTransaction = true;
      }
      let committed = false;
      try {
        let after = spec.after;
        for (;;) {
          let count = 0;
          let last: readonly (string | null)[] | undefined;
          for await (const batch of this.readPage({ ...page, spec: { ...spec, ...(after ? { after } : {}) } })) {
            // A batch carrying COPY text decodes its rows only when they are used.
            if (batch.copyText) {
              count += batch.copyText.rowCount;
              last = batch.copyText.lastRow;
            } else {
              count += batch.rows.length;
              last = batch.rows[batch.rows.length - 1];
            }
            yield batch;
          }
          if (count < pageRows || !last) break;
          const lastKey = last[keyIndex];
          if (lastKey === null || lastKey === undefined) throw nullKeyError(key.name, context);
          after = { cursor: last[cursorIndex] ?? '', key: lastKey };
        }
        if (ownTransaction) {
          await this.control('COMMIT');
          committed = true;
        }
      } finally {
        if (ownTransaction) {
          this.inTransaction = false;
          if (!committed) await this.control('ROLLBACK').catch(() => {});
        }
      }
    } catch (err) {
      throw toSourceError(err, context, this.secrets, 'reading');
    } finally {
      this.busy = false;
    }
  }

  countAndSums(spec: CountSpec): Promise<CountAndSums> {
    const context = this.ctx(spec.schema, spec.table);
    return this.operation(context, 'counting', async () => {
      checkRangeIdentifiers(spec, spec.moneyColumns, context);
      const money = [...new Set(spec.moneyColumns)];
      const described = await this.describe(spec.schema, spec.table, [spec.cursorColumn, spec.keyColumn, ...money]);
      const [cursor, key, ...moneyColumns] = described as [C, C, ...C[]];
      const values: string[] = [];
      const where = this.where(spec, cursor, key, this.binder(values));
      const sums = moneyColumns.map((c) => `, SUM(${c.expr})`).join('');
      const sql = `SELECT COUNT(*)${sums} FROM ${this.table(spec.schema, spec.table)} WHERE ${where}`;
      this.debug('source count', sql);
      const [row] = await this.inOwnTransaction(() => this.rows(sql, values));
      return {
        count: BigInt(row?.[0] ?? '0'),
        sums: Object.fromEntries(money.map((name, i) => [name, row?.[i + 1] ?? '0'])),
      };
    });
  }

  groupedSums(spec: GroupedSumsSpec): Promise<GroupSums[]> {
    const context = this.ctx(spec.schema, spec.table);
    return this.operation(context, 'summing per group', async () => {
      checkRangeIdentifiers(spec, [...spec.groupColumns, ...spec.moneyColumns], context);
      const groups = [...spec.groupColumns];
      const money = [...new Set(spec.moneyColumns)];
      const described = await this.describe(spec.schema, spec.table, [
        spec.cursorColumn,
        spec.keyColumn,
        ...groups,
        ...money,
      ]);
      const [cursor, key] = described as [C, C];
      const read: GroupedRead<C> = {
        spec,
        cursor,
        key,
        groups: described.slice(2, 2 + groups.length),
        money: described.slice(2 + groups.length),
        from: this.table(spec.schema, spec.table),
      };
      const rows = await this.inOwnTransaction(() => this.readGrouped(read));
      return rows.map((row) => ({
        values: row.slice(0, groups.length),
        count: BigInt(row[groups.length] ?? '0'),
        sums: Object.fromEntries(money.map((name, i) => [name, row[groups.length + 1 + i] ?? '0'])),
      }));
    });
  }

  countNullCursor(spec: Pick<RangeSpec, 'schema' | 'table' | 'cursorColumn'>): Promise<NullCursorCount> {
    const context = this.ctx(spec.schema, spec.table);
    return this.operation(context, 'counting NULL cursors', async () => {
      checkIdentifier(spec.schema, 'schema', context);
      checkIdentifier(spec.table, 'table', context);
      checkIdentifier(spec.cursorColumn, 'cursor column', context);
      const [cursor] = await this.describe(spec.schema, spec.table, [spec.cursorColumn]);
      if (!cursor) throw new SourceQueryError(`cursor column ${spec.cursorColumn} not found`, { context });
      const [row] = await this.rows(
        `SELECT COUNT(*) FROM ${this.table(spec.schema, spec.table)} WHERE ${this.dialect.q(spec.cursorColumn)} IS NULL`,
      );
      return {
        rows: BigInt(row?.[0] ?? '0'),
        cursor: { name: cursor.name, kind: cursor.kind, sourceType: cursor.sourceType },
      };
    });
  }

  estimateRows(schema: string, table: string): Promise<number | null> {
    const context = this.ctx(schema, table);
    return this.operation(context, 'estimating rows', async () => {
      checkIdentifier(schema, 'schema', context);
      checkIdentifier(table, 'table', context);
      const result = await this.rows(this.dialect.estimateRows, [schema, table]);
      if (result.length === 0) {
        throw new SourceQueryError('table not found, or the connector user cannot see it', { context });
      }
      const value = result[0]?.[0];
      return value === null || value === undefined ? null : Number(value);
    });
  }

  cursorBounds(spec: RangeSpec): Promise<CursorBounds> {
    const context = this.ctx(spec.schema, spec.table);
    return this.operation(context, 'reading cursor bounds', async () => {
      checkRangeIdentifiers(spec, [], context);
      const [cursor, key] = (await this.describe(spec.schema, spec.table, [spec.cursorColumn, spec.keyColumn])) as [
        C,
        C,
      ];
      const values: string[] = [];
      const where = this.where(spec, cursor, key, this.binder(values));
      const c = this.dialect.q(cursor.name);
      const [row] = await this.rows(
        `SELECT MIN(${c}), MAX(${c}) FROM ${this.table(spec.schema, spec.table)} WHERE ${where}`,
        values,
      );
      return { min: row?.[0] ?? null, max: row?.[1] ?? null, kind: cursor.kind };
    });
  }

  serverTime(): Promise<Date> {
    return this.operation(this.context, 'reading the server time', async () => {
      const [row] = await this.rows(this.dialect.serverTime);
      return new Date(Number(row?.[0]));
    });
  }

  async snapshot<T>(fn: (view: SnapshotView) => Promise<T>): Promise<T> {
    if (this.inTransaction && this.view) return fn(this.view);
    this.enter();
    let view: SnapshotView;
    try {
      await this.control(this.dialect.begin);
      this.inTransaction = true;
      const [row] = await this.rows(this.dialect.snapshotTime);
      view = snapshotViewOf(row?.[0], this.context);
    } catch (err) {
      if (this.inTransaction) await this.control('ROLLBACK').catch(() => {});
      this.inTransaction = false;
      throw toSourceError(err, this.context, this.secrets, 'starting a snapshot');
    } finally {
      this.busy = false;
    }
    this.view = view;
    try {
      const result = await fn(view);
      await this.control('COMMIT').catch((err) => {
        throw toSourceError(err, this.context, this.secrets, 'ending a snapshot');
      });
      return result;
    } catch (err) {
      await this.control('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      this.inTransaction = false;
      this.view = undefined;
    }
  }

  query(sql: string, params: readonly (string | number | null)[] = []): Promise<(string | null)[][]> {
    return this.operation(this.context, 'running a query', async () => {
      this.debug('source query', sql);
      return await this.rows(sql, params);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.end();
  }
}
