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
import { createPostgresScratch, engineAvailable, type PostgresScratch } from '../../helpers/databases.ts';

const available = await engineAvailable('postgres');

/** Unique per run, so sessions of other test files are never matched (or terminated). */
const APP = `igaming-connector/test-pg-${randomBytes(4).toString('hex')}`;

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

describe.skipIf(!available)('PostgreSQL source reader', () => {
  let db: PostgresScratch;
  let conn: SourceConnection;
  const big = 'ab🎰ħ'.repeat(150_000); // > 1 MB of UTF-8

  beforeAll(async () => {
    db = await createPostgresScratch('pg_src');
    const s = `"${db.schema}"`;
    await db.admin.query(`
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
    await db.admin.query(insert, [
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
    await db.admin.query(insert, [
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
    await db.admin.query(insert, [
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
      big,
      'ffffffff-ffff-ffff-ffff-ffffffffffff',
      'open',
      '0',
      'x',
    ]);
    await db.admin.query(`INSERT INTO ${s}.fidelity (id, updated_at) VALUES ('nulls', '2024-01-01 00:00:03+00')`);

    // 20 rows before, 2,500 with the same cursor, 20 after; 3 rows with a NULL cursor.
    await db.admin.query(`
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
    conn = await openSource(db.credentials, OPTIONS);
  });

  afterAll(async () => {
    await conn?.close();
    await db?.drop();
  });

  it('returns every type in its exact text form with the kind decided from the catalog', async () => {
    const columns = ['id', 'n', 'big', 'small', 'i', 'f', 'b', 'd', 'ts', 'tstz', 'j', 'jb', 't', 'u', 'e', 'm', 'vc'];
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
    expect(tiny[12]).toBe(big);
    expect(byId.get('nulls')).toEqual(['nulls', ...Array(16).fill(null), '2024-01-01 00:00:03+00']);
  });

  it('selects only the mapped columns, plus cursor and key, with quoted identifiers', async () => {
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
      expect(logged.engine).toBe('postgres');
    } finally {
      await logged.close();
    }
    expect(logger.sql).toHaveLength(1);
    const sql = logger.sql[0]!;
    expect(sql).toMatch(/^COPY \(SELECT "n", "t", "updated_at", "id" FROM "t_pg_src_[0-9a-f]+"\."fidelity" WHERE /);
    expect(sql).toContain('ORDER BY "updated_at", "id" LIMIT 200000) TO STDOUT');
    expect(sql).not.toContain('secret_email');
    expect(sql).not.toContain('"b"');
  });

  it('refuses unsafe identifiers before sending anything', async () => {
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
        { ...base, columns: ['stake', 'player" FROM pg_authid --'] },
        { ...base, cursorColumn: 'updated_at)' },
        { ...base, schema: 'public.x' },
      ]) {
        const error = await readAll(logged, spec).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(SourceQueryError);
        expect((error as Error).message).toMatch(/refusing .* identifiers must be letters, digits and underscores/);
        expect((error as Error).message).toContain('operator test-op, stream game_rounds');
      }
      await expect(logged.countAndSums({ ...base, moneyColumns: ['stake;'] })).rejects.toBeInstanceOf(SourceQueryError);
    } finally {
      await logged.close();
    }
    expect(logger.sql).toEqual([]);
  });

  it('explains missing tables and columns', async () => {
    const spec = { schema: db.schema, table: 'rounds', cursorColumn: 'updated_at', keyColumn: 'round_id' };
    await expect(readAll(conn, { ...spec, columns: ['Stake', 'nope'] })).rejects.toThrow(
      /columns "Stake" \(did you mean "stake"\?\), "nope" not found; the table has round_id, updated_at, stake, player/,
    );
    await expect(readAll(conn, { ...spec, table: 'no_such_table', columns: [] })).rejects.toThrow(
      /table t_pg_src_\w+\.no_such_table: table not found/,
    );
  });

  it('reads 2,500 rows sharing one cursor value exactly once across batches and pages, and resumes mid-run', async () => {
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
    expect(rows.filter((r) => r[1] === '2024-05-01 12:00:00.5+00')).toHaveLength(2500);

    const cut = 1234; // inside the equal-cursor run
    const last = rows[cut]!;
    expect(last[1]).toBe('2024-05-01 12:00:00.5+00');
    const resumed = await readAll(conn, { ...spec, after: { cursor: last[1]!, key: last[0]! } });
    expect(resumed.rows.map((r) => r[0])).toEqual(ids.slice(cut + 1));
  });

  it('reads a half-open window [from, to) with rows exactly at both bounds', async () => {
    const s = `"${db.schema}"`;
    await db.admin.query(`
      CREATE TABLE ${s}.bounds (id text PRIMARY KEY, updated_at timestamptz NOT NULL);
      INSERT INTO ${s}.bounds VALUES
        ('before', '2024-05-31 23:59:59.999999+00'), ('at-from', '2024-06-01 00:00:00+00'),
        ('inside', '2024-06-01 12:00:00+00'), ('last', '2024-06-01 23:59:59.999999+00'),
        ('at-to', '2024-06-02 00:00:00+00'), ('after', '2024-06-02 00:00:00.000001+00');
    `);
    const spec = {
      schema: db.schema,
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
    const counted = await conn.countAndSums({ ...spec, moneyColumns: [] });
    expect(counted.count).toBe(3n);
  });

  it('windows naive Europe/Malta timestamps by their UTC instant across both DST changes', async () => {
    const s = `"${db.schema}"`;
    // Every 10 minutes of wall time from 00:00 to 04:50 on both change days (gap and overlap).
    await db.admin.query(`
      INSERT INTO ${s}.local_rounds
      SELECT d::date || '-' || to_char(t, 'HH24MI'), d + t, d::date
        FROM unnest(ARRAY[timestamp '2024-03-31', timestamp '2024-10-27']) d,
             generate_series(0, 29) g, LATERAL (SELECT g * interval '10 minutes' AS t) m;
    `);
    const all = (await db.admin.query(`SELECT round_id, local_ts::text FROM ${s}.local_rounds`)).rows as {
      round_id: string;
      local_ts: string;
    }[];
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
            expect(instant >= t && instant < t + 25 * 60_000, `${wall} in window at ${new Date(t).toISOString()}`).toBe(
              true,
            );
          }
        }
      }
      const expected = all.filter((r) => r.local_ts.startsWith(day)).map((r) => r.round_id);
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
      ['00', '10', '20', '30', '40', '50'].map((m) => `2024-10-27 02:${m}:00`),
    );
    expect(await hour('2024-10-27T01:00:00Z', '2024-10-27T02:00:00Z')).toEqual([]);
    expect((await hour('2024-10-27T02:00:00Z', '2024-10-27T02:30:00Z')).at(0)).toBe('2024-10-27 03:00:00');
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

  it('sums money exactly and counts NULL cursors separately', async () => {
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
    const { rows } = await readAll(conn, { ...spec, columns: ['stake'] });
    let read = 0n;
    for (const [stake] of rows) read += BigInt(stake!.replace('.', ''));
    expect(read).toBe(sum);

    expect(await conn.countNullCursor(spec)).toEqual({
      rows: 3n,
      cursor: { name: 'updated_at', kind: 'timestamptz', sourceType: 'timestamp with time zone' },
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
    expect(await conn.estimateRows(db.schema, 'rounds')).toBe(2543);
    const bounds = await conn.cursorBounds({
      schema: db.schema,
      table: 'rounds',
      cursorColumn: 'updated_at',
      keyColumn: 'round_id',
      from: new Date('2024-05-01T12:00:00Z'),
    });
    expect(bounds).toEqual({ min: '2024-05-01 12:00:00.5+00', max: '2024-05-01 13:42:20+00', kind: 'timestamptz' });
    const now = await conn.serverTime();
    expect(Math.abs(now.getTime() - Date.now())).toBeLessThan(5_000);
    await expect(conn.estimateRows(db.schema, 'no_such_table')).rejects.toBeInstanceOf(SourceQueryError);
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
      schema: db.schema,
      table: 'rounds',
      cursorColumn: 'updated_at',
      keyColumn: 'round_id',
      from: new Date('2024-05-01T00:00:00Z'),
      to: new Date('2024-05-02T00:00:00Z'),
    };
    const s = `"${db.schema}"`;
    const { read, counted } = await conn.snapshot(async () => {
      const { rows } = await readAll(conn, { ...spec, columns: ['round_id'] });
      await db.admin.query(`INSERT INTO ${s}.rounds VALUES ('late', '2024-05-01 12:30:00+00', 1, 'x')`);
      return { read: rows.length, counted: await conn.countAndSums({ ...spec, moneyColumns: [] }) };
    });
    expect(read).toBe(2540);
    expect(counted.count).toBe(2540n);
    expect((await conn.countAndSums({ ...spec, moneyColumns: [] })).count).toBe(2541n);
    await db.admin.query(`DELETE FROM ${s}.rounds WHERE round_id = 'late'`);
  });

  it('leaves the session usable after the consumer stops early', async () => {
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

  it('applies back-pressure: a slow consumer blocks the server instead of filling memory', async () => {
    const slow = await openSource(db.credentials, { ...OPTIONS, applicationName: `${APP}/slow` });
    try {
      let rows = 0;
      let activity: { state: string; wait_event: string | null } | undefined;
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
          // Unpaused, the 200,000-row statement would be fully received within this pause.
          await new Promise((resolve) => setTimeout(resolve, 700));
          const result = await db.admin.query(
            `SELECT state, wait_event FROM pg_stat_activity WHERE application_name = '${APP}/slow'`,
          );
          activity = result.rows[0];
        }
      }
      // The statement is still running, blocked writing to the client.
      expect(activity).toEqual({ state: 'active', wait_event: 'ClientWrite' });
      expect(rows).toBe(200000);
    } finally {
      await slow.close();
    }
  });

  it('opens a read-only session: writes fail and are not retryable', async () => {
    const error = await conn.query(`INSERT INTO "${db.schema}".rounds VALUES ('w', now(), 1, 'x')`).catch((e) => e);
    expect(error).toBeInstanceOf(SourceQueryError);
    expect(error.message).toMatch(/read-only transaction/);
    expect(error.code).toBe('25006');
    expect(isRetryable(error)).toBe(false);
    const inSnapshot = await conn
      .snapshot(() => conn.query(`DELETE FROM "${db.schema}".rounds`))
      .catch((e: unknown) => e);
    expect(inSnapshot).toBeInstanceOf(SourceQueryError);
    expect((await db.admin.query(`SELECT count(*) FROM "${db.schema}".rounds`)).rows[0].count).toBe('2543');
  });

  it('applies the statement timeout', async () => {
    const short = await openSource(db.credentials, { ...OPTIONS, statementTimeoutSeconds: 1 });
    try {
      const started = Date.now();
      const error = await short.query('SELECT pg_sleep(5)').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SourceTimeoutError);
      expect((error as Error).name).toBe('SourceTimeoutError');
      expect((error as Error).message).toMatch(/statement timeout.*source\.statementTimeoutSeconds/s);
      expect(isRetryable(error)).toBe(true);
      expect(Date.now() - started).toBeLessThan(4_000);
    } finally {
      await short.close();
    }
  });

  it('shows its application name to the DBA and surfaces a terminated session as a retryable SourceConnectionError', async () => {
    const name = `${APP}/kill`;
    const victim = await openSource(db.credentials, { ...OPTIONS, applicationName: name });
    try {
      const sessions = await db.admin.query(`SELECT pid FROM pg_stat_activity WHERE application_name = $1`, [name]);
      expect(sessions.rows).toHaveLength(1);
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
            await db.admin.query('SELECT pg_terminate_backend($1)', [sessions.rows[0].pid]);
          }
        }
      })().catch((e: unknown) => e);
      expect(seen).toBeLessThan(200_000);
      expect(error).toBeInstanceOf(SourceConnectionError);
      expect((error as Error).name).toBe('SourceConnectionError');
      expect((error as Error).message).toMatch(
        /^operator test-op, stream game_rounds, table t_pg_src_\w+\.many: reading: /,
      );
      expect(isRetryable(error)).toBe(true);
      await expect(
        victim.countNullCursor({ schema: db.schema, table: 'many', cursorColumn: 'updated_at' }),
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
    expect((refused as Error).message).toMatch(/connecting to PostgreSQL at 127\.0\.0\.1:1\/\w+: .*ECONNREFUSED/);
    expect((refused as Error).message).not.toContain('hunter2');

    const noDatabase = await openSource(
      { ...db.credentials, database: 'no_such_database_x', password: 'hunter2-very-secret' },
      OPTIONS,
    ).catch((e: unknown) => e);
    expect(noDatabase).toBeInstanceOf(SourceAccessError);
    expect((noDatabase as Error).message).toMatch(
      /operator test-op.*does not exist \(3D000\)\. Check the user name and password/,
    );
    expect((noDatabase as Error).message).not.toContain('hunter2');
    expect(isRetryable(noDatabase)).toBe(false);
  });
});
