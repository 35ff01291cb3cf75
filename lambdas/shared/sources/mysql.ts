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
import { utcToLocalWallTime } from '../mapping/time.ts';
import type { SourceBatch, SourceCredentials, SourceKind } from '../types.ts';
import { type SourceErrorContext, toSourceError } from './errors.ts';
import { resolveColumns, type SourceConnection, type SourceOptions, sanitizeApplicationName } from './source.ts';
import {
  errorContextOf,
  type GroupedRead,
  type PageRead,
  positiveSeconds,
  type Row,
  type SqlColumn,
  type SqlDialect,
  SqlSource,
} from './sql-source.ts';

type MyColumn = SqlColumn;

/** Backtick-quotes an identifier already checked against SAFE_IDENTIFIER. */
const q = (identifier: string) => `\`${identifier}\``;

const MYSQL: SqlDialect = {
  engine: 'mysql',
  q,
  param: () => '?',
  begin: 'START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY',
  // NOW(6) is the start of this statement, right after the snapshot was taken; UTC in this session.
  snapshotTime: 'SELECT NOW(6)',
  serverTime: 'SELECT CAST(FLOOR(UNIX_TIMESTAMP(NOW(3)) * 1000) AS SIGNED)',
  estimateRows: 'SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
  instant: (at) => utcToLocalWallTime(at.getTime(), 'UTC'), // the session renders and reads TIMESTAMP in UTC
  // Expanded form of (c, k) > (?, ?): MySQL uses the (cursor, key) index well with it.
  after: (c, k, cursor, key) => `(${c} > ${cursor()} OR (${c} = ${cursor()} AND ${k} > ${key()}))`,
};

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

/** Opens a MySQL or MariaDB session configured for extraction. */
export async function openMysql(creds: SourceCredentials, opts: SourceOptions): Promise<SourceConnection> {
  const context = errorContextOf(opts);
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

class MysqlSource extends SqlSource<MyColumn> {
  private connection!: mysql.Connection;
  private mariadb = false;
  /** Ends the statement being streamed; mysql2 reports a lost connection only on the connection. */
  private abortStream: ((err: unknown) => void) | undefined;

  constructor(opts: SourceOptions, context: SourceErrorContext, secrets: readonly string[], applicationName: string) {
    super(MYSQL, opts, context, secrets, applicationName);
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

  protected override interrupt(err: unknown): void {
    this.abortStream?.(err);
  }

  protected rows(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    return new Promise((resolve, reject) => {
      this.connection.query(
        { sql: this.comment + sql, values: params as unknown[], rowsAsArray: true, typeCast: TEXT_CAST },
        (err, result) => (err ? reject(err) : resolve(Array.isArray(result) ? (result as unknown as Row[]) : [])),
      );
    });
  }

  protected async control(sql: string): Promise<void> {
    await this.rows(sql);
  }

  protected async end(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.connection.end(() => resolve());
    }).catch(() => {});
    this.connection.destroy();
  }

  protected async describe(schema: string, table: string, names: readonly string[]): Promise<MyColumn[]> {
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

  /**
   * The GROUP BY, by the values' bytes rather than the collation ('EUR' and 'eur' land as two
   * values); within a group every value is the same, so MIN returns it as {@link readPage} reads it.
   */
  protected async readGrouped(read: GroupedRead<MyColumn>): Promise<Row[]> {
    const values: string[] = [];
    const where = this.where(read.spec, read.cursor, read.key, this.binder(values));
    const select = [
      ...read.groups.map((c) => `MIN(${c.expr})`),
      'COUNT(*)',
      ...read.money.map((c) => `COALESCE(SUM(${c.expr}), 0)`),
    ].join(', ');
    const by = read.groups.map((c) => `CAST(${c.expr} AS BINARY)`).join(', ');
    const sql = `SELECT ${select} FROM ${read.from} WHERE ${where}${by ? ` GROUP BY ${by}` : ''}`;
    this.debug('source grouped sums', sql);
    return (await this.rows(sql, values)).map((row) =>
      row.map((v) => (v === null || v === undefined ? null : String(v))),
    );
  }

  /** One `SELECT … LIMIT n` with `?` placeholders, streamed. */
  protected async *readPage(page: PageRead<MyColumn>): AsyncGenerator<SourceBatch> {
    const values: string[] = [];
    const where = this.where(page.spec, page.cursor, page.key, this.binder(values));
    const sql = `SELECT ${page.select} FROM ${page.from} WHERE ${where} ORDER BY ${page.order} LIMIT ${page.pageRows}`;
    this.debug('source read', sql);
    for await (const rows of this.stream(sql, values, page.batchRows)) {
      yield { columns: page.columns, rows };
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
}
