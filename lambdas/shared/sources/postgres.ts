/**
 * PostgreSQL source reader (`pg`).
 *
 * Rows are read with `COPY (SELECT … ORDER BY cursor, key LIMIT n) TO STDOUT` in text format,
 * which gives every value in PostgreSQL's own text output (exact numerics, 64-bit integers,
 * microsecond timestamps, `t`/`f` booleans, JSON as written) at the speed of `psql \copy`. COPY
 * cannot take bind parameters, so values are bound with `set_config($n)` into transaction-local
 * settings that the statement reads back with `current_setting(…)::<column type>`; the type name
 * comes from the catalog, never from configuration or data.
 *
 * Session: `default_transaction_read_only`, REPEATABLE READ, `statement_timeout`,
 * `idle_in_transaction_session_timeout`, `lock_timeout`, `TimeZone=UTC` (timestamptz renders as
 * `…+00`), ISO dates, shortest-exact floats, and `application_name` for the DBA.
 */
import pg from 'pg';
import type { SourceBatch, SourceCredentials, SourceKind } from '../types.ts';
import { type SourceErrorContext, SourceQueryError, toSourceError } from './errors.ts';
import { copyOutBatches, copyOutText, copyTextBatch } from './pg-copy.ts';
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

const RAW_TEXT = (value: string) => value;
/** Every type parser returns the server's text unchanged. */
const RAW_TYPES = { getTypeParser: () => RAW_TEXT } as unknown as pg.CustomTypesConfig;

/** Prefix of the transaction-local settings that carry bound values into COPY. */
const PARAM_PREFIX = 'igaming_connector.p';

interface PgColumn extends SqlColumn {
  /** Type name to cast a text value to this column's type (from `regtype`, safely quoted by PostgreSQL). */
  readonly castType: string;
}

/** Double-quotes an identifier already checked against SAFE_IDENTIFIER. */
const q = (identifier: string) => `"${identifier}"`;

const POSTGRES: SqlDialect = {
  engine: 'postgres',
  q,
  param: (n) => `$${n}`,
  begin: 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
  // The first statement of a REPEATABLE READ transaction takes its snapshot: its start time is
  // the moment of that snapshot (transaction_timestamp() would be BEGIN's, a round trip earlier).
  snapshotTime: 'SELECT statement_timestamp()',
  serverTime: 'SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint',
  // Partitioned tables: the parent has no rows of its own; sum the leaf partitions.
  // reltuples is -1 (PostgreSQL 14+) when the table was never analyzed: unknown.
  estimateRows: `SELECT CASE WHEN c.relkind = 'p'
                     THEN (SELECT sum(l.reltuples) FILTER (WHERE l.reltuples >= 0)
                             FROM pg_catalog.pg_partition_tree(c.oid) p
                             JOIN pg_catalog.pg_class l ON l.oid = p.relid
                            WHERE p.isleaf)
                     ELSE nullif(c.reltuples, -1) END::bigint
           FROM pg_catalog.pg_class c
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')`,
  instant: (at) => at.toISOString(),
  after: (c, k, cursor, key) => `(${c}, ${k}) > (${cursor()}, ${key()})`,
};

/** How the readers interpret a PostgreSQL base type (`pg_type.typname`). */
export function postgresKind(baseType: string): SourceKind {
  switch (baseType) {
    case 'int2':
    case 'int4':
    case 'int8':
      return 'integer';
    case 'numeric':
    case 'money':
      return 'decimal';
    case 'float4':
    case 'float8':
      return 'float';
    case 'bool':
      return 'boolean';
    case 'date':
      return 'date';
    case 'timestamp':
      return 'timestamp';
    case 'timestamptz':
      return 'timestamptz';
    case 'json':
    case 'jsonb':
      return 'json';
    default:
      return 'text'; // text, varchar, char, uuid, enums, citext, inet, time, interval, arrays…
  }
}

/** A regtype rendering: optionally schema-qualified, quoted where needed, maybe an array. */
const CAST_TYPE = /^(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)(?:\.(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*))?(?: [a-z ]+)*(?:\[\])*$/;

/** Opens a PostgreSQL session configured for extraction. */
export async function openPostgres(creds: SourceCredentials, opts: SourceOptions): Promise<SourceConnection> {
  const context = errorContextOf(opts);
  const secrets = [creds.password];
  const applicationName = sanitizeApplicationName(opts.applicationName);
  const timeoutMs = Math.round(positiveSeconds(opts.statementTimeoutSeconds, 'statementTimeoutSeconds') * 1000);
  const client = new pg.Client({
    host: creds.host,
    port: creds.port,
    database: creds.database,
    user: creds.username,
    password: creds.password,
    application_name: applicationName,
    ssl:
      creds.tls === 'disable'
        ? false
        : creds.tls === 'require'
          ? { rejectUnauthorized: false }
          : { rejectUnauthorized: true, ...(creds.ca ? { ca: [...creds.ca] } : {}) },
    connectionTimeoutMillis: (opts.connectTimeoutSeconds ?? 15) * 1000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 30_000,
    types: RAW_TYPES,
  });
  const source = new PostgresSource(client, opts, context, secrets, applicationName);
  // Without a listener, a connection lost while idle would crash the process.
  client.on('error', (err) => source.onConnectionLost(err));
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw toSourceError(
      err,
      context,
      secrets,
      `connecting to PostgreSQL at ${creds.host}:${creds.port}/${creds.database}`,
    );
  }
  try {
    await client.query(
      `SELECT set_config('default_transaction_read_only', 'on', false),
              set_config('default_transaction_isolation', 'repeatable read', false),
              set_config('statement_timeout', $1, false),
              set_config('idle_in_transaction_session_timeout', $2, false),
              set_config('lock_timeout', $3, false),
              set_config('TimeZone', 'UTC', false),
              set_config('DateStyle', 'ISO, YMD', false),
              set_config('IntervalStyle', 'postgres', false),
              set_config('extra_float_digits', '3', false)`,
      [String(timeoutMs), String(Math.max(timeoutMs, 60_000)), String(Math.min(timeoutMs, 30_000))],
    );
  } catch (err) {
    await client.end().catch(() => {});
    throw toSourceError(err, context, secrets, 'configuring the PostgreSQL session');
  }
  return source;
}

