/**
 * Edge cases of the DuckDB prototype's mapping (duckdb-mapping.ts) against the connector's own
 * mapper (`createRowMapper`), value by value, on the file-drop stream of file-drop-data.ts:
 * - timestamps: every 7 minutes 13.25 s (so seconds and sub-millisecond digits vary) through the
 *   day around each DST change of 2024-2026 in several zones (half-hour changes included): the
 *   landed instant (ms) and `_cursor_us` must be the same;
 * - decimals: texts that land exactly, and texts the connector refuses (rounding, too many integer
 *   digits, not a number): the prototype must land the same value or raise an error;
 * - pseudonyms: HMAC-SHA256 in SQL (two sha256 calls) and in JS per distinct value, against the
 *   connector's pseudonymizer, on ASCII and non-ASCII ids.
 */
import { randomBytes } from 'node:crypto';
import { DuckDBInstance } from '@duckdb/node-api';
import type { OperatorConfig } from '#shared/config/schema';
import { createRowMapper } from '#shared/mapping/mapper';
import { fileSourceSeq } from '#shared/mapping/version';
import { formatUnscaled } from '#shared/parquet/decimal-text';
import { createPseudonymizer } from '#shared/pii/pseudonymizer';
import type { SourceColumn } from '#shared/types';
import { hmacHex, type SqlSourceColumn, sqlHmac, sqlMapping } from './duckdb-mapping.ts';
import { FILE_DROP_HEADER, fileDropConfig } from './file-drop-data.ts';

export interface ExactnessReport {
  readonly timestamps: { readonly checked: number; readonly different: number; readonly zones: string[] };
  readonly decimals: {
    readonly checked: number;
    readonly same: number;
    /** Texts where one side landed a value and the other refused it, or the values differ. */
    readonly different: string[];
  };
  readonly pseudonyms: { readonly checked: number; readonly sqlDifferent: number; readonly jsDifferent: number };
}

const ZONES = ['Europe/Malta', 'America/New_York', 'Australia/Lord_Howe', 'America/Santiago'];
const DECIMALS = [
  '12.34',
  '12.340',
  '12.3400000',
  '0',
  '-0.01',
  '+1',
  '.5',
  '1.',
  '00012.30',
  '9999999999999999.99',
  '-9999999999999999.99',
  '12.345',
  '0.001',
  '10000000000000000',
  '99999999999999999.9',
  '1e2',
  '1.5E+3',
  ' 1',
  '1 ',
  '',
  '-',
  '.',
  'abc',
  '1,5',
  'NaN',
  'Infinity',
  '0x10',
];
const IDS = ['cust-1', 'C0000042', 'Ärger-ß', '玩家-七', 'emoji-🎲', ' padded ', 'a'.repeat(200)];

function fileConfig(zone: string): OperatorConfig {
  return { ...fileDropConfig, fileDrop: { ...fileDropConfig.fileDrop!, timeZone: zone } } as OperatorConfig;
}

/** Wall times through the day around each change of offset of `zone` in 2024-2026. */
function wallTimesNearChanges(zone: string): string[] {
  const offset = (ms: number) => {
    const parts = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' })
      .formatToParts(new Date(ms))
      .find((p) => p.type === 'timeZoneName')!.value;
    return parts;
  };
  const out: string[] = [];
  const day = 86_400_000;
  for (let t = Date.UTC(2024, 0, 1); t < Date.UTC(2027, 0, 1); t += day) {
    if (offset(t) === offset(t + day)) continue;
    for (let wall = t - day / 2; wall < t + 2 * day; wall += 433_250) {
      const iso = new Date(wall).toISOString();
      out.push(`${iso.slice(0, 10)} ${iso.slice(11, 23)}${String(wall % 997).padStart(3, '0')}`);
    }
  }
  return out;
}

