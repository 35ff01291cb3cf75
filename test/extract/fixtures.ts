/**
 * Shared fixtures of the extraction integration tests: the local AWS engines (s3rver, dynalite),
 * the environment the handlers read at module load, a text reading of the source rows, the landed
 * Parquet read back with DuckDB, and the documented mapping applied to source rows to get the
 * expected landed rows.
 *
 * Expectations are computed here independently of the connector's own code: times with `Intl`,
 * decimals with BigInt, pseudonyms with `node:crypto`.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import type { StreamName } from '#shared/canonical';
import { type CommittedWindow, readCommittedWindow, type WindowManifest } from '#shared/landing/window';
import { rawWindowPrefix } from '#shared/layout';
import { formatUnscaled, unscaledOf } from '#shared/parquet/decimal-text';
import { S3Sink } from '#shared/sink/s3';
import { openSqlSession } from '../../local/sql-session.ts';
import { type Engine, MYSQL_URL, PG_URL, uniqueName } from '../helpers/databases.ts';
import { type DuckDbHandle, parquetSource } from '../helpers/duckdb.ts';
import { type DynaliteHandle, startDynalite } from '../helpers/dynalite.ts';
import { type S3rverHandle, startS3rver } from '../helpers/s3rver.ts';

/** The operators' zone in these tests. */
export const MALTA = 'Europe/Malta';
/** Any ARN does locally: s3rver ignores the SSE-KMS headers, the local key service binds it into wrapped keys. */
export const KMS_KEY_ARN = 'arn:aws:kms:eu-west-1:111111111111:key/5d1c2f0e-3b7a-4c39-9d8e-0a1b2c3d4e5f';

export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

// ---------------------------------------------------------------------------------------------
// Time: the connector's documented policy for naive wall-clock times, computed with Intl.

const formats = new Map<string, Intl.DateTimeFormat>();

function offsetAt(utcMs: number, zone: string): number {
  let format = formats.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formats.set(zone, format);
  }
  const seconds = Math.floor(utcMs / 1000) * 1000;
  const p = Object.fromEntries(format.formatToParts(new Date(seconds)).map((x) => [x.type, Number(x.value)]));
  const wall = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!);
  return wall - seconds;
}

const WALL = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?$/;

/**
 * The UTC instant of a naive wall-clock text in `zone`, truncated to milliseconds, following the
 * connector's documented policy: an ambiguous time (repeated hour) is the earlier instant; a
 * nonexistent time (skipped hour) is the instant of the change, the first with the new offset.
 */
export function wallToUtcMs(text: string, zone = MALTA): number {
  const m = WALL.exec(text);
  if (!m) throw new Error(`not a wall-clock timestamp: ${text}`);
  const ms = Number(`${m[7] ?? ''}000`.slice(0, 3));
  const wall = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) + ms;
  const before = offsetAt(wall - DAY, zone);
  const after = offsetAt(wall + DAY, zone);
  const candidates = [...new Set([before, after])].sort((a, b) => b - a).map((offset) => wall - offset);
  const valid = candidates.find((t) => offsetAt(t, zone) + t === wall);
  if (valid !== undefined) return valid;
  // Skipped: the clocks jumped from `before` to `after` at a whole second in (wall - after, wall - before].
  let jump = Math.floor((wall - before) / 1000) * 1000;
  while (offsetAt(jump - MINUTE, zone) === after) jump -= MINUTE;
  while (offsetAt(jump - 1000, zone) === after) jump -= 1000;
  return jump;
}

/**
 * The UTC instant of a naive wall-clock text in `zone` in microseconds (`_cursor_us`), following
 * the same policy as {@link wallToUtcMs}: fractions beyond microseconds are dropped, and every
 * skipped wall time (sub-millisecond digits included) is the instant of the change.
 */
export function wallToUtcMicros(text: string, zone = MALTA): bigint {
  const m = WALL.exec(text);
  if (!m) throw new Error(`not a wall-clock timestamp: ${text}`);
  const fraction = `${m[7] ?? ''}000000`;
  const wall =
    Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) +
    Number(fraction.slice(0, 3));
  const ms = wallToUtcMs(text, zone);
  const skipped = ms + offsetAt(ms, zone) !== wall;
  return BigInt(ms) * 1000n + (skipped ? 0n : BigInt(Number(fraction.slice(3, 6))));
}

/** The naive wall-clock text (`YYYY-MM-DD HH:MM:SS.mmm`) of an instant in `zone`. */
export function wallText(utcMs: number, zone = MALTA): string {
  const iso = new Date(utcMs + offsetAt(utcMs, zone)).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
}