class PostgresSource extends SqlSource<PgColumn> {
  constructor(
    private readonly client: pg.Client,
    opts: SourceOptions,
    context: SourceErrorContext,
    secrets: readonly string[],
    applicationName: string,
  ) {
    super(POSTGRES, opts, context, secrets, applicationName);
  }

  protected async rows(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    const result = await this.client.query({ text: this.comment + sql, values: params as unknown[], rowMode: 'array' });
    return result.rows as Row[];
  }

  protected async control(sql: string): Promise<void> {
    await this.client.query(sql);
  }

  protected async end(): Promise<void> {
    await this.client.end().catch(() => {});
  }

  protected async describe(schema: string, table: string, names: readonly string[]): Promise<PgColumn[]> {
    const catalog = await this.rows(
      `SELECT a.attname, format_type(a.atttypid, a.atttypmod), bt.typname, a.atttypid::regtype::text
         FROM pg_catalog.pg_attribute a
         JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
         JOIN pg_catalog.pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
        WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum`,
      [schema, table],
    );
    const columns = catalog.map(([name, sourceType, baseType, castType]) => ({
      name: name ?? '',
      sourceType: sourceType ?? '',
      baseType: baseType ?? '',
      castType: castType ?? '',
    }));
    return resolveColumns(columns, names, this.ctx(schema, table), false).map((c) => {
      if (!CAST_TYPE.test(c.castType)) {
        throw new SourceQueryError(`column ${c.name} has an unsupported type name ${JSON.stringify(c.castType)}`, {
          context: this.ctx(schema, table),
        });
      }
      return {
        name: c.name,
        kind: postgresKind(c.baseType),
        sourceType: c.sourceType,
        castType: c.castType,
        expr: c.baseType === 'money' ? `${q(c.name)}::numeric` : q(c.name),
      };
    });
  }

  /**
   * The GROUP BY as a COPY, so the group values are rendered exactly as {@link readPage} renders
   * them (CHAR padding, booleans); values bound as transaction-local settings, as there.
   */
  protected async readGrouped(read: GroupedRead<PgColumn>): Promise<Row[]> {
    const values: string[] = [];
    const where = this.where(read.spec, read.cursor, read.key, (value, column) => {
      values.push(value);
      return `current_setting('${PARAM_PREFIX}${values.length}')::${column.castType}`;
    });
    if (values.length > 0) {
      const sets = values.map((_, i) => `set_config('${PARAM_PREFIX}${i + 1}', $${i + 1}, true)`);
      await this.client.query(`SELECT ${sets.join(', ')}`, values);
    }
    const select = [
      ...read.groups.map((c) => c.expr),
      'count(*)',
      ...read.money.map((c) => `coalesce(sum(${c.expr}), 0)`),
    ].join(', ');
    const by = read.groups.map((_, i) => String(i + 1)).join(', ');
    const sql = `COPY (SELECT ${select} FROM ${read.from} WHERE ${where}${by ? ` GROUP BY ${by}` : ''}) TO STDOUT`;
    this.debug('source grouped sums', sql);
    const out: Row[] = [];
    for await (const rows of copyOutBatches(this.client, this.comment + sql, 10_000)) out.push(...rows);
    return out;
  }

  /**
   * One `COPY (SELECT …) TO STDOUT`. COPY takes no bind parameters: the values are set first as
   * transaction-local settings, which the statement reads back cast to the column's type.
   */
  protected async *readPage(page: PageRead<PgColumn>): AsyncGenerator<SourceBatch> {
    const values: string[] = [];
    const where = this.where(page.spec, page.cursor, page.key, (value, column) => {
      values.push(value);
      return `current_setting('${PARAM_PREFIX}${values.length}')::${column.castType}`;
    });
    if (values.length > 0) {
      const sets = values.map((_, i) => `set_config('${PARAM_PREFIX}${i + 1}', $${i + 1}, true)`);
      await this.client.query(`SELECT ${sets.join(', ')}`, values);
    }
    const sql = `COPY (SELECT ${page.select} FROM ${page.from} WHERE ${where} ORDER BY ${page.order} LIMIT ${page.pageRows}) TO STDOUT`;
    this.debug('source read', sql);
    if (page.copyText) {
      for await (const text of copyOutText(this.client, this.comment + sql, page.batchRows)) {
        yield copyTextBatch(page.columns, text);
      }
    } else {
      for await (const rows of copyOutBatches(this.client, this.comment + sql, page.batchRows)) {
        yield { columns: page.columns, rows };
      }
    }
  }
}
