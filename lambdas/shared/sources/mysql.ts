/**
 * MySQL / MariaDB source reader (`mysql2`).
 *
 * Rows are streamed with the text protocol (`rowsAsArray`, every field taken with
 * `field.string()`), so values arrive exactly as the server renders them: DECIMAL and BIGINT
 * digits, `DATETIME(6)` microseconds, TINYINT(1) booleans as `1`/`0`, JSON as written. Each
 * statement is `SELECT … ORDER BY cursor, key LIMIT n`, continued by key set; the connection is
 * paused while the consumer is behind, so memory stays bounded.
 *
 * Values are passed to the driver as `?` placeholders; the session's `sql_mode` is fixed without
 * `NO_BACKSLASH_ESCAPES`, the mode under which client-side escaping would be unsafe.
 *
 * Session: `SET SESSION TRANSACTION … READ ONLY`, REPEATABLE READ, `time_zone='+00:00'` (TIMESTAMP
 * columns render in UTC), `max_execution_time` (MySQL) or `max_statement_time` (MariaDB),
 * utf8mb4, the `program_name` connection attribute and a `/* application name *\/` comment in
 * front of every statement so the DBA can see who runs it in the process list.
 */
import { checkServerIdentity, type TLSSocket } from 'node:tls';
import mysql from 'mysql2';
import { dateBound, utcToLocalWallTime, wallTimeBound } from '../mapping/time.ts';
import type { SourceBatch, SourceCredentials, SourceKind } from '../types.ts';
import { describeDriverError, type SourceErrorContext, SourceQueryError, toSourceError } from './errors.ts';
import {
  type CountAndSums,
  type CountSpec,
  type CursorBounds,
  checkIdentifier,
  checkKeyList,
  checkRangeIdentifiers,
  type NullCursorCount,
  notATimeCursor,
  nullKeyError,
  positiveInteger,
  type RangeSpec,
  type ReadSpec,
  resolveColumns,
  type SnapshotView,
  type SourceConnection,
  type SourceOptions,
  sanitizeApplicationName,
  selectedColumns,
  snapshotViewOf,
} from './source.ts';

type Row = (string | null)[];

interface MyColumn {
  readonly name: string;
  readonly kind: SourceKind;
  readonly sourceType: string;
  readonly expr: string;
}

/** Backtick-quotes an identifier already checked against SAFE_IDENTIFIER. */
const q = (identifier: string) => `\`${identifier}\``;

/** Every value as the server's text (NULL stays null); JSON is sent with the binary charset. */
const TEXT_CAST: mysql.TypeCast = (field) => (field.type === 'JSON' ? field.string('utf8') : field.string());

const BINARY_TYPES = new Set([
  'binary',
  'varbinary',
  'tinyblob',
  'blob',
  'mediumblob',
  'longblob',
  'geometry',
  'point',
  'linestring',
  'polygon',
  'multipoint',
  'multilinestring',
  'multipolygon',
  'geometrycollection',
]);

/** How the readers interpret a MySQL/MariaDB column (`DATA_TYPE`, `COLUMN_TYPE`). */
export function mysqlKind(dataType: string, columnType: string): SourceKind {
  const type = dataType.toLowerCase();
  const full = columnType.toLowerCase();
  if (type === 'json') return 'json';
  if (type === 'tinyint' && full.startsWith('tinyint(1)')) return 'boolean';
  if (['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint', 'year'].includes(type)) return 'integer';
  if (type === 'decimal' || type === 'numeric') return 'decimal';
  if (type === 'float' || type === 'double' || type === 'real') return 'float';
  if (type === 'date') return 'date';
  if (type === 'datetime') return 'timestamp';
  if (type === 'timestamp') return 'timestamptz';
  if (type === 'bit') return full === 'bit(1)' ? 'boolean' : 'integer';
  return 'text';
}

function describeColumn(name: string, dataType: string, columnType: string, json: boolean): MyColumn {
  const type = dataType.toLowerCase();
  const kind: SourceKind = json ? 'json' : mysqlKind(dataType, columnType);
  let expr = q(name);
  if (type === 'bit') expr = `(${q(name)} + 0)`;
  else if (BINARY_TYPES.has(type)) expr = `HEX(${q(name)})`;
  return { name, kind, sourceType: columnType, expr };
}

