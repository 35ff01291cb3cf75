/**
 * Test access to the real local PostgreSQL and MySQL/MariaDB engines.
 *
 * URLs come from `CONNECTOR_TEST_PG_URL` (default postgres://postgres@127.0.0.1:5432/test) and
 * `CONNECTOR_TEST_MYSQL_URL` (default mysql://root@127.0.0.1:3306/test). Each test file creates
 * its own uniquely named scratch schema (PostgreSQL) or database (MySQL) and drops it afterwards,
 * so files can run in parallel.
 *
 * When an engine is unreachable, {@link engineAvailable} throws if `CI` is set (the test fails)
 * and otherwise warns and returns false, so the file can `describe.skipIf(!available)`.
 */
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import pg from 'pg';
import type { SourceCredentials } from '../../lambdas/shared/types.ts';

export type Engine = 'postgres' | 'mysql';

/** Connection URL of the PostgreSQL test engine. */
export const PG_URL = process.env.CONNECTOR_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/** Connection URL of the MySQL/MariaDB test engine. */
export const MYSQL_URL = process.env.CONNECTOR_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

/** The URL of an engine. */
export function engineUrl(engine: Engine): string {
  return engine === 'postgres' ? PG_URL : MYSQL_URL;
}

/** Reader credentials for an engine's test URL (TLS disabled), optionally for another database. */
export function credentialsFor(engine: Engine, database?: string): SourceCredentials {
  const url = new URL(engineUrl(engine));
  return {
    engine,
    host: url.hostname,
    port: url.port ? Number(url.port) : engine === 'postgres' ? 5432 : 3306,
    database: database ?? (decodeURIComponent(url.pathname.slice(1)) || (engine === 'postgres' ? 'postgres' : 'test')),
    username: decodeURIComponent(url.username) || (engine === 'postgres' ? 'postgres' : 'root'),
    password: decodeURIComponent(url.password),
    tls: 'disable',
  };
}

const availability = new Map<Engine, Promise<boolean>>();

/**
 * Whether the engine answers. Throws when it does not and `CI` is set; otherwise warns once and
 * returns false so the caller skips its tests.
 */
export function engineAvailable(engine: Engine): Promise<boolean> {
  let probe = availability.get(engine);
  if (!probe) {
    probe = (async () => {
      try {
        if (engine === 'postgres') {
          const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
          await client.connect();
          await client.end();
        } else {
          const conn = await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 3000 });
          await conn.end();
        }
        return true;
      } catch (err) {
        const what = `${engine === 'postgres' ? 'PostgreSQL' : 'MySQL/MariaDB'} is unreachable at ${redact(engineUrl(engine))} (${(err as Error).message})`;
        if (process.env.CI) {
          throw new Error(`${what}; CI is set, so tests that need it fail instead of being skipped`);
        }
        console.warn(
          `SKIPPING tests: ${what}. Start the engine or set ${engine === 'postgres' ? 'CONNECTOR_TEST_PG_URL' : 'CONNECTOR_TEST_MYSQL_URL'}.`,
        );
        return false;
      }
    })();
    availability.set(engine, probe);
  }
  return probe;
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

/** A unique lower-case identifier, e.g. `t_src_1a2b3c4d5e`. */
export function uniqueName(prefix: string): string {
  return `t_${prefix.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(5).toString('hex')}`;
}

/** A scratch PostgreSQL schema with an admin client (read-write). */
export interface PostgresScratch {
  readonly schema: string;
  /** Credentials of the test database, for readers. */
  readonly credentials: SourceCredentials;
  /** Admin client (autocommit), for fixtures and for acting from another session. */
  readonly admin: pg.Client;
  drop(): Promise<void>;
}

/** Creates a uniquely named schema in the PostgreSQL test database. */
export async function createPostgresScratch(prefix: string): Promise<PostgresScratch> {
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  const schema = uniqueName(prefix);
  await admin.query(`CREATE SCHEMA "${schema}"`);
  return {
    schema,
    credentials: credentialsFor('postgres'),
    admin,
    async drop() {
      try {
        await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await admin.end();
      }
    },
  };
}

/** A scratch MySQL database with an admin connection (read-write). */
export interface MysqlScratch {
  readonly database: string;
  /** Credentials of the scratch database, for readers. */
  readonly credentials: SourceCredentials;
  /** Admin connection (autocommit, multiple statements allowed), for fixtures. */
  readonly admin: mysql.Connection;
  drop(): Promise<void>;
}

/** Creates a uniquely named database on the MySQL test server. */
export async function createMysqlScratch(prefix: string): Promise<MysqlScratch> {
  const admin = await mysql.createConnection({
    uri: MYSQL_URL,
    multipleStatements: true,
    charset: 'UTF8MB4_UNICODE_CI',
  });
  const database = uniqueName(prefix);
  await admin.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  return {
    database,
    credentials: credentialsFor('mysql', database),
    admin,
    async drop() {
      try {
        await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
      } finally {
        await admin.end();
      }
    },
  };
}
