/**
 * Deleting the earlier versions of a rewritten object. The landing bucket is versioned on AWS;
 * s3rver implements no versioning (its answers carry no version id, which is the unversioned case,
 * covered here against s3rver), so the versioned case runs against a mocked S3 API.
 */
import {
  DeleteObjectsCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErasureObjects } from '#shared/erasure/objects';
import { type S3rverHandle, startS3rver } from '../../helpers/s3rver.ts';

const KEY = 'raw/payments/snap-1/w1/20260301T101500Z-3fa9c1/dt=2026-03-01/part-00000.parquet';

describe('earlier versions of a rewritten object, in a versioned bucket (mocked S3 API)', () => {
  const s3 = mockClient(S3Client);
  afterAll(() => s3.restore());

  it('deletes every version and delete marker of the key but the current one, and nothing of other keys', async () => {
    s3.reset();
    s3.on(HeadObjectCommand).resolves({ VersionId: 'v3' });
    s3.on(ListObjectVersionsCommand)
      .resolvesOnce({
        IsTruncated: true,
        NextKeyMarker: KEY,
        NextVersionIdMarker: 'v2',
        Versions: [
          { Key: KEY, VersionId: 'v3', IsLatest: true },
          { Key: KEY, VersionId: 'v2' },
        ],
      })
      .resolvesOnce({
        Versions: [
          { Key: KEY, VersionId: 'v1' },
          { Key: `${KEY}.other`, VersionId: 'x1' },
        ],
        DeleteMarkers: [{ Key: KEY, VersionId: 'd1' }],
      });
    s3.on(DeleteObjectsCommand).resolves({});
    const objects = new ErasureObjects(new S3Client({ region: 'eu-west-1' }), 'landing');
    expect(await objects.deleteEarlierVersions(KEY)).toBe(3);
    expect(s3.commandCalls(ListObjectVersionsCommand)[1]!.args[0].input).toMatchObject({
      Prefix: KEY,
      KeyMarker: KEY,
      VersionIdMarker: 'v2',
    });
    expect(s3.commandCalls(DeleteObjectsCommand)[0]!.args[0].input).toEqual({
      Bucket: 'landing',
      Delete: {
        Objects: [
          { Key: KEY, VersionId: 'v2' },
          { Key: KEY, VersionId: 'v1' },
          { Key: KEY, VersionId: 'd1' },
        ],
        Quiet: true,
      },
    });
  });

  it('says which permission is missing when S3 refuses to delete a version', async () => {
    s3.reset();
    s3.on(HeadObjectCommand).resolves({ VersionId: 'v2' });
    s3.on(ListObjectVersionsCommand).resolves({ Versions: [{ Key: KEY, VersionId: 'v1' }] });
    s3.on(DeleteObjectsCommand).resolves({ Errors: [{ Key: KEY, VersionId: 'v1', Code: 'AccessDenied' }] });
    const objects = new ErasureObjects(new S3Client({ region: 'eu-west-1' }), 'landing');
    await expect(objects.deleteEarlierVersions(KEY)).rejects.toThrow(
      /1 earlier version\(s\) could not be deleted \(AccessDenied\); your identity needs s3:DeleteObjectVersion/,
    );
  });

  it('writes nothing but the object itself', async () => {
    s3.reset();
    s3.on(PutObjectCommand).resolves({});
    const objects = new ErasureObjects(new S3Client({ region: 'eu-west-1' }), 'landing');
    await objects.upload('_manifests/m.json', { bytes: Buffer.from('{}') }, 'application/json');
    expect(s3.commandCalls(PutObjectCommand)[0]!.args[0].input).toMatchObject({
      Bucket: 'landing',
      Key: '_manifests/m.json',
      ContentType: 'application/json',
    });
  });
});

describe('earlier versions in a bucket without versioning (s3rver)', () => {
  let s3: S3rverHandle;
  beforeAll(async () => {
    s3 = await startS3rver();
  });
  afterAll(async () => {
    await s3?.stop();
  });

  it('has none to delete: an overwrite replaced the content', async () => {
    const bucket = await s3.createBucket();
    const objects = new ErasureObjects(s3.client, bucket);
    await objects.upload(KEY, { bytes: Buffer.from('first') }, 'application/octet-stream');
    await objects.upload(KEY, { bytes: Buffer.from('second') }, 'application/octet-stream');
    expect(await objects.deleteEarlierVersions(KEY)).toBe(0);
    expect(await s3.listKeys(bucket)).toEqual([KEY]);
  });
});
