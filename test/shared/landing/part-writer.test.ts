import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WindowProgress } from '#shared/contracts/steps';
import type { LandedColumn } from '#shared/landed-schema';
import { PartitionedPartWriter, type PartitionedPartWriterOptions } from '#shared/landing/part-writer';
import { rawPartKey } from '#shared/layout';
import { formatUnscaled } from '#shared/parquet/decimal-text';
import { ParquetEncodeError } from '#shared/parquet/errors';
import { S3Sink } from '#shared/sink/s3';
import type { LandedBatch } from '#shared/types';
import { type DuckDbHandle, openDuckDb, parquetSource } from '../../helpers/duckdb.ts';
import { type S3rverHandle, startS3rver } from '../../helpers/s3rver.ts';
import { gameRoundColumns, syntheticBatch } from '../parquet/fixtures.ts';

const DAY = 86_400_000;
const MAY_1 = Date.UTC(2024, 4, 1);

let s3: S3rverHandle;
let duck: DuckDbHandle;
let workDir: string;
let columns: readonly LandedColumn[];

beforeAll(async () => {
  [s3, duck, workDir] = await Promise.all([startS3rver(), openDuckDb(), mkdtemp(join(tmpdir(), 'part-writer-'))]);
  columns = gameRoundColumns();
});

afterAll(async () => {
  duck?.close();
  await s3?.stop();
  await rm(workDir, { recursive: true, force: true });
});

/** Rows spread evenly over three UTC days, with rows exactly at both edges of each midnight. */
function threeDayCursor(total: number): (i: number) => number {
  return (i) => {
    if (i === 0) return MAY_1;
    if (i === total - 1) return MAY_1 + 3 * DAY - 1;
    return MAY_1 + Math.floor((i * 3 * DAY) / total);
  };
}

function batches(total: number, size: number, cursorOf: (i: number) => number): LandedBatch[] {
  const out: LandedBatch[] = [];
  for (let first = 0; first < total; first += size) {
    out.push(syntheticBatch(columns, first, Math.min(size, total - first), cursorOf));
  }
  return out;
}

async function writeWindow(
  input: readonly LandedBatch[],
  options: Omit<PartitionedPartWriterOptions, 'columns' | 'stream'> & { stream?: 'game_rounds' },
): Promise<WindowProgress> {
  const writer = new PartitionedPartWriter({ stream: 'game_rounds', columns, ...options });
  for (const batch of input) await writer.write(batch);
  return writer.close();
}

async function download(bucket: string, keys: readonly string[]): Promise<string[]> {
  return s3.download(bucket, keys, await mkdtemp(join(workDir, 'dl-')));
}

