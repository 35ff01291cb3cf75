/**
 * A local engine for the SQL the connector sends to Athena: DuckDB (which runs standard
 * `MERGE INTO`) over the operator's tables as the synthesized Glue catalog defines them.
 *
 * - A serving (Iceberg) table is a DuckDB table of the same name, schema and column types, kept in
 *   a DuckDB database file, so its state survives from one run to the next as an Iceberg table's
 *   does. Iceberg's snapshots, partition layout and file maintenance have no local counterpart: the
 *   rows are what they emulate.
 * - A landed (symlink) table is a view over exactly the Parquet parts its committed lists name, as
 *   Athena reads them, refreshed before every statement that reads it, with the run_id and
 *   window_id partition columns and Athena's hidden `"$path"` column (the part's `s3://` URI; here it
 *   is an ordinary column, so `SELECT *` shows it). Downloaded parts are cached by key and
 *   refreshed when their ETag changes (a part rewritten by an erasure is read again).
 *
 * Statements are run as they are written for Athena: what runs here is what the state machine sends.
 * (Tests also parse each statement with a Trino grammar, because DuckDB accepts more than Athena.)
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import type { QueryEngine, QueryOutcome } from '#shared/adapters/athena';
import { PATH_COLUMN } from '#shared/serving/sql';
import { type CatalogTable, type TableFile, tableFiles } from './lake.ts';

export type { QueryOutcome };

export interface LocalAthenaOptions {
  /** The operator's Glue tables, resolved (`catalogTables(template, resolve)`). */
  readonly tables: readonly CatalogTable[];
  /** The S3 client of the local engine (s3rver) holding the landing bucket. */
  readonly s3: S3Client;
  /** DuckDB database file of the serving tables; `:memory:` keeps them in memory. */
  readonly databasePath: string;
  /** Where landed Parquet parts are downloaded to be read. */
  readonly cacheDir: string;
}

/** A statement failed; the message is DuckDB's. */
export class LocalQueryError extends Error {
  override readonly name = 'LocalQueryError';
}

/** DuckDB's type for a Glue or Iceberg column type. */
export function duckType(type: string): string {
  const t = type.trim().toLowerCase();
  const decimal = /^decimal\((\d+),\s*(\d+)\)$/.exec(t);
  if (decimal) return `DECIMAL(${decimal[1]},${decimal[2]})`;
  switch (t) {
    case 'string':
    case 'varchar':
      return 'VARCHAR';
    case 'int':
    case 'integer':
      return 'INTEGER';
    case 'bigint':
    case 'long':
      return 'BIGINT';
    case 'boolean':
      return 'BOOLEAN';
    case 'timestamp':
      return 'TIMESTAMP';
    case 'date':
      return 'DATE';
    case 'double':
      return 'DOUBLE';
    default:
      throw new Error(`no DuckDB type for column type ${type}`);
  }
}

const q = (name: string) => `"${name.replaceAll('"', '""')}"`;
const lit = (value: string) => `'${value.replaceAll("'", "''")}'`;

/** The `"database"."table"` references of a statement. */
export function referencedTables(sql: string): { database: string; table: string }[] {
  const out = new Map<string, { database: string; table: string }>();
  for (const m of sql.matchAll(/"((?:[^"]|"")+)"\s*\.\s*"((?:[^"]|"")+)"/g)) {
    const database = m[1]!.replaceAll('""', '"');
    const table = m[2]!.replaceAll('""', '"');
    out.set(`${database}.${table}`, { database, table });
  }
  return [...out.values()];
}

/**
 * Trino functions the connector's SQL uses that DuckDB lacks or spells differently, as DuckDB
 * macros with Trino's meaning: `to_utf8` (varchar → varbinary), `from_base` (base 16 only: the key
 * audit's digests), and Trino's `md5` (varbinary → varbinary digest; DuckDB's returns hex text), which
 * {@link toDuckSql} renames to `trino_md5`.
 */
const TRINO_FUNCTIONS = [
  'CREATE OR REPLACE MACRO to_utf8(s) AS encode(s)',
  `CREATE OR REPLACE MACRO from_base(s, radix) AS CASE WHEN radix = 16 THEN CAST('0x' || s AS BIGINT) ELSE error('from_base: the local engine reads base 16 only') END`,
  'CREATE OR REPLACE MACRO trino_md5(b) AS unhex(md5(b))',
];

