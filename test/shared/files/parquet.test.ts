import {
  Bool,
  type DataType,
  Decimal,
  Int64,
  makeData,
  makeVector,
  Table,
  Timestamp,
  TimeUnit,
  Utf8,
  type Vector,
  vectorFromArray,
} from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { filesConfig, gzip, parquetOf, readFile, reasonOf, WALLET_PARQUET } from './fixtures.ts';

const config = filesConfig({ wallet_transactions: WALLET_PARQUET });
const key = 'inbound/wallet_transactions/wallet-2024-05-01.parquet';

const strings = (values: (string | null)[]) => vectorFromArray(values, new Utf8());

/** DECIMAL(precision, scale) from unscaled bigint values (two's complement, 128 bits). */
function decimals(unscaled: bigint[], precision = 18, scale = 2): Vector {
  const words = new Uint32Array(unscaled.length * 4);
  unscaled.forEach((v, i) => {
    let x = BigInt.asUintN(128, v);
    for (let k = 0; k < 4; k++) {
      words[i * 4 + k] = Number(x & 0xffffffffn);
      x >>= 32n;
    }
  });
  return makeVector(makeData({ type: new Decimal(scale, precision, 128), length: unscaled.length, data: words }));
}

function timestamps(values: bigint[], unit: TimeUnit, zone: string | null): Vector {
  const type: DataType = new Timestamp(unit, zone);
  return makeVector(makeData({ type: type as Timestamp, length: values.length, data: BigInt64Array.from(values) }));
}

function wallet(overrides: Record<string, Vector> = {}, rows = 5): Table {
  const ids = Array.from({ length: rows }, (_, i) => `t${i + 1}`);
  return new Table({
    txn_id: strings(ids),
    player_id: strings(ids.map(() => 'p1')),
    txn_type: strings(ids.map((_, i) => (i % 2 === 0 ? 'bet' : 'win'))),
    amount: decimals(ids.map((_, i) => BigInt(i) * -12345n - 1n)),
    currency: strings(ids.map(() => 'EUR')),
    booked_at: timestamps(
      ids.map((_, i) => 1714557600000000n + BigInt(i) * 1_000_001n),
      TimeUnit.MICROSECOND,
      'UTC',
    ),
    ...overrides,
  });
}