function positiveSeconds(value: number, what: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${what} must be a positive number, got ${value}`);
  return value;
}

/** Opens a MySQL or MariaDB session configured for extraction. */
export async function openMysql(creds: SourceCredentials, opts: SourceOptions): Promise<SourceConnection> {
  const context: SourceErrorContext = {
    ...(opts.operatorId ? { operatorId: opts.operatorId } : {}),
    ...(opts.stream ? { stream: opts.stream } : {}),
  };
  const secrets = [creds.password];
  const applicationName = sanitizeApplicationName(opts.applicationName);
  const timeoutSeconds = positiveSeconds(opts.statementTimeoutSeconds, 'statementTimeoutSeconds');
  let connection: mysql.Connection;
  const source = new MysqlSource(opts, context, secrets, applicationName);
  try {
    connection = await new Promise<mysql.Connection>((resolve, reject) => {
      const conn = mysql.createConnection({
        host: creds.host,
        port: creds.port,
        database: creds.database,
        user: creds.username,
        password: creds.password,
        charset: 'UTF8MB4_UNICODE_CI',
        timezone: 'Z',
        dateStrings: true,
        supportBigNumbers: true,
        bigNumberStrings: true,
        decimalNumbers: false,
        rowsAsArray: true,
        typeCast: TEXT_CAST,
        multipleStatements: false,
        connectTimeout: (opts.connectTimeoutSeconds ?? 15) * 1000,
        enableKeepAlive: true,
        connectAttributes: { program_name: applicationName },
        ...(creds.tls === 'disable'
          ? {}
          : {
              ssl:
                creds.tls === 'require'
                  ? { rejectUnauthorized: false }
                  : {
                      rejectUnauthorized: true,
                      verifyIdentity: true,
                      ...(creds.ca ? { ca: [...creds.ca] } : {}),
                    },
            }),
      });
      // Without a listener, a connection lost while idle would crash the process.
      conn.on('error', (err) => source.onConnectionLost(err));
      conn.connect((err) => (err ? reject(err) : resolve(conn)));
    });
  } catch (err) {
    throw toSourceError(err, context, secrets, `connecting to MySQL at ${creds.host}:${creds.port}/${creds.database}`);
  }
  if (creds.tls === 'verify-full') {
    // mysql2 checks the host name only for DNS names; for an IP address Node.js compares the
    // certificate with "localhost". Checked here for every host, against the configured name.
    const stream = (connection as unknown as { stream?: Partial<TLSSocket> }).stream;
    const certificate = stream?.getPeerCertificate?.();
    const mismatch =
      certificate && Object.keys(certificate).length > 0
        ? checkServerIdentity(creds.host, certificate)
        : Object.assign(new Error('no server certificate'), { code: 'HANDSHAKE_NO_SSL_SUPPORT' });
    if (mismatch) {
      connection.destroy();
      throw toSourceError(
        mismatch,
        context,
        secrets,
        `connecting to MySQL at ${creds.host}:${creds.port}/${creds.database}`,
      );
    }
  }
  try {
    await source.attach(connection, timeoutSeconds);
  } catch (err) {
    connection.destroy();
    throw toSourceError(err, context, secrets, 'configuring the MySQL session');
  }
  return source;
}

class MysqlSource implements SourceConnection {
  readonly engine = 'mysql' as const;
  private connection!: mysql.Connection;
  private mariadb = false;
  private inTransaction = false;
  /** The view of the snapshot transaction in progress. */
  private view: SnapshotView | undefined;
  private busy = false;
  private closed = false;
  private lost: unknown;
  /** Ends the statement being streamed; mysql2 reports a lost connection only on the connection. */
  private abortStream: ((err: unknown) => void) | undefined;
  private readonly comment: string;

  constructor(
    private readonly opts: SourceOptions,
    private readonly context: SourceErrorContext,
    private readonly secrets: readonly string[],
    applicationName: string,
  ) {
    this.comment = `/* ${applicationName} */ `;
  }

  async attach(connection: mysql.Connection, timeoutSeconds: number): Promise<void> {
    this.connection = connection;
    const [version] = await this.rows('SELECT VERSION()');
    this.mariadb = /mariadb/i.test(version?.[0] ?? '');
    await this.rows('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    const timeout = this.mariadb
      ? `max_statement_time = ${Number(timeoutSeconds.toFixed(3))}`
      : `max_execution_time = ${Math.round(timeoutSeconds * 1000)}`;
    // net_write_timeout: how long the server waits on a paused (back-pressured) client.
    await this.rows(
      `SET SESSION time_zone = '+00:00', sql_mode = 'NO_ENGINE_SUBSTITUTION', ${timeout}, net_write_timeout = ${Math.max(60, Math.ceil(timeoutSeconds))}`,
    );
  }

  onConnectionLost(err: unknown): void {
    this.lost = err;
    this.abortStream?.(err);
    this.opts.logger?.warn('source connection lost', { error: describeDriverError(err) });
  }

  private ctx(schema?: string, table?: string): SourceErrorContext {
    return schema && table ? { ...this.context, table: `${schema}.${table}` } : this.context;
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

  private rows(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    return new Promise((resolve, reject) => {
      this.connection.query(
        { sql: this.comment + sql, values: params as unknown[], rowsAsArray: true, typeCast: TEXT_CAST },
        (err, result) => (err ? reject(err) : resolve(Array.isArray(result) ? (result as unknown as Row[]) : [])),
      );
    });
  }

  private async describe(schema: string, table: string, names: readonly string[]): Promise<MyColumn[]> {
    const catalog = await this.rows(
      `SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS
        WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
      [schema, table],
    );
    const columns = catalog.map(([name, dataType, columnType]) => ({
      name: name ?? '',
      dataType: dataType ?? '',
      columnType: columnType ?? '',
    }));
    const found = resolveColumns(columns, names, this.ctx(schema, table), true);
    // MariaDB stores JSON as LONGTEXT with a json_valid() check constraint named after the column.
    let jsonColumns = new Set<string>();
    if (this.mariadb && found.some((c) => c.dataType.toLowerCase() === 'longtext')) {
      const checks = await this.rows(
        `SELECT CONSTRAINT_NAME FROM information_schema.CHECK_CONSTRAINTS
          WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ? AND CHECK_CLAUSE LIKE 'json_valid(%'`,
        [schema, table],
      );
      jsonColumns = new Set(checks.map(([name]) => (name ?? '').toLowerCase()));
    }
    return found.map((c, i) =>
      describeColumn(
        names[i]!,
        c.dataType,
        c.columnType,
        c.dataType.toLowerCase() === 'longtext' && jsonColumns.has(c.name.toLowerCase()),
      ),
    );
  }

  /** The WHERE clause of a range, with `?` placeholders appended to `values`. */
  private where(spec: RangeSpec, cursor: MyColumn, key: MyColumn, values: unknown[]): string {
    const c = q(cursor.name);
    const conditions: string[] = [];
    if (spec.from !== undefined) {
      conditions.push(`${c} >= ?`);
      values.push(this.bound(spec.from, cursor, spec));
    }
    if (spec.to !== undefined) {
      conditions.push(`${c} < ?`);
      values.push(this.bound(spec.to, cursor, spec));
    }
    if (spec.after !== undefined) {
      // Expanded form of (c, k) > (?, ?): MySQL uses the (cursor, key) index well with it.
      conditions.push(`(${c} > ? OR (${c} = ? AND ${q(key.name)} > ?))`);
      values.push(spec.after.cursor, spec.after.cursor, spec.after.key);
    }
    if (spec.keys !== undefined) {
      checkKeyList(spec.keys, this.ctx(spec.schema, spec.table));
      conditions.push(`${c} IS NOT NULL`);
      conditions.push(`${q(key.name)} IN (${spec.keys.map(() => '?').join(', ')})`);
      values.push(...spec.keys);
    }
    if (conditions.length === 0) conditions.push(`${c} IS NOT NULL`);
    return conditions.join(' AND ');
  }

  private bound(at: Date, cursor: MyColumn, spec: RangeSpec): string {
    const ms = at.getTime();
    if (Number.isNaN(ms)) throw new RangeError('invalid Date in a range bound');
    switch (cursor.kind) {
      case 'timestamptz':
        return utcToLocalWallTime(ms, 'UTC'); // the session renders and reads TIMESTAMP in UTC
      case 'timestamp':
        return wallTimeBound(ms, this.opts.timeZone);
      case 'date':
        return dateBound(ms, this.opts.timeZone);
      default:
        throw notATimeCursor(cursor.name, cursor.sourceType, this.ctx(spec.schema, spec.table));
    }
  }

  private async inOwnTransaction<T>(fn: () => Promise<T>): Promise<T> {
    if (this.inTransaction) return fn();
    await this.rows('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
    this.inTransaction = true;
    try {
      const result = await fn();
      await this.rows('COMMIT');
      return result;
    } catch (err) {
      await this.rows('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      this.inTransaction = false;
    }
  }

  /** Streams one statement's rows in batches, pausing the connection while the consumer is behind. */
  private async *stream(sql: string, values: readonly unknown[], batchRows: number): AsyncGenerator<Row[]> {
    const queue: Row[][] = [];
    let current: Row[] = [];
    let finished = false;
    let failure: unknown;
    let discard = false;
    let paused = false;
    let wake: (() => void) | undefined;
    const notify = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    const finish = (err?: unknown) => {
      if (finished) return;
      finished = true;
      this.abortStream = undefined;
      failure = err;
      if (current.length > 0 && !discard) queue.push(current);
      current = [];
      if (paused) {
        paused = false;
        this.connection.resume();
      }
      notify();
    };
    const query = this.connection.query({
      sql: this.comment + sql,
      values: values as unknown[],
      rowsAsArray: true,
      typeCast: TEXT_CAST,
    });
    query.on('result', (row) => {
      if (discard) return;
      current.push(row as unknown as Row);
      if (current.length >= batchRows) {
        queue.push(current);
        current = [];
        if (queue.length >= 2 && !paused) {
          paused = true;
          this.connection.pause();
        }
        notify();
      }
    });
    query.on('error', (err) => finish(err));
    query.on('end', () => finish());
    this.abortStream = finish;
    try {
      for (;;) {
        const batch = queue.shift();
        if (batch) {
          if (paused && queue.length < 2) {
            paused = false;
            this.connection.resume();
          }
          yield batch;
          continue;
        }
        if (finished) {
          if (failure !== undefined) throw failure;
          return;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    } finally {
      if (!finished) {
        discard = true;
        queue.length = 0;
        current = [];
        if (paused) {
          paused = false;
          this.connection.resume();
        }
        await new Promise<void>((resolve) => {
          if (finished) resolve();
          else wake = resolve;
        });
      }
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
      const select = described.map((c) => c.expr).join(', ');
      const from = `${q(spec.schema)}.${q(spec.table)}`;
      const order = `${q(cursor.name)}, ${q(key.name)}`;

      const ownTransaction = !this.inTransaction;
      if (ownTransaction) {
        await this.rows('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
        this.inTransaction = true;
      }
      let committed = false;
      try {
        let after = spec.after;
        for (;;) {
          const values: unknown[] = [];
          const where = this.where({ ...spec, ...(after ? { after } : {}) }, cursor, key, values);
          const sql = `SELECT ${select} FROM ${from} WHERE ${where} ORDER BY ${order} LIMIT ${pageRows}`;
          this.opts.logger?.debug('source read', { engine: 'mysql', sql });
          let count = 0;
          let last: Row | undefined;
          for await (const rows of this.stream(sql, values, batchRows)) {
            count += rows.length;
            last = rows[rows.length - 1];
            yield { columns, rows };
          }
          if (count < pageRows || !last) break;
          const lastKey = last[keyIndex];
          if (lastKey === null || lastKey === undefined) throw nullKeyError(key.name, context);
          after = { cursor: last[cursorIndex] ?? '', key: lastKey };
        }
        if (ownTransaction) {
          await this.rows('COMMIT');
          committed = true;
        }
      } finally {
        if (ownTransaction) {
          this.inTransaction = false;
          if (!committed) await this.rows('ROLLBACK').catch(() => {});
        }
      }
    } catch (err) {
      throw toSourceError(err, context, this.secrets, 'reading');
    } finally {
      this.busy = false;
    }
  }

  async countAndSums(spec: CountSpec): Promise<CountAndSums> {
    const context = this.ctx(spec.schema, spec.table);
    this.enter();
    try {
      checkRangeIdentifiers(spec, spec.moneyColumns, context);
      const money = [...new Set(spec.moneyColumns)];
      const described = await this.describe(spec.schema, spec.table, [spec.cursorColumn, spec.keyColumn, ...money]);
      const [cursor, key, ...moneyColumns] = described as [MyColumn, MyColumn, ...MyColumn[]];
      const values: unknown[] = [];
      const where = this.where(spec, cursor, key, values);
      const sums = moneyColumns.map((c) => `, SUM(${c.expr})`).join('');
      const sql = `SELECT COUNT(*)${sums} FROM ${q(spec.schema)}.${q(spec.table)} WHERE ${where}`;
      this.opts.logger?.debug('source count', { engine: 'mysql', sql });
      const [row] = await this.inOwnTransaction(() => this.rows(sql, values));
      return {
        count: BigInt(row?.[0] ?? '0'),
        sums: Object.fromEntries(money.map((name, i) => [name, row?.[i + 1] ?? '0'])),
      };
    } catch (err) {
      throw toSourceError(err, context, this.secrets, 'counting');
    } finally {
      this.busy = false;
    }
  }

  async countNullCursor(spec: Pick<RangeSpec, 'schema' | 'table' | 'cursorColumn'>): Promise<NullCursorCount> {
    const context = this.ctx(spec.schema, spec.table);
    this.enter();
    try {
      checkIdentifier(spec.schema, 'schema', context);
      checkIdentifier(spec.table, 'table', context);
      checkIdentifier(spec.cursorColumn, 'cursor column', context);
      const [cursor] = await this.describe(spec.schema, spec.table, [spec.cursorColumn]);
      if (!cursor) throw new SourceQueryError(`cursor column ${spec.cursorColumn} not found`, { context });
      const [row] = await this.rows(
        `SELECT COUNT(*) FROM ${q(spec.schema)}.${q(spec.table)} WHERE ${q(spec.cursorColumn)} IS NULL`,
      );
      return {
        rows: BigInt(row?.[0] ?? '0'),
        cursor: { name: cursor.name, kind: cursor.kind, sourceType: cursor.sourceType },
      };
    } catch (err) {
      throw toSourceError(err, context, this.secrets, 'counting NULL cursors');
    } finally {
      this.busy = false;
    }
  }

  async estimateRows(schema: string, table: string): Promise<number | null> {
    const context = this.ctx(schema, table);
    this.enter();
    try {
      checkIdentifier(schema, 'schema', context);
      checkIdentifier(table, 'table', context);
      const result = await this.rows(
        'SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
        [schema, table],
      );
      if (result.length === 0) {
        throw new SourceQueryError('table not found, or the connector user cannot see it', { context });
      }
      const value = result[0]?.[0];
      return value === null || value === undefined ? null : Number(value);
    } catch (err) {
      throw toSourceError(err, context, this.secrets, 'estimating rows');
    } finally {
      this.busy = false;
    }
  }

  async cursorBounds(spec: RangeSpec): Promise<CursorBounds> {
    const context = this.ctx(spec.schema, spec.table);
    this.enter();
    try {
      checkRangeIdentifiers(spec, [], context);
      const [cursor, key] = (await this.describe(spec.schema, spec.table, [spec.cursorColumn, spec.keyColumn])) as [
        MyColumn,
        MyColumn,
      ];
      const values: unknown[] = [];
      const where = this.where(spec, cursor, key, values);
      const c = q(cursor.name);
      const [row] = await this.rows(
        `SELECT MIN(${c}), MAX(${c}) FROM ${q(spec.schema)}.${q(spec.table)} WHERE ${where}`,
        values,
      );
      return { min: row?.[0] ?? null, max: row?.[1] ?? null, kind: cursor.kind };
    } catch (err) {
      throw toSourceError(err, context, this.secrets, 'reading cursor bounds');
    } finally {
      this.busy = false;
    }
  }

  async serverTime(): Promise<Date> {
    this.enter();
    try {
      const [row] = await this.rows('SELECT CAST(FLOOR(UNIX_TIMESTAMP(NOW(3)) * 1000) AS SIGNED)');
      return new Date(Number(row?.[0]));
    } catch (err) {
      throw toSourceError(err, this.context, this.secrets, 'reading the server time');
    } finally {
      this.busy = false;
    }
  }

  async snapshot<T>(fn: (view: SnapshotView) => Promise<T>): Promise<T> {
    if (this.inTransaction && this.view) return fn(this.view);
    this.enter();
    let view: SnapshotView;
    try {
      await this.rows('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
      this.inTransaction = true;
      // NOW(6) is the start of this statement, right after the snapshot was taken; UTC in this session.
      const [row] = await this.rows('SELECT NOW(6)');
      view = snapshotViewOf(row?.[0], this.context);
    } catch (err) {
      if (this.inTransaction) await this.rows('ROLLBACK').catch(() => {});
      this.inTransaction = false;
      throw toSourceError(err, this.context, this.secrets, 'starting a snapshot');
    } finally {
      this.busy = false;
    }
    this.view = view;
    try {
      const result = await fn(view);
      await this.rows('COMMIT').catch((err) => {
        throw toSourceError(err, this.context, this.secrets, 'ending a snapshot');
      });
      return result;
    } catch (err) {
      await this.rows('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      this.inTransaction = false;
      this.view = undefined;
    }
  }

  async query(sql: string, params: readonly (string | number | null)[] = []): Promise<(string | null)[][]> {
    this.enter();
    try {
      this.opts.logger?.debug('source query', { engine: 'mysql', sql });
      return await this.rows(sql, params);
    } catch (err) {
      throw toSourceError(err, this.context, this.secrets, 'running a query');
    } finally {
      this.busy = false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => {
      this.connection.end(() => resolve());
    }).catch(() => {});
    this.connection.destroy();
  }
}