// ---------------------------------------------------------------------------------------------
// The source database, read as text.

/** A source row: column name → the database's text of the value. */
export type SourceRow = Record<string, string | null>;

/** An admin session on a test database (autocommit) returning every value as text. */
export interface SourceDb {
  readonly engine: Engine;
  /** PostgreSQL schema or MySQL database of the tables. */
  readonly schema: string;
  /** `"schema"."table"` or `` `schema`.`table` `` */
  table(name: string): string;
  /** Quotes an identifier. */
  q(identifier: string): string;
  /** Positional placeholder `n` (1-based). */
  p(n: number): string;
  rows(sql: string, params?: readonly unknown[]): Promise<SourceRow[]>;
  exec(sql: string, params?: readonly unknown[]): Promise<void>;
  insert(
    table: string,
    columns: readonly string[],
    rows: readonly (readonly (string | number | null)[])[],
  ): Promise<void>;
  /** Every row of a table whose cursor (a naive wall-clock column) lies in [from, to) as UTC. */
  rowsInRange(table: string, cursor: string, from: Date, to: Date): Promise<SourceRow[]>;
  close(): Promise<void>;
}

/** Opens an admin session on the engine's test database; `schema` names the tables' schema (or MySQL database). */
export async function openSourceDb(engine: Engine, schema: string): Promise<SourceDb> {
  const session = await openSqlSession(engine, engine === 'postgres' ? PG_URL : MYSQL_URL, {
    text: true,
    ...(engine === 'mysql' ? { charset: 'UTF8MB4_BIN' } : {}),
  });
  const { q, p } = session;
  const rows = (sql: string, params?: readonly unknown[]) => session.rows<SourceRow>(sql, params);
  const db: SourceDb = {
    engine,
    schema,
    q,
    p,
    table: (name) => `${q(schema)}.${q(name)}`,
    rows,
    exec: (sql, params) => session.exec(sql, params),
    insert: (table, columns, values) => session.insert(db.table(table), columns, values),
    async rowsInRange(table, cursor, from, to) {
      const all = await rows(`SELECT * FROM ${db.table(table)}`);
      return all.filter((row) => {
        const value = row[cursor];
        if (value === null || value === undefined) return false;
        const at = wallToUtcMs(value);
        return at >= from.getTime() && at < to.getTime();
      });
    },
    close: () => session.close(),
  };
  return db;
}

/**
 * A uniquely named PostgreSQL schema or MySQL database (utf8mb4, by default with the binary
 * collation), dropped by `drop`.
 */
