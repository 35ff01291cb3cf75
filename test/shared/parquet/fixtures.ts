/** Landed columns and batches for the Parquet writer and sink tests. */
import { fileURLToPath } from 'node:url';
import type { FieldType } from '#shared/canonical';
import { loadOperatorConfigFiles } from '#shared/config/load';
import { type LandedColumn, landedColumns } from '#shared/landed-schema';
import { RowGroupEncoder } from '#shared/landing/batch-encoding';
import { createParquetEncoder } from '#shared/parquet/encoder';
import { type ParquetFileOptions, ParquetFileStream } from '#shared/parquet/file-stream';
import { type EncodedRowGroups, RowGroupFileWriter } from '#shared/parquet/row-groups';
import type { LandedBatch, LandedValue } from '#shared/types';

const column = (name: string, type: FieldType, nullable = true, money = false): LandedColumn => ({
  name,
  type,
  nullable,
  description: name,
  ...(money ? { money: true } : {}),
});

/** One column of every landed type, nullable, plus a required key and the required `_cursor`. */
export const ALL_TYPES_COLUMNS: readonly LandedColumn[] = [
  column('id', { kind: 'string' }, false),
  column('dec38', { kind: 'decimal', precision: 38, scale: 10 }, true, true),
  column('dec18', { kind: 'decimal', precision: 18, scale: 2 }, true, true),
  column('dec9', { kind: 'decimal', precision: 9, scale: 3 }),
  column('i64', { kind: 'int64' }),
  column('i32', { kind: 'int32' }),
  column('flag', { kind: 'boolean' }),
  column('ts', { kind: 'timestamp' }),
  column('day', { kind: 'date' }),
  column('text', { kind: 'string' }),
  column('_cursor', { kind: 'timestamp' }, false),
];

export const MAX_DEC38 = 10n ** 38n - 1n; // 9999999999999999999999999999.9999999999
export const MAX_DEC18 = 10n ** 18n - 1n; // 9999999999999999.99
export const ONE_MB_TEXT = '€'.repeat(349_525) + 'x'; // 1 MiB of UTF-8 (3 bytes per €)

const CURSOR = Date.UTC(2024, 4, 17, 12, 0, 0);

/** Edge cases of every type, including a row of NULLs in every nullable column. */
export const ALL_TYPES_ROWS: readonly Record<string, LandedValue>[] = [
  {
    id: 'max',
    dec38: MAX_DEC38,
    dec18: MAX_DEC18,
    dec9: 999_999_999n,
    i64: 2n ** 63n - 1n,
    i32: 2 ** 31 - 1,
    flag: true,
    ts: Date.UTC(9999, 11, 31, 23, 59, 59, 999),
    day: 2_932_896, // 9999-12-31
    text: 'Ünïcödé 日本語 👩‍👩‍👧‍👦🎰 𝄞',
    _cursor: CURSOR,
  },
  {
    id: 'min',
    dec38: -MAX_DEC38,
    dec18: -MAX_DEC18,
    dec9: -999_999_999n,
    i64: -(2n ** 63n),
    i32: -(2 ** 31),
    flag: false,
    ts: Date.UTC(1900, 0, 1, 0, 0, 0, 1),
    day: -25_567, // 1900-01-01
    text: '',
    _cursor: CURSOR + 1,
  },
  {
    id: 'zero',
    dec38: 0n,
    dec18: 0n,
    dec9: 0n,
    i64: 0n,
    i32: 0,
    flag: false,
    ts: 0,
    day: 0,
    text: 'plain ascii',
    _cursor: CURSOR + 2,
  },
  {
    id: 'nulls',
    dec38: null,
    dec18: null,
    dec9: null,
    i64: null,
    i32: null,
    flag: null,
    ts: null,
    day: null,
    text: null,
    _cursor: CURSOR + 3,
  },
  {
    id: 'small-negative',
    dec38: -1n, // -0.0000000001
    dec18: -12_345n, // -123.45
    dec9: -1n,
    i64: 2n ** 53n + 1n,
    i32: -1,
    flag: true,
    ts: -1, // 1969-12-31T23:59:59.999Z
    day: -1,
    text: ONE_MB_TEXT,
    _cursor: CURSOR + 4,
  },
  {
    id: 'wide',
    dec38: 123_456_789_012_345_678_901_234_567_890n, // beyond 64 bits
    dec18: 2n ** 59n,
    dec9: 123_456n,
    i64: -(2n ** 53n) - 3n,
    i32: 42,
    flag: true,
    ts: 1_700_000_000_123,
    day: 19_675,
    text: 'tab\tnew\nline "quoted" \\ back',
    _cursor: CURSOR + 5,
  },
  {
    id: 'wide-negative',
    dec38: -(2n ** 64n) - 5n,
    dec18: -(2n ** 59n) - 1n,
    dec9: 5n,
    i64: -42n,
    i32: 7,
    flag: null,
    ts: Date.UTC(1583, 0, 1),
    day: 365,
    text: '\u0000nul',
    _cursor: CURSOR + 6,
  },
];

