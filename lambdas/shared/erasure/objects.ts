/**
 * The S3 operations an erasure needs beyond the landing sink: download an object to a file, put a
 * rewritten object back under its key, and delete every earlier version of a rewritten object.
 *
 * The landing bucket is versioned: overwriting an object keeps the previous content as a
 * noncurrent version (expired by the lifecycle after `retention.noncurrentVersionDays`). An erasure
 * must not leave the player's rows there, so after a rewrite every version of the key but the
 * current one is deleted by version id. In a bucket without versioning (s3rver locally) an
 * overwrite replaces the content and there is nothing more to delete.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectsCommand,
  type DeleteObjectsCommandOutput,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  NoSuchKey,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

/** An S3 call of an erasure failed; names the bucket, key and call. */
export class ErasureObjectError extends Error {
  override readonly name = 'ErasureObjectError';
}

/** What {@link ErasureObjects.download} fetched. */
export interface DownloadedObject {
  readonly bytes: number;
  readonly contentType: string | undefined;
  readonly metadata: Readonly<Record<string, string>>;
}

/** Objects of the landing bucket, with their versions. */
export class ErasureObjects {
  constructor(
    private readonly client: S3Client,
    readonly bucket: string,
  ) {}

  /** `s3://<bucket>/<key>` */
  location(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  /** Writes the object to `path`; undefined when there is no object under `key`. */
  async download(key: string, path: string): Promise<DownloadedObject | undefined> {
    let out: GetObjectCommandOutput;
    try {
      out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      if (error instanceof NoSuchKey || (error as { name?: string }).name === 'NoSuchKey') return undefined;
      throw this.failure('GetObject', key, error);
    }
    try {
      await pipeline(out.Body as Readable, createWriteStream(path));
    } catch (error) {
      throw this.failure('GetObject (reading the body)', key, error);
    }
    return { bytes: (await stat(path)).size, contentType: out.ContentType, metadata: out.Metadata ?? {} };
  }

  /** Stores the file (or bytes) under `key`, replacing the current object; the bucket's default encryption applies. */
  async upload(
    key: string,
    body: { readonly path: string } | { readonly bytes: Uint8Array },
    contentType: string,
    metadata: Readonly<Record<string, string>> = {},
  ): Promise<void> {
    try {
      const params = {
        Bucket: this.bucket,
        Key: key,
        ContentType: contentType,
        ...(Object.keys(metadata).length > 0 ? { Metadata: { ...metadata } } : {}),
      };
      if ('bytes' in body) {
        await this.client.send(new PutObjectCommand({ ...params, Body: body.bytes }));
      } else {
        // Parts can be large: multipart above the part size, as the landing sink writes them.
        await new Upload({
          client: this.client,
          params: { ...params, Body: createReadStream(body.path) },
          partSize: 8 * 1024 * 1024,
          leavePartsOnError: false,
        }).done();
      }
    } catch (error) {
      throw this.failure('PutObject', key, error);
    }
  }

  /**
   * Deletes every version (and delete marker) of `key` except the current one; returns how many
   * were deleted. Nothing to delete in a bucket without versioning.
   */
  async deleteEarlierVersions(key: string): Promise<number> {
    let current: string | undefined;
    try {
      current = (await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }))).VersionId;
    } catch (error) {
      throw this.failure('HeadObject', key, error);
    }
    if (current === undefined || current === 'null') return 0;
    const earlier: string[] = [];
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListObjectVersionsCommand({
            Bucket: this.bucket,
            Prefix: key,
            KeyMarker: keyMarker,
            VersionIdMarker: versionMarker,
          }),
        );
        for (const v of [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]) {
          if (v.Key === key && v.VersionId && v.VersionId !== current) earlier.push(v.VersionId);
        }
        keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
        versionMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
      } while (keyMarker !== undefined);
    } catch (error) {
      throw this.failure('ListObjectVersions', key, error);
    }
    for (let i = 0; i < earlier.length; i += 1000) {
      const batch = earlier.slice(i, i + 1000);
      let out: DeleteObjectsCommandOutput;
      try {
        out = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((VersionId) => ({ Key: key, VersionId })), Quiet: true },
          }),
        );
      } catch (error) {
        throw this.failure('DeleteObjects', key, error);
      }
      const failed = out.Errors ?? [];
      if (failed.length > 0) {
        throw new ErasureObjectError(
          `s3://${this.bucket}/${key}: ${failed.length} earlier version(s) could not be deleted (${failed[0]?.Code ?? 'unknown error'}); your identity needs s3:DeleteObjectVersion on the landing bucket. Run the erasure again once it has it`,
        );
      }
    }
    return earlier.length;
  }

  private failure(call: string, key: string, error: unknown): ErasureObjectError {
    const name = (error as { name?: string })?.name ?? 'Error';
    const message = error instanceof Error ? error.message : String(error);
    return new ErasureObjectError(`s3://${this.bucket}/${key}: ${call} failed: ${name}: ${message}`, {
      cause: error,
    });
  }
}