export async function createScratchSchema(
  engine: Engine,
  prefix: string,
  options: { readonly mysqlCollation?: string } = {},
): Promise<SourceDb & { drop(): Promise<void> }> {
  const schema = uniqueName(prefix);
  const db = await openSourceDb(engine, schema);
  if (engine === 'postgres') await db.exec(`CREATE SCHEMA "${schema}"`);
  else
    await db.exec(
      `CREATE DATABASE \`${schema}\` CHARACTER SET utf8mb4 COLLATE ${options.mysqlCollation ?? 'utf8mb4_bin'}`,
    );
  return {
    ...db,
    async drop() {
      try {
        await db.exec(
          engine === 'postgres' ? `DROP SCHEMA IF EXISTS "${schema}" CASCADE` : `DROP DATABASE IF EXISTS \`${schema}\``,
        );
      } finally {
        await db.close();
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Local AWS and the handlers' environment.

export interface LocalAws {
  readonly s3: S3rverHandle;
  readonly dynamo: DynaliteHandle;
  readonly bucket: string;
  readonly table: string;
  /** A temp directory for config, key file and downloaded parts (removed by `stop`). */
  readonly dir: string;
  stop(): Promise<void>;
}

/** Starts s3rver and dynalite with a landing bucket and a sync-state table. */
export async function startLocalAws(): Promise<LocalAws> {
  const [s3, dynamo, dir] = await Promise.all([startS3rver(), startDynalite(), mkdtemp(join(tmpdir(), 'extract-'))]);
  const [bucket, table] = await Promise.all([s3.createBucket(), dynamo.createSyncStateTable()]);
  return {
    s3,
    dynamo,
    bucket,
    table,
    dir,
    async stop() {
      await Promise.allSettled([s3.stop(), dynamo.stop()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface HandlerEnvOptions {
  readonly aws: LocalAws;
  /** Operator config object (validated again by the runtime). */
  readonly config: Record<string, unknown>;
  /** `postgres://…` or `mysql://…` the local secret source answers with. */
  readonly sourceUrl: string;
  /** Milliseconds kept back from the Lambda budget. */
  readonly reserveMs: number;
}

/**
 * Sets the environment the handler modules read at module load (import them afterwards). Returns
 * the path of the local master key file.
 */
export async function setHandlerEnv(options: HandlerEnvOptions): Promise<{ keyFile: string }> {
  const { aws, config } = options;
  const configPath = join(aws.dir, 'operator-config.json');
  const keyFile = join(aws.dir, 'local-kms.key');
  await writeFile(configPath, JSON.stringify(config));
  Object.assign(process.env, {
    CONNECTOR_OPERATOR_ID: String(config.operatorId),
    CONNECTOR_STAGE: String(config.stage),
    CONNECTOR_BUCKET: aws.bucket,
    CONNECTOR_KMS_KEY_ARN: KMS_KEY_ARN,
    CONNECTOR_STATE_TABLE: aws.table,
    CONNECTOR_SECRET_ID: 'operator/source-credentials',
    CONNECTOR_CONFIG_PATH: configPath,
    CONNECTOR_ADAPTERS: 'local',
    CONNECTOR_LOCAL_KMS_KEY_FILE: keyFile,
    CONNECTOR_SOURCE_URL: options.sourceUrl,
    CONNECTOR_TIME_RESERVE_MS: String(options.reserveMs),
    AWS_ENDPOINT_URL_S3: aws.s3.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: aws.dynamo.endpoint,
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_TRACE_ENABLED: 'false',
  });
  return { keyFile };
}

/** A Lambda context whose remaining time the test controls. */
export function lambdaContext(remainingMs: () => number): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'connector-test',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:111111111111:function:connector-test',
    memoryLimitInMB: '1024',
    awsRequestId: randomBytes(8).toString('hex'),
    logGroupName: '/aws/lambda/connector-test',
    logStreamName: 'test',
    getRemainingTimeInMillis: remainingMs,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/** An EMF document Powertools Metrics prints: the metric directive and the values beside it. */
export type Emf = {
  readonly _aws: {
    readonly CloudWatchMetrics: readonly {
      readonly Namespace: string;
      readonly Dimensions: readonly (readonly string[])[];
      readonly Metrics: readonly { readonly Name: string; readonly Unit: string }[];
    }[];
  };
} & Readonly<Record<string, unknown>>;

/** The EMF documents among lines written to stdout. */
export function emfDocuments(writes: readonly string[]): Emf[] {
  return writes
    .flatMap((w) => w.split('\n'))
    .filter((line) => line.startsWith('{') && line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as Emf);
}

// ---------------------------------------------------------------------------------------------
// Landed data, read back with DuckDB.

/** A landed row: timestamps as epoch milliseconds, DECIMAL and DATE as text, INTEGER as number. */
export type LandedRow = Record<string, string | number | null>;

export interface Landed {
  readonly manifests: readonly WindowManifest[];
  readonly rows: LandedRow[];
  /** Column → DuckDB type, as DuckDB reads the Parquet schema (empty when nothing landed). */
  readonly types: Readonly<Record<string, string>>;
}

/** The committed manifest under `key`, or undefined. */
export async function getManifest(aws: LocalAws, key: string): Promise<WindowManifest | undefined> {
  try {
    const out = await aws.s3.client.send(new GetObjectCommand({ Bucket: aws.bucket, Key: key }));
    return JSON.parse(await out.Body!.transformToString()) as WindowManifest;
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
    throw error;
  }
}

/** Options of {@link readLanded}. */
export interface ReadLandedOptions {
  /**
   * Keep only the current version of each value of this key column, by the documented version
   * order: greatest `_cursor_us`, then greatest `_source_seq`.
   */
  readonly currentBy?: string;
}

/** Reads the parts of the given manifests back with DuckDB. */
export async function readLanded(
  aws: LocalAws,
  duck: DuckDbHandle,
  manifestKeys: readonly string[],
  options: ReadLandedOptions = {},
): Promise<Landed> {
  const manifests: WindowManifest[] = [];
  for (const key of manifestKeys) {
    const manifest = await getManifest(aws, key);
    if (!manifest) throw new Error(`no manifest at ${key}`);
    manifests.push(manifest);
  }
  const keys = manifests.flatMap((m) => m.parts.map((p) => p.key));
  if (keys.length === 0) return { manifests, rows: [], types: {} };
  const dir = await mkdtemp(join(aws.dir, 'parts-'));
  try {
    const paths = await aws.s3.download(aws.bucket, keys, dir);
    const source = parquetSource(paths, 'hive_partitioning = false');
    const described = await duck.query(`DESCRIBE SELECT * FROM ${source}`);
    const types = Object.fromEntries(described.map((d) => [String(d.column_name), String(d.column_type)]));
    const select = Object.entries(types).map(([name, type]) => {
      const c = `"${name}"`;
      if (type.startsWith('TIMESTAMP')) return `epoch_ms(${c}) AS ${c}`;
      if (type.startsWith('DECIMAL') || type === 'DATE' || type === 'BOOLEAN') return `CAST(${c} AS VARCHAR) AS ${c}`;
      return c;
    });
    const current = options.currentBy
      ? ` QUALIFY row_number() OVER (PARTITION BY "${options.currentBy}" ORDER BY _cursor_us DESC, _source_seq DESC) = 1`
      : '';
    const rows = await duck.query(`SELECT ${select.join(', ')} FROM ${source}${current}`);
    const landed = rows.map((row) =>
      Object.fromEntries(
        Object.entries(row).map(([name, value]) => [
          name,
          value === null ? null : types[name]?.startsWith('TIMESTAMP') ? Number(value) : (value as string | number),
        ]),
      ),
    );
    return { manifests, rows: landed, types };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Every Parquet part key of one window (run, window id) of a stream in the bucket, of any attempt, sorted. */
export async function windowPartKeys(
  aws: LocalAws,
  stream: StreamName,
  runId: string,
  windowId: string,
): Promise<string[]> {
  return (await aws.s3.listKeys(aws.bucket, rawWindowPrefix(stream, runId, windowId))).filter((k) =>
    k.endsWith('.parquet'),
  );
}

/** The committed attempt at a window (its symlink list and manifest), or undefined when it did not commit. */
export function committedWindow(
  aws: LocalAws,
  stream: StreamName,
  runId: string,
  windowId: string,
): Promise<CommittedWindow | undefined> {
  return readCommittedWindow(new S3Sink({ client: aws.s3.client, bucket: aws.bucket }), stream, runId, windowId);
}

// ---------------------------------------------------------------------------------------------
// Expected landed rows: the documented mapping applied to source rows.

/** Computes one landed value from a source row. */
export type Expectation = (row: SourceRow) => string | number | null;

/** Expected landed columns of a stream (all but `_extracted_at` and `_source_seq`). */
export type StreamExpectation = Readonly<Record<string, Expectation>>;

const value = (row: SourceRow, column: string): string | null => {
  if (!(column in row)) throw new Error(`source row has no column ${column}`);
  return row[column] ?? null;
};

/** The pseudonym of a value: lower-case hex HMAC-SHA256 under the operator's key. */
export function pseudonym(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text, 'utf8').digest('hex');
}

export const col = {
  text:
    (column: string): Expectation =>
    (row) =>
      value(row, column),
  int:
    (column: string): Expectation =>
    (row) => {
      const v = value(row, column);
      return v === null ? null : Number(v);
    },
  money:
    (column: string, scale: number): Expectation =>
    (row) => {
      const v = value(row, column);
      return v === null ? null : formatUnscaled(unscaledOf(v, scale), scale);
    },
  time:
    (column: string): Expectation =>
    (row) => {
      const v = value(row, column);
      return v === null ? null : wallToUtcMs(v);
    },
  /** A naive wall-clock time as microseconds since the epoch, in DuckDB's text of a BIGINT. */
  micros:
    (column: string): Expectation =>
    (row) => {
      const v = value(row, column);
      return v === null ? null : String(wallToUtcMicros(v));
    },
  date:
    (column: string): Expectation =>
    (row) =>
      value(row, column),
  pseudonym:
    (key: Buffer, column: string, normalize: (s: string) => string = (s) => s): Expectation =>
    (row) => {
      const v = value(row, column);
      return v === null ? null : pseudonym(key, normalize(v));
    },
  /** Operator value → canonical value; a value without mapping is `unmapped`. */
  enumeration:
    (column: string, values: Readonly<Record<string, string>>): Expectation =>
    (row) => {
      const v = value(row, column);
      return v === null ? null : (values[v] ?? 'unmapped');
    },
  constant:
    (c: string | number | null): Expectation =>
    () =>
      c,
};

/** The `values` map of an enumeration mapping in a config object. */
export function valuesOf(config: Record<string, unknown>, stream: string, field: string): Record<string, string> {
  const streams = config.streams as Record<string, { columns: Record<string, unknown> }>;
  const mapping = streams[stream]?.columns[field] as { values?: Record<string, string> } | undefined;
  if (!mapping?.values) throw new Error(`streams.${stream}.columns.${field} has no values`);
  return mapping.values;
}

/**
 * The expected landed columns of payments, game_rounds and players of the synthetic operator
 * (the acme-casino mapping), for rows landed by `runId`.
 */
export function syntheticExpectation(
  config: Record<string, unknown>,
  stream: 'payments' | 'game_rounds' | 'players',
  key: Buffer,
  runId: string,
): StreamExpectation {
  const e = col;
  const meta = (cursor: string) => ({
    _cursor: e.time(cursor),
    _cursor_us: e.micros(cursor),
    _run_id: e.constant(runId),
    _deleted: e.constant('false'),
  });
  switch (stream) {
    case 'payments':
      return {
        payment_id: e.text('txn_id'),
        player_id: e.pseudonym(key, 'customer_id'),
        direction: e.enumeration('txn_type', valuesOf(config, stream, 'direction')),
        direction_source: e.text('txn_type'),
        method: e.text('payment_method'),
        amount: e.money('amount', 2),
        currency: e.text('currency_code'),
        status: e.enumeration('txn_status', valuesOf(config, stream, 'status')),
        status_source: e.text('txn_status'),
        created_at: e.time('requested_ts'),
        updated_at: e.time('modified_ts'),
        ...meta('modified_ts'),
      };
    case 'game_rounds':
      return {
        round_id: e.text('round_id'),
        player_id: e.pseudonym(key, 'customer_id'),
        game_id: e.text('game_code'),
        provider: e.text('studio'),
        stake: e.money('bet_amount', 2),
        payout: e.money('win_amount', 2),
        bonus_stake: e.money('bonus_bet_amount', 2),
        currency: e.text('currency_code'),
        status: e.enumeration('round_state', valuesOf(config, stream, 'status')),
        status_source: e.text('round_state'),
        started_at: e.time('started_ts'),
        settled_at: e.time('settled_ts'),
        updated_at: e.time('modified_ts'),
        ...meta('modified_ts'),
      };
    case 'players':
      return {
        player_id: e.pseudonym(key, 'customer_id'),
        registered_at: e.time('signup_ts'),
        updated_at: e.time('modified_ts'),
        country: e.text('country_code'),
        currency: e.text('currency_code'),
        status: e.enumeration('account_state', valuesOf(config, stream, 'status')),
        status_source: e.text('account_state'),
        kyc_status: e.enumeration('kyc_state', valuesOf(config, stream, 'kyc_status')),
        kyc_status_source: e.text('kyc_state'),
        vip_level: e.int('vip_tier'),
        email: e.pseudonym(key, 'email_address', (s) => s.trim().toLowerCase()),
        affiliate_id: e.constant(null),
        ...meta('modified_ts'),
      };
  }
}

/** Applies an expectation to source rows. */
export function expectedRows(expectation: StreamExpectation, rows: readonly SourceRow[]): LandedRow[] {
  return rows.map((row) => Object.fromEntries(Object.entries(expectation).map(([name, fn]) => [name, fn(row)])));
}

/**
 * Rows sorted by key column then `_cursor`, without `_extracted_at` and `_source_seq` (times of the
 * read, checked separately), for comparison.
 */
export function comparable(rows: readonly LandedRow[], key: string): LandedRow[] {
  return rows
    .map(({ _extracted_at: _, _source_seq: __, ...rest }) => rest)
    .sort((a, b) => {
      const ka = String(a[key]);
      const kb = String(b[key]);
      if (ka !== kb) return ka < kb ? -1 : 1;
      return Number(a._cursor) - Number(b._cursor);
    });
}

/** Whether `a` is a later version than `b` by the documented order: `_cursor_us`, then `_source_seq`. */
function isLaterVersion(a: LandedRow, b: LandedRow): boolean {
  const ca = BigInt(String(a._cursor_us));
  const cb = BigInt(String(b._cursor_us));
  return ca !== cb ? ca > cb : BigInt(String(a._source_seq)) > BigInt(String(b._source_seq));
}

/** The current version of every key by the documented version order (greatest `_cursor_us`, then `_source_seq`). */
export function latestPerKey(rows: readonly LandedRow[], key: string): LandedRow[] {
  const latest = new Map<string, LandedRow>();
  for (const row of rows) {
    const k = String(row[key]);
    const seen = latest.get(k);
    if (!seen || isLaterVersion(row, seen)) latest.set(k, row);
  }
  return [...latest.values()];
}

/** Exact sum of a landed money column, at `scale`. */
export function sumOf(rows: readonly LandedRow[], column: string, scale: number): string {
  let sum = 0n;
  for (const row of rows) {
    const v = row[column];
    if (v !== null && v !== undefined) sum += unscaledOf(String(v), scale);
  }
  return formatUnscaled(sum, scale);
}
