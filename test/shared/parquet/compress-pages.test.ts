/**
 * Pages encoded uncompressed and compressed afterwards with Node's zstd (compressPages) against
 * the same rows compressed by the Parquet writer itself (parquet-wasm's zstd): the same values,
 * Parquet types, encodings, statistics, page boundaries and uncompressed sizes; only compressed
 * sizes and the positions that follow from them may differ. The offset index must point at every
 * page header of the written file with the page's full size, which no reader here checks on its
 * own, so the test walks it.
 */
import { RecordBatchStreamWriter } from 'apache-arrow';
import { Table as WasmTable, writeParquet } from 'parquet-wasm/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LandedColumn } from '#shared/landed-schema';
import { partFileOptions } from '#shared/landing/part-writer';
import { compressPages, NATIVE_ZSTD } from '#shared/parquet/compress-pages';
import { createParquetEncoder } from '#shared/parquet/encoder';
import { ParquetWriteError } from '#shared/parquet/errors';
import { writerProperties } from '#shared/parquet/file-stream';
import { rowGroupsOf } from '#shared/parquet/row-groups';
import { field, intAt, listAt, readStruct, structAt, type ThriftStruct } from '#shared/parquet/thrift-compact';
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

const MAY_1 = Date.UTC(2024, 4, 1);

let duck: DuckDbHandle;
beforeAll(async () => {
  duck = await openDuckDb();
});
afterAll(() => duck?.close());

/** The footer of a Parquet file. */
function footerOf(file: Uint8Array): ThriftStruct {
  const length = new DataView(file.buffer, file.byteOffset + file.byteLength - 8, 4).getUint32(0, true);
  return readStruct(file.subarray(file.byteLength - 8 - length, file.byteLength - 8)).struct;
}

/**
 * Walks every column chunk's pages and its offset index: each page location must be where a data
 * page header starts, with the header and page bytes as its size and the row ordinals increasing.
 * Returns the pages found (type, uncompressed size) per chunk.
 */
function walkPages(file: Uint8Array): { codec: bigint; pages: [bigint, bigint][] }[] {
  const chunks: { codec: bigint; pages: [bigint, bigint][] }[] = [];
  for (const rowGroup of listAt(footerOf(file), 4).items as ThriftStruct[]) {
    for (const chunk of listAt(rowGroup, 1).items as ThriftStruct[]) {
      const meta = structAt(chunk, 3);
      const start = Number(intAt(meta, 11) ?? intAt(meta, 9));
      const end = start + Number(intAt(meta, 7));
      const pages: [bigint, bigint][] = [];
      const dataPages = new Map<number, number>();
      let at = start;
      while (at < end) {
        const { struct, end: headerEnd } = readStruct(file, at);
        const size = Number(intAt(struct, 3));
        if (intAt(struct, 1) === 0n) dataPages.set(at, headerEnd - at + size);
        pages.push([intAt(struct, 1)!, intAt(struct, 2)!]);
        at = headerEnd + size;
      }
      expect(at).toBe(end);
      expect(dataPages.has(Number(intAt(meta, 9)))).toBe(true);
      const indexAt = Number(intAt(chunk, 4));
      const locations = listAt(readStruct(file, indexAt).struct, 1).items as ThriftStruct[];
      expect(locations.map((l) => [Number(intAt(l, 1)), Number(intAt(l, 2))])).toEqual([...dataPages]);
      const firstRows = locations.map((l) => Number(intAt(l, 3)));
      expect(firstRows[0]).toBe(0);
      expect([...firstRows].sort((a, b) => a - b)).toEqual(firstRows);
      chunks.push({ codec: intAt(meta, 4)!, pages });
    }
  }
  return chunks;
}

/** What must not change with the compressor: per column chunk, everything but sizes and offsets. */
async function metadataOf(path: string) {
  return duck.query(
    `SELECT row_group_id, row_group_bytes, column_id, path_in_schema, type, num_values, stats_min, stats_max, stats_null_count,
            stats_min_value, stats_max_value, compression, encodings, total_uncompressed_size
       FROM parquet_metadata('${path}') ORDER BY row_group_id, column_id`,
  );
}

