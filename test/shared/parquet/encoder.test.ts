import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LandedColumn } from '#shared/landed-schema';
import { formatUnscaled } from '#shared/parquet/decimal-text';
import { createParquetEncoder, type ParquetEncoderOptions } from '#shared/parquet/encoder';
import { ParquetEncodeError } from '#shared/parquet/errors';
import { type ParquetFileOptions, ParquetFileStream } from '#shared/parquet/file-stream';
import { footerRowCount } from '#shared/parquet/footer';
import type { LandedBatch, LandedValue } from '#shared/types';
import { type DuckDbHandle, openDuckDb, parquetFile, parquetSource } from '../../helpers/duckdb.ts';
import { ALL_TYPES_COLUMNS, ALL_TYPES_ROWS, ONE_MB_TEXT, syntheticBatch, toBatch } from './fixtures.ts';

/** Encodes batches into one in-memory Parquet file the way the part writer does. */
async function encode(
  columns: readonly LandedColumn[],
  batches: readonly LandedBatch[],
  options: ParquetEncoderOptions & ParquetFileOptions = {},
): Promise<Uint8Array> {
  const encoder = createParquetEncoder(columns, options);
  const chunks: Uint8Array[] = [];
  const file = new ParquetFileStream(async (chunk) => {
    chunks.push(chunk);
  }, options);
  for (const batch of batches) {
    let at = 0;
    while (at < batch.rowCount) {
      at = encoder.append(batch, at);
      if (encoder.full) {
        await file.write(encoder.recordBatch());
        encoder.reset();
      }
    }
  }
  if (encoder.bufferedRows > 0) await file.write(encoder.recordBatch());
  await file.close();
  expect(file.bytesWritten).toBe(chunks.reduce((n, c) => n + c.byteLength, 0));
  return Buffer.concat(chunks);
}

let duck: DuckDbHandle;
const files: string[] = [];

async function fileOf(bytes: Uint8Array): Promise<string> {
  const path = await parquetFile(bytes);
  files.push(path);
  return path;
}

beforeAll(async () => {
  duck = await openDuckDb();
});

afterAll(async () => {
  duck?.close();
  await Promise.all(files.map((f) => rm(dirname(f), { recursive: true, force: true })));
});

