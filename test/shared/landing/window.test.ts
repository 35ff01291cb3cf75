import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { type CfnElement, Stack } from 'aws-cdk-lib';
import * as s3lib from 'aws-cdk-lib/aws-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamName } from '#shared/canonical';
import type { WindowProgress } from '#shared/contracts/steps';
import { type LandedColumn, schemaFingerprint } from '#shared/landed-schema';
import { WindowCommitError } from '#shared/landing/errors';
import { PartitionedPartWriter } from '#shared/landing/part-writer';
import { commitWindow, newAttemptId, readCommittedWindow } from '#shared/landing/window';
import { committedListKey, manifestKey, rawAttemptPrefix } from '#shared/layout';
import { SinkError } from '#shared/sink/errors';
import { S3Sink } from '#shared/sink/s3';
import type { LandedBatch } from '#shared/types';
import { DataCatalog, landedTableName } from '../../../lib/constructs/data-catalog.ts';
import type { CfnTemplate } from '../../../local/cfn-resolve.ts';
import { type CatalogTable, catalogTables, tableFiles } from '../../../local/lake.ts';
import { type DuckDbHandle, openDuckDb, parquetSource } from '../../helpers/duckdb.ts';
import { type S3rverHandle, s3rverClientConfig, startS3rver } from '../../helpers/s3rver.ts';
import { exampleConfig, testApp } from '../../lib/helpers.ts';
import { ALL_TYPES_COLUMNS, gameRoundColumns, syntheticBatch, toBatch } from '../parquet/fixtures.ts';

const DAY = 86_400_000;
const FROM = new Date('2024-05-01T00:00:00.000Z');
const TO = new Date('2024-05-04T00:00:00.000Z');
const KMS_KEY = 'arn:aws:kms:eu-west-1:111111111111:key/0b7c1e4e-8a0b-4f6a-9a53-2f1a1d6f0e11';
const STREAM: StreamName = 'game_rounds';

let s3: S3rverHandle;
let duck: DuckDbHandle;
let workDir: string;
let columns: readonly LandedColumn[];

beforeAll(async () => {
  [s3, duck, workDir] = await Promise.all([startS3rver(), openDuckDb(), mkdtemp(join(tmpdir(), 'window-'))]);
  columns = gameRoundColumns();
});

afterAll(async () => {
  duck?.close();
  await s3?.stop();
  await rm(workDir, { recursive: true, force: true });
});

/** Rows over three UTC days inside [FROM, TO). */
function input(total: number, size = 250): LandedBatch[] {
  const out: LandedBatch[] = [];
  for (let first = 0; first < total; first += size) {
    out.push(
      syntheticBatch(
        columns,
        first,
        Math.min(size, total - first),
        (i) => FROM.getTime() + Math.floor((i * 3 * DAY) / total),
      ),
    );
  }
  return out;
}

interface Attempt {
  readonly sink: S3Sink;
  readonly runId?: string;
  readonly windowId?: string;
  readonly attempt?: string;
  readonly partBytes?: number;
  readonly columns?: readonly LandedColumn[];
}

async function writeParts(attempt: Attempt, batches: readonly LandedBatch[]): Promise<WindowProgress> {
  const writer = new PartitionedPartWriter({
    sink: attempt.sink,
    stream: STREAM,
    columns: attempt.columns ?? columns,
    runId: attempt.runId ?? 'snap-1',
    windowId: attempt.windowId ?? 'w-0001',
    attempt: attempt.attempt ?? newAttemptId(),
    operatorId: 'acme-casino',
    rowGroupRows: 100,
    partBytes: attempt.partBytes ?? 12_000,
  });
  for (const batch of batches) await writer.write(batch);
  return writer.close();
}