describe('PartitionedPartWriter', () => {
  it('routes rows to dt partitions by the UTC date of _cursor and rolls parts at the size limit', async () => {
    const bucket = await s3.createBucket();
    const sink = new S3Sink({ client: s3.client, bucket });
    const total = 3000;
    const cursorOf = threeDayCursor(total);
    const progress = await writeWindow(batches(total, 500, cursorOf), {
      sink,
      runId: 'snap-1',
      windowId: 'w-0001',
      attempt: 'a1',
      rowGroupRows: 100,
      partBytes: 15_000,
    });

    expect(progress.rowCount).toBe(total);
    expect(progress.parts.reduce((n, p) => n + p.rows, 0)).toBe(total);
    expect(progress.minCursor).toBe('2024-05-01T00:00:00.000Z');
    expect(progress.maxCursor).toBe('2024-05-03T23:59:59.999Z');
    const dts = ['2024-05-01', '2024-05-02', '2024-05-03'];
    expect([...new Set(progress.parts.map((p) => p.dt))]).toEqual(dts);
    for (const dt of dts) {
      const parts = progress.parts.filter((p) => p.dt === dt);
      expect(parts.length, `parts of ${dt}`).toBeGreaterThan(1);
      expect(parts.map((p) => p.part)).toEqual(parts.map((_, i) => i));
      expect(parts.map((p) => p.key)).toEqual(
        parts.map((p) => rawPartKey('game_rounds', 'snap-1', 'w-0001', 'a1', dt, p.part)),
      );
      // Every part but the last of its date was closed because it reached the limit.
      for (const p of parts.slice(0, -1)) expect(p.bytes).toBeGreaterThanOrEqual(15_000);
      expect(progress.nextPart[dt]).toBe(parts.length);
    }
    expect(await s3.listKeys(bucket)).toEqual(progress.parts.map((p) => p.key).sort());

    const paths = await download(
      bucket,
      progress.parts.map((p) => p.key),
    );
    const perFile = await duck.query(
      `SELECT filename, count(*)::INTEGER AS n, list(DISTINCT strftime(_cursor, '%Y-%m-%d')) AS dts
       FROM ${parquetSource(paths, 'filename = true')} GROUP BY filename`,
    );
    expect(perFile).toHaveLength(progress.parts.length);
    for (const part of progress.parts) {
      const file = perFile.find((f) => (f.filename as string).endsWith(part.key))!;
      expect(file.n).toBe(part.rows);
      expect(file.dts).toEqual([part.dt]);
    }

    // The primary key is unique per row: written without a dictionary; enumerations keep theirs.
    const encodings = await duck.query(
      `SELECT path_in_schema AS col, list(DISTINCT e) AS encodings
       FROM (SELECT path_in_schema, unnest(string_split(encodings, ', ')) AS e FROM parquet_metadata('${paths[0]}'))
       WHERE path_in_schema IN ('round_id', 'status') GROUP BY path_in_schema ORDER BY path_in_schema`,
    );
    expect(encodings[0]!.col).toBe('round_id');
    expect(encodings[0]!.encodings).not.toContain('RLE_DICTIONARY');
    expect(encodings[1]!.encodings).toContain('RLE_DICTIONARY');

    const stake = columns.findIndex((c) => c.name === 'stake');
    const input = batches(total, 500, cursorOf);
    const stakes = input.flatMap((b) => b.columns[stake]!).filter((v) => v !== null) as bigint[];
    const all = await duck.query(
      `SELECT count(*)::INTEGER AS n, count(DISTINCT round_id)::INTEGER AS ids, sum(stake)::VARCHAR AS stake
       FROM ${parquetSource(paths)}`,
    );
    expect(all).toEqual([
      {
        n: total,
        ids: total,
        stake: formatUnscaled(
          stakes.reduce((a, b) => a + b, 0n),
          2,
        ),
      },
    ]);
    expect(progress.moneySums.stake).toBe(all[0]!.stake);
  });

  it('writes identical keys and bytes when the same attempt is written twice', async () => {
    const bucket = await s3.createBucket();
    const sink = new S3Sink({ client: s3.client, bucket });
    const input = batches(2000, 300, threeDayCursor(2000));
    const options = {
      sink,
      runId: 'snap-1',
      windowId: 'w-0002',
      attempt: 'a1',
      rowGroupRows: 128,
      partBytes: 10_000,
    };

    const digests = async (keys: readonly string[]) => {
      const out: Record<string, string> = {};
      for (const key of keys)
        out[key] = createHash('sha256')
          .update((await sink.getObject(key))!)
          .digest('hex');
      return out;
    };
    const first = await writeWindow(input, options);
    const firstObjects = await digests(first.parts.map((p) => p.key));
    const second = await writeWindow(input, options);
    const secondObjects = await digests(second.parts.map((p) => p.key));

    expect(first.parts.length).toBeGreaterThan(3);
    expect(second).toEqual(first);
    expect(secondObjects).toEqual(firstObjects);
    expect(await s3.listKeys(bucket)).toEqual(Object.keys(firstObjects).sort());
  });

  it('continues part numbers and statistics across continuations of a window', async () => {
    const bucket = await s3.createBucket();
    const sink = new S3Sink({ client: s3.client, bucket });
    const cursorOf = (i: number) => MAY_1 + i * 60_000; // 1500 rows = 25 hours
    const input = batches(1500, 250, cursorOf);
    const options = {
      sink,
      runId: 'snap-1',
      windowId: 'w-0003',
      attempt: 'a1',
      rowGroupRows: 100,
      partBytes: 10_000,
    };

    const firstLeg = await writeWindow(input.slice(0, 3), options);
    const resumed = JSON.parse(JSON.stringify(firstLeg)) as WindowProgress; // as carried by Step Functions
    const secondLeg = await writeWindow(input.slice(3), { ...options, resume: resumed });
    const whole = await writeWindow(input, {
      ...options,
      sink: new S3Sink({ client: s3.client, bucket: await s3.createBucket() }),
    });

    expect(firstLeg.rowCount).toBe(750);
    expect(secondLeg.rowCount).toBe(1500);
    expect(secondLeg.parts.slice(0, firstLeg.parts.length)).toEqual(firstLeg.parts);
    const firstLegLast = Math.max(...firstLeg.parts.filter((p) => p.dt === '2024-05-01').map((p) => p.part));
    const continued = secondLeg.parts.filter((p) => p.dt === '2024-05-01' && p.part > firstLegLast);
    expect(continued[0]?.part).toBe(firstLegLast + 1);
    expect(secondLeg.moneySums).toEqual(whole.moneySums);
    expect(secondLeg.nullCounts).toEqual(whole.nullCounts);
    expect([secondLeg.minCursor, secondLeg.maxCursor]).toEqual([whole.minCursor, whole.maxCursor]);

    const paths = await download(
      bucket,
      secondLeg.parts.map((p) => p.key),
    );
    const [read] = await duck.query(`SELECT count(DISTINCT round_id)::INTEGER AS ids FROM ${parquetSource(paths)}`);
    expect(read!.ids).toBe(1500);
  });

  it('bounds open partitions by closing the least recently written date', async () => {
    const bucket = await s3.createBucket();
    const sink = new S3Sink({ client: s3.client, bucket });
    // Blocks of 10 rows on dates 0 1 2 0 3 1 0 2: with two open dates, each switch closes a part.
    const order = [0, 1, 2, 0, 3, 1, 0, 2];
    const cursorOf = (i: number) => MAY_1 + order[Math.floor(i / 10)]! * DAY + i;
    const progress = await writeWindow(batches(80, 25, cursorOf), {
      sink,
      runId: 'drop-1',
      windowId: 'f-0001',
      attempt: 'a1',
      maxOpenPartitions: 2,
    });
    expect(progress.parts.reduce((n, p) => n + p.rows, 0)).toBe(80);
    expect(progress.parts.map((p) => `${p.dt}#${p.part}:${p.rows}`)).toEqual([
      '2024-05-01#0:10',
      '2024-05-01#1:10',
      '2024-05-01#2:10',
      '2024-05-02#0:10',
      '2024-05-02#1:10',
      '2024-05-03#0:10',
      '2024-05-03#1:10',
      '2024-05-04#0:10',
    ]);
    const paths = await download(
      bucket,
      progress.parts.map((p) => p.key),
    );
    const [read] = await duck.query(`SELECT count(DISTINCT round_id)::INTEGER AS ids FROM ${parquetSource(paths)}`);
    expect(read!.ids).toBe(80);
  });

  it('refuses a row without a cursor and aborts its open uploads', async () => {
    const bucket = await s3.createBucket();
    const sink = new S3Sink({ client: s3.client, bucket });
    const writer = new PartitionedPartWriter({
      sink,
      stream: 'game_rounds',
      columns,
      runId: 'snap-1',
      windowId: 'w-0004',
      attempt: 'a1',
      operatorId: 'acme-casino',
      rowGroupRows: 10,
    });
    await writer.write(syntheticBatch(columns, 0, 25, (i) => MAY_1 + i));
    const bad = syntheticBatch(columns, 25, 5, (i) => MAY_1 + i);
    const cursor = columns.findIndex((c) => c.name === '_cursor');
    (bad.columns[cursor] as (number | null)[])[3] = null;

    const err = await writer.write(bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ParquetEncodeError);
    expect((err as Error).message).toBe(
      'acme-casino/game_rounds window snap-1/w-0004: column _cursor, row #3 of the batch: is NULL but every row needs a cursor',
    );
    await expect(writer.close()).rejects.toThrow(/is failed/);
    expect(await s3.listKeys(bucket)).toEqual([]);
  });

  it('fails the window when the upload of a part closed earlier fails to complete', async () => {
    // A bucket that does not exist: each part's upload fails only when it completes.
    const sink = new S3Sink({ client: s3.client, bucket: 'no-such-bucket-part-writer' });
    const writer = new PartitionedPartWriter({
      sink,
      stream: 'game_rounds',
      columns,
      runId: 'snap-1',
      windowId: 'w-0005',
      attempt: 'a1',
      maxOpenPartitions: 1,
    });
    // Six dates: five parts are closed (their uploads finishing in the background) before close().
    const write = async () => {
      for (const batch of batches(60, 10, (i) => MAY_1 + Math.floor(i / 10) * DAY)) await writer.write(batch);
      return writer.close();
    };
    const err = await write().catch((e: unknown) => e);
    expect((err as Error).name).toBe('SinkError');
    expect((err as Error).message).toMatch(/raw\/game_rounds\/snap-1\/w-0005\/a1\/dt=2024-05-0\d\/part-00000\.parquet/);
    expect(await writer.close().catch((e: unknown) => e)).toBeInstanceOf(Error);
  });
});
