/**
 * Pseudonyms in DuckDB, three ways, on N rows of M distinct player ids (the benchmark's shape:
 * 1,000,000 rows of 50,000 players by default), each checked against the connector's
 * pseudonymizer:
 * - `distinct-js-join`: SELECT DISTINCT, HMAC-SHA256 in JS per distinct value (node:crypto),
 *   appended to a table, joined back (what duckdb-child.ts does);
 * - `sql-sha256`: HMAC built from two DuckDB `sha256` calls per row (duckdb-mapping.ts `sqlHmac`);
 * - `js-udf`: a JS scalar function (`registerScalarFunction`) with the connector's pseudonymizer
 *   (its cache included), called by DuckDB per vector.
 *
 *   npx tsx bench/duckdb-hmac.ts [rows] [distinct]
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { DuckDBInstance, DuckDBScalarFunction, VARCHAR } from '@duckdb/node-api';
import { createPseudonymizer } from '#shared/pii/pseudonymizer';
import { hmacHex, sqlHmac } from './duckdb-mapping.ts';

const rows = Number(process.argv[2] ?? 1_000_000);
const distinct = Number(process.argv[3] ?? 50_000);
const key = randomBytes(32);
const instance = await DuckDBInstance.create(':memory:');
const db = await instance.connect();
await db.run(
  `CREATE TABLE ids AS SELECT 'C' || lpad((1 + (i * 7919) % ${distinct})::VARCHAR, 7, '0') AS id FROM range(${rows}) t(i)`,
);
const pseudonymizer = createPseudonymizer(key);
db.registerScalarFunction(
  DuckDBScalarFunction.create({
    name: 'pseudonym_js',
    mainFunction: (_info, input, output) => {
      const v = input.getColumnVector(0);
      for (let r = 0; r < input.rowCount; r++) {
        const id = v.getItem(r) as string | null;
        output.setItem(r, id === null ? null : pseudonymizer.pseudonymize(id));
      }
      output.flush();
    },
    returnType: VARCHAR,
    parameterTypes: [VARCHAR],
  }),
);

/** Runs `fn`, then checks every pseudonym in `out` against the connector's. */
async function measure(name: string, fn: () => Promise<void>): Promise<Record<string, unknown>> {
  await db.run('DROP TABLE IF EXISTS out');
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await fn();
  const cpu = process.cpuUsage(cpu0);
  const seconds = (performance.now() - t0) / 1000;
  const check = await db.runAndReadAll('SELECT DISTINCT id, p FROM out');
  const expected = createPseudonymizer(key);
  let wrong = 0;
  for (const [id, p] of check.getRowsJS() as [string, string][]) if (expected.pseudonymize(id) !== p) wrong++;
  const count = Number((await db.runAndReadAll('SELECT count(*) FROM out')).getRowsJS()[0]![0]);
  return {
    name,
    rows: count,
    seconds: Math.round(seconds * 1000) / 1000,
    cpuSecondsPerMillionRows: Math.round(((cpu.user + cpu.system) / 1e6 / rows) * 1e6 * 100) / 100,
    wrong,
    loadAvg1m: Math.round(loadavg()[0]! * 100) / 100,
  };
}

const results = [
  await measure('distinct-js-join', async () => {
    await db.run('CREATE OR REPLACE TEMP TABLE p (v VARCHAR, p VARCHAR)');
    const values = (await db.runAndReadAll('SELECT DISTINCT id FROM ids')).getColumnsJS()[0] as string[];
    const appender = await db.createAppender('p', 'main', 'temp');
    for (const v of values) {
      appender.appendVarchar(v);
      appender.appendVarchar(hmacHex(key, v));
      appender.endRow();
    }
    appender.closeSync();
    await db.run('CREATE TABLE out AS SELECT ids.id, p.p FROM ids LEFT JOIN p ON p.v = ids.id');
  }),
  await measure('sql-sha256', async () => {
    await db.run(`CREATE TABLE out AS SELECT id, ${sqlHmac(key, 'id')} AS p FROM ids`);
  }),
  await measure('js-udf', async () => {
    await db.run('CREATE TABLE out AS SELECT id, pseudonym_js(id) AS p FROM ids');
  }),
];
for (const r of results) console.log(JSON.stringify(r));
db.closeSync();
instance.closeSync();