async function commit(attempt: Attempt, progress: WindowProgress) {
  return commitWindow(attempt.sink, {
    operatorId: 'acme-casino',
    stream: STREAM,
    runId: attempt.runId ?? 'snap-1',
    windowId: attempt.windowId ?? 'w-0001',
    from: FROM,
    to: TO,
    columns: attempt.columns ?? columns,
    progress,
    now: new Date('2024-05-04T00:10:00.000Z'),
  });
}

/** The stream's landed table as the Glue catalog of an operator stack defines it, over `bucket`. */
function landedTable(bucket: string): CatalogTable {
  const app = testApp();
  const stack = new Stack(app, 'Catalog');
  const landing = new s3lib.Bucket(stack, 'Landing');
  new DataCatalog(stack, 'DataCatalog', { config: exampleConfig('acme-casino'), bucket: landing });
  const template = app.synth().getStackByName(stack.stackName).template as CfnTemplate;
  const logicalId = stack.getLogicalId(landing.node.defaultChild as CfnElement);
  const tables = catalogTables(template, { overrides: { [logicalId]: bucket } });
  const table = tables.find((t) => t.name === landedTableName(STREAM));
  if (!table) throw new Error(`no table ${landedTableName(STREAM)} in ${tables.map((t) => t.name).join(', ')}`);
  return table;
}

/** What a reader of the catalogued landed table sees: its rows, distinct ids and the files it scans. */
async function readRaw(bucket: string): Promise<{ rows: number; ids: number; keys: string[] }> {
  const files = await tableFiles(s3.client, landedTable(bucket));
  const keys = files.map((f) => f.key).sort();
  if (keys.length === 0) return { rows: 0, ids: 0, keys };
  const paths = await s3.download(bucket, keys, await mkdtemp(join(workDir, 'dl-')));
  const [read] = await duck.query(
    `SELECT count(*)::INTEGER AS n, count(DISTINCT round_id)::INTEGER AS ids FROM ${parquetSource(paths, 'union_by_name = true')}`,
  );
  return { rows: read!.n as number, ids: read!.ids as number, keys };
}

/** An S3 client for s3rver whose Nth request of a command fails like a dropped connection. */
function failingClient(command: string, nth: number): { client: S3Client; calls: () => number } {
  const client = new S3Client(s3rverClientConfig(s3.endpoint));
  let calls = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === command && ++calls === nth) {
        throw Object.assign(new Error('socket hang up'), { name: 'NetworkingError', code: 'ECONNRESET' });
      }
      return next(args);
    },
    { step: 'initialize', name: 'injectNetworkFailure' },
  );
  return { client, calls: () => calls };
}

