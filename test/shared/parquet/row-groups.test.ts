/**
 * Row groups encoded apart (as a worker thread encodes them) and placed into one Parquet file: the
 * file equals, byte for byte, the file the streaming writer produces from the same rows with the
 * same row-group boundaries, so values, Parquet types, statistics and page indexes are the same;
 * and independent readers (DuckDB, parquet-rs) read it. The byte comparison is made uncompressed:
 * with zstd the pages are compressed by Node's zstd, not the streaming writer's
 * (compress-pages.test.ts compares those two).
 */

import { tableFromIPC } from 'apache-arrow';
import { readParquet } from 'parquet-wasm/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LandedColumn } from '#shared/landed-schema';
import { RowGroupEncoder } from '#shared/landing/batch-encoding';
import { partFileOptions } from '#shared/landing/part-writer';
import { ParquetWriteError } from '#shared/parquet/errors';
import type { ParquetFileOptions } from '#shared/parquet/file-stream';
import { footerRowCount } from '#shared/parquet/footer';
import { type EncodedRowGroups, RowGroupFileWriter, rowGroupsOf } from '#shared/parquet/row-groups';
import type { LandedBatch } from '#shared/types';
import { type DuckDbHandle, openDuckDb, parquetFile, parquetSource } from '../../helpers/duckdb.ts';
import {
  ALL_TYPES_COLUMNS,
  ALL_TYPES_ROWS,
  gameRoundColumns,
  stitchedFile,
  streamedFile,
  syntheticBatch,
  toBatch,
} from './fixtures.ts';

const DAY = 86_400_000;
const MAY_1 = Date.UTC(2024, 4, 1);
const context = { operatorId: 'acme-casino', stream: 'game_rounds', windowId: 'run-1/w-1' };

let duck: DuckDbHandle;
beforeAll(async () => {
  duck = await openDuckDb();
});
afterAll(() => duck?.close());

/** The rows as row groups encoded in jobs of `jobRows` rows, placed into one file. */
async function stitched(
  columns: readonly LandedColumn[],
  batch: LandedBatch,
  options: ParquetFileOptions,
  jobRows: number,
): Promise<{ bytes: Uint8Array; sets: EncodedRowGroups[] }> {
  const { bytes, sets, rowsWritten } = await stitchedFile(columns, batch, options, jobRows);
  expect(rowsWritten).toBe(batch.rowCount);
  return { bytes, sets };
}

describe('row groups encoded apart and placed into one file', () => {
  it('equals the streamed file byte for byte: every type, edge values, NULLs, dictionaries, page indexes', async () => {
    const columns = ALL_TYPES_COLUMNS;
    // The edge rows, repeated so the file has several row groups and pages, all on one date.
    const rows = Array.from({ length: 40 }, (_, k) =>
      ALL_TYPES_ROWS.map((r, i) => ({ ...r, id: `${r.id}-${k}-${i}` })),
    ).flat();
    const batch = toBatch(columns, rows);
    const options = partFileOptions('game_rounds', columns, { rowGroupRows: 50, compression: 'none' });
    const expected = await streamedFile(columns, batch, options, 50);
    const { bytes } = await stitched(columns, batch, options, 50);
    expect(footerRowCount(bytes)).toBe(rows.length);
    expect(Buffer.from(bytes).equals(Buffer.from(expected))).toBe(true);
  });

  it('equals the streamed file for game rounds in jobs of whole row groups, with plain keys', async () => {
    const columns = gameRoundColumns();
    const batch = syntheticBatch(columns, 0, 3000, (i) => MAY_1 + i * 1000);
    const options = partFileOptions('game_rounds', columns, { rowGroupRows: 500, compression: 'none' });
    const expected = await streamedFile(columns, batch, options, 500);
    const { bytes, sets } = await stitched(columns, batch, options, 1000);
    // Jobs of 1000 rows, row groups of 500: each job is encoded as two sets of one row group.
    expect(sets.map((s) => [s.rows, s.rowGroups.length])).toEqual(Array(6).fill([500, 1]));
    expect(Buffer.from(bytes).equals(Buffer.from(expected))).toBe(true);
  });

  it('is read back exactly by DuckDB and by parquet-rs, with statistics per row group', async () => {
    const columns = gameRoundColumns();
    // Jobs that cross a date: row groups end at the job and at the date boundary.
    const batch = syntheticBatch(columns, 0, 2500, (i) => MAY_1 + DAY - 1000 * 1000 + i * 1000);
    const options = partFileOptions('game_rounds', columns);
    const { bytes, sets } = await stitched(columns, batch, options, 700);
    const groups = sets.flatMap((s) => s.rowGroups.length);
    // 700, 300 | 400, 700, 700 (the date changes at row 1000)
    expect(sets.map((s) => s.rows)).toEqual([700, 300, 400, 700, 400]);
    expect(groups).toEqual([1, 1, 1, 1, 1]);

    const path = await parquetFile(bytes);
    const meta = await duck.query(
      `SELECT row_group_id::INTEGER AS rg, row_group_num_rows::INTEGER AS n, stats_min, stats_max
       FROM parquet_metadata('${path}') WHERE path_in_schema = '_cursor' ORDER BY rg`,
    );
    expect(meta.map((m) => m.n)).toEqual([700, 300, 400, 700, 400]);
    // Each row group's _cursor statistics are its own rows' range.
    let first = 0;
    for (const m of meta) {
      const min = new Date(MAY_1 + DAY - 1000 * 1000 + first * 1000)
        .toISOString()
        .replace('T', ' ')
        .replace('.000Z', '');
      expect(String(m.stats_min)).toContain(min.slice(0, 19));
      first += m.n as number;
    }
    const [duckRows] = await duck.query(
      `SELECT count(*)::INTEGER AS n, count(DISTINCT round_id)::INTEGER AS ids, sum(stake)::VARCHAR AS stake FROM ${parquetSource([path])}`,
    );
    const stake = columns.findIndex((c) => c.name === 'stake');
    const sum = (batch.columns[stake] as (bigint | null)[]).reduce<bigint>((s, v) => s + (v ?? 0n), 0n);
    expect(duckRows).toMatchObject({ n: 2500, ids: 2500 });
    const scale = (columns[stake]!.type as { scale: number }).scale;
    expect(BigInt(String(duckRows!.stake).replace('.', ''))).toBe(sum);
    expect(String(duckRows!.stake).split('.')[1]?.length ?? 0).toBe(scale);

    // parquet-rs checks page offsets and the page indexes when it reads.
    const table = tableFromIPC(readParquet(bytes).intoIPCStream());
    expect(table.numRows).toBe(2500);
    const roundIds = table.getChild('round_id')!.toArray() as string[];
    const roundIndex = columns.findIndex((c) => c.name === 'round_id');
    expect(roundIds).toEqual(batch.columns[roundIndex]);
  });

  it('refuses row groups of another schema in one file', async () => {
    const a = new RowGroupEncoder(ALL_TYPES_COLUMNS, context, {});
    a.add(toBatch(ALL_TYPES_COLUMNS, ALL_TYPES_ROWS));
    const columns = gameRoundColumns();
    const b = new RowGroupEncoder(columns, context, {});
    b.add(syntheticBatch(columns, 0, 10, (i) => MAY_1 + i));
    const file = new RowGroupFileWriter(async () => {});
    await file.append(a.finish().segments[0]!.groups);
    await expect(file.append(b.finish().segments[0]!.groups)).rejects.toThrow(ParquetWriteError);
    expect(() => rowGroupsOf(new Uint8Array(20))).toThrow(ParquetWriteError);
  });
});
