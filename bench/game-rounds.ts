/**
 * The benchmark's source table, shared by `npm run bench` and `npm run bench:duckdb`: a seeded
 * `game_rounds` table of the synthetic operator (native column names, Malta wall-clock times),
 * the operator config reduced to that stream, and the extractor's SELECT over it.
 */
import type pg from 'pg';
import { syntheticOperatorConfig } from '../synthetic/operator.ts';

/** Columns of the extractor's SELECT of the benchmark stream, in its order. */
export const GAME_ROUNDS_COLUMNS = [
  'customer_id',
  'round_id',
  'game_code',
  'studio',
  'bet_amount',
  'win_amount',
  'bonus_bet_amount',
  'currency_code',
  'round_state',
  'started_ts',
  'settled_ts',
  'modified_ts',
] as const;

/** The extractor's SELECT of the window [from, to): same columns, range and order. */
export function extractorSelect(schema: string, from: Date, to: Date): string {
  const wall = (d: Date) => `(timestamptz '${d.toISOString()}' AT TIME ZONE 'Europe/Malta')`;
  return `SELECT ${GAME_ROUNDS_COLUMNS.join(', ')} FROM ${schema}.game_rounds
    WHERE modified_ts >= ${wall(from)} AND modified_ts < ${wall(to)} ORDER BY modified_ts, round_id`;
}

/** The benchmark table: the synthetic operator's game_rounds (native names), ~7 s apart. */
export async function seed(client: pg.Client, schema: string, rows: number): Promise<{ from: Date; to: Date }> {
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.query(`CREATE SCHEMA ${schema}`);
  await client.query(`CREATE TABLE ${schema}.game_rounds (
    round_id varchar(24) PRIMARY KEY, customer_id varchar(16) NOT NULL, game_code varchar(32), studio varchar(32),
    bet_amount numeric(18,2), win_amount numeric(18,2), bonus_bet_amount numeric(18,2), currency_code char(3),
    round_state varchar(8), started_ts timestamp(6), settled_ts timestamp(6), modified_ts timestamp(6) NOT NULL)`);
  await client.query('SELECT setseed(0.42)');
  await client.query(
    `INSERT INTO ${schema}.game_rounds
     SELECT 'R' || lpad(i::text, 10, '0'),
            'C' || lpad((1 + (i::bigint * 7919) % 50000)::text, 7, '0'),
            (ARRAY['starburst','book-of-dead','sweet-bonanza','lightning-roulette','blackjack-classic','gates-of-olympus'])[1 + i % 6],
            (ARRAY['NetEnt','Play''n GO','Pragmatic Play','Evolution','Evolution','Pragmatic Play'])[1 + i % 6],
            round((0.1 + random() * 50)::numeric, 2),
            CASE WHEN random() < 0.42 THEN round((random() * 120)::numeric, 2) ELSE 0 END,
            CASE WHEN i % 10 = 0 THEN 0.50 ELSE 0 END,
            (ARRAY['EUR','SEK','GBP','CAD'])[1 + i % 4],
            CASE WHEN i % 200 = 0 THEN 'OPEN' WHEN i % 97 = 0 THEN 'VOID' ELSE 'CLOSED' END,
            ts, CASE WHEN i % 200 = 0 THEN NULL ELSE ts + interval '4 seconds' END,
            ts + interval '4 seconds'
     FROM generate_series(1, $1::int) AS i,
          LATERAL (SELECT timestamp '2026-08-20 00:00:00' + (i * (90 * 86400.0 / $1)) * interval '1 second' AS ts) t`,
    [rows],
  );
  await client.query(`CREATE INDEX ON ${schema}.game_rounds (modified_ts, round_id)`);
  await client.query(`ANALYZE ${schema}.game_rounds`);
  // The window covers every row: [first cursor, last cursor + 1 s), in UTC (the table is Malta time).
  const bounds = await client.query(
    `SELECT (min(modified_ts) AT TIME ZONE 'Europe/Malta') AS lo, (max(modified_ts) AT TIME ZONE 'Europe/Malta') AS hi FROM ${schema}.game_rounds`,
  );
  const row = bounds.rows[0] as { lo: Date; hi: Date };
  return { from: new Date(row.lo.getTime() - 1000), to: new Date(row.hi.getTime() + 1000) };
}

/** The synthetic operator's config, reduced to its game_rounds stream, on the benchmark schema. */
export function benchConfig(url: string, schema: string): Record<string, unknown> {
  const raw = syntheticOperatorConfig({ engine: 'postgres', url, schema, operatorId: 'bench-casino' });
  const streams = raw.streams as Record<string, unknown>;
  return { ...raw, streams: { game_rounds: streams.game_rounds } };
}

/** (a): COPY of the extractor's SELECT (same columns, range and order), drained by the client. */
export async function measureCopy(
  client: pg.Client,
  schema: string,
  from: Date,
  to: Date,
): Promise<{ rows: number; seconds: number }> {
  const sql = `COPY (${extractorSelect(schema, from, to)}) TO STDOUT (FORMAT csv)`;
  const started = performance.now();
  // pg drains COPY OUT data and discards it when nothing consumes the stream.
  const result = await client.query(sql);
  return { rows: result.rowCount ?? 0, seconds: (performance.now() - started) / 1000 };
}