export async function checkExactness(): Promise<ExactnessReport> {
  const instance = await DuckDBInstance.create(':memory:');
  const db = await instance.connect();
  await db.run(`SET TimeZone = 'UTC'`);
  const names = FILE_DROP_HEADER.trim().split(',');
  const sqlColumns: SqlSourceColumn[] = names.map((name) => ({
    name,
    kind: name === 'booked_at' ? 'timestamp' : 'text',
  }));
  const sourceColumns: SourceColumn[] = names.map((name) => ({ name, kind: 'text', sourceType: 'csv' }));
  const key = randomBytes(32);
  const extractedAt = new Date();
  const sourceSeq = fileSourceSeq(extractedAt);
  const create = `CREATE OR REPLACE TEMP TABLE raw (${names.map((n) => `"${n}" VARCHAR`).join(', ')})`;
  const row = (amount: string, bookedAt: string, customer = 'cust-1') =>
    `('tx-1', '${customer.replaceAll("'", "''")}', 'BET', '${amount}', '1.00', 'EUR', 'r-1', '${bookedAt}')`;

  // Timestamps.
  let checked = 0;
  let different = 0;
  for (const zone of ZONES) {
    const config = fileConfig(zone);
    const walls = wallTimesNearChanges(zone);
    const mapping = sqlMapping({
      config,
      stream: 'wallet_transactions',
      sourceColumns: sqlColumns,
      runId: 'x',
      extractedAt,
      sourceSeq,
      copyText: false,
      pseudonyms: 'sql',
      key,
    });
    await db.run(create);
    await db.run(`INSERT INTO raw VALUES ${walls.map((w) => row('1.00', w)).join(', ')}`);
    const duck = (
      await db.runAndReadAll(
        `SELECT epoch_ms(created_at)::BIGINT AS ms, _cursor_us FROM (${mapping.select(0)}) ORDER BY _source_seq`,
      )
    ).getRowsJS();
    const mapper = createRowMapper({
      config,
      stream: 'wallet_transactions',
      sourceColumns,
      pseudonymizer: createPseudonymizer(key),
      runId: 'x',
      extractedAt,
      sourceSeq,
    });
    const landed = mapper.map({
      columns: sourceColumns,
      rows: walls.map((w) => ['tx-1', 'cust-1', 'BET', '1.00', '1.00', 'EUR', 'r-1', w]),
    });
    const ms = landed.columns[mapper.columns.findIndex((c) => c.name === 'created_at')]!;
    const us = landed.columns[mapper.columns.findIndex((c) => c.name === '_cursor_us')]!;
    for (let i = 0; i < walls.length; i++) {
      checked++;
      if (BigInt(duck[i]![0] as bigint) !== BigInt(ms[i] as number) || duck[i]![1] !== us[i]) different++;
    }
  }

  // Decimals, one query per text (an error ends the query).
  const config = fileConfig('UTC');
  const mapping = sqlMapping({
    config,
    stream: 'wallet_transactions',
    sourceColumns: sqlColumns,
    runId: 'x',
    extractedAt,
    sourceSeq,
    copyText: false,
    pseudonyms: 'sql',
    key,
  });
  const mapper = createRowMapper({
    config,
    stream: 'wallet_transactions',
    sourceColumns,
    pseudonymizer: createPseudonymizer(key),
    runId: 'x',
    extractedAt,
    sourceSeq,
  });
  const amountIndex = mapper.columns.findIndex((c) => c.name === 'amount');
  const decimalDiffs: string[] = [];
  let same = 0;
  for (const text of DECIMALS) {
    let js: string;
    try {
      const v = mapper.map({
        columns: sourceColumns,
        rows: [['tx-1', 'c', 'BET', text, '1', 'EUR', 'r', '2024-01-01 00:00:00']],
      }).columns[amountIndex]![0];
      js = v === null ? 'NULL' : formatUnscaled(v as bigint, 2);
    } catch {
      js = 'error';
    }
    let duck: string;
    try {
      await db.run(create);
      await db.run(`INSERT INTO raw VALUES ${row(text, '2024-01-01 00:00:00')}`);
      const r = await db.runAndReadAll(`SELECT amount::VARCHAR FROM (${mapping.select(0)})`);
      duck = String(r.getRowsJS()[0]![0] ?? 'NULL');
    } catch {
      duck = 'error';
    }
    if (js === duck) same++;
    else decimalDiffs.push(`${JSON.stringify(text)}: connector ${js}, prototype ${duck}`);
  }

  // Pseudonyms.
  const pseudonymizer = createPseudonymizer(key);
  let sqlDifferent = 0;
  let jsDifferent = 0;
  for (const id of IDS) {
    const expected = pseudonymizer.pseudonymize(id);
    const r = await db.runAndReadAll(`SELECT ${sqlHmac(key, `'${id.replaceAll("'", "''")}'`)}`);
    if (r.getRowsJS()[0]![0] !== expected) sqlDifferent++;
    if (hmacHex(key, id) !== expected) jsDifferent++;
  }
  db.closeSync();
  instance.closeSync();
  return {
    timestamps: { checked, different, zones: ZONES },
    decimals: { checked: DECIMALS.length, same, different: decimalDiffs },
    pseudonyms: { checked: IDS.length, sqlDifferent, jsDifferent },
  };
}
