/**
 * The database readers, one suite run on PostgreSQL and on MySQL/MariaDB (readers-postgres.test.ts,
 * readers-mysql.test.ts). What differs between the engines (fixture DDL, the text form of a
 * timestamp, how a DBA sees and kills a session) is in the engine descriptors; engine-only cases
 * run on their engine only.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isRetryable,
  localWallTimeToUtc,
  openSource,
  type ReadSpec,
  SourceAccessError,
  type SourceConnection,
  SourceConnectionError,
  type SourceLogger,
  type SourceOptions,
  SourceQueryError,
  SourceTimeoutError,
  utcToLocalWallTime,
} from '../../../lambdas/shared/sources/index.ts';
import type { SourceBatch, SourceCredentials } from '../../../lambdas/shared/types.ts';
import { createMysqlScratch, createPostgresScratch, type Engine, engineAvailable } from '../../helpers/databases.ts';

async function readAll(conn: SourceConnection, spec: ReadSpec): Promise<{ batches: SourceBatch[]; rows: string[][] }> {
  const batches: SourceBatch[] = [];
  const rows: string[][] = [];
  for await (const batch of conn.readRange(spec)) {
    batches.push(batch);
    rows.push(...(batch.rows as string[][]));
  }
  return { batches, rows };
}

function captureLogger(): SourceLogger & { sql: string[] } {
  const sql: string[] = [];
  return {
    sql,
    debug: (_message, extra) => {
      if (typeof extra?.sql === 'string') sql.push(extra.sql);
    },
    info: () => {},
    warn: () => {},
  };
}

/** A scratch schema (PostgreSQL) or database (MySQL) with an admin session (read-write, autocommit). */
interface Scratch {
  /** The schema (PostgreSQL) or database (MySQL) the readers read. */
  readonly schema: string;
  /** Credentials for the readers. */
  readonly credentials: SourceCredentials;
  /** Runs statements (several at once when there are no parameters). */
  exec(sql: string, params?: readonly unknown[]): Promise<void>;
  rows<T>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** A table of the scratch schema, qualified and quoted. */
  t(table: string): string;
  drop(): Promise<void>;
}

/** What the suite needs to know of an engine. */
interface EngineCase {
  readonly engine: Engine;
  readonly label: string;
  /** In the application name and the scratch schema's name. */
  readonly tag: string;
  /** The name in connection error messages. */
  readonly product: string;
  /** Quotes an identifier as the reader does. */
  q(identifier: string): string;
  /** Creates the scratch schema and the shared fixture tables (fidelity, rounds, local_rounds, many). */
  setup(): Promise<Scratch>;
  /** The column type of an instant (UTC) cursor. */
  readonly instantType: string;
  /** A UTC wall time (`2024-05-01 12:00:00.5`) as the admin session writes an instant. */
  utc(wall: string): string;
  /** A UTC wall time (`2024-05-01 12:00:00.5`) as the reader returns an instant. */
  instant(wall: string): string;
  /** A wall time (`2024-05-01 12:00:00.5`) as the reader returns a naive timestamp. */
  text(wall: string): string;
  /** Fills local_rounds: every 10 minutes of wall time from 00:00 to 04:50 on both DST change days. */
  fillLocalRounds(db: Scratch): Promise<{ round_id: string; local_ts: string }[]>;
  /** `countNullCursor`'s view of rounds.updated_at and local_rounds.local_ts. */
  readonly sourceTypes: { readonly instant: string; readonly wall: string };
  /** The bounds of the planner's estimate of the 2,543 rows of rounds. */
  readonly estimate: { readonly min: number; readonly max: number };
  /** The read statement logged for a selection, around `SELECT … LIMIT n`. */
  readStatement(select: string): string;
  /** A column list with a did-you-mean hint, and the message explaining it. */
  readonly missingColumns: { readonly columns: string[]; readonly message: RegExp };
  /** A write refused by the read-only session. */
  readonly readOnly: { readonly message: RegExp; readonly code: string };
  /** A statement that runs for longer than a second, and how the timeout is reported. */
  slowQuery(db: Scratch): string;
  readonly timeout: { readonly message: RegExp; readonly withinMs: number };
  /** The state of the session named `app` while it runs a statement, as the DBA sees it. */
  sessionState(db: Scratch, app: string): Promise<string | undefined>;
  /** The state of a statement blocked writing to a client that does not read, and how long to wait for it. */
  readonly blocked: { readonly state: RegExp; readonly waitMs: number };
  /** The ids of the sessions named `app` running a statement. */
  sessions(db: Scratch, app: string): Promise<number[]>;
  kill(db: Scratch, id: number): Promise<void>;
  /** A login to a database that does not exist: the password it sends (when the server ignores it) and the message. */
  readonly noDatabase: { readonly password?: string; readonly message: RegExp };
}