/** A Trino statement as DuckDB runs it: Trino's `md5(` is {@link TRINO_FUNCTIONS}' `trino_md5(`. */
export function toDuckSql(sql: string): string {
  return sql.replace(/\bmd5\(/gi, 'trino_md5(');
}

export class LocalAthena implements QueryEngine {
  private readonly byName = new Map<string, CatalogTable>();
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly options: LocalAthenaOptions,
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
  ) {
    for (const t of options.tables) this.byName.set(`${t.database}.${t.name}`, t);
  }

  /** Opens (or creates) the local serving database. */
  static async open(options: LocalAthenaOptions): Promise<LocalAthena> {
    if (options.databasePath !== ':memory:') await mkdir(dirname(options.databasePath), { recursive: true });
    const instance = await DuckDBInstance.create(options.databasePath);
    const connection = await instance.connect();
    await connection.run(`SET TimeZone = 'UTC'`);
    for (const macro of TRINO_FUNCTIONS) await connection.run(macro);
    return new LocalAthena(options, instance, connection);
  }

  /** The serving (Iceberg) table of a stream. */
  servingTable(stream: string): CatalogTable {
    const table = this.options.tables.find((t) => t.format === 'iceberg' && t.name === stream);
    if (!table) throw new LocalQueryError(`the stack defines no serving table for stream ${stream}`);
    return table;
  }

  /** The catalog table `database.table`, if the operator's stack defines it. */
  table(database: string, name: string): CatalogTable | undefined {
    return this.byName.get(`${database}.${name}`);
  }

  /** Runs one statement, as Athena would run it in the given database. Statements run one at a time. */
  execute(sql: string): Promise<QueryOutcome> {
    const run = this.queue.then(() => this.run(sql));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Every row of a serving table, ordered by the given columns (for tests and the demo). */
  async rows(database: string, name: string, orderBy: readonly string[] = []): Promise<Record<string, unknown>[]> {
    const order = orderBy.length > 0 ? ` ORDER BY ${orderBy.map(q).join(', ')}` : '';
    return (await this.execute(`SELECT * FROM ${q(database)}.${q(name)}${order}`)).rows;
  }

  /** Writes a serving table as one Parquet file (zstd) at `path`; returns its rows. */
  async exportTable(database: string, name: string, path: string): Promise<number> {
    const count = await this.execute(`SELECT count(*) AS n FROM ${q(database)}.${q(name)}`);
    await this.execute(
      `COPY (SELECT * FROM ${q(database)}.${q(name)}) TO ${lit(path)} (FORMAT PARQUET, COMPRESSION ZSTD)`,
    );
    return Number(count.rows[0]?.n ?? 0);
  }

  /** Drops the cached copies of these objects (after they were rewritten or deleted). */
  async forget(objects: readonly { readonly bucket: string; readonly key: string }[]): Promise<void> {
    for (const o of objects) {
      const path = this.cachePath(o.bucket, o.key);
      await rm(path, { force: true });
      await rm(`${path}.etag`, { force: true });
    }
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }

  private async run(sql: string): Promise<QueryOutcome> {
    let scannedBytes = 0;
    for (const ref of referencedTables(sql)) {
      const table = this.table(ref.database, ref.table);
      if (!table) throw new LocalQueryError(`TABLE_NOT_FOUND: table ${ref.database}.${ref.table} does not exist`);
      await this.connection.run(`CREATE SCHEMA IF NOT EXISTS ${q(table.database)}`);
      if (table.format === 'iceberg') await this.ensureServingTable(table);
      else scannedBytes += await this.refreshLandedView(table);
    }
    try {
      const reader = await this.connection.runAndReadAll(toDuckSql(sql));
      const rows = reader.getRowObjectsJson() as Record<string, unknown>[];
      const isDml = /^\s*(MERGE|INSERT|UPDATE|DELETE)\b/i.test(sql);
      const count = isDml ? Number(rows[0]?.Count ?? rows[0]?.count ?? 0) : undefined;
      return { rows: isDml ? [] : rows, ...(count !== undefined ? { updatedRows: count } : {}), scannedBytes };
    } catch (error) {
      throw new LocalQueryError((error as Error).message, { cause: error });
    }
  }

  private async ensureServingTable(table: CatalogTable): Promise<void> {
    const columns = table.columns.map((c) => `${q(c.name)} ${duckType(c.type)}`).join(', ');
    await this.connection.run(`CREATE TABLE IF NOT EXISTS ${q(table.database)}.${q(table.name)} (${columns})`);
  }

  private cachePath(bucket: string, key: string): string {
    return join(this.options.cacheDir, bucket, key);
  }

  /** The ETag of every object under the prefixes (`raw/<stream>/`) the files live in. */
  private async etags(files: readonly TableFile[]): Promise<Map<string, string>> {
    const prefixes = new Set(files.map((f) => `${f.bucket}\u0000${f.key.split('/').slice(0, 2).join('/')}/`));
    const out = new Map<string, string>();
    for (const entry of prefixes) {
      const [bucket, prefix] = entry.split('\u0000') as [string, string];
      let token: string | undefined;
      do {
        const page = await this.options.s3.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) if (o.Key) out.set(`${bucket}/${o.Key}`, o.ETag ?? '');
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    }
    return out;
  }

  /** A local copy of the object, downloaded again when its ETag changed; returns its path and size. */
  private async cached(file: TableFile, etag: string | undefined): Promise<{ path: string; bytes: number }> {
    const path = this.cachePath(file.bucket, file.key);
    const known = await readFile(`${path}.etag`, 'utf8').catch(() => undefined);
    if (etag !== undefined && known === etag) {
      const body = await readFile(path).catch(() => undefined);
      if (body) return { path, bytes: body.length };
    }
    const out = await this.options.s3.send(new GetObjectCommand({ Bucket: file.bucket, Key: file.key }));
    const body = await out.Body!.transformToByteArray();
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, body);
    await writeFile(`${path}.etag`, out.ETag ?? etag ?? '');
    return { path, bytes: body.length };
  }

  /** Re-creates the view of a landed table over its committed parts; returns their bytes. */
  private async refreshLandedView(table: CatalogTable): Promise<number> {
    const files = await tableFiles(this.options.s3, table);
    const etags = files.length > 0 ? await this.etags(files) : new Map<string, string>();
    const paths: string[] = [];
    let bytes = 0;
    for (const f of files) {
      const local = await this.cached(f, etags.get(`${f.bucket}/${f.key}`));
      bytes += local.bytes;
      paths.push(local.path);
    }
    const name = `${q(table.database)}.${q(table.name)}`;
    const partitionTable = `${q(table.database)}.${q(`${table.name}__files`)}`;
    const cast = (c: { name: string; type: string }, from: string) =>
      `CAST(${from}.${q(c.name)} AS ${duckType(c.type)}) AS ${q(c.name)}`;
    const partitionColumns = table.partitionKeys.map((k) => `p.${q(k)}`);
    await this.connection.run(
      `CREATE OR REPLACE TABLE ${partitionTable} (path VARCHAR, uri VARCHAR${table.partitionKeys.map((k) => `, ${q(k)} VARCHAR`).join('')})`,
    );
    for (let i = 0; i < files.length; i += 500) {
      const values = files.slice(i, i + 500).map((f, j) => {
        const parts = table.partitionKeys.map((k) => `, ${lit(f.partition[k] ?? '')}`).join('');
        return `(${lit(paths[i + j]!)}, ${lit(`s3://${f.bucket}/${f.key}`)}${parts})`;
      });
      await this.connection.run(`INSERT INTO ${partitionTable} VALUES ${values.join(', ')}`);
    }
    const body =
      paths.length > 0
        ? `SELECT ${[...table.columns.map((c) => cast(c, 'd')), ...partitionColumns, `p.uri AS ${q(PATH_COLUMN)}`].join(', ')} ` +
          `FROM read_parquet([${paths.map(lit).join(', ')}], filename = true, union_by_name = true) AS d ` +
          `JOIN ${partitionTable} AS p ON p.path = d.filename`
        : `SELECT ${[
            ...table.columns.map((c) => `CAST(NULL AS ${duckType(c.type)}) AS ${q(c.name)}`),
            ...table.partitionKeys.map((k) => `CAST(NULL AS VARCHAR) AS ${q(k)}`),
            `CAST(NULL AS VARCHAR) AS ${q(PATH_COLUMN)}`,
          ].join(', ')} WHERE false`;
    await this.connection.run(`CREATE OR REPLACE VIEW ${name} AS ${body}`);
    return bytes;
  }
}