describe('Parquet files', () => {
  it('reads every row group and renders values exactly in the database text forms', async () => {
    const outcome = await readFile({ config, key, body: parquetOf(wallet(), 2) });
    expect(outcome.validation.ok).toBe(true);
    expect(outcome.columns).toEqual(['txn_id', 'player_id', 'txn_type', 'amount', 'currency', 'booked_at']);
    expect(outcome.rows).toEqual([
      ['t1', 'p1', 'bet', '-0.01', 'EUR', '2024-05-01 10:00:00.000000+00'],
      ['t2', 'p1', 'win', '-123.46', 'EUR', '2024-05-01 10:00:01.000001+00'],
      ['t3', 'p1', 'bet', '-246.91', 'EUR', '2024-05-01 10:00:02.000002+00'],
      ['t4', 'p1', 'win', '-370.36', 'EUR', '2024-05-01 10:00:03.000003+00'],
      ['t5', 'p1', 'bet', '-493.81', 'EUR', '2024-05-01 10:00:04.000004+00'],
    ]);
  });

  it('renders naive timestamps without offset, 64-bit integers exactly, and reads gzipped Parquet', async () => {
    const table = wallet(
      {
        txn_id: makeVector(
          makeData({ type: new Int64(), length: 2, data: BigInt64Array.from([9223372036854775807n, -1n]) }),
        ),
        booked_at: timestamps([1714557600123n, 0n], TimeUnit.MILLISECOND, null),
      },
      2,
    );
    const outcome = await readFile({ config, key: `${key}.gz`, body: gzip(parquetOf(table)) });
    expect(outcome.validation.result?.gzip).toBe(true);
    expect(outcome.rows.map((r) => [r[0], r[5]])).toEqual([
      ['9223372036854775807', '2024-05-01 10:00:00.123'],
      ['-1', '1970-01-01 00:00:00.000'],
    ]);
  });

  it('refuses columns whose types cannot hold their fields, listing each', async () => {
    const table = wallet(
      {
        amount: vectorFromArray([true, false], new Bool()),
        booked_at: makeVector(makeData({ type: new Int64(), length: 2, data: BigInt64Array.from([1n, 2n]) })),
      },
      2,
    );
    const reason = reasonOf(await readFile({ config, key, body: parquetOf(table) }));
    expect(reason.code).toBe('SCHEMA_MISMATCH');
    expect(reason.errors.map((e) => [e.column, e.code])).toEqual([
      ['amount', 'SCHEMA_MISMATCH'],
      ['booked_at', 'SCHEMA_MISMATCH'],
    ]);
    expect(reason.errors[0]?.message).toContain('cannot hold amount (DECIMAL(18,2))');
    expect(reason.errors[1]?.message).toContain('epoch-millis');
  });

  it('checks the values of string columns: an amount with letters is an INVALID_VALUE with its row', async () => {
    const table = wallet(
      {
        amount: strings(['12.50', '12.5abc', null]),
        booked_at: strings(['2024-05-01T10:00:00Z', 'x', '2024-05-01 10:00:00']),
      },
      3,
    );
    const outcome = await readFile({ config, key, body: parquetOf(table) });
    const reason = reasonOf(outcome);
    expect(reason.errors.map((e) => [e.line, e.row, e.column, e.example])).toEqual([
      [null, 2, 'amount', '"12.5abc"'],
      [null, 2, 'booked_at', '"x"'],
    ]);
    expect(outcome.rows.map((r) => r[3])).toEqual(['12.50', null]);
  });

  it('reads integer columns as epoch timestamps when the format says so', async () => {
    const epoch = filesConfig({
      wallet_transactions: { ...WALLET_PARQUET, format: { type: 'parquet', timestampFormat: 'epoch-millis' } },
    });
    const table = wallet(
      {
        booked_at: makeVector(makeData({ type: new Int64(), length: 1, data: BigInt64Array.from([1714557600000n]) })),
      },
      1,
    );
    const outcome = await readFile({ config: epoch, key, body: parquetOf(table) });
    expect(outcome.rows[0]?.[5]).toBe('2024-05-01 10:00:00.000+00');
  });

  it('refuses a corrupted footer with CORRUPT_PARQUET', async () => {
    const bytes = Buffer.from(parquetOf(wallet()));
    const footerLength = bytes.readUInt32LE(bytes.length - 8);
    for (let i = bytes.length - 8 - footerLength; i < bytes.length - 8; i += 3) bytes[i] = 0xff;
    const reason = reasonOf(await readFile({ config, key, body: bytes }));
    expect(reason.code).toBe('CORRUPT_PARQUET');
    expect(reason.message).toContain('footer cannot be read');
  });

  it('refuses a truncated Parquet file, and a file that is not Parquet at all', async () => {
    const bytes = parquetOf(wallet());
    const truncated = reasonOf(await readFile({ config, key, body: bytes.subarray(0, bytes.length - 100) }));
    expect(truncated).toMatchObject({ code: 'CORRUPT_PARQUET' });
    expect(truncated.message).toContain('does not end with the PAR1 magic');
    const csv = reasonOf(await readFile({ config, key, body: 'txn_id,player_id\nt1,p1\n' }));
    expect(csv.message).toContain('the file is not Parquet');
  });

  it('refuses an unmapped column, and accepts a file with no rows', async () => {
    const extra = wallet({ iban: strings(['DE89370400440532013000', null, null, null, null]) });
    const reason = reasonOf(await readFile({ config, key, body: parquetOf(extra) }));
    expect(reason).toMatchObject({ code: 'UNEXPECTED_COLUMN', errors: [{ column: 'iban', line: null }] });
    const empty = await readFile({ config, key, body: parquetOf(wallet({}, 0)) });
    expect(empty.validation).toMatchObject({ ok: true, result: { rowsRead: 0 } });
  });
});