const POSTGRES: EngineCase = {
  engine: 'postgres',
  label: 'PostgreSQL',
  tag: 'pg',
  product: 'PostgreSQL',
  q: (id) => `"${id}"`,
  async setup() {
    const scratch = await createPostgresScratch('pg_src');
    const db: Scratch = {
      schema: scratch.schema,
      credentials: scratch.credentials,
      exec: async (sql, params) => {
        await scratch.admin.query(sql, params as unknown[] | undefined);
      },
      rows: async <T>(sql: string, params?: readonly unknown[]) =>
        (await scratch.admin.query(sql, params as unknown[] | undefined)).rows as T[],
      t: (table) => `"${scratch.schema}"."${table}"`,
      drop: () => scratch.drop(),
    };
    const s = `"${db.schema}"`;
    await db.exec(`
      CREATE TYPE ${s}.round_status AS ENUM ('open', 'settled');
      CREATE TABLE ${s}.fidelity (
        id text PRIMARY KEY, updated_at timestamptz NOT NULL,
        n numeric(38,10), big bigint, small smallint, i integer, f double precision, b boolean,
        d date, ts timestamp(6), tstz timestamptz, j json, jb jsonb, t text, u uuid,
        e ${s}.round_status, m money, vc varchar(20), secret_email text
      );
      CREATE TABLE ${s}.rounds (round_id text PRIMARY KEY, updated_at timestamptz, stake numeric(38,10), player text);
      CREATE INDEX ON ${s}.rounds (updated_at, round_id);
      CREATE TABLE ${s}.local_rounds (round_id text PRIMARY KEY, local_ts timestamp(6) NOT NULL, day date NOT NULL);
      CREATE TABLE ${s}.many (round_id text PRIMARY KEY, updated_at timestamptz NOT NULL, payload text NOT NULL);
    `);
    const insert = `INSERT INTO ${s}.fidelity VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, 'x@example.com')`;
    await db.exec(insert, [
      'max',
      '2024-01-01 00:00:00+00',
      '9999999999999999999999999999.9999999999',
      '9223372036854775807',
      '32767',
      '2147483647',
      '1.7976931348623157e+308',
      true,
      '9999-12-31',
      '2024-10-27 02:30:00.123456',
      '2024-07-01 12:34:56.789012+02',
      '{"a": 1,  "b": [1, 2]}',
      '{"b": [1, 2], "a": 1}',
      'Ħaġar Qim 🎰 — Ω 中文 😀',
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      'settled',
      '1234.56',
      'varchar',
    ]);
    await db.exec(insert, [
      'min',
      '2024-01-01 00:00:01+00',
      '-9999999999999999999999999999.9999999999',
      '-9223372036854775808',
      '-32768',
      '-2147483648',
      '-0.1',
      false,
      '0001-01-01',
      '1970-01-01 00:00:00',
      '1970-01-01 00:00:00+00',
      '[]',
      '{}',
      'tab\there\nnew line\\back slash \\N not null\r',
      '00000000-0000-0000-0000-000000000000',
      'open',
      '-0.01',
      '',
    ]);
    await db.exec(insert, [
      'tiny',
      '2024-01-01 00:00:02+00',
      '0.0000000001',
      '9007199254740993',
      '0',
      '0',
      '0.1',
      true,
      '2024-02-29',
      '2024-03-31 01:59:59.999999',
      '2024-01-01 00:00:00.000001+00',
      'null',
      '"s"',
      BIG,
      'ffffffff-ffff-ffff-ffff-ffffffffffff',
      'open',
      '0',
      'x',
    ]);
    await db.exec(`INSERT INTO ${s}.fidelity (id, updated_at) VALUES ('nulls', '2024-01-01 00:00:03+00')`);

    // 20 rows before, 2,500 with the same cursor, 20 after; 3 rows with a NULL cursor.
    await db.exec(`
      INSERT INTO ${s}.rounds
      SELECT 'r' || lpad(g::text, 5, '0'),
             CASE WHEN g <= 20 THEN timestamptz '2024-05-01 11:00:00+00' + g * interval '1 second'
                  WHEN g <= 2520 THEN timestamptz '2024-05-01 12:00:00.5+00'
                  ELSE timestamptz '2024-05-01 13:00:00+00' + g * interval '1 second' END,
             (g::bigint * 1000000007)::numeric / 10000000000 - 5,
             'p' || g
        FROM generate_series(1, 2540) g;
      INSERT INTO ${s}.rounds VALUES ('n1', NULL, 1, 'x'), ('n2', NULL, 2, 'x'), ('n3', NULL, 3, 'x');
      INSERT INTO ${s}.many SELECT 'm' || lpad(g::text, 6, '0'), timestamptz '2024-01-01' + g * interval '1 second', repeat('x', 400)
        FROM generate_series(1, 200000) g;
      ANALYZE ${s}.rounds;
    `);
    return db;
  },
  instantType: 'timestamptz',
  utc: (wall) => `${wall}+00`,
  instant: (wall) => `${wall}+00`,
  text: (wall) => wall,
  async fillLocalRounds(db) {
    await db.exec(`
      INSERT INTO ${db.t('local_rounds')}
      SELECT d::date || '-' || to_char(t, 'HH24MI'), d + t, d::date
        FROM unnest(ARRAY[timestamp '2024-03-31', timestamp '2024-10-27']) d,
             generate_series(0, 29) g, LATERAL (SELECT g * interval '10 minutes' AS t) m;
    `);
    return db.rows(`SELECT round_id, local_ts::text FROM ${db.t('local_rounds')}`);
  },
  sourceTypes: { instant: 'timestamp with time zone', wall: 'timestamp(6) without time zone' },
  estimate: { min: 2543, max: 2543 },
  readStatement: (select) => `COPY (${select}) TO STDOUT`,
  missingColumns: {
    columns: ['Stake', 'nope'],
    message:
      /columns "Stake" \(did you mean "stake"\?\), "nope" not found; the table has round_id, updated_at, stake, player/,
  },
  readOnly: { message: /read-only transaction/, code: '25006' },
  slowQuery: () => 'SELECT pg_sleep(5)',
  timeout: { message: /statement timeout.*source\.statementTimeoutSeconds/s, withinMs: 4_000 },
  async sessionState(db, app) {
    const [row] = await db.rows<{ state: string; wait_event: string | null }>(
      'SELECT state, wait_event FROM pg_stat_activity WHERE application_name = $1',
      [app],
    );
    return row ? `${row.state}: ${row.wait_event}` : undefined;
  },
  // Unpaused, the 200,000-row statement would be fully received within this pause.
  blocked: { state: /^active: ClientWrite$/, waitMs: 700 },
  async sessions(db, app) {
    // Client sessions only: a parallel query's workers carry the leader's application name.
    const rows = await db.rows<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND backend_type = 'client backend'`,
      [app],
    );
    return rows.map((r) => Number(r.pid));
  },
  kill: (db, id) => db.exec('SELECT pg_terminate_backend($1)', [id]),
  noDatabase: {
    password: 'hunter2-very-secret',
    message: /operator test-op.*does not exist \(3D000\)\. Check the user name and password/,
  },
};

/** `SELECT g FROM …` for g = 1..n, portable between MySQL and MariaDB. */
const numbers = (n: number) =>
  `(SELECT 1 + a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 100000 * h.d AS g
      FROM digits a, digits b, digits c, digits e, digits f, digits h) n WHERE g <= ${n}`;

/** A wall time with six fractional digits, as MySQL renders DATETIME(6) and TIMESTAMP(6). */
const micros = (wall: string) => {
  const [seconds, fraction = ''] = wall.split('.');
  return `${seconds}.${fraction.padEnd(6, '0')}`;
};

const MYSQL: EngineCase = {
  engine: 'mysql',
  label: 'MySQL/MariaDB',
  tag: 'my',
  product: 'MySQL',
  q: (id) => `\`${id}\``,
  async setup() {
    const scratch = await createMysqlScratch('my_src');
    const db: Scratch = {
      schema: scratch.database,
      credentials: scratch.credentials,
      exec: async (sql, params) => {
        await scratch.admin.query(sql, params as unknown[] | undefined);
      },
      rows: async <T>(sql: string, params?: readonly unknown[]) =>
        (await scratch.admin.query(sql, params as unknown[] | undefined))[0] as unknown as T[],
      t: (table) => `\`${scratch.database}\`.\`${table}\``,
      drop: () => scratch.drop(),
    };
    await db.exec(`
      USE \`${db.schema}\`;
      SET time_zone = '+00:00';
      CREATE TABLE digits (d INT PRIMARY KEY);
      INSERT INTO digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9);
      CREATE TABLE fidelity (
        id VARCHAR(20) PRIMARY KEY, updated_at DATETIME(6) NOT NULL,
        n DECIMAL(38,10), big BIGINT, ubig BIGINT UNSIGNED, small SMALLINT, i INT, tiny TINYINT,
        f DOUBLE, fl FLOAT, b TINYINT(1), bt BIT(1), d DATE, ts DATETIME(6), tstz TIMESTAMP(6) NULL,
        j JSON, t LONGTEXT, e ENUM('open', 'settled'), vc VARCHAR(20), bin VARBINARY(8), y YEAR,
        secret_email TEXT
      );
      CREATE TABLE rounds (round_id VARCHAR(20) PRIMARY KEY, updated_at TIMESTAMP(6) NULL, stake DECIMAL(38,10), player TEXT,
        KEY (updated_at, round_id));
      CREATE TABLE local_rounds (round_id VARCHAR(20) PRIMARY KEY, local_ts DATETIME(6) NOT NULL, day DATE NOT NULL);
      CREATE TABLE many (round_id VARCHAR(20) PRIMARY KEY, updated_at DATETIME(6) NOT NULL, payload TEXT NOT NULL,
        KEY (updated_at, round_id));
    `);
    const insert = `INSERT INTO fidelity VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'x@example.com')`;
    await db.exec(insert, [
      'max',
      '2024-01-01 00:00:00',
      '9999999999999999999999999999.9999999999',
      '9223372036854775807',
      '18446744073709551615',
      32767,
      2147483647,
      127,
      '1.7976931348623157e308',
      '0.1',
      1,
      Buffer.from([1]),
      '9999-12-31',
      '2024-10-27 02:30:00.123456',
      '2038-01-19 03:14:07.999999',
      '{"a": 1,  "b": [1, 2]}',
      'Ħaġar Qim 🎰 — Ω 中文 😀',
      'settled',
      'varchar',
      Buffer.from('deadbeef', 'hex'),
      2155,
    ]);
    await db.exec(insert, [
      'min',
      '2024-01-01 00:00:01',
      '-9999999999999999999999999999.9999999999',
      '-9223372036854775808',
      '0',
      -32768,
      -2147483648,
      -128,
      '-0.1',
      '-3.4e38',
      0,
      Buffer.from([0]),
      '1000-01-01',
      '1970-01-01 00:00:00',
      '1970-01-01 00:00:01',
      '[]',
      'tab\there\nnew line\\back slash \'quoted\' "double" \\N\r',
      'open',
      '',
      Buffer.from([0]),
      1901,
    ]);
    await db.exec(insert, [
      'tiny',
      '2024-01-01 00:00:02',
      '0.0000000001',
      '9007199254740993',
      '9007199254740993',
      0,
      0,
      0,
      '0.1',
      '0',
      1,
      Buffer.from([1]),
      '2024-02-29',
      '2024-03-31 01:59:59.999999',
      '2024-01-01 00:00:00.000001',
      'null',
      BIG,
      'open',
      'x',
      Buffer.alloc(0),
      2024,
    ]);
    await db.exec(`INSERT INTO fidelity (id, updated_at) VALUES ('nulls', '2024-01-01 00:00:03')`);
    // 20 rows before, 2,500 with the same cursor, 20 after; 3 rows with a NULL cursor.
    await db.exec(`
      INSERT INTO rounds
      SELECT CONCAT('r', LPAD(g, 5, '0')),
             CASE WHEN g <= 20 THEN TIMESTAMP('2024-05-01 11:00:00') + INTERVAL g SECOND
                  WHEN g <= 2520 THEN TIMESTAMP('2024-05-01 12:00:00.5')
                  ELSE TIMESTAMP('2024-05-01 13:00:00') + INTERVAL g SECOND END,
             CAST(g AS DECIMAL(38,10)) * 1000000007 / 10000000000 - 5,
             CONCAT('p', g)
        FROM ${numbers(2540)};
      INSERT INTO rounds VALUES ('n1', NULL, 1, 'x'), ('n2', NULL, 2, 'x'), ('n3', NULL, 3, 'x');
      INSERT INTO many SELECT CONCAT('m', LPAD(g, 6, '0')), TIMESTAMP('2024-01-01') + INTERVAL g SECOND, REPEAT('x', 400)
        FROM ${numbers(200000)};
      ANALYZE TABLE rounds;
    `);
    return db;
  },
  instantType: 'TIMESTAMP(6)',
  // The admin session's time_zone is UTC.
  utc: (wall) => wall,
  instant: micros,
  text: micros,
  async fillLocalRounds(db) {
    await db.exec(`
      INSERT INTO local_rounds
      SELECT CONCAT(day, '-', DATE_FORMAT(ts, '%H%i')), ts, day
        FROM (SELECT DATE(x.day) AS day, TIMESTAMP(x.day) + INTERVAL (10 * m.g) MINUTE AS ts
                FROM (SELECT '2024-03-31' AS day UNION ALL SELECT '2024-10-27') x,
                     (SELECT a.d + 10 * b.d AS g FROM digits a, digits b) m
               WHERE m.g < 30) s;
    `);
    return db.rows(`SELECT round_id, DATE_FORMAT(local_ts, '%Y-%m-%d %H:%i:%s.%f') AS local_ts FROM local_rounds`);
  },
  sourceTypes: { instant: 'timestamp(6)', wall: 'datetime(6)' },
  estimate: { min: 1001, max: 5999 },
  readStatement: (select) => select,
  missingColumns: {
    columns: ['stakes', 'nope'],
    message: /columns "stakes", "nope" not found; the table has round_id, updated_at, stake, player/,
  },
  readOnly: { message: /READ ONLY transaction/, code: 'ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION' },
  // A real query (an interrupted SLEEP or BENCHMARK returns a value instead of an error).
  slowQuery: (db) => `SELECT COUNT(*) FROM ${db.t('many')} a, ${db.t('many')} b WHERE a.payload <> b.round_id`,
  timeout: { message: /source\.statementTimeoutSeconds/, withinMs: 5_000 },
  async sessionState(db, app) {
    const [row] = await db.rows<{ COMMAND: string; STATE: string }>(
      `SELECT COMMAND, STATE FROM information_schema.PROCESSLIST WHERE INFO LIKE '/* ${app} */ SELECT%'`,
    );
    return row ? `${row.COMMAND}: ${row.STATE}` : undefined;
  },
  // Unpaused, the 200,000-row statement (84 MB) would be fully received within this pause.
  // Blocked writing to the client: MariaDB "Writing to net", MySQL 8 "Sending to client".
  blocked: { state: /^Query: (Writing to net|Sending to client)$/, waitMs: 1_500 },
  async sessions(db, app) {
    const rows = await db.rows<{ ID: number }>(
      `SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE '/* ${app} */ %'`,
    );
    return rows.map((r) => Number(r.ID));
  },
  kill: (db, id) => db.exec(`KILL ${Number(id)}`),
  // With a password the server refuses the login before it looks for the database.
  noDatabase: { message: /the database does not exist \(ER_BAD_DB_ERROR\)/ },
};

const BIG = 'ab🎰ħ'.repeat(150_000); // > 1 MB of UTF-8

/**
 * Defines the reader suite for one engine. Each engine has its own test file, so the two engines
 * run in parallel.
 */
export async function defineReaderSuite(engine: 'postgres' | 'mysql'): Promise<void> {
  const base = engine === 'postgres' ? POSTGRES : MYSQL;
  const e = { ...base, available: await engineAvailable(base.engine) };
  describe(`${e.label} source reader`, () => {
    /** Unique per run, so sessions of other test files are never matched (or terminated). */
    const APP = `igaming-connector/test-${e.tag}-${randomBytes(4).toString('hex')}`;
    const OPTIONS: SourceOptions = {
      applicationName: `${APP}/game_rounds`,
      statementTimeoutSeconds: 30,
      timeZone: 'Europe/Malta',
      operatorId: 'test-op',
      stream: 'game_rounds',
    };
    const both = it.skipIf(!e.available);
    /** A case of one engine only: registered in that engine's file, absent (not skipped) in the other. */
    const only =
      (engine: Engine) =>
      (name: string, fn: () => Promise<void>): void => {
        if (e.engine === engine) both(name, fn);
      };
    const postgresOnly = only('postgres');
    const mysqlOnly = only('mysql');
    let db: Scratch;
    let conn: SourceConnection;

    beforeAll(async () => {
      if (!e.available) return;
      db = await e.setup();
      conn = await openSource(db.credentials, OPTIONS);
    });

    afterAll(async () => {
      await conn?.close();
      await db?.drop();
    });

    postgresOnly('returns every type in its exact text form with the kind decided from the catalog', async () => {
      const columns = [
        'id',
        'n',
        'big',
        'small',
        'i',
        'f',
        'b',
        'd',
        'ts',
        'tstz',
        'j',
        'jb',
        't',
        'u',
        'e',
        'm',
        'vc',
      ];
      const { batches, rows } = await readAll(conn, {
        schema: db.schema,
        table: 'fidelity',
        columns,
        cursorColumn: 'updated_at',
        keyColumn: 'id',
      });
      const kinds = Object.fromEntries(batches[0]!.columns.map((c) => [c.name, c.kind]));
      expect(kinds).toEqual({
        id: 'text',
        n: 'decimal',
        big: 'integer',
        small: 'integer',
        i: 'integer',
        f: 'float',
        b: 'boolean',
        d: 'date',
        ts: 'timestamp',
        tstz: 'timestamptz',
        j: 'json',
        jb: 'json',
        t: 'text',
        u: 'text',
        e: 'text',
        m: 'decimal',
        vc: 'text',
        updated_at: 'timestamptz',
      });
      expect(batches[0]!.columns.find((c) => c.name === 'n')?.sourceType).toBe('numeric(38,10)');
      const byId = new Map(rows.map((r) => [r[0], r]));
      expect(byId.get('max')).toEqual([
        'max',
        '9999999999999999999999999999.9999999999',
        '9223372036854775807',
        '32767',
        '2147483647',
        '1.7976931348623157e+308',
        't',
        '9999-12-31',
        '2024-10-27 02:30:00.123456',
        '2024-07-01 10:34:56.789012+00',
        '{"a": 1,  "b": [1, 2]}',
        '{"a": 1, "b": [1, 2]}',
        'Ħaġar Qim 🎰 — Ω 中文 😀',
        'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
        'settled',
        '1234.56',
        'varchar',
        '2024-01-01 00:00:00+00',
      ]);
      expect(byId.get('min')).toEqual([
        'min',
        '-9999999999999999999999999999.9999999999',
        '-9223372036854775808',
        '-32768',
        '-2147483648',
        '-0.1',
        'f',
        '0001-01-01',
        '1970-01-01 00:00:00',
        '1970-01-01 00:00:00+00',
        '[]',
        '{}',
        'tab\there\nnew line\\back slash \\N not null\r',
        '00000000-0000-0000-0000-000000000000',
        'open',
        '-0.01',
        '',
        '2024-01-01 00:00:01+00',
      ]);
      const tiny = byId.get('tiny')!;
      expect(tiny.slice(1, 12)).toEqual([
        '0.0000000001',
        '9007199254740993',
        '0',
        '0',
        '0.1',
        't',
        '2024-02-29',
        '2024-03-31 01:59:59.999999',
        '2024-01-01 00:00:00.000001+00',
        'null',
        '"s"',
      ]);
      expect(tiny[12]).toBe(BIG);
      expect(byId.get('nulls')).toEqual(['nulls', ...Array(16).fill(null), '2024-01-01 00:00:03+00']);
    });

    mysqlOnly('returns every type in its exact text form with the kind decided from the catalog', async () => {
      const columns = [
        'id',
        'n',
        'big',
        'ubig',
        'small',
        'i',
        'tiny',
        'f',
        'fl',
        'b',
        'bt',
        'd',
        'ts',
        'tstz',
        'j',
        't',
      ];
      const { batches, rows } = await readAll(conn, {
        schema: db.schema,
        table: 'fidelity',
        columns: [...columns, 'e', 'vc', 'bin', 'y'],
        cursorColumn: 'updated_at',
        keyColumn: 'id',
      });
      const kinds = Object.fromEntries(batches[0]!.columns.map((c) => [c.name, c.kind]));
      expect(kinds).toEqual({
        id: 'text',
        n: 'decimal',
        big: 'integer',
        ubig: 'integer',
        small: 'integer',
        i: 'integer',
        tiny: 'integer',
        f: 'float',
        fl: 'float',
        b: 'boolean',
        bt: 'boolean',
        d: 'date',
        ts: 'timestamp',
        tstz: 'timestamptz',
        j: 'json',
        t: 'text',
        e: 'text',
        vc: 'text',
        bin: 'text',
        y: 'integer',
        updated_at: 'timestamp',
      });
      expect(batches[0]!.columns.find((c) => c.name === 'n')?.sourceType).toBe('decimal(38,10)');
      const byId = new Map(rows.map((r) => [r[0], r]));
      expect(byId.get('max')).toEqual([
        'max',
        '9999999999999999999999999999.9999999999',
        '9223372036854775807',
        '18446744073709551615',
        '32767',
        '2147483647',
        '127',
        '1.7976931348623157e308',
        '0.1',
        '1',
        '1',
        '9999-12-31',
        '2024-10-27 02:30:00.123456',
        '2038-01-19 03:14:07.999999',
        '{"a": 1,  "b": [1, 2]}',
        'Ħaġar Qim 🎰 — Ω 中文 😀',
        'settled',
        'varchar',
        'DEADBEEF',
        '2155',
        '2024-01-01 00:00:00.000000',
      ]);
      expect(byId.get('min')).toEqual([
        'min',
        '-9999999999999999999999999999.9999999999',
        '-9223372036854775808',
        '0',
        '-32768',
        '-2147483648',
        '-128',
        '-0.1',
        '-3.4e38',
        '0',
        '0',
        '1000-01-01',
        '1970-01-01 00:00:00.000000',
        '1970-01-01 00:00:01.000000',
        '[]',
        'tab\there\nnew line\\back slash \'quoted\' "double" \\N\r',
        'open',
        '',
        '00',
        '1901',
        '2024-01-01 00:00:01.000000',
      ]);
      const tiny = byId.get('tiny')!;
      expect(tiny.slice(1, 15)).toEqual([
        '0.0000000001',
        '9007199254740993',
        '9007199254740993',
        '0',
        '0',
        '0',
        '0.1',
        '0',
        '1',
        '1',
        '2024-02-29',
        '2024-03-31 01:59:59.999999',
        '2024-01-01 00:00:00.000001',
        'null',
      ]);
      expect(tiny[15]).toBe(BIG);
      expect(tiny[18]).toBe('');
      expect(byId.get('nulls')).toEqual(['nulls', ...Array(19).fill(null), '2024-01-01 00:00:03.000000']);
    });

    both('selects only the mapped columns, plus cursor and key, with quoted identifiers', async () => {
      const logger = captureLogger();
      const logged = await openSource(db.credentials, { ...OPTIONS, logger });
      try {
        const { batches } = await readAll(logged, {
          schema: db.schema,
          table: 'fidelity',
          columns: ['n', 't'],
          cursorColumn: 'updated_at',
          keyColumn: 'id',
        });
        expect(batches[0]!.columns.map((c) => c.name)).toEqual(['n', 't', 'updated_at', 'id']);
        expect(logged.engine).toBe(e.engine);
      } finally {
        await logged.close();
      }
      expect(logger.sql).toHaveLength(1);
      const sql = logger.sql[0]!;
      const { q } = e;
      expect(sql).toBe(
        e.readStatement(
          `SELECT ${q('n')}, ${q('t')}, ${q('updated_at')}, ${q('id')} FROM ${q(db.schema)}.${q('fidelity')} ` +
            `WHERE ${q('updated_at')} IS NOT NULL ORDER BY ${q('updated_at')}, ${q('id')} LIMIT 200000`,
        ),
      );
      expect(sql).not.toContain('secret_email');
      expect(sql).not.toContain(q('b'));
    });

    both('refuses unsafe identifiers before sending anything', async () => {
      const logger = captureLogger();
      const logged = await openSource(db.credentials, { ...OPTIONS, logger });
      try {
        const base = {
          schema: db.schema,
          table: 'rounds',
          columns: ['stake'],
          cursorColumn: 'updated_at',
          keyColumn: 'round_id',
        };
        for (const spec of [
          { ...base, table: 'rounds"; DROP TABLE rounds; --' },
          { ...base, table: 'rounds`; DROP TABLE rounds; --' },
          { ...base, columns: ['stake', 'player" FROM pg_authid --'] },
          { ...base, columns: ['stake', 'player` FROM mysql.user --'] },
          { ...base, cursorColumn: 'updated_at)' },
          { ...base, keyColumn: 'round_id OR 1=1' },
          { ...base, schema: 'public.x' },
          { ...base, schema: 'mysql.user' },
        ]) {
          const error = await readAll(logged, spec).catch((err: unknown) => err);
          expect(error).toBeInstanceOf(SourceQueryError);
          expect((error as Error).message).toMatch(/refusing .* identifiers must be letters, digits and underscores/);
          expect((error as Error).message).toContain('operator test-op, stream game_rounds');
        }
        await expect(logged.countAndSums({ ...base, moneyColumns: ['stake;'] })).rejects.toBeInstanceOf(
          SourceQueryError,
        );
      } finally {
        await logged.close();
      }
      expect(logger.sql).toEqual([]);
    });

    both('binds values: a continuation key with quotes and backslashes is data, not SQL', async () => {
      const spec = {
        schema: db.schema,
        table: 'rounds',
        columns: ['round_id'],
        cursorColumn: 'updated_at',
        keyColumn: 'round_id',
      };
      const { rows } = await readAll(conn, {
        ...spec,
        after: { cursor: '2024-05-01 13:42:19.000000', key: "r02539\\' OR '1'='1" },
      });
      expect(rows.map((r) => r[0])).toEqual(['r02540']);
    });

    both('explains missing tables and columns', async () => {
      const spec = { schema: db.schema, table: 'rounds', cursorColumn: 'updated_at', keyColumn: 'round_id' };
      await expect(readAll(conn, { ...spec, columns: e.missingColumns.columns })).rejects.toThrow(
        e.missingColumns.message,
      );
      await expect(readAll(conn, { ...spec, table: 'no_such_table', columns: [] })).rejects.toThrow(
        new RegExp(`table t_${e.tag}_src_\\w+\\.no_such_table: table not found`),
      );
    });

    both(
      'reads 2,500 rows sharing one cursor value exactly once across batches and pages, and resumes mid-run',
      async () => {
        const spec = {
          schema: db.schema,
          table: 'rounds',
          columns: ['round_id', 'updated_at', 'stake'],
          cursorColumn: 'updated_at',
          keyColumn: 'round_id',
          batchRows: 100,
          pageRows: 300,
        };
        const { batches, rows } = await readAll(conn, spec);
        expect(rows).toHaveLength(2540); // the NULL-cursor rows are not read
        expect(new Set(rows.map((r) => r[0])).size).toBe(2540);
        expect(batches.every((b) => b.rows.length <= 100)).toBe(true);
        const ids = rows.map((r) => r[0]);
        expect(ids).toEqual([...ids].sort());
        const shared = e.instant('2024-05-01 12:00:00.5');
        expect(rows.filter((r) => r[1] === shared)).toHaveLength(2500);

        const cut = 1234; // inside the equal-cursor run
        const last = rows[cut]!;
        expect(last[1]).toBe(shared);
        const resumed = await readAll(conn, { ...spec, after: { cursor: last[1]!, key: last[0]! } });
        expect(resumed.rows.map((r) => r[0])).toEqual(ids.slice(cut + 1));
      },
    );

    both('reads a half-open window [from, to) on an instant cursor with rows exactly at both bounds', async () => {
      const rows = [
        ['before', '2024-05-31 23:59:59.999999'],
        ['at-from', '2024-06-01 00:00:00'],
        ['inside', '2024-06-01 12:00:00'],
        ['last', '2024-06-01 23:59:59.999999'],
        ['at-to', '2024-06-02 00:00:00'],
        ['after', '2024-06-02 00:00:00.000001'],
      ];
      await db.exec(
        `CREATE TABLE ${db.t('bounds')} (id VARCHAR(10) PRIMARY KEY, updated_at ${e.instantType} NOT NULL)`,
      );
      await db.exec(
        `INSERT INTO ${db.t('bounds')} VALUES ${rows.map(([id, at]) => `('${id}', '${e.utc(at!)}')`).join(', ')}`,
      );
      const spec = {
        schema: db.schema,
        table: 'bounds',
        columns: ['id'],
        cursorColumn: 'updated_at',
        keyColumn: 'id',
        from: new Date('2024-06-01T00:00:00Z'),
        to: new Date('2024-06-02T00:00:00Z'),
      };
      const { rows: read } = await readAll(conn, spec);
      expect(read.map((r) => r[0])).toEqual(['at-from', 'inside', 'last']);
      const next = await readAll(conn, { ...spec, from: spec.to, to: new Date('2024-06-03T00:00:00Z') });
      expect(next.rows.map((r) => r[0])).toEqual(['at-to', 'after']);
      const counted = await conn.countAndSums({ ...spec, moneyColumns: [] });
      expect(counted.count).toBe(3n);
    });

    both('windows naive Europe/Malta timestamps by their UTC instant across both DST changes', async () => {
      // Every 10 minutes of wall time from 00:00 to 04:50 on both change days (gap and overlap).
      const all = await e.fillLocalRounds(db);
      for (const day of ['2024-03-31', '2024-10-27']) {
        // Windows of 25 minutes, so bounds fall inside the skipped and the repeated hour.
        const start = Date.parse(`${day}T00:00:00Z`) - 3 * 3_600_000;
        const seen = new Map<string, number>();
        for (let t = start; t < start + 7 * 3_600_000; t += 25 * 60_000) {
          const { rows } = await readAll(conn, {
            schema: db.schema,
            table: 'local_rounds',
            columns: ['round_id', 'local_ts'],
            cursorColumn: 'local_ts',
            keyColumn: 'round_id',
            from: new Date(t),
            to: new Date(t + 25 * 60_000),
          });
          for (const [id, wall] of rows) {
            seen.set(id!, (seen.get(id!) ?? 0) + 1);
            const instant = localWallTimeToUtc(wall!, 'Europe/Malta');
            if (utcToLocalWallTime(instant, 'Europe/Malta') === `${wall}.000`.slice(0, 23)) {
              expect(
                instant >= t && instant < t + 25 * 60_000,
                `${wall} in window at ${new Date(t).toISOString()}`,
              ).toBe(true);
            }
          }
        }
        const expected = all.filter((r) => r.local_ts.startsWith(day)).map((r) => r.round_id);
        expect(expected).toHaveLength(30);
        expect([...seen.keys()].sort()).toEqual(expected.sort());
        expect([...seen.values()].every((n) => n === 1)).toBe(true);
      }
      // The first pass of the repeated hour (02:00–02:59 CEST) is 00:00–01:00Z; the second pass is empty.
      const hour = async (fromIso: string, toIso: string) =>
        (
          await readAll(conn, {
            schema: db.schema,
            table: 'local_rounds',
            columns: ['local_ts'],
            cursorColumn: 'local_ts',
            keyColumn: 'round_id',
            from: new Date(fromIso),
            to: new Date(toIso),
          })
        ).rows.map((r) => r[0]);
      expect(await hour('2024-10-27T00:00:00Z', '2024-10-27T01:00:00Z')).toEqual(
        ['00', '10', '20', '30', '40', '50'].map((m) => e.text(`2024-10-27 02:${m}:00`)),
      );
      expect(await hour('2024-10-27T01:00:00Z', '2024-10-27T02:00:00Z')).toEqual([]);
      expect((await hour('2024-10-27T02:00:00Z', '2024-10-27T02:30:00Z')).at(0)).toBe(e.text('2024-10-27 03:00:00'));
      // A date cursor: a date belongs to the window holding its local midnight (22:00Z or 23:00Z the day before).
      const days = await readAll(conn, {
        schema: db.schema,
        table: 'local_rounds',
        columns: ['day'],
        cursorColumn: 'day',
        keyColumn: 'round_id',
        from: new Date('2024-10-26T21:30:00Z'),
        to: new Date('2024-10-26T22:30:00Z'),
      });
      expect(new Set(days.rows.map((r) => r[0]))).toEqual(new Set(['2024-10-27']));
    });

    both('sums money exactly and counts NULL cursors separately', async () => {
      const spec = {
        schema: db.schema,
        table: 'rounds',
        cursorColumn: 'updated_at',
        keyColumn: 'round_id',
        from: new Date('2024-05-01T00:00:00Z'),
        to: new Date('2024-05-02T00:00:00Z'),
      };
      const result = await conn.countAndSums({ ...spec, moneyColumns: ['stake'] });
      expect(result.count).toBe(2540n);
      // Σ (g·1000000007/10^10 − 5) for g = 1..2540, computed with integers at scale 10.
      let sum = 0n;
      for (let g = 1n; g <= 2540n; g++) sum += g * 1000000007n - 5n * 10n ** 10n;
      const digits = (sum < 0n ? -sum : sum).toString().padStart(11, '0');
      const expected = `${sum < 0n ? '-' : ''}${digits.slice(0, -10)}.${digits.slice(-10)}`;
      expect(result.sums).toEqual({ stake: expected });
      expect(BigInt(result.sums.stake!.replace('.', ''))).toBe(sum);
      expect(result.sums.stake).toMatch(/^\d+\.\d{10}$/);
      const { rows } = await readAll(conn, { ...spec, columns: ['stake'] });
      let read = 0n;
      for (const [stake] of rows) read += BigInt(stake!.replace('.', ''));
      expect(read).toBe(sum);

      expect(await conn.countNullCursor(spec)).toEqual({
        rows: 3n,
        cursor: { name: 'updated_at', kind: 'timestamptz', sourceType: e.sourceTypes.instant },
      });
      // A naive timestamp (DATETIME) cursor is read in the source's zone.
      expect(
        await conn.countNullCursor({ schema: spec.schema, table: 'local_rounds', cursorColumn: 'local_ts' }),
      ).toEqual({
        rows: 0n,
        cursor: { name: 'local_ts', kind: 'timestamp', sourceType: e.sourceTypes.wall },
      });
      const empty = await conn.countAndSums({
        ...spec,
        from: new Date('2030-01-01'),
        to: new Date('2030-01-02'),
        moneyColumns: ['stake'],
      });
      expect(empty).toEqual({ count: 0n, sums: { stake: '0' } });
    });

    both('estimates rows, finds cursor bounds and reads the server clock', async () => {
      const estimate = await conn.estimateRows(db.schema, 'rounds');
      expect(estimate).toBeGreaterThanOrEqual(e.estimate.min);
      expect(estimate).toBeLessThanOrEqual(e.estimate.max);
      const bounds = await conn.cursorBounds({
        schema: db.schema,
        table: 'rounds',
        cursorColumn: 'updated_at',
        keyColumn: 'round_id',
        from: new Date('2024-05-01T12:00:00Z'),
      });
      expect(bounds).toEqual({
        min: e.instant('2024-05-01 12:00:00.5'),
        max: e.instant('2024-05-01 13:42:20'),
        kind: 'timestamptz',
      });
      const now = await conn.serverTime();
      expect(Math.abs(now.getTime() - Date.now())).toBeLessThan(5_000);
      await expect(conn.estimateRows(db.schema, 'no_such_table')).rejects.toBeInstanceOf(SourceQueryError);
    });

    both('tells a snapshot when it was taken, by the database clock, in microseconds', async () => {
      const before = BigInt((await conn.serverTime()).getTime()) * 1000n;
      const first = await conn.snapshot(async (view) => {
        // A nested call joins the transaction and gets its view.
        expect(await conn.snapshot(async (nested) => nested.readAtMicros)).toBe(view.readAtMicros);
        return view.readAtMicros;
      });
      const second = await conn.snapshot(async (view) => view.readAtMicros);
      const after = BigInt((await conn.serverTime()).getTime() + 1) * 1000n;
      expect(before <= first && first < second && second <= after, `${before} ${first} ${second} ${after}`).toBe(true);
    });

    both('shares one snapshot between a read and its reconciliation count', async () => {
      const spec = {
        schema: db.schema,
        table: 'rounds',
        cursorColumn: 'updated_at',
        keyColumn: 'round_id',
        from: new Date('2024-05-01T00:00:00Z'),
        to: new Date('2024-05-02T00:00:00Z'),
      };
      const { read, counted } = await conn.snapshot(async () => {
        const { rows } = await readAll(conn, { ...spec, columns: ['round_id'] });
        await db.exec(`INSERT INTO ${db.t('rounds')} VALUES ('late', '${e.utc('2024-05-01 12:30:00')}', 1, 'x')`);
        return { read: rows.length, counted: await conn.countAndSums({ ...spec, moneyColumns: [] }) };
      });
      expect(read).toBe(2540);
      expect(counted.count).toBe(2540n);
      expect((await conn.countAndSums({ ...spec, moneyColumns: [] })).count).toBe(2541n);
      await db.exec(`DELETE FROM ${db.t('rounds')} WHERE round_id = 'late'`);
    });

    both('leaves the session usable after the consumer stops early', async () => {
      const spec = {
        schema: db.schema,
        table: 'many',
        columns: ['round_id', 'payload'],
        cursorColumn: 'updated_at',
        keyColumn: 'round_id',
        batchRows: 1000,
      };
      let seen = 0;
      for await (const batch of conn.readRange(spec)) {
        seen += batch.rows.length;
        if (seen >= 3000) break;
      }
      expect(seen).toBe(3000);
      const count = await conn.countAndSums({ ...spec, moneyColumns: [] });
      expect(count.count).toBe(200000n);
    });

    both('applies back-pressure: a slow consumer blocks the server instead of filling memory', async () => {
      const app = `${APP}/slow`;
      const slow = await openSource(db.credentials, { ...OPTIONS, applicationName: app });
      try {
        let rows = 0;
        let state: string | undefined;
        for await (const batch of slow.readRange({
          schema: db.schema,
          table: 'many',
          columns: ['round_id', 'updated_at', 'payload'],
          cursorColumn: 'updated_at',
          keyColumn: 'round_id',
          batchRows: 1000,
        })) {
          rows += batch.rows.length;
          if (rows === 1000) {
            await new Promise((resolve) => setTimeout(resolve, e.blocked.waitMs));
            state = await e.sessionState(db, app);
          }
        }
        // The statement is still running, blocked writing to the client.
        expect(state).toMatch(e.blocked.state);
        expect(rows).toBe(200000);
      } finally {
        await slow.close();
      }
    });

    both('opens a read-only session: writes fail and are not retryable', async () => {
      const error = await conn.query(`INSERT INTO ${db.t('rounds')} VALUES ('w', NOW(), 1, 'x')`).catch((err) => err);
      expect(error).toBeInstanceOf(SourceQueryError);
      expect(error.message).toMatch(e.readOnly.message);
      expect(error.code).toBe(e.readOnly.code);
      expect(isRetryable(error)).toBe(false);
      const inSnapshot = await conn
        .snapshot(() => conn.query(`DELETE FROM ${db.t('rounds')}`))
        .catch((err: unknown) => err);
      expect(inSnapshot).toBeInstanceOf(SourceQueryError);
      const [count] = await db.rows<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${db.t('rounds')}`);
      expect(String(count!.n)).toBe('2543');
    });

    both('applies the statement timeout', async () => {
      const short = await openSource(db.credentials, { ...OPTIONS, statementTimeoutSeconds: 1 });
      try {
        const started = Date.now();
        const error = await short.query(e.slowQuery(db)).catch((err: unknown) => err);
        expect(error).toBeInstanceOf(SourceTimeoutError);
        expect((error as Error).name).toBe('SourceTimeoutError');
        expect((error as Error).message).toMatch(e.timeout.message);
        expect(isRetryable(error)).toBe(true);
        expect(Date.now() - started).toBeLessThan(e.timeout.withinMs);
      } finally {
        await short.close();
      }
    });

    both('shows its name to the DBA and surfaces a killed session as a retryable SourceConnectionError', async () => {
      const name = `${APP}/kill`;
      const victim = await openSource(db.credentials, { ...OPTIONS, applicationName: name });
      try {
        let seen = 0;
        const error = await (async () => {
          for await (const batch of victim.readRange({
            schema: db.schema,
            table: 'many',
            columns: ['round_id', 'payload'],
            cursorColumn: 'updated_at',
            keyColumn: 'round_id',
            batchRows: 1000,
            pageRows: 20_000,
          })) {
            seen += batch.rows.length;
            if (seen === 1000) {
              const sessions = await e.sessions(db, name);
              expect(sessions).toHaveLength(1);
              await e.kill(db, sessions[0]!);
            }
          }
        })().catch((err: unknown) => err);
        expect(seen).toBeLessThan(200_000);
        expect(error).toBeInstanceOf(SourceConnectionError);
        expect((error as Error).name).toBe('SourceConnectionError');
        expect((error as Error).message).toMatch(
          new RegExp(`^operator test-op, stream game_rounds, table t_${e.tag}_src_\\w+\\.many: reading: `),
        );
        expect(isRetryable(error)).toBe(true);
        await expect(
          victim.countNullCursor({ schema: db.schema, table: 'many', cursorColumn: 'updated_at' }),
        ).rejects.toBeInstanceOf(SourceConnectionError);
      } finally {
        await victim.close();
      }
    });

    both('asks for TLS unless it is disabled: a server without TLS is refused, not used in clear', async () => {
      for (const tls of ['require', 'verify-full'] as const) {
        const error = await openSource({ ...db.credentials, tls }, OPTIONS).catch((err: unknown) => err);
        expect(error).toBeInstanceOf(SourceAccessError);
        expect(isRetryable(error)).toBe(false);
      }
    });

    both('classifies connection failures without leaking the password', async () => {
      const refused = await openSource(
        { ...db.credentials, port: 1, password: 'hunter2-very-secret' },
        { ...OPTIONS, connectTimeoutSeconds: 2 },
      ).catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(SourceConnectionError);
      expect((refused as Error).message).toMatch(
        new RegExp(`connecting to ${e.product} at 127\\.0\\.0\\.1:1/\\w+: .*ECONNREFUSED`),
      );
      expect((refused as Error).message).not.toContain('hunter2');

      const { password } = e.noDatabase;
      const noDatabase = await openSource(
        { ...db.credentials, database: 'no_such_database_x', ...(password ? { password } : {}) },
        OPTIONS,
      ).catch((err: unknown) => err);
      expect(noDatabase).toBeInstanceOf(SourceAccessError);
      expect((noDatabase as Error).message).toMatch(e.noDatabase.message);
      if (password) expect((noDatabase as Error).message).not.toContain('hunter2');
      expect(isRetryable(noDatabase)).toBe(false);
    });
  });
}
