/**
 * An admin session on a PostgreSQL or MySQL/MariaDB database for the tools around the connector
 * (the synthetic operator, the demo's checks, the tests): the two dialects differ only in
 * quoting, placeholders and driver options, which live here once. Not the connector's reader
 * (that is `lambdas/shared/sources/`).
 *
 * ```ts
 * const db = await openSqlSession('mysql', url, { text: true });
 * const rows = await db.rows(`SELECT * FROM ${db.q('casino')}.${db.q('payments')}`);
 * await db.close();
 * ```
 */
import mysql from 'mysql2/promise';
import pg from 'pg';

export type SqlEngine = 'postgres' | 'mysql';

export interface SqlSessionOptions {
  /**
   * Every value as the database's own text (numbers, decimals, dates and timestamps), the form
   * the connector's readers see; otherwise the drivers' JavaScript values.
   * @default false
   */
  readonly text?: boolean;
  /** PostgreSQL `application_name`. @default - the driver's */
  readonly applicationName?: string;
  /** MySQL connection charset (and collation). @default - the driver's */
  readonly charset?: string;
}

/** An autocommit session. */
export interface SqlSession {
  readonly engine: SqlEngine;
  /** Quotes an identifier (`"x"` or `` `x` ``). */
  q(identifier: string): string;
  /** Positional placeholder `n` (1-based): `$n` or `?`. */
  p(n: number): string;
  /** The rows of a statement as objects (none for a statement without a result set). */
  rows<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** The rows of a query as arrays, in the order of its select list. */
  arrays(sql: string): Promise<unknown[][]>;
  exec(sql: string, params?: readonly unknown[]): Promise<void>;
  /** Inserts rows into a (qualified, quoted) table, `chunkRows` rows per statement. */
  insert(
    table: string,
    columns: readonly string[],
    rows: readonly (readonly unknown[])[],
    chunkRows?: number,
  ): Promise<void>;
  close(): Promise<void>;
}

export async function openSqlSession(
  engine: SqlEngine,
  url: string,
  options: SqlSessionOptions = {},
): Promise<SqlSession> {
  let rows: SqlSession['rows'];
  let arrays: SqlSession['arrays'];
  let close: () => Promise<void>;
  const q = engine === 'postgres' ? (s: string) => `"${s}"` : (s: string) => `\`${s}\``;
  const p = engine === 'postgres' ? (n: number) => `$${n}` : () => '?';
  if (engine === 'postgres') {
    const text = (value: string) => value;
    const client = new pg.Client({
      connectionString: url,
      ...(options.applicationName ? { application_name: options.applicationName } : {}),
      ...(options.text ? { types: { getTypeParser: () => text } as unknown as pg.CustomTypesConfig } : {}),
    });
    await client.connect();
    rows = async <T>(sql: string, params: readonly unknown[] = []) =>
      (await client.query(sql, params as unknown[])).rows as T[];
    arrays = async (sql) => (await client.query({ text: sql, rowMode: 'array' })).rows as unknown[][];
    close = () => client.end();
  } else {
    const conn = await mysql.createConnection({
      uri: url,
      ...(options.charset ? { charset: options.charset } : {}),
      ...(options.text
        ? {
            dateStrings: true,
            supportBigNumbers: true,
            bigNumberStrings: true,
            typeCast: (field: { string(): string | null }) => field.string(),
          }
        : {}),
    });
    rows = async <T>(sql: string, params: readonly unknown[] = []) => {
      const [result] = await conn.query(sql, params as unknown[]);
      return Array.isArray(result) ? (result as T[]) : [];
    };
    arrays = async (sql) => (await conn.query({ sql, rowsAsArray: true }))[0] as unknown[][];
    close = () => conn.end();
  }
  return {
    engine,
    q,
    p,
    rows,
    arrays,
    exec: async (sql, params) => {
      await rows(sql, params);
    },
    async insert(table, columns, values, chunkRows = 500) {
      for (let i = 0; i < values.length; i += chunkRows) {
        const chunk = values.slice(i, i + chunkRows);
        let n = 0;
        const tuples = chunk.map((row) => `(${row.map(() => p(++n)).join(', ')})`).join(', ');
        await rows(`INSERT INTO ${table} (${columns.map(q).join(', ')}) VALUES ${tuples}`, chunk.flat());
      }
    },
    close,
  };
}