describe('Parquet encoding', () => {
  it('writes every landed type exactly, as DuckDB reads it back', async () => {
    const path = await fileOf(await encode(ALL_TYPES_COLUMNS, [toBatch(ALL_TYPES_COLUMNS, ALL_TYPES_ROWS)]));
    const rows = await duck.query(`
      SELECT id, dec38::VARCHAR AS dec38, dec18::VARCHAR AS dec18, dec9::VARCHAR AS dec9, i64::VARCHAR AS i64,
             i32, flag, epoch_ms(ts)::VARCHAR AS ts, datediff('day', DATE '1970-01-01', day)::VARCHAR AS day,
             text, epoch_ms(_cursor)::VARCHAR AS _cursor
      FROM ${parquetSource([path])}`);

    const text = (v: LandedValue, scale: number) => (v === null ? null : formatUnscaled(v as bigint, scale));
    const expected = ALL_TYPES_ROWS.map((r) => ({
      id: r.id,
      dec38: text(r.dec38!, 10),
      dec18: text(r.dec18!, 2),
      dec9: text(r.dec9!, 3),
      i64: r.i64 === null ? null : String(r.i64),
      i32: r.i32,
      flag: r.flag,
      ts: r.ts === null ? null : String(r.ts),
      day: r.day === null ? null : String(r.day),
      text: r.text,
      _cursor: String(r._cursor),
    }));
    expect(rows).toHaveLength(ALL_TYPES_ROWS.length);
    rows.forEach((row, i) => {
      expect(row, `row ${expected[i]!.id}`).toEqual(expected[i]);
    });
    expect(rows[0]!.dec38).toBe('9999999999999999999999999999.9999999999');
    expect(rows[1]!.dec38).toBe('-9999999999999999999999999999.9999999999');
    expect(rows[4]!.dec38).toBe('-0.0000000001');
    expect(rows[4]!.i64).toBe('9007199254740993');
    expect(Buffer.byteLength(rows[4]!.text as string)).toBe(1024 * 1024);
    expect(rows[4]!.text).toBe(ONE_MB_TEXT);

    const instants = await duck.query(
      `SELECT strftime(ts, '%Y-%m-%dT%H:%M:%S.%g') AS ts, day::VARCHAR AS day FROM ${parquetSource([path])} WHERE id IN ('max', 'min', 'small-negative') ORDER BY id`,
    );
    expect(instants).toEqual([
      { ts: '9999-12-31T23:59:59.999', day: '9999-12-31' },
      { ts: '1900-01-01T00:00:00.001', day: '1900-01-01' },
      { ts: '1969-12-31T23:59:59.999', day: '1969-12-31' },
    ]);
  });

  it('declares the Parquet logical types Athena reads: UTC millisecond timestamps, exact decimals, dates, UTF-8', async () => {
    const path = await fileOf(await encode(ALL_TYPES_COLUMNS, [toBatch(ALL_TYPES_COLUMNS, ALL_TYPES_ROWS)]));
    const schema = await duck.query(
      `SELECT name, type, type_length, repetition_type, converted_type, scale, precision, logical_type
       FROM parquet_schema('${path}') WHERE name <> 'arrow_schema'`,
    );
    const byName = Object.fromEntries(schema.map((s) => [s.name, s]));
    expect(byName.ts).toMatchObject({ type: 'INT64', converted_type: 'TIMESTAMP_MILLIS', repetition_type: 'OPTIONAL' });
    expect(byName.ts!.logical_type).toMatch(/TimestampType\(isAdjustedToUTC=1, unit=TimeUnit\(MILLIS=/);
    expect(byName._cursor).toMatchObject({
      type: 'INT64',
      converted_type: 'TIMESTAMP_MILLIS',
      repetition_type: 'REQUIRED',
    });
    expect(byName.dec38).toMatchObject({
      type: 'FIXED_LEN_BYTE_ARRAY',
      type_length: '16',
      converted_type: 'DECIMAL',
      precision: '38',
      scale: '10',
    });
    expect(byName.dec38!.logical_type).toBe('DecimalType(scale=10, precision=38)');
    expect(byName.dec18).toMatchObject({ converted_type: 'DECIMAL', precision: '18', scale: '2' });
    expect(byName.dec9).toMatchObject({ converted_type: 'DECIMAL', precision: '9', scale: '3' });
    expect(byName.day).toMatchObject({ type: 'INT32', converted_type: 'DATE' });
    expect(byName.text).toMatchObject({ type: 'BYTE_ARRAY', converted_type: 'UTF8' });
    expect(byName.id).toMatchObject({ type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' });
    expect(byName.i64).toMatchObject({ type: 'INT64' });
    expect(byName.i32).toMatchObject({ type: 'INT32' });
    expect(byName.flag).toMatchObject({ type: 'BOOLEAN' });

    const types = await duck.query(`DESCRIBE SELECT * FROM ${parquetSource([path])}`);
    expect(Object.fromEntries(types.map((t) => [t.column_name, t.column_type]))).toEqual({
      id: 'VARCHAR',
      dec38: 'DECIMAL(38,10)',
      dec18: 'DECIMAL(18,2)',
      dec9: 'DECIMAL(9,3)',
      i64: 'BIGINT',
      i32: 'INTEGER',
      flag: 'BOOLEAN',
      ts: 'TIMESTAMP WITH TIME ZONE',
      day: 'DATE',
      text: 'VARCHAR',
      _cursor: 'TIMESTAMP WITH TIME ZONE',
    });
  });

  it('writes many row groups into one file, zstd-compressed, rows in order', async () => {
    const columns = ALL_TYPES_COLUMNS.filter((c) => c.name !== 'text');
    const batches = [0, 1, 2, 3].map((b) => syntheticBatch(columns, b * 250, 250, (i) => 1_700_000_000_000 + i));
    // Batches of 30 rows are merged by the writer into row groups of 100.
    const path = await fileOf(await encode(columns, batches, { batchRows: 30, rowGroupRows: 100 }));

    const groups = await duck.query(
      `SELECT row_group_id, any_value(row_group_num_rows) AS num_rows, list(DISTINCT compression) AS codecs
       FROM parquet_metadata('${path}') GROUP BY row_group_id ORDER BY row_group_id`,
    );
    expect(groups.map((g) => Number(g.num_rows))).toEqual([100, 100, 100, 100, 100, 100, 100, 100, 100, 100]);
    expect(new Set(groups.flatMap((g) => g.codecs as string[]))).toEqual(new Set(['ZSTD']));

    const stats = await duck.query(
      `SELECT count(*)::VARCHAR AS n, sum(dec18)::VARCHAR AS dec18, count(dec18)::VARCHAR AS dec18_present,
              min(epoch_ms(_cursor))::VARCHAR AS first, max(epoch_ms(_cursor))::VARCHAR AS last
       FROM ${parquetSource([path])}`,
    );
    const dec18 = columns.findIndex((c) => c.name === 'dec18');
    const values = batches.flatMap((b) => b.columns[dec18]!);
    const present = values.filter((v) => v !== null) as bigint[];
    expect(stats[0]).toEqual({
      n: '1000',
      dec18: formatUnscaled(
        present.reduce((a, b) => a + b, 0n),
        2,
      ),
      dec18_present: String(present.length),
      first: '1700000000000',
      last: '1700000000999',
    });
    const [order] = await duck.query(
      `SELECT bool_and(c = prev + 1) AS ascending FROM (
         SELECT epoch_ms(_cursor) AS c, lag(epoch_ms(_cursor)) OVER () AS prev FROM ${parquetSource([path])}
       ) WHERE prev IS NOT NULL`,
    );
    expect(order!.ascending).toBe(true);
  });

  it('ends a batch early when its strings exceed the byte budget', async () => {
    const columns = ALL_TYPES_COLUMNS.filter((c) => ['id', 'text', '_cursor'].includes(c.name));
    const rows = Array.from({ length: 12 }, (_, i) => ({ id: `r${i}`, text: ONE_MB_TEXT, _cursor: i }));
    const encoder = createParquetEncoder(columns, { batchBytes: 4 * 1024 * 1024 });
    const batch = toBatch(columns, rows);
    const sizes: number[] = [];
    let at = 0;
    while (at < batch.rowCount) {
      at = encoder.append(batch, at, Math.min(at + 1, batch.rowCount));
      if (encoder.full) {
        sizes.push(encoder.recordBatch().numRows);
        encoder.reset();
      }
    }
    expect(sizes).toEqual([4, 4, 4]);
  });

  it('reads the row count back from the footer, as the writer checks its own output', async () => {
    const columns = ALL_TYPES_COLUMNS.filter((c) => c.name !== 'text');
    const bytes = await encode(columns, [syntheticBatch(columns, 0, 1234, (i) => i)], {
      batchRows: 500,
      rowGroupRows: 1000,
    });
    expect(footerRowCount(bytes)).toBe(1234);
    expect(() => footerRowCount(bytes.subarray(0, bytes.length - 1))).toThrow(/no Parquet magic/);
    expect(() => footerRowCount(bytes.subarray(bytes.length - 100))).toThrow(/longer than the bytes kept/);
  });

  it('offers snappy compression', async () => {
    const columns = ALL_TYPES_COLUMNS.filter((c) => c.name !== 'text');
    const path = await fileOf(
      await encode(columns, [syntheticBatch(columns, 0, 50, (i) => i)], { compression: 'snappy' }),
    );
    const codecs = await duck.query(`SELECT DISTINCT compression FROM parquet_metadata('${path}')`);
    expect(codecs).toEqual([{ compression: 'SNAPPY' }]);
  });
});

describe('values that do not fit their column', () => {
  const context = { operatorId: 'acme-casino', stream: 'game_rounds', windowId: 'run-1/w-0001' };
  const attempt = (name: string, value: LandedValue) => {
    const row = { ...ALL_TYPES_ROWS[2]!, [name]: value };
    const encoder = createParquetEncoder(ALL_TYPES_COLUMNS, { context });
    try {
      encoder.append(toBatch(ALL_TYPES_COLUMNS, [ALL_TYPES_ROWS[0]!, row]));
    } catch (err) {
      return err;
    }
    throw new Error(`${name} = ${String(value)} was accepted`);
  };

  it.each([
    ['id', null, /column id, row #1 of the batch: is NULL but the column is required/],
    ['_cursor', null, /column _cursor, row #1 of the batch: is NULL/],
    ['dec38', 10n ** 38n, /column dec38, row #1 .*has more than 38 digits/],
    ['dec9', -(10n ** 9n), /column dec9, row #1 .*has more than 9 digits/],
    ['dec18', 12.5, /column dec18, row #1 .*expected a bigint unscaled at scale 2 for DECIMAL\(18,2\), got a number/],
    ['i64', 5, /column i64, row #1 .*expected a bigint for int64, got a number/],
    ['i64', 2n ** 63n, /column i64, row #1 .*expected a bigint/],
    ['i32', 2 ** 31, /column i32, row #1 .*expected a 32-bit integer number/],
    ['ts', 1.5, /column ts, row #1 .*epoch milliseconds/],
    ['text', 42, /column text, row #1 .*expected a string/],
    ['flag', 'yes', /column flag, row #1 .*expected a boolean/],
  ])('%s = %s is refused with the column, row and window', (name, value, message) => {
    const err = attempt(name, value as LandedValue);
    expect(err).toBeInstanceOf(ParquetEncodeError);
    expect((err as ParquetEncodeError).name).toBe('ParquetEncodeError');
    expect((err as Error).message).toMatch(/^acme-casino\/game_rounds window run-1\/w-0001: /);
    expect((err as Error).message).toMatch(message);
  });

  it('does not put the offending value in the message', () => {
    const err = attempt('text', 123_456_789) as Error;
    expect(err.message).not.toContain('123456789');
  });
});

describe('string columns', () => {
  it('hold the UTF-8 bytes of every string, whichever way it is copied (short ASCII in JS, the rest natively)', () => {
    const column: LandedColumn = { name: 'text', type: { kind: 'string' }, nullable: true, description: '' };
    const pieces = [
      'a',
      'Z',
      '0',
      ' ',
      '\u00e9',
      '\u20ac',
      '\ud83c\udfb0',
      '\ud800',
      '\udc00',
      '\u0000',
      '\u007f',
      '\u0080',
    ];
    let seed = 1;
    const next = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const values: LandedValue[] = [];
    for (let len = 0; len <= 100; len++) {
      // Pure ASCII, and non-ASCII at the start, in the middle and at the end.
      for (const at of [-1, 0, Math.floor(len / 2), len - 1]) {
        let text = '';
        for (let i = 0; i < len; i++) text += i === at ? pieces[4 + ((next() >>> 8) % 8)] : pieces[(next() >>> 8) % 4];
        values.push(text);
      }
      values.push(null);
    }
    const encoder = createParquetEncoder([column], { batchRows: values.length });
    expect(encoder.append({ rowCount: values.length, columns: [values] })).toBe(values.length);
    const data = encoder.recordBatch().getChildAt(0)!.data[0]!;
    const strings = values.filter((v): v is string => v !== null);
    const expected = Buffer.concat(strings.map((s) => Buffer.from(s, 'utf8')));
    expect(Buffer.from(data.values as Uint8Array).equals(expected)).toBe(true);
    let offset = 0;
    values.forEach((v, i) => {
      expect(data.valueOffsets[i]).toBe(offset);
      if (v !== null) offset += Buffer.byteLength(v as string, 'utf8');
    });
    expect(data.valueOffsets[values.length]).toBe(offset);
    expect(data.nullCount).toBe(101);
  });
});
