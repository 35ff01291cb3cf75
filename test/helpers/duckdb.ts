/**
 * An independent Parquet reader for tests: DuckDB in memory (`@duckdb/node-api`).
 *
 * ```ts
 * const duck = await openDuckDb();
 * const rows = await duck.query(`SELECT count(*) AS n FROM ${parquetSource(paths)}`);
 * duck.close();
 * ```
 *
 * Values come back in DuckDB's JSON form: BIGINT and DECIMAL as strings (exact), TIMESTAMP as text,
 * so tests compare them as strings.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type Json } from '@duckdb/node-api';

export type Row = Record<string, Json>;

export interface DuckDbHandle {
  /** Runs a statement and returns its rows as JSON-friendly objects. */
  query(sql: string): Promise<Row[]>;
  close(): void;
}

/** Opens an in-memory DuckDB (time zone UTC). */
export async function openDuckDb(): Promise<DuckDbHandle> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  await connection.run(`SET TimeZone = 'UTC'`);
  return {
    async query(sql) {
      const reader = await connection.runAndReadAll(sql);
      return reader.getRowObjectsJson();
    },
    close() {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

/** A `read_parquet([...])` table expression over the files. */
export function parquetSource(paths: readonly string[], options = ''): string {
  const list = paths.map((p) => `'${p.replaceAll("'", "''")}'`).join(', ');
  return `read_parquet([${list}]${options ? `, ${options}` : ''})`;
}

/** Writes Parquet bytes to a temp file and returns its path (for `read_parquet`). */
export async function parquetFile(bytes: Uint8Array): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'parquet-'));
  const path = join(dir, 'data.parquet');
  await writeFile(path, bytes);
  return path;
}
