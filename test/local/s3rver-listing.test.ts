/**
 * Listing a local bucket past one page (1,000 keys) through the connector's own S3 code
 * (`S3Sink.listKeys`, which follows ListObjectsV2 continuation tokens) against the s3rver the
 * local engines start, as the demo and every local run do.
 */
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Sink } from '#shared/sink/s3';
import { type S3rverHandle, startS3rver } from '../helpers/s3rver.ts';

/** More than one page of 1,000 keys under `raw/`, and some keys outside it. */
const RAW_KEYS = 1_500;
const OTHER_KEYS = 7;
const PUT_CONCURRENCY = 16;

let s3: S3rverHandle;
let bucket: string;
let rawKeys: string[];

async function putAll(keys: readonly string[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const key = keys[next++]!;
      await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
    }
  };
  await Promise.all(Array.from({ length: PUT_CONCURRENCY }, worker));
}

beforeAll(async () => {
  s3 = await startS3rver();
  bucket = await s3.createBucket();
  // Keys spread over partitions, as landed parts are.
  rawKeys = Array.from(
    { length: RAW_KEYS },
    (_, i) =>
      `raw/payments/dt=2026-03-${String(1 + (i % 28)).padStart(2, '0')}/snap-1-w${String(i).padStart(5, '0')}-00000.parquet`,
  );
  await putAll([...rawKeys, ...Array.from({ length: OTHER_KEYS }, (_, i) => `_manifests/payments/snap-1/w${i}.json`)]);
}, 120_000);

afterAll(async () => {
  await s3?.stop();
});

describe('s3rver listing past 1,000 keys', () => {
  it('lists every key through the product S3 sink, following continuation tokens', async () => {
    const sink = new S3Sink({ client: s3.client, bucket });
    const listed = await sink.listKeys('raw/payments/');
    expect(listed).toHaveLength(RAW_KEYS);
    expect(listed).toEqual([...rawKeys].sort());
    expect(await sink.listKeys('')).toHaveLength(RAW_KEYS + OTHER_KEYS);
    expect(await s3.listKeys(bucket, 'raw/')).toEqual([...rawKeys].sort());
  });

  it('answers ListObjectsV2 pages as S3 does: 1,000 keys, a token, then the rest', async () => {
    const first = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'raw/' }));
    expect(first.KeyCount).toBe(1000);
    expect(first.IsTruncated).toBe(true);
    expect(first.NextContinuationToken).toEqual(expect.any(String));
    expect(first.Contents?.[0]?.Owner).toBeUndefined();
    const second = await s3.client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: 'raw/',
        MaxKeys: 300,
        ContinuationToken: first.NextContinuationToken,
      }),
    );
    expect(second.ContinuationToken).toBe(first.NextContinuationToken);
    expect(second.StartAfter).toBeUndefined();
    expect(second.KeyCount).toBe(300);
    expect(second.IsTruncated).toBe(true);
    const sorted = [...rawKeys].sort();
    expect(second.Contents?.map((o) => o.Key)).toEqual(sorted.slice(1000, 1300));

    const after = await s3.client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: 'raw/', StartAfter: sorted[1450], FetchOwner: true }),
    );
    expect(after.StartAfter).toBe(sorted[1450]);
    expect(after.IsTruncated).toBe(false);
    expect(after.NextContinuationToken).toBeUndefined();
    expect(after.Contents?.map((o) => o.Key)).toEqual(sorted.slice(1451));
    expect(after.Contents?.[0]?.Owner?.ID).toEqual(expect.any(String));
  });

  it('refuses a continuation token of another bucket or one it did not issue', async () => {
    const other = await s3.createBucket();
    const first = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'raw/' }));
    await expect(
      s3.client.send(new ListObjectsV2Command({ Bucket: other, ContinuationToken: first.NextContinuationToken })),
    ).rejects.toThrow(/continuation token provided is incorrect/);
    await expect(
      s3.client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: 'bm90LWEtdG9rZW4' })),
    ).rejects.toThrow(/continuation token provided is incorrect/);
  });
});
