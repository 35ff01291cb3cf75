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
import type { SourceBatch } from '../../../lambdas/shared/types.ts';
import { createMysqlScratch, engineAvailable, type MysqlScratch } from '../../helpers/databases.ts';

const available = await engineAvailable('mysql');

/** Unique per run, so sessions of other test files are never matched (or terminated). */
const APP = `igaming-connector/test-my-${randomBytes(4).toString('hex')}`;

const OPTIONS: SourceOptions = {
  applicationName: `${APP}/game_rounds`,
  statementTimeoutSeconds: 30,
  timeZone: 'Europe/Malta',
  operatorId: 'test-op',
  stream: 'game_rounds',
};

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

/** `SELECT g FROM …` for g = 1..n, portable between MySQL and MariaDB. */
const numbers = (n: number) =>
  `(SELECT 1 + a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 100000 * h.d AS g
      FROM digits a, digits b, digits c, digits e, digits f, digits h) n WHERE g <= ${n}`;

describe.skipIf(!available)('MySQL/MariaDB source reader', () => {
  let db: MysqlScratch;
  let conn: SourceConnection;
  const big = 'ab🎰ħ'.repeat(150_000); // > 1 MB of UTF-8

  beforeAll(async () => {
    db = await createMysqlScratch('my_src');
    await db.admin.query(`
      USE \`${db.database}\`;
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
    await db.admin.query(insert, [
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
    await db.admin.query(insert, [
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
    await db.admin.query(insert, [
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
      big,
      'open',
      'x',
      Buffer.alloc(0),
      2024,
    ]);
    await db.admin.query(`INSERT INTO fidelity (id, updated_at) VALUES ('nulls', '2024-01-01 00:00:03')`);
    // 20 rows before, 2,500 with the same cursor, 20 after; 3 rows with a NULL cursor.
    await db.admin.query(`
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
    conn = await openSource(db.credentials, OPTIONS);
  });

  afterAll(async () => {
    await conn?.close();
    await db?.drop();
  });

  it('returns every type in its exact text form with the kind decided from the catalog', async () => {
    const columns = ['id', 'n', 'big', 'ubig', 'small', 'i', 'tiny', 'f', 'fl', 'b', 'bt', 'd', 'ts', 'tstz', 'j', 't'];
    const { batches, rows } = await readAll(conn, {
      schema: db.database,
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
    expect(tiny[15]).toBe(big);
    expect(tiny[18]).toBe('');
    expect(byId.get('nulls')).toEqual(['nulls', ...Array(19).fill(null), '2024-01-01 00:00:03.000000']);
  });

  it('selects only the mapped columns, plus cursor and key, with quoted identifiers and the session comment', async () => {
    const logger = captureLogger();
    const logged = await openSource(db.credentials, { ...OPTIONS, logger });
    try {
      const { batches } = await readAll(logged, {
        schema: db.database,
        table: 'fidelity',
        columns: ['n', 't'],
        cursorColumn: 'updated_at',
        keyColumn: 'id',
      });
      expect(batches[0]!.columns.map((c) => c.name)).toEqual(['n', 't', 'updated_at', 'id']);
      expect(logged.engine).toBe('mysql');
    } finally {
      await logged.close();
    }
    expect(logger.sql).toHaveLength(1);
    const sql = logger.sql[0]!;
    expect(sql).toMatch(/^SELECT `n`, `t`, `updated_at`, `id` FROM `t_my_src_[0-9a-f]+`\.`fidelity` WHERE /);
    expect(sql).toContain('ORDER BY `updated_at`, `id` LIMIT 200000');
    expect(sql).not.toContain('secret_email');
  });

  it('refuses unsafe identifiers before sending anything', async () => {
    const logger = captureLogger();
    const logged = await openSource(db.credentials, { ...OPTIONS, logger });
    try {
      const base = {
        schema: db.database,
        table: 'rounds',
        columns: ['stake'],
        cursorColumn: 'updated_at',
        keyColumn: 'round_id',
      };
      for (const spec of [
        { ...base, table: 'rounds`; DROP TABLE rounds; --' },
        { ...base, columns: ['stake', 'player` FROM mysql.user --'] },
        { ...base, keyColumn: 'round_id OR 1=1' },
        { ...base, schema: 'mysql.user' },
      ]) {
        const error = await readAll(logged, spec).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(SourceQueryError);
        expect((error as Error).message).toMatch(/refusing .* identifiers must be letters, digits and underscores/);
      }
    } finally {
      await logged.close();
    }
    expect(logger.sql).toEqual([]);
  });

  it('binds values: a continuation key with quotes and backslashes is data, not SQL', async () => {
    const spec = {
      schema: db.database,
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

  it('explains missing tables and columns', async () => {
    const spec = { schema: db.database, table: 'rounds', cursorColumn: 'updated_at', keyColumn: 'round_id' };
    await expect(readAll(conn, { ...spec, columns: ['stakes', 'nope'] })).rejects.toThrow(
      /columns "stakes", "nope" not found; the table has round_id, updated_at, stake, player/,
    );
    await expect(readAll(conn, { ...spec, table: 'no_such_table', columns: [] })).rejects.toThrow(
      /table t_my_src_\w+\.no_such_table: table not found/,
    );
  });

  it('reads 2,500 rows sharing one cursor value exactly once across batches and pages, and resumes mid-run', async () => {
    const spec = {
      schema: db.database,
      table: 'rounds',
      columns: ['round_id', 'updated_at', 'stake'],
      cursorColumn: 'updated_at',
      keyColumn: 'round_id',
      batchRows: 100,
      pageRows: 300,
    };
    const { batches, rows } = await readAll(conn, spec);
    expect(rows).toHaveLength(2540);
    expect(new Set(rows.map((r) => r[0])).size).toBe(2540);
    expect(batches.every((b) => b.rows.length <= 100)).toBe(true);
    const ids = rows.map((r) => r[0]);
    expect(ids).toEqual([...ids].sort());
    expect(rows.filter((r) => r[1] === '2024-05-01 12:00:00.500000')).toHaveLength(2500);

    const cut = 1234;
    const last = rows[cut]!;
    expect(last[1]).toBe('2024-05-01 12:00:00.500000');
    const resumed = await readAll(conn, { ...spec, after: { cursor: last[1]!, key: last[0]! } });
    expect(resumed.rows.map((r) => r[0])).toEqual(ids.slice(cut + 1));
  });

  it('reads a half-open window [from, to) on a TIMESTAMP cursor with rows exactly at both bounds', async () => {
    await db.admin.query(`
      CREATE TABLE bounds (id VARCHAR(10) PRIMARY KEY, updated_at TIMESTAMP(6) NOT NULL);
      INSERT INTO bounds VALUES
        ('before', '2024-05-31 23:59:59.999999'), ('at-from', '2024-06-01 00:00:00'),
        ('inside', '2024-06-01 12:00:00'), ('last', '2024-06-01 23:59:59.999999'),
        ('at-to', '2024-06-02 00:00:00'), ('after', '2024-06-02 00:00:00.000001');
    `);
    const spec = {
      schema: db.database,
      table: 'bounds',
      columns: ['id'],
      cursorColumn: 'updated_at',
      keyColumn: 'id',
      from: new Date('2024-06-01T00:00:00Z'),
      to: new Date('2024-06-02T00:00:00Z'),
    };
    const { rows } = await readAll(conn, spec);
    expect(rows.map((r) => r[0])).toEqual(['at-from', 'inside', 'last']);
    const next = await readAll(conn, { ...spec, from: spec.to, to: new Date('2024-06-03T00:00:00Z') });
    expect(next.rows.map((r) => r[0])).toEqual(['at-to', 'after']);
    expect((await conn.countAndSums({ ...spec, moneyColumns: [] })).count).toBe(3n);
  });

  it('windows naive Europe/Malta DATETIME values by their UTC instant across both DST changes', async () => {
    await db.admin.query(`
      INSERT INTO local_rounds
      SELECT CONCAT(day, '-', DATE_FORMAT(ts, '%H%i')), ts, day
        FROM (SELECT DATE(x.day) AS day, TIMESTAMP(x.day) + INTERVAL (10 * m.g) MINUTE AS ts
                FROM (SELECT '2024-03-31' AS day UNION ALL SELECT '2024-10-27') x,
                     (SELECT a.d + 10 * b.d AS g FROM digits a, digits b) m
               WHERE m.g < 30) s;
    `);
    const [all] = (await db.admin.query(
      `SELECT round_id, DATE_FORMAT(local_ts, '%Y-%m-%d %H:%i:%s.%f') AS local_ts FROM local_rounds`,
    )) as unknown as [{ round_id: string; local_ts: string }[]];
    for (const day of ['2024-03-31', '2024-10-27']) {
      const start = Date.parse(`${day}T00:00:00Z`) - 3 * 3_600_000;
      const seen = new Map<string, number>();
      for (let t = start; t < start + 7 * 3_600_000; t += 25 * 60_000) {
        const { rows } = await readAll(conn, {
          schema: db.database,
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
          if (utcToLocalWallTime(instant, 'Europe/Malta') === wall!.slice(0, 23)) {
            expect(instant >= t && instant < t + 25 * 60_000, `${wall} in window at ${new Date(t).toISOString()}`).toBe(
              true,
            );
          }
        }
      }
      const expected = all.filter((r) => r.local_ts.startsWith(day)).map((r) => r.round_id);
      expect(expected).toHaveLength(30);
      expect([...seen.keys()].sort()).toEqual(expected.sort());
      expect([...seen.values()].every((n) => n === 1)).toBe(true);
    }
    const hour = async (fromIso: string, toIso: string) =>
      (
        await readAll(conn, {
          schema: db.database,
          table: 'local_rounds',
          columns: ['local_ts'],
          cursorColumn: 'local_ts',
          keyColumn: 'round_id',
          from: new Date(fromIso),
          to: new Date(toIso),
        })
      ).rows.map((r) => r[0]);
    expect(await hour('2024-10-27T00:00:00Z', '2024-10-27T01:00:00Z')).toEqual(
      ['00', '10', '20', '30', '40', '50'].map((m) => `2024-10-27 02:${m}:00.000000`),
    );
    expect(await hour('2024-10-27T01:00:00Z', '2024-10-27T02:00:00Z')).toEqual([]);
  });

  it('sums money exactly and counts NULL cursors separately', async () => {
    const spec = {
      schema: db.database,
      table: 'rounds',
      cursorColumn: 'updated_at',
      keyColumn: 'round_id',
      from: new Date('2024-05-01T00:00:00Z'),
      to: new Date('2024-05-02T00:00:00Z'),
    };
    const result = await conn.countAndSums({ ...spec, moneyColumns: ['stake'] });
    expect(result.count).toBe(2540n);
    let sum = 0n;
    for (let g = 1n; g <= 2540n; g++) sum += g * 1000000007n - 5n * 10n ** 10n;
    const { rows } = await readAll(conn, { ...spec, columns: ['stake'] });
    let read = 0n;
    for (const [stake] of rows) read += BigInt(stake!.replace('.', ''));
    expect(read).toBe(sum);
    expect(BigInt(result.sums.stake!.replace('.', ''))).toBe(sum);
    expect(result.sums.stake).toMatch(/^\d+\.\d{10}$/);

    expect(await conn.countNullCursor(spec)).toEqual({
      rows: 3n,
      cursor: { name: 'updated_at', kind: 'timestamptz', sourceType: 'timestamp(6)' },
    });
    // A DATETIME cursor is naive: read in the source's zone.
    expect(
      await conn.countNullCursor({ schema: spec.schema, table: 'local_rounds', cursorColumn: 'local_ts' }),
    ).toEqual({
      rows: 0n,
      cursor: { name: 'local_ts', kind: 'timestamp', sourceType: 'datetime(6)' },
    });
    const empty = await conn.countAndSums({
      ...spec,
      from: new Date('2030-01-01'),
      to: new Date('2030-01-02'),
      moneyColumns: ['stake'],
    });
    expect(empty).toEqual({ count: 0n, sums: { stake: '0' } });
  });

  it('estimates rows, finds cursor bounds and reads the server clock', async () => {
    const estimate = await conn.estimateRows(db.database, 'rounds');
    expect(estimate).toBeGreaterThan(1000);
    expect(estimate).toBeLessThan(6000);
    const bounds = await conn.cursorBounds({
      schema: db.database,
      table: 'rounds',
      cursorColumn: 'updated_at',
      keyColumn: 'round_id',
      from: new Date('2024-05-01T12:00:00Z'),
    });
    expect(bounds).toEqual({
      min: '2024-05-01 12:00:00.500000',
      max: '2024-05-01 13:42:20.000000',
      kind: 'timestamptz',
    });
    const now = await conn.serverTime();
    expect(Math.abs(now.getTime() - Date.now())).toBeLessThan(5_000);
    await expect(conn.estimateRows(db.database, 'no_such_table')).rejects.toBeInstanceOf(SourceQueryError);
  });

  it('tells a snapshot when it was taken, by the database clock, in microseconds', async () => {
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

  it('shares one snapshot between a read and its reconciliation count', async () => {
    const spec = {
      schema: db.database,
      table: 'rounds',
      cursorColumn: 'updated_at',
      keyColumn: 'round_id',
      from: new Date('2024-05-01T00:00:00Z'),
      to: new Date('2024-05-02T00:00:00Z'),
    };
    const { read, counted } = await conn.snapshot(async () => {
      const { rows } = await readAll(conn, { ...spec, columns: ['round_id'] });
      await db.admin.query(`INSERT INTO rounds VALUES ('late', '2024-05-01 12:30:00', 1, 'x')`);
      return { read: rows.length, counted: await conn.countAndSums({ ...spec, moneyColumns: [] }) };
    });
    expect(read).toBe(2540);
    expect(counted.count).toBe(2540n);
    expect((await conn.countAndSums({ ...spec, moneyColumns: [] })).count).toBe(2541n);
    await db.admin.query(`DELETE FROM rounds WHERE round_id = 'late'`);
  });

  it('leaves the session usable after the consumer stops early', async () => {
    const spec = {
      schema: db.database,
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
    expect((await conn.countAndSums({ ...spec, moneyColumns: [] })).count).toBe(200000n);
  });

  it('applies back-pressure: a slow consumer keeps the statement waiting instead of filling memory', async () => {
    const slow = await openSource(db.credentials, { ...OPTIONS, applicationName: `${APP}/slow` });
    try {
      let rows = 0;
      let command: string | undefined;
      for await (const batch of slow.readRange({
        schema: db.database,
        table: 'many',
        columns: ['round_id', 'updated_at', 'payload'],
        cursorColumn: 'updated_at',
        keyColumn: 'round_id',
        batchRows: 1000,
      })) {
        rows += batch.rows.length;
        if (rows === 1000) {
          // Unpaused, the 200,000-row statement (84 MB) would be fully received within this pause.
          await new Promise((resolve) => setTimeout(resolve, 1500));
          const [list] = (await db.admin.query(
            `SELECT COMMAND, STATE FROM information_schema.PROCESSLIST WHERE INFO LIKE '/* ${APP}/slow */ SELECT%'`,
          )) as unknown as [{ COMMAND: string; STATE: string }[]];
          command = list[0] ? `${list[0].COMMAND}: ${list[0].STATE}` : undefined;
        }
      }
      // Still running, blocked writing to the client (MariaDB: "Writing to net", MySQL 8: "Sending to client").
      expect(command).toMatch(/^Query: (Writing to net|Sending to client)$/);
      expect(rows).toBe(200000);
    } finally {
      await slow.close();
    }
  });

  it('opens a read-only session: writes fail and are not retryable', async () => {
    const error = await conn.query(`INSERT INTO \`${db.database}\`.rounds VALUES ('w', NOW(), 1, 'x')`).catch((e) => e);
    expect(error).toBeInstanceOf(SourceQueryError);
    expect(error.message).toMatch(/READ ONLY transaction/);
    expect(isRetryable(error)).toBe(false);
    const inSnapshot = await conn
      .snapshot(() => conn.query(`DELETE FROM \`${db.database}\`.rounds`))
      .catch((e: unknown) => e);
    expect(inSnapshot).toBeInstanceOf(SourceQueryError);
    const [count] = (await db.admin.query('SELECT COUNT(*) AS n FROM rounds')) as unknown as [{ n: number }[]];
    expect(Number(count[0]!.n)).toBe(2543);
  });

  it('applies the statement timeout', async () => {
    const short = await openSource(db.credentials, { ...OPTIONS, statementTimeoutSeconds: 1 });
    try {
      const started = Date.now();
      // A real query (an interrupted SLEEP or BENCHMARK returns a value instead of an error).
      const error = await short
        .query(
          `SELECT COUNT(*) FROM \`${db.database}\`.many a, \`${db.database}\`.many b WHERE a.payload <> b.round_id`,
        )
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SourceTimeoutError);
      expect((error as Error).name).toBe('SourceTimeoutError');
      expect(isRetryable(error)).toBe(true);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await short.close();
    }
  });

  it('shows its name in the process list and surfaces a killed session as a retryable SourceConnectionError', async () => {
    const victim = await openSource(db.credentials, { ...OPTIONS, applicationName: `${APP}/kill` });
    try {
      let seen = 0;
      const error = await (async () => {
        for await (const batch of victim.readRange({
          schema: db.database,
          table: 'many',
          columns: ['round_id', 'payload'],
          cursorColumn: 'updated_at',
          keyColumn: 'round_id',
          batchRows: 1000,
          pageRows: 20_000,
        })) {
          seen += batch.rows.length;
          if (seen === 1000) {
            const [list] = (await db.admin.query(
              `SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE '/* ${APP}/kill */ %'`,
            )) as unknown as [{ ID: number }[]];
            expect(list).toHaveLength(1);
            await db.admin.query(`KILL ${Number(list[0]!.ID)}`);
          }
        }
      })().catch((e: unknown) => e);
      expect(seen).toBeLessThan(200_000);
      expect(error).toBeInstanceOf(SourceConnectionError);
      expect((error as Error).message).toMatch(
        /^operator test-op, stream game_rounds, table t_my_src_\w+\.many: reading: /,
      );
      expect(isRetryable(error)).toBe(true);
      await expect(
        victim.countNullCursor({ schema: db.database, table: 'many', cursorColumn: 'updated_at' }),
      ).rejects.toBeInstanceOf(SourceConnectionError);
    } finally {
      await victim.close();
    }
  });

  it('asks for TLS unless it is disabled: a server without TLS is refused, not used in clear', async () => {
    for (const tls of ['require', 'verify-full'] as const) {
      const error = await openSource({ ...db.credentials, tls }, OPTIONS).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SourceAccessError);
      expect(isRetryable(error)).toBe(false);
    }
  });

  it('classifies connection failures without leaking the password', async () => {
    const refused = await openSource(
      { ...db.credentials, port: 1, password: 'hunter2-very-secret' },
      { ...OPTIONS, connectTimeoutSeconds: 2 },
    ).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(SourceConnectionError);
    expect((refused as Error).message).toMatch(/connecting to MySQL at 127\.0\.0\.1:1\/\w+: .*ECONNREFUSED/);
    expect((refused as Error).message).not.toContain('hunter2');

    const noDatabase = await openSource({ ...db.credentials, database: 'no_such_database_x' }, OPTIONS).catch(
      (e: unknown) => e,
    );
    expect(noDatabase).toBeInstanceOf(SourceAccessError);
    expect((noDatabase as Error).message).toMatch(/the database does not exist \(ER_BAD_DB_ERROR\)/);
    expect(isRetryable(noDatabase)).toBe(false);
  });
});