describe('pages compressed by Node after an uncompressed encoding', () => {
  it.skipIf(!NATIVE_ZSTD)(
    'lands the same values, types, encodings, statistics and pages as zstd in the writer',
    async () => {
      const cases: [readonly LandedColumn[], LandedBatch, number][] = [];
      // Every type and edge value, a 1 MiB string (a page of its own), NULLs, dictionaries.
      const allTypes = Array.from({ length: 12 }, (_, k) =>
        ALL_TYPES_ROWS.map((r, i) => ({ ...r, id: `${r.id}-${k}-${i}` })),
      ).flat();
      cases.push([ALL_TYPES_COLUMNS, toBatch(ALL_TYPES_COLUMNS, allTypes), 40]);
      const rounds = gameRoundColumns();
      cases.push([rounds, syntheticBatch(rounds, 0, 20_000, (i) => MAY_1 + i * 1000), 7_000]);

      for (const [columns, batch, groupRows] of cases) {
        const options = partFileOptions('game_rounds', columns, { rowGroupRows: groupRows });
        const inWriter = await streamedFile(columns, batch, options, groupRows);
        const byNode = (await stitchedFile(columns, batch, options, groupRows)).bytes;
        const [a, b] = [await parquetFile(inWriter), await parquetFile(byNode)];

        expect(await metadataOf(b)).toEqual(await metadataOf(a));
        const names = columns.map((c) => `"${c.name}"`).join(', ');
        for (const [x, y] of [
          [a, b],
          [b, a],
        ]) {
          const [diff] = await duck.query(
            `SELECT count(*)::INTEGER AS n FROM (SELECT ${names} FROM ${parquetSource([x!])} EXCEPT ALL SELECT ${names} FROM ${parquetSource([y!])})`,
          );
          expect(diff!.n).toBe(0);
        }
        const [count] = await duck.query(`SELECT count(*)::INTEGER AS n FROM ${parquetSource([b])}`);
        expect(count!.n).toBe(batch.rowCount);

        const pagesInWriter = walkPages(inWriter);
        const pagesByNode = walkPages(byNode);
        expect(pagesByNode.map((c) => c.pages)).toEqual(pagesInWriter.map((c) => c.pages));
        expect(new Set(pagesByNode.map((c) => c.codec))).toEqual(new Set([6n]));
        // Same algorithm and level: sizes agree within a byte or two per page.
        expect(Math.abs(byNode.byteLength - inWriter.byteLength)).toBeLessThan(inWriter.byteLength * 0.01);
      }
    },
  );

  it('refuses row groups that are compressed already, and leaves its input as it was', () => {
    const columns = gameRoundColumns();
    const encoder = createParquetEncoder(columns, { batchRows: 100, batchBytes: 1 << 30 });
    encoder.append(
      syntheticBatch(columns, 0, 100, (i) => MAY_1 + i),
      0,
    );
    const ipc = RecordBatchStreamWriter.writeAll([encoder.recordBatch()]).toUint8Array(true);
    const options = partFileOptions('game_rounds', columns);
    const zstd = rowGroupsOf(writeParquet(WasmTable.fromIPCStream(ipc), writerProperties(options)));
    expect(() => compressPages(zstd)).toThrow(ParquetWriteError);

    const plain = rowGroupsOf(
      writeParquet(WasmTable.fromIPCStream(ipc), writerProperties({ ...options, compression: 'none' })),
    );
    const before = structuredClone({ rowGroups: plain.rowGroups, offsetIndexes: plain.offsetIndexes });
    const body = Buffer.from(plain.body);
    const compressed = compressPages(plain);
    expect({ rowGroups: plain.rowGroups, offsetIndexes: plain.offsetIndexes }).toEqual(before);
    expect(Buffer.from(plain.body).equals(body)).toBe(true);
    expect(compressed.body.byteLength).toBeLessThan(plain.body.byteLength);
    expect(compressed.body.buffer.byteLength).toBe(compressed.body.byteLength);
    const meta = structAt(listAt(compressed.rowGroups[0]!, 1).items[0] as ThriftStruct, 3);
    expect(intAt(meta, 4)).toBe(6n);
    expect(field(compressed.rowGroups[0]!, 6)?.value).toBe(BigInt(compressed.body.byteLength));
  });
});
