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
import { dateBound, wallTimeBound } from '../mapping/time.ts';
import type { SourceCredentials, SourceKind } from '../types.ts';
import { describeDriverError, type SourceErrorContext, SourceQueryError, toSourceError } from './errors.ts';
import { copyOutBatches, copyOutText, copyTextBatch } from './pg-copy.ts';
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

const RAW_TEXT = (value: string) => value;
/** Every type parser returns the server's text unchanged. */
const RAW_TYPES = { getTypeParser: () => RAW_TEXT } as unknown as pg.CustomTypesConfig;

/** Prefix of the transaction-local settings that carry bound values into COPY. */
const PARAM_PREFIX = 'igaming_connector.p';

interface PgColumn {
  readonly name: string;
  readonly kind: SourceKind;
  readonly sourceType: string;
  /** Type name to cast a text value to this column's type (from `regtype`, safely quoted by PostgreSQL). */
  readonly castType: string;
  /** Select expression. */
  readonly expr: string;
}

/** Double-quotes an identifier already checked against SAFE_IDENTIFIER. */
const q = (identifier: string) => `"${identifier}"`;

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

type Placeholder = (value: string, column: PgColumn) => string;

/** Opens a PostgreSQL session configured for extraction. */
export async function openPostgres(creds: SourceCredentials, opts: SourceOptions): Promise<SourceConnection> {
  const context: SourceErrorContext = {
    ...(opts.operatorId ? { operatorId: opts.operatorId } : {}),
    ...(opts.stream ? { stream: opts.stream } : {}),
  };
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

function positiveSeconds(value: number, what: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${what} must be a positive number, got ${value}`);
  return value;
}

class PostgresSource implements SourceConnection {
  readonly engine = 'postgres' as const;
  private inTransaction = false;
  /** The view of the snapshot transaction in progress. */
  private view: SnapshotView | undefined;
  private busy = false;
  private closed = false;
  private lost: unknown;
  private readonly comment: string;

  constructor(
    private readonly client: pg.Client,
    private readonly opts: SourceOptions,
    private readonly context: SourceErrorContext,
    private readonly secrets: readonly string[],
    applicationName: string,
  ) {
    this.comment = `/* ${applicationName} */ `;
  }

  onConnectionLost(err: unknown): void {
    this.lost = err;
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

  private async rows(sql: string, params: readonly unknown[] = []): Promise<(string | null)[][]> {
    const result = await this.client.query({ text: this.comment + sql, values: params as unknown[], rowMode: 'array' });
    return result.rows as (string | null)[][];
  }

  private async describe(schema: string, table: string, names: readonly string[]): Promise<PgColumn[]> {
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

  /** The WHERE clause of a range; `placeholder` binds each value. */
  private where(spec: RangeSpec, cursor: PgColumn, key: PgColumn, placeholder: Placeholder): string {
    const c = q(cursor.name);
    const conditions: string[] = [];
    if (spec.from !== undefined) conditions.push(`${c} >= ${placeholder(this.bound(spec.from, cursor, spec), cursor)}`);
    if (spec.to !== undefined) conditions.push(`${c} < ${placeholder(this.bound(spec.to, cursor, spec), cursor)}`);
    if (spec.after !== undefined) {
      conditions.push(
        `(${c}, ${q(key.name)}) > (${placeholder(spec.after.cursor, cursor)}, ${placeholder(spec.after.key, key)})`,
      );
    }
    if (spec.keys !== undefined) {
      checkKeyList(spec.keys, this.ctx(spec.schema, spec.table));
      conditions.push(`${c} IS NOT NULL`);
      conditions.push(`${q(key.name)} IN (${spec.keys.map((k) => placeholder(k, key)).join(', ')})`);
    }
    if (conditions.length === 0) conditions.push(`${c} IS NOT NULL`);
    return conditions.join(' AND ');
  }

  /** A UTC bound as text comparable with the cursor column. */
  private bound(at: Date, cursor: PgColumn, spec: RangeSpec): string {
    const ms = at.getTime();
    if (Number.isNaN(ms)) throw new RangeError('invalid Date in a range bound');
    switch (cursor.kind) {
      case 'timestamptz':
        return at.toISOString();
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
    await this.client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    this.inTransaction = true;
    try {
      const result = await fn();
      await this.client.query('COMMIT');
      return result;
    } catch (err) {
      await this.client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      this.inTransaction = false;
    }
  }

  async *readRange(spec: ReadSpec) {
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
        await this.client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        this.inTransaction = true;
      }
      let committed = false;
      try {
        let after = spec.after;
        for (;;) {
          const values: string[] = [];
          const placeholder: Placeholder = (value, column) => {
            values.push(value);
            return `current_setting('${PARAM_PREFIX}${values.length}')::${column.castType}`;
          };
          const where = this.where({ ...spec, ...(after ? { after } : {}) }, cursor, key, placeholder);
          if (values.length > 0) {
            const sets = values.map((_, i) => `set_config('${PARAM_PREFIX}${i + 1}', $${i + 1}, true)`);
            await this.client.query(`SELECT ${sets.join(', ')}`, values);
          }
          const sql = `COPY (SELECT ${select} FROM ${from} WHERE ${where} ORDER BY ${order} LIMIT ${pageRows}) TO STDOUT`;
          this.opts.logger?.debug('source read', { engine: 'postgres', sql });
          let count = 0;
          let last: (string | null)[] | undefined;
          if (spec.copyText) {
            for await (const text of copyOutText(this.client, this.comment + sql, batchRows)) {
              const batch = copyTextBatch(columns, text);
              count += text.rows;
              last = batch.copyText!.lastRow as (string | null)[];
              yield batch;
            }
          } else {
            for await (const rows of copyOutBatches(this.client, this.comment + sql, batchRows)) {
              count += rows.length;
              last = rows[rows.length - 1];
              yield { columns, rows };
            }
          }
          if (count < pageRows || !last) break;
          const lastCursor = last[cursorIndex];
          const lastKey = last[keyIndex];
          if (lastKey === null || lastKey === undefined) throw nullKeyError(key.name, context);
          after = { cursor: lastCursor ?? '', key: lastKey };
        }
        if (ownTransaction) {
          await this.client.query('COMMIT');
          committed = true;
        }
      } finally {
        if (ownTransaction) {
          this.inTransaction = false;
          if (!committed) await this.client.query('ROLLBACK').catch(() => {});
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
      const [cursor, key, ...moneyColumns] = described as [PgColumn, PgColumn, ...PgColumn[]];
      const values: string[] = [];
      const where = this.where(spec, cursor, key, (value) => {
        values.push(value);
        return `$${values.length}`;
      });
      const sums = moneyColumns.map((c) => `sum(${c.expr})`);
      const sql = `SELECT count(*)${sums.map((s) => `, ${s}`).join('')} FROM ${q(spec.schema)}.${q(spec.table)} WHERE ${where}`;
      this.opts.logger?.debug('source count', { engine: 'postgres', sql });
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
      const sql = `SELECT count(*) FROM ${q(spec.schema)}.${q(spec.table)} WHERE ${q(spec.cursorColumn)} IS NULL`;
      const [row] = await this.rows(sql);
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
      // Partitioned tables: the parent has no rows of its own; sum the leaf partitions.
      // reltuples is -1 (PostgreSQL 14+) when the table was never analyzed: unknown.
      const result = await this.rows(
        `SELECT CASE WHEN c.relkind = 'p'
                     THEN (SELECT sum(l.reltuples) FILTER (WHERE l.reltuples >= 0)
                             FROM pg_catalog.pg_partition_tree(c.oid) p
                             JOIN pg_catalog.pg_class l ON l.oid = p.relid
                            WHERE p.isleaf)
                     ELSE nullif(c.reltuples, -1) END::bigint
           FROM pg_catalog.pg_class c
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')`,
        [schema, table],
      );
      if (result.length === 0) {
        throw new SourceQueryError('table not found, or the connector user cannot see it', { context });
      }
      const row = result[0];
      const value = row?.[0];
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
        PgColumn,
        PgColumn,
      ];
      const values: string[] = [];
      const where = this.where(spec, cursor, key, (value) => {
        values.push(value);
        return `$${values.length}`;
      });
      const c = q(cursor.name);
      const [row] = await this.rows(
        `SELECT min(${c}), max(${c}) FROM ${q(spec.schema)}.${q(spec.table)} WHERE ${where}`,
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
      const [row] = await this.rows(`SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint`);
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
      await this.client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      this.inTransaction = true;
      // The first statement of a REPEATABLE READ transaction takes its snapshot: its start time is
      // the moment of that snapshot (transaction_timestamp() would be BEGIN's, a round trip earlier).
      const [row] = await this.rows('SELECT statement_timestamp()');
      view = snapshotViewOf(row?.[0], this.context);
    } catch (err) {
      if (this.inTransaction) await this.client.query('ROLLBACK').catch(() => {});
      this.inTransaction = false;
      throw toSourceError(err, this.context, this.secrets, 'starting a snapshot');
    } finally {
      this.busy = false;
    }
    this.view = view;
    try {
      const result = await fn(view);
      await this.client.query('COMMIT').catch((err) => {
        throw toSourceError(err, this.context, this.secrets, 'ending a snapshot');
      });
      return result;
    } catch (err) {
      await this.client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      this.inTransaction = false;
      this.view = undefined;
    }
  }

  async query(sql: string, params: readonly (string | number | null)[] = []): Promise<(string | null)[][]> {
    this.enter();
    try {
      this.opts.logger?.debug('source query', { engine: 'postgres', sql });
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
    await this.client.end().catch(() => {});
  }
}
