/**
 * Reading landed parts back: every landed type round-trips exactly through the writer and the
 * reader, a part's own schema is what comes back, and a file the writer could not have produced
 * is refused.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schemaFingerprint } from '#shared/landed-schema';
import { arrowSchema, createParquetEncoder } from '#shared/parquet/encoder';
import { emptyParquetFile, ParquetFileStream } from '#shared/parquet/file-stream';
import { openLandedPart, PartReadError } from '#shared/parquet/part-reader';
import type { LandedValue } from '#shared/types';
import { openDuckDb } from '../../helpers/duckdb.ts';
import { ALL_TYPES_COLUMNS, ALL_TYPES_ROWS, toBatch } from './fixtures.ts';

let dir: string;

async function writeParquet(rows: readonly Record<string, LandedValue>[], rowGroupRows?: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  const encoder = createParquetEncoder(ALL_TYPES_COLUMNS, { batchRows: 2 });
  const file = new ParquetFileStream(async (c) => void chunks.push(Uint8Array.from(c)), {
    ...(rowGroupRows ? { rowGroupRows } : {}),
  });
  const batch = toBatch(ALL_TYPES_COLUMNS, rows);
  for (let start = 0; start < batch.rowCount; ) {
    start = encoder.append(batch, start);
    await file.write(encoder.recordBatch());
    encoder.reset();
  }
  await file.close();
  const path = join(dir, `part-${chunks.length}-${Math.random().toString(36).slice(2)}.parquet`);
  await writeFile(path, Buffer.concat(chunks));
  return path;
}

async function readAll(path: string): Promise<Record<string, LandedValue>[]> {
  const part = await openLandedPart(path, 'the part');
  try {
    const rows: Record<string, LandedValue>[] = [];
    for await (const batch of part.batches()) {
      for (let i = 0; i < batch.rowCount; i++) {
        rows.push(Object.fromEntries(part.columns.map((c, k) => [c.name, batch.columns[k]![i]!])));
      }
    }
    return rows;
  } finally {
    part.close();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'part-reader-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('reading a landed part', () => {
  it('returns every value of every landed type exactly as it was written', async () => {
    const path = await writeParquet(ALL_TYPES_ROWS, 3);
    const part = await openLandedPart(path, 'the part');
    expect(part.rowCount).toBe(ALL_TYPES_ROWS.length);
    expect(part.columns.map((c) => [c.name, c.type, c.nullable])).toEqual(
      ALL_TYPES_COLUMNS.map((c) => [c.name, c.type, c.nullable]),
    );
    expect(schemaFingerprint(part.columns)).toBe(schemaFingerprint(ALL_TYPES_COLUMNS));
    part.close();
    const expected = ALL_TYPES_ROWS.map((r) =>
      Object.fromEntries(ALL_TYPES_COLUMNS.map((c) => [c.name, r[c.name] === undefined ? null : r[c.name]!])),
    );
    expect(await readAll(path)).toEqual(expected);
  });

  it('reads a part without rows written by emptyParquetFile, with its schema', async () => {
    const path = join(dir, 'empty.parquet');
    await writeFile(path, emptyParquetFile(arrowSchema(ALL_TYPES_COLUMNS)));
    const part = await openLandedPart(path, 'the empty part');
    expect(part.rowCount).toBe(0);
    expect(schemaFingerprint(part.columns)).toBe(schemaFingerprint(ALL_TYPES_COLUMNS));
    part.close();
    expect(await readAll(path)).toEqual([]);
    const duck = await openDuckDb();
    try {
      expect(await duck.query(`SELECT count(*) AS n FROM read_parquet('${path}')`)).toEqual([{ n: '0' }]);
    } finally {
      duck.close();
    }
  });

  it('refuses a file that is not Parquet, and a column type the writer never produces', async () => {
    const junk = join(dir, 'junk.parquet');
    await writeFile(junk, 'not parquet at all');
    await expect(openLandedPart(junk, 'raw/x/part-00000.parquet')).rejects.toThrow(
      /raw\/x\/part-00000\.parquet is not a readable Parquet file/,
    );
    const duck = await openDuckDb();
    const doubles = join(dir, 'doubles.parquet');
    try {
      await duck.query(`COPY (SELECT 1.5::DOUBLE AS amount) TO '${doubles}' (FORMAT parquet)`);
    } finally {
      duck.close();
    }
    const error = await openLandedPart(doubles, 'the part').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PartReadError);
    expect((error as Error).message).toMatch(/column amount has the Parquet\/Arrow type Float64.*never produces/);
  });
});
