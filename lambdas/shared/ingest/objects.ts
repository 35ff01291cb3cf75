/**
 * S3 operations on one dropped object version: read it, copy it (server side, re-encrypted with
 * the operator key), delete exactly that version.
 */
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  type S3Client,
  type ServerSideEncryption,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';

/** CopyObject copies at most 5 GiB; larger objects are copied in parts. */
export const MAX_SINGLE_COPY_BYTES = 5 * 1024 ** 3;
const COPY_PART_BYTES = 512 * 1024 ** 2;

/** The object version is gone (deleted, or superseded in an unversioned bucket). */
export function isMissingObject(error: unknown): boolean {
  const e = error as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } } | null;
  return (
    e?.name === 'NoSuchKey' ||
    e?.name === 'NoSuchVersion' ||
    e?.Code === 'NoSuchKey' ||
    e?.Code === 'NoSuchVersion' ||
    e?.name === 'NotFound' ||
    e?.$metadata?.httpStatusCode === 404
  );
}

/** One object version in the landing bucket. */
export interface ObjectRef {
  readonly bucket: string;
  readonly key: string;
  readonly versionId: string | undefined;
}

/** SSE-KMS settings every write carries (the bucket policy denies any other key). */
export function encryptionOf(kmsKeyArn: string | undefined): {
  ServerSideEncryption?: ServerSideEncryption;
  SSEKMSKeyId?: string;
  BucketKeyEnabled?: boolean;
} {
  return kmsKeyArn ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: kmsKeyArn, BucketKeyEnabled: true } : {};
}

/** GetObject of the version, or undefined when it no longer exists. */
export async function getObjectVersion(s3: S3Client, ref: ObjectRef): Promise<GetObjectCommandOutput | undefined> {
  try {
    return await s3.send(
      new GetObjectCommand({
        Bucket: ref.bucket,
        Key: ref.key,
        ...(ref.versionId ? { VersionId: ref.versionId } : {}),
      }),
    );
  } catch (e) {
    if (isMissingObject(e)) return undefined;
    throw e;
  }
}

/** The `x-amz-copy-source` value: bucket and URL-encoded key, with the version. */
function copySource(ref: ObjectRef): string {
  const key = ref.key.split('/').map(encodeURIComponent).join('/');
  return `${ref.bucket}/${key}${ref.versionId ? `?versionId=${encodeURIComponent(ref.versionId)}` : ''}`;
}

/**
 * Copies the version to `toKey` in the same bucket. Returns false when the source no longer
 * exists. Objects above 5 GiB are copied with UploadPartCopy.
 */
export async function copyObjectVersion(
  s3: S3Client,
  ref: ObjectRef,
  toKey: string,
  size: number | undefined,
  kmsKeyArn: string | undefined,
): Promise<boolean> {
  const encryption = encryptionOf(kmsKeyArn);
  try {
    if (size === undefined || size <= MAX_SINGLE_COPY_BYTES) {
      await s3.send(
        new CopyObjectCommand({ Bucket: ref.bucket, Key: toKey, CopySource: copySource(ref), ...encryption }),
      );
      return true;
    }
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: ref.bucket, Key: toKey, ...encryption }),
    );
    const parts: { ETag: string; PartNumber: number }[] = [];
    for (let start = 0, n = 1; start < size; start += COPY_PART_BYTES, n++) {
      const end = Math.min(start + COPY_PART_BYTES, size) - 1;
      const out = await s3.send(
        new UploadPartCopyCommand({
          Bucket: ref.bucket,
          Key: toKey,
          UploadId,
          PartNumber: n,
          CopySource: copySource(ref),
          CopySourceRange: `bytes=${start}-${end}`,
        }),
      );
      parts.push({ ETag: out.CopyPartResult?.ETag ?? '', PartNumber: n });
    }
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: ref.bucket,
        Key: toKey,
        UploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
    return true;
  } catch (e) {
    if (isMissingObject(e)) return false;
    throw e;
  }
}

/** Deletes exactly this version (no delete marker is left); a missing version is not an error. */
export async function deleteObjectVersion(s3: S3Client, ref: ObjectRef): Promise<void> {
  try {
    await s3.send(
      new DeleteObjectCommand({
        Bucket: ref.bucket,
        Key: ref.key,
        ...(ref.versionId ? { VersionId: ref.versionId } : {}),
      }),
    );
  } catch (e) {
    if (!isMissingObject(e)) throw e;
  }
}