describe('commitWindow', () => {
  it('writes the manifest, then commits with the symlink list: counts, cursor range, fingerprint, exact sums', async () => {
    const bucket = await s3.createBucket();
    const sent: { command: string; input: Record<string, unknown> }[] = [];
    const client = new S3Client(s3rverClientConfig(s3.endpoint));
    client.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push({ command: String(context.commandName), input: args.input as Record<string, unknown> });
        return next(args);
      },
      { step: 'initialize', name: 'recordRequests' },
    );
    const sink = new S3Sink({ client, bucket, kmsKeyArn: KMS_KEY });
    const progress = await writeParts({ sink, attempt: '20240504T000500Z-aaaaaa' }, input(1200));
    const { manifest, manifestKey: key, committedKey, deletedKeys } = await commit({ sink }, progress);

    expect(key).toBe(manifestKey(STREAM, 'snap-1', 'w-0001', '20240504T000500Z-aaaaaa'));
    expect(committedKey).toBe(committedListKey(STREAM, 'snap-1', 'w-0001'));
    expect(deletedKeys).toEqual([]);
    const committed = await readCommittedWindow(sink, STREAM, 'snap-1', 'w-0001');
    expect(committed).toEqual({
      committedKey,
      attempt: '20240504T000500Z-aaaaaa',
      partKeys: manifest.parts.map((p) => p.key),
      manifestKey: key,
      manifest,
    });
    expect(manifest).toMatchObject({
      version: 2,
      operatorId: 'acme-casino',
      stream: STREAM,
      runId: 'snap-1',
      windowId: 'w-0001',
      attempt: '20240504T000500Z-aaaaaa',
      from: '2024-05-01T00:00:00.000Z',
      to: '2024-05-04T00:00:00.000Z',
      rowCount: 1200,
      minCursor: '2024-05-01T00:00:00.000Z',
      schemaFingerprint: schemaFingerprint(columns),
      createdAt: '2024-05-04T00:10:00.000Z',
    });
    expect(manifest.parts.map((p) => p.key).sort()).toEqual(await s3.listKeys(bucket, 'raw/'));
    for (const p of manifest.parts)
      expect(p.key.startsWith(rawAttemptPrefix(STREAM, 'snap-1', 'w-0001', manifest.attempt))).toBe(true);
    expect(manifest.parts.reduce((n, p) => n + p.rows, 0)).toBe(1200);
    expect(manifest.bytes).toBe(manifest.parts.reduce((n, p) => n + p.bytes, 0));
    // The committed list names the parts as Athena reads them, one s3:// URI per line.
    const list = new TextDecoder().decode((await sink.getObject(committedKey))!);
    expect(list).toBe(manifest.parts.map((p) => `s3://${bucket}/${p.key}\n`).join(''));

    // Independent check of the money sums, NULL counts and cursor range: DuckDB over the parts.
    const paths = await s3.download(
      bucket,
      manifest.parts.map((p) => p.key),
      await mkdtemp(join(workDir, 'dl-')),
    );
    const [sums] = await duck.query(
      `SELECT sum(stake)::VARCHAR AS stake, sum(payout)::VARCHAR AS payout, sum(bonus_stake)::VARCHAR AS bonus_stake,
              (count(*) - count(stake))::INTEGER AS stake_nulls,
              strftime(max(_cursor), '%Y-%m-%dT%H:%M:%S.%gZ') AS max_cursor,
              strftime(min(started_at), '%Y-%m-%dT%H:%M:%S.%gZ') AS min_started,
              strftime(max(started_at), '%Y-%m-%dT%H:%M:%S.%gZ') AS max_started,
              strftime(min(settled_at), '%Y-%m-%dT%H:%M:%S.%gZ') AS min_settled,
              strftime(max(settled_at), '%Y-%m-%dT%H:%M:%S.%gZ') AS max_settled
       FROM ${parquetSource(paths)}`,
    );
    expect(manifest.moneySums).toEqual({ stake: sums!.stake, payout: sums!.payout, bonus_stake: sums!.bonus_stake });
    expect(manifest.moneySums.stake).toMatch(/^-?\d+\.\d{2}$/);
    expect(manifest.nullCounts.stake).toBe(sums!.stake_nulls);
    expect(manifest.nullCounts.round_id).toBe(0);
    expect(manifest.maxCursor).toBe(sums!.max_cursor);
    // The range of every other timestamp column (publishing bounds the partitions it reads with it).
    const range = (min: unknown, max: unknown) => (min === null ? undefined : { min, max });
    expect(manifest.timeRanges).toEqual(
      JSON.parse(
        JSON.stringify({
          started_at: range(sums!.min_started, sums!.max_started),
          settled_at: range(sums!.min_settled, sums!.max_settled),
          updated_at: manifest.timeRanges.updated_at,
        }),
      ),
    );
    expect(Object.keys(manifest.timeRanges).sort()).toEqual(['settled_at', 'started_at', 'updated_at'].sort());

    // Every object was written with the operator's KMS key and an S3 Bucket Key.
    const writes = sent.filter((s) => ['PutObjectCommand', 'CreateMultipartUploadCommand'].includes(s.command));
    expect(writes.length).toBe(manifest.parts.length + 2);
    for (const write of writes) {
      expect(write.input).toMatchObject({
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: KMS_KEY,
        BucketKeyEnabled: true,
      });
    }
    // The manifest, then the committed list, are the last writes: the list is the commit.
    expect(writes.at(-2)!.input.Key).toBe(key);
    expect(writes.at(-1)!.input.Key).toBe(committedKey);
    expect(writes.at(-1)!.input.Metadata).toEqual({ attempt: '20240504T000500Z-aaaaaa' });
    // A reader of the catalogued table sees exactly this window's rows.
    expect(await readRaw(bucket)).toEqual({ rows: 1200, ids: 1200, keys: manifest.parts.map((p) => p.key).sort() });
    client.destroy();
  });

  it('sums DECIMAL(38,10) money exactly beyond 64 bits', async () => {
    const bucket = await s3.createBucket();
    const sink = new S3Sink({ client: s3.client, bucket });
    const big = 10n ** 37n; // 1e27 at scale 10
    const rows = [
      { id: 'a', dec38: big, dec18: 1n, _cursor: FROM.getTime() },
      { id: 'b', dec38: big, dec18: -3n, _cursor: FROM.getTime() + 1 },
      { id: 'c', dec38: -1n, dec18: null, _cursor: FROM.getTime() + 2 },
    ];
    const attempt = { sink, columns: ALL_TYPES_COLUMNS };
    const progress = await writeParts(attempt, [toBatch(ALL_TYPES_COLUMNS, rows)]);
    const { manifest } = await commit(attempt, progress);
    expect(manifest.moneySums).toEqual({ dec38: '1999999999999999999999999999.9999999999', dec18: '-0.02' });
    expect(manifest.nullCounts).toMatchObject({ dec18: 1, dec9: 3, id: 0 });
  });

  it('commits an empty window: no parts, an empty committed list naming its attempt', async () => {
    const bucket = await s3.createBucket();
    const sink = new S3Sink({ client: s3.client, bucket });
    const progress = await writeParts({ sink }, []);
    const { manifest, manifestKey: key, committedKey } = await commit({ sink }, progress);
    expect(manifest).toMatchObject({ rowCount: 0, bytes: 0, parts: [], minCursor: null, maxCursor: null });
    expect(manifest.moneySums).toEqual({ stake: '0.00', payout: '0.00', bonus_stake: '0.00' });
    expect(await s3.listKeys(bucket)).toEqual([committedKey, key].sort());
    expect(await readCommittedWindow(sink, STREAM, 'snap-1', 'w-0001')).toMatchObject({
      attempt: progress.attempt,
      partKeys: [],
      manifest,
    });
    expect(await readRaw(bucket)).toEqual({ rows: 0, ids: 0, keys: [] });
  });

  it('a new attempt switches the committed window whole and removes the other attempts, not other windows', async () => {
    const bucket = await s3.createBucket();
    const sink = new S3Sink({ client: s3.client, bucket });

    // An earlier attempt wrote smaller parts (more of them), on a date the next one does not reach,
    // and committed; a neighbouring window whose id extends this one's must survive.
    const earlier = await writeParts({ sink, partBytes: 4_000 }, input(900));
    await commit({ sink }, earlier);
    const neighbour = await writeParts({ sink, windowId: 'w-0001-2' }, input(300));
    await commit({ sink, windowId: 'w-0001-2' }, neighbour);
    expect((await readRaw(bucket)).rows).toBe(900 + 300);
    // An attempt that failed half-way: never committed, never visible.
    await writeParts({ sink }, input(900).slice(0, 1));
    expect((await readRaw(bucket)).rows).toBe(900 + 300);

    const latest = input(900).slice(0, 2); // 500 rows: first ~1.7 days only
    const retry = await writeParts({ sink }, latest);
    expect(retry.parts.length).toBeLessThan(earlier.parts.length);
    const before = new Set(await s3.listKeys(bucket));
    const { manifest, deletedKeys } = await commit({ sink }, retry);

    const kept = new Set(manifest.parts.map((p) => p.key));
    const expectedDeleted = [...before].filter(
      (k) =>
        (k.startsWith('raw/game_rounds/snap-1/w-0001/') || k.startsWith('_manifests/game_rounds/snap-1/w-0001/')) &&
        !kept.has(k) &&
        !k.includes(`/${retry.attempt}`),
    );
    expect(deletedKeys.slice().sort()).toEqual(expectedDeleted.sort());
    expect(deletedKeys.length).toBeGreaterThan(earlier.parts.length);
    const neighbourKeys = neighbour.parts.map((p) => p.key);
    expect((await s3.listKeys(bucket, 'raw/')).sort()).toEqual([...kept, ...neighbourKeys].sort());
    const raw = await readRaw(bucket);
    expect(raw.rows).toBe(500 + 300);
    expect(raw.keys).toEqual([...kept, ...neighbourKeys].sort());
  });

  it('commits nothing when S3 fails mid-window, leaves nothing visible, and a retry converges to one copy', async () => {
    const bucket = await s3.createBucket();
    const { client, calls } = failingClient('PutObjectCommand', 4);
    const flaky = new S3Sink({ client, bucket }).withContext({
      operatorId: 'acme-casino',
      stream: STREAM,
      windowId: 'snap-1/w-0001',
    });
    const rows = input(1500);

    const err = await writeParts({ sink: flaky }, rows)
      .then((progress) => commit({ sink: flaky }, progress))
      .catch((e: unknown) => e);
    expect(calls()).toBe(4);
    expect(err).toBeInstanceOf(SinkError);
    expect((err as SinkError).name).toBe('SinkError');
    expect((err as Error).message).toMatch(
      /^acme-casino\/game_rounds window snap-1\/w-0001: S3 upload of raw\/game_rounds\/snap-1\/w-0001\/[^/]+\/dt=2024-05-0\d\/part-\d{5}\.parquet failed: NetworkingError: socket hang up;/,
    );
    expect(await readCommittedWindow(flaky, STREAM, 'snap-1', 'w-0001')).toBeUndefined();
    const partial = await s3.listKeys(bucket, 'raw/');
    expect(partial.length).toBe(3); // the parts stored before the failure
    expect(await readRaw(bucket)).toEqual({ rows: 0, ids: 0, keys: [] });

    // Retry: a new attempt, fewer and larger parts; the failed attempt's parts are removed.
    const sink = new S3Sink({ client: s3.client, bucket });
    const progress = await writeParts({ sink, partBytes: 30_000 }, rows);
    const { manifest, deletedKeys } = await commit({ sink }, progress);
    expect(deletedKeys.slice().sort()).toEqual(partial);
    const raw = await readRaw(bucket);
    expect(raw).toEqual({ rows: 1500, ids: 1500, keys: manifest.parts.map((p) => p.key).sort() });
    client.destroy();
  });

  it('commits nothing when the process dies between the parts and the commit', async () => {
    const bucket = await s3.createBucket();
    // Three parts and the manifest are written, the committed list never is (the function timed
    // out or crashed between them).
    const { client } = failingClient('PutObjectCommand', 5);
    const sink = new S3Sink({ client, bucket, partSize: 64 * 1024 * 1024 });
    const progress = await writeParts({ sink, partBytes: 64 * 1024 * 1024 }, input(600));
    expect(progress.parts).toHaveLength(3); // one per date, each a single PUT
    const err = await commit({ sink }, progress).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkError);
    expect(await s3.listKeys(bucket, '_manifests/')).toEqual([
      manifestKey(STREAM, 'snap-1', 'w-0001', progress.attempt),
    ]);
    expect(await s3.listKeys(bucket, '_committed/')).toEqual([]);
    expect(await readCommittedWindow(sink, STREAM, 'snap-1', 'w-0001')).toBeUndefined();
    expect(await readRaw(bucket)).toEqual({ rows: 0, ids: 0, keys: [] });
    client.destroy();
  });

  it('refuses to commit an attempt whose parts another attempt removed', async () => {
    const bucket = await s3.createBucket();
    const sink = new S3Sink({ client: s3.client, bucket });
    const slow = await writeParts({ sink }, input(300));
    const fast = await writeParts({ sink }, input(300));
    await commit({ sink }, fast);
    const err = await commit({ sink }, slow).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WindowCommitError);
    expect((err as Error).message).toMatch(
      /of attempt .* is missing; another attempt at this window may have committed/,
    );
    expect((await readCommittedWindow(sink, STREAM, 'snap-1', 'w-0001'))?.attempt).toBe(fast.attempt);
    expect((await readRaw(bucket)).rows).toBe(300);
  });

  it('aborts a multipart upload whose part fails and leaves no object behind', async () => {
    const bucket = await s3.createBucket();
    const textColumns = ALL_TYPES_COLUMNS.filter((c) => ['id', 'text', '_cursor'].includes(c.name));
    // ~9 MiB of incompressible text in one part: two 5 MiB multipart pieces.
    const rows = Array.from({ length: 9 }, (_, i) => ({
      id: `r${i}`,
      text: randomBytes(786_432).toString('base64'),
      _cursor: FROM.getTime() + i,
    }));
    const batch = toBatch(textColumns, rows);
    const { client } = failingClient('UploadPartCommand', 2);
    const attempt = { columns: textColumns, partBytes: 64 * 1024 * 1024 };
    const flaky = new S3Sink({ client, bucket, partSize: 5 * 1024 * 1024 });

    await expect(writeParts({ ...attempt, sink: flaky }, [batch])).rejects.toThrow(SinkError);
    expect(await s3.listKeys(bucket)).toEqual([]);

    const sink = new S3Sink({ client: s3.client, bucket, partSize: 5 * 1024 * 1024 });
    const progress = await writeParts({ ...attempt, sink }, [batch]);
    const { manifest } = await commit({ ...attempt, sink }, progress);
    expect(manifest.parts).toHaveLength(1);
    expect(manifest.parts[0]!.bytes).toBeGreaterThan(5 * 1024 * 1024);
    const paths = await s3.download(bucket, [manifest.parts[0]!.key], await mkdtemp(join(workDir, 'dl-')));
    const read = await duck.query(`SELECT id, md5(text) AS h FROM ${parquetSource(paths)} ORDER BY id`);
    expect(read).toEqual(rows.map((r) => ({ id: r.id, h: expect.stringMatching(/^[0-9a-f]{32}$/) })));
    const [same] = await duck.query(
      `SELECT bool_and(text = '${rows[0]!.text}') AS ok FROM ${parquetSource(paths)} WHERE id = 'r0'`,
    );
    expect(same!.ok).toBe(true);
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: bucket, Key: manifest.parts[0]!.key }));
    expect(head.ContentLength).toBe(manifest.parts[0]!.bytes);
    client.destroy();
  });

  it('refuses rows outside the window bounds', async () => {
    const bucket = await s3.createBucket();
    const sink = new S3Sink({ client: s3.client, bucket });
    const progress = await writeParts({ sink }, input(100));
    const err = await commitWindow(sink, {
      operatorId: 'acme-casino',
      stream: STREAM,
      runId: 'snap-1',
      windowId: 'w-0001',
      from: FROM,
      to: new Date('2024-05-02T00:00:00.000Z'),
      columns,
      progress,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WindowCommitError);
    expect((err as Error).message).toMatch(
      /^acme-casino\/game_rounds window snap-1\/w-0001: rows with _cursor from 2024-05-01T00:00:00.000Z to 2024-05-03T.* lie outside the window/,
    );
    expect(await readCommittedWindow(sink, STREAM, 'snap-1', 'w-0001')).toBeUndefined();
  });
});