/** Row objects → a column-major batch aligned with `columns`. */
export function toBatch(columns: readonly LandedColumn[], rows: readonly Record<string, LandedValue>[]): LandedBatch {
  return {
    rowCount: rows.length,
    columns: columns.map((c) => rows.map((r) => (r[c.name] === undefined ? null : r[c.name]!))),
  };
}

/** The landed columns of game_rounds for the example operator (acme-casino). */
export function gameRoundColumns(): readonly LandedColumn[] {
  const [loaded] = loadOperatorConfigFiles([
    fileURLToPath(new URL('../../../config/operators/acme-casino.yaml', import.meta.url)),
  ]);
  return landedColumns(loaded!.config, 'game_rounds');
}

/**
 * `n` deterministic rows for any landed columns, numbered from `first`; `_cursor` of row i is
 * `cursorOf(i)`. Money columns hold values that sum exactly; every 7th nullable value is NULL.
 */
export function syntheticBatch(
  columns: readonly LandedColumn[],
  first: number,
  n: number,
  cursorOf: (row: number) => number,
): LandedBatch {
  return {
    rowCount: n,
    columns: columns.map((c, ci) => {
      const values = new Array<LandedValue>(n);
      for (let k = 0; k < n; k++) {
        const i = first + k;
        if (c.name === '_cursor') values[k] = cursorOf(i);
        else if (c.nullable && (i + ci) % 7 === 0) values[k] = null;
        else values[k] = syntheticValue(c.type, i, ci, cursorOf(i));
      }
      return values;
    }),
  };
}

function syntheticValue(type: FieldType, i: number, ci: number, cursor: number): LandedValue {
  switch (type.kind) {
    case 'string':
      return `v${ci}-${i % 1000}-${i}`;
    case 'int32':
      return (i * 31) % 1000;
    case 'int64':
      return BigInt(i) * 1_000_003n;
    case 'boolean':
      return i % 3 === 0;
    case 'decimal':
      return (BigInt(i) * 12_345n + BigInt(ci)) * (i % 2 === 0 ? 1n : -1n);
    case 'timestamp':
      return cursor - (i % 5) * 1000;
    case 'date':
      return Math.floor(cursor / 86_400_000);
  }
}

const CONTEXT = { operatorId: 'acme-casino', stream: 'game_rounds', windowId: 'run-1/w-1' };

/**
 * The rows written in one go by parquet-wasm's streaming writer (which compresses itself), one
 * Arrow batch per `groupRows` rows.
 */
export async function streamedFile(
  columns: readonly LandedColumn[],
  batch: LandedBatch,
  options: ParquetFileOptions,
  groupRows: number,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const file = new ParquetFileStream(async (c) => {
    chunks.push(c);
  }, options);
  const encoder = createParquetEncoder(columns, { batchRows: groupRows, batchBytes: 1 << 30 });
  let at = 0;
  while (at < batch.rowCount) {
    at = encoder.append(batch, at);
    await file.write(encoder.recordBatch());
    encoder.reset();
  }
  await file.close();
  return Buffer.concat(chunks);
}

/**
 * The rows as row groups encoded in jobs of `jobRows` rows by a RowGroupEncoder (as a worker
 * thread encodes them), placed into one file by a RowGroupFileWriter.
 */
export async function stitchedFile(
  columns: readonly LandedColumn[],
  batch: LandedBatch,
  options: ParquetFileOptions,
  jobRows: number,
): Promise<{ bytes: Uint8Array; sets: EncodedRowGroups[]; rowsWritten: number }> {
  const chunks: Uint8Array[] = [];
  const file = new RowGroupFileWriter(async (c) => {
    chunks.push(c);
  });
  const encoder = new RowGroupEncoder(columns, CONTEXT, options);
  const sets: EncodedRowGroups[] = [];
  for (let first = 0; first < batch.rowCount; first += jobRows) {
    const n = Math.min(jobRows, batch.rowCount - first);
    encoder.add({ rowCount: n, columns: batch.columns.map((c) => c.slice(first, first + n)) });
    for (const segment of encoder.finish().segments) {
      sets.push(segment.groups);
      await file.append(segment.groups);
    }
  }
  await file.close();
  return { bytes: Buffer.concat(chunks), sets, rowsWritten: file.rowsWritten };
}
