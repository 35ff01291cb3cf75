/**
 * Throughput of the PostgreSQL reader against `COPY … TO STDOUT (FORMAT csv)` drained by psql,
 * on 1,000,000 game-round-like rows (10 columns). Also times a server-side cursor (pg-cursor),
 * the alternative the reader does not use.
 *
 *   npx tsx bench/pg-reader.ts [rows]
 */
import { execFileSync } from 'node:child_process';
import pg from 'pg';
import Cursor from 'pg-cursor';
import { openSource } from '../lambdas/shared/sources/index.ts';
import { createPostgresScratch, PG_URL } from '../test/helpers/databases.ts';

const ROWS = Number(process.argv[2] ?? 1_000_000);
const COLUMNS = [
  'round_id',
  'player_id',
  'game_id',
  'provider',
  'stake',
  'payout',
  'bonus_stake',
  'created_at',
  'updated_at',
  'status',
];

const db = await createPostgresScratch('bench');
const table = `"${db.schema}".game_rounds`;
try {
  const t0 = performance.now();
  await db.admin.query(`
    CREATE TABLE ${table} (
      round_id text PRIMARY KEY, player_id text NOT NULL, game_id text NOT NULL, provider text NOT NULL,
      stake numeric(18,2) NOT NULL, payout numeric(18,2) NOT NULL, bonus_stake numeric(18,2),
      created_at timestamp NOT NULL, updated_at timestamptz NOT NULL, status text NOT NULL);
    INSERT INTO ${table}
    SELECT 'r-' || lpad(g::text, 9, '0'), 'p-' || (g % 50000), 'g-' || (g % 700), (ARRAY['evo','pragmatic','netent'])[1 + g % 3],
           (g % 10000) / 100.0, (g % 7777) / 100.0, CASE WHEN g % 5 = 0 THEN NULL ELSE (g % 300) / 100.0 END,
           timestamp '2024-01-01' + g * interval '2 second',
           timestamptz '2024-01-01 00:00:00+00' + g * interval '2 second' + (g % 1000) * interval '1 microsecond',
           (ARRAY['settled','open','cancelled'])[1 + g % 3]
      FROM generate_series(1, ${ROWS}) g;
    CREATE INDEX ON ${table} (updated_at, round_id);`);
  await db.admin.query(`VACUUM ANALYZE ${table}`);
  console.log(`setup: ${ROWS} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const select = `SELECT ${COLUMNS.join(', ')} FROM ${table} ORDER BY updated_at, round_id`;
  const rate = (rows: number, ms: number) => `${Math.round(rows / (ms / 1000)).toLocaleString('en-US')} rows/s`;
  const best = async (label: string, run: () => Promise<number>) => {
    let fastest = Number.POSITIVE_INFINITY;
    let rows = 0;
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      rows = await run();
      fastest = Math.min(fastest, performance.now() - started);
    }
    console.log(
      `${label.padEnd(48)} ${rate(rows, fastest).padStart(18)}  (best of 3: ${(fastest / 1000).toFixed(2)} s)`,
    );
    return rows / (fastest / 1000);
  };

  const copy = await best('psql: COPY (SELECT … ORDER BY) TO STDOUT csv', async () => {
    execFileSync('psql', [PG_URL, '-qAtc', `\\copy (${select}) to '/dev/null' csv`]);
    return ROWS;
  });

  const conn = await openSource(db.credentials, {
    applicationName: 'igaming-connector/bench/game_rounds',
    statementTimeoutSeconds: 300,
    timeZone: 'Europe/Malta',
  });
  const reader = await best('reader: readRange drained (COPY text, paged)', async () => {
    let rows = 0;
    for await (const batch of conn.readRange({
      schema: db.schema,
      table: 'game_rounds',
      columns: COLUMNS,
      cursorColumn: 'updated_at',
      keyColumn: 'round_id',
    })) {
      rows += batch.rows.length;
    }
    return rows;
  });
  await conn.close();

  const client = new pg.Client({ connectionString: PG_URL, types: { getTypeParser: () => (v: string) => v } as never });
  await client.connect();
  const cursor = await best('pg-cursor: FETCH 10,000 rows (rowMode array)', async () => {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const c = client.query(new Cursor(select, [], { rowMode: 'array' }));
    let rows = 0;
    for (;;) {
      const batch = await c.read(10_000);
      if (batch.length === 0) break;
      rows += batch.length;
    }
    await c.close();
    await client.query('COMMIT');
    return rows;
  });
  await client.end();
  console.log(
    `reader / COPY: ${((reader / copy) * 100).toFixed(0)} %   pg-cursor / COPY: ${((cursor / copy) * 100).toFixed(0)} %`,
  );
} finally {
  await db.drop();
}
