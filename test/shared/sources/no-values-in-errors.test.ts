/**
 * No error a reader raises carries a row value, a statement with bound values or a password, on
 * the real engines: a statement timeout while continuing after a (personal) key, a function that
 * quotes the row in its error, a permission error and a refused connection. What a logger, Step
 * Functions or a serializer could see of the error is checked for the distinctive values.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  openSource,
  SourceAccessError,
  type SourceConnection,
  SourceConnectionError,
  type SourceOptions,
  SourceQueryError,
  SourceTimeoutError,
} from '#shared/sources/index';
import {
  createMysqlScratch,
  createPostgresScratch,
  engineAvailable,
  type MysqlScratch,
  type PostgresScratch,
} from '../../helpers/databases.ts';

const VALUE = 'PLAYER-RAW-ID-4711';
const PASSWORD = 'PW-Distinctive-9931';
const OPTIONS: SourceOptions = {
  applicationName: 'igaming-connector/no-values',
  statementTimeoutSeconds: 30,
  timeZone: 'UTC',
  operatorId: 'no-values',
  stream: 'players',
  connectTimeoutSeconds: 3,
};

/** Everything of an error that a logger (cause chain and own fields), Lambda or Step Functions sees. */
function everything(error: unknown): string {
  const seen: string[] = [];
  let e: unknown = error;
  for (let depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    seen.push(JSON.stringify(e, Object.getOwnPropertyNames(e)), String((e as Error).stack));
    e = (e as { cause?: unknown }).cause;
  }
  return seen.join('\n');
}

function expectClean(error: unknown, Class: new (...args: never[]) => Error): void {
  expect(error).toBeInstanceOf(Class);
  expect(everything(error)).not.toContain(VALUE);
  expect(everything(error)).not.toContain(PASSWORD);
}

async function failure(run: () => Promise<unknown>): Promise<unknown> {
  return run().then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e,
  );
}

async function drain(conn: SourceConnection, table: string, schema: string): Promise<void> {
  for await (const _ of conn.readRange({
    schema,
    table,
    columns: ['k', 'c'],
    cursorColumn: 'c',
    keyColumn: 'k',
    after: { cursor: '2026-01-01 00:00:00', key: VALUE },
  })) {
    // reading is the point
  }
}

const pgAvailable = await engineAvailable('postgres');
const myAvailable = await engineAvailable('mysql');

describe.skipIf(!pgAvailable)('PostgreSQL reader errors carry no values', () => {
  let db: PostgresScratch;
  beforeAll(async () => {
    db = await createPostgresScratch('novalues');
    const s = `"${db.schema}"`;
    await db.admin.query(`
      CREATE TABLE ${s}.t (k text PRIMARY KEY, c timestamp NOT NULL);
      INSERT INTO ${s}.t VALUES ('${VALUE}', '2026-01-01 00:00:00'), ('${VALUE}-2', '2026-01-02 00:00:00');
      CREATE VIEW ${s}.slow AS SELECT t.k, t.c FROM ${s}.t, pg_sleep(2);
      CREATE FUNCTION ${s}.boom(v text) RETURNS text LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'bad row %', v USING DETAIL = 'row ' || v, HINT = v; END $$;
      CREATE VIEW ${s}.loud AS SELECT ${s}.boom(t.k) AS k, t.c FROM ${s}.t;
      CREATE VIEW ${s}.cast AS SELECT t.k, t.c, (t.k)::int AS n FROM ${s}.t;
    `);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('statement timeout while continuing after a key', async () => {
    const conn = await openSource(db.credentials, { ...OPTIONS, statementTimeoutSeconds: 0.5 });
    try {
      expectClean(await failure(() => drain(conn, 'slow', db.schema)), SourceTimeoutError);
    } finally {
      await conn.close();
    }
  });

  it('an error raised with the row value, and a conversion error quoting it', async () => {
    const conn = await openSource(db.credentials, OPTIONS);
    try {
      expectClean(await failure(() => drain(conn, 'loud', db.schema)), SourceQueryError);
      const cast = await failure(() => conn.query(`SELECT n FROM "${db.schema}".cast WHERE k = $1`, [VALUE]));
      expectClean(cast, SourceQueryError);
      expect((cast as Error).message).toContain('a value could not be converted to the column type (22P02)');
    } finally {
      await conn.close();
    }
  });

  it('a refused connection and an unknown user', async () => {
    expectClean(
      await failure(() => openSource({ ...db.credentials, port: 1, password: PASSWORD }, OPTIONS)),
      SourceConnectionError,
    );
    expectClean(
      await failure(() => openSource({ ...db.credentials, username: 'no_such_reader_x', password: PASSWORD }, OPTIONS)),
      SourceAccessError,
    );
  });
});

describe.skipIf(!myAvailable)('MySQL/MariaDB reader errors carry no values', () => {
  let db: MysqlScratch;
  const user = `nv_${Math.random().toString(36).slice(2, 8)}`;
  beforeAll(async () => {
    db = await createMysqlScratch('novalues');
    await db.admin.query(`
      USE \`${db.database}\`;
      CREATE TABLE t (k VARCHAR(64) PRIMARY KEY, c DATETIME NOT NULL);
      INSERT INTO t VALUES ('${VALUE}', '2026-01-01 00:00:00'), ('${VALUE}-2', '2026-01-02 00:00:00');
      CREATE TABLE digits (d INT PRIMARY KEY);
      INSERT INTO digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9);
      CREATE VIEW slow AS SELECT CONCAT(t.k, '') AS k, t.c FROM t, digits a, digits b, digits c, digits d, digits e, digits f, digits g
        WHERE MD5(CONCAT(a.d, b.d, c.d, d.d, e.d, f.d, g.d)) <> t.k;
      CREATE FUNCTION boom(v VARCHAR(64)) RETURNS VARCHAR(64) DETERMINISTIC
        BEGIN DECLARE m VARCHAR(128) DEFAULT CONCAT('bad row ', v); SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = m; RETURN v; END;
      CREATE VIEW loud AS SELECT boom(t.k) AS k, t.c FROM t;
      CREATE USER '${user}'@'%' IDENTIFIED BY '${PASSWORD}';
    `);
  });
  afterAll(async () => {
    await db?.admin.query(`DROP USER IF EXISTS '${user}'@'%'`).catch(() => undefined);
    await db?.drop();
  });

  it('statement timeout while continuing after a key (mysql2 keeps the statement with its values)', async () => {
    const conn = await openSource(db.credentials, { ...OPTIONS, statementTimeoutSeconds: 0.3 });
    try {
      expectClean(await failure(() => drain(conn, 'slow', db.database)), SourceTimeoutError);
    } finally {
      await conn.close();
    }
  });

  it('a SIGNAL raised with the row value', async () => {
    const conn = await openSource(db.credentials, OPTIONS);
    try {
      expectClean(await failure(() => drain(conn, 'loud', db.database)), SourceQueryError);
    } finally {
      await conn.close();
    }
  });

  it('a permission error, a refused login and a refused connection', async () => {
    const reader = await openSource({ ...db.credentials, username: user, password: PASSWORD }, OPTIONS).catch(
      (e: unknown) => e,
    );
    expectClean(reader, SourceAccessError); // no grant on the database
    expectClean(
      await failure(() => openSource({ ...db.credentials, username: user, password: `${PASSWORD}-wrong` }, OPTIONS)),
      SourceAccessError,
    );
    expectClean(
      await failure(() => openSource({ ...db.credentials, port: 1, password: PASSWORD }, OPTIONS)),
      SourceConnectionError,
    );
  });
});
