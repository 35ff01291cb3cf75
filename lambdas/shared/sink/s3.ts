/**
 * The S3 object sink: streamed multipart uploads (`@aws-sdk/lib-storage`), small puts, listing and
 * batch deletes against the operator's landing bucket, every write encrypted with the operator's
 * KMS key (SSE-KMS with an S3 Bucket Key, so KMS is called per bucket key, not per object).
 *
 * Locally the same code runs against s3rver, which accepts the encryption headers and ignores them.
 */
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  type S3Client,
  type ServerSideEncryption,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { WriteContext } from '../write-context.ts';
import { SinkError } from './errors.ts';
import type { ListedObject, ObjectSink, ObjectUpload } from './sink.ts';

/** S3 accepts at most 1000 keys per DeleteObjects request. */
const DELETE_BATCH = 1000;

export interface S3SinkOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /**
   * ARN of the operator's KMS key. Every object is written with `ServerSideEncryption: aws:kms`,
   * this key and `BucketKeyEnabled: true`. Without it no encryption headers are sent and the
   * bucket's default encryption applies (sending `aws:kms` without a key id would select the
   * AWS-managed `aws/s3` key instead of the operator's).
   * @default - no encryption headers
   */
  readonly kmsKeyArn?: string;
  /**
   * Size of each multipart upload part (at least 5 MiB). Objects smaller than this are sent with
   * one PutObject.
   * @default 8388608 (8 MiB)
   */
  readonly partSize?: number;
  /**
   * Parts uploaded concurrently per object; each holds `partSize` bytes in memory. With 1, a
   * failed part ends the upload at once; with more, the failure surfaces when the body ends.
   * @default 1
   */
  readonly queueSize?: number;
  /** Operator, stream and window named in error messages. */
  readonly context?: WriteContext;
}

/** {@link ObjectSink} on an S3 bucket. */
export class S3Sink implements ObjectSink {
  readonly bucket: string;
  private readonly client: S3Client;
  private readonly encryption: {
    ServerSideEncryption?: ServerSideEncryption;
    SSEKMSKeyId?: string;
    BucketKeyEnabled?: boolean;
  };
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly context: WriteContext;

  constructor(options: S3SinkOptions) {
    this.client = options.client;
    this.bucket = options.bucket;
    this.encryption = options.kmsKeyArn
      ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: options.kmsKeyArn, BucketKeyEnabled: true }
      : {};
    this.partSize = options.partSize ?? 8 * 1024 * 1024;
    this.queueSize = options.queueSize ?? 1;
    this.context = options.context ?? {};
  }

  /** The same sink with another error context (e.g. per window). */
  withContext(context: WriteContext): S3Sink {
    return new S3Sink({
      client: this.client,
      bucket: this.bucket,
      ...(this.encryption.SSEKMSKeyId ? { kmsKeyArn: this.encryption.SSEKMSKeyId } : {}),
      partSize: this.partSize,
      queueSize: this.queueSize,
      context,
    });
  }

  openUpload(key: string, contentType: string): ObjectUpload {
    const body = new PassThrough({ highWaterMark: 1024 * 1024 });
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: body, ContentType: contentType, ...this.encryption },
      partSize: this.partSize,
      queueSize: this.queueSize,
      leavePartsOnError: false,
    });
    let failure: SinkError | undefined;
    let aborted = false;
    const done = upload.done().then(
      () => undefined,
      (err: unknown) => {
        failure = new SinkError('upload', key, this.context, { cause: err });
        body.destroy();
        throw failure;
      },
    );
    done.catch(() => {});

    return {
      async write(chunk) {
        if (failure) throw failure;
        if (aborted) throw new Error(`upload of ${key} was aborted`);
        if (!body.write(chunk)) {
          await Promise.race([once(body, 'drain'), done]);
        }
      },
      async end() {
        if (failure) throw failure;
        body.end();
        await done;
      },
      async abort() {
        if (aborted) return;
        aborted = true;
        await upload.abort();
        // Ending the body lets lib-storage's part readers stop and abort a started multipart upload.
        body.destroy();
        await done.catch(() => {});
      },
    };
  }

  async putObject(
    key: string,
    body: string | Uint8Array,
    contentType: string,
    metadata?: Readonly<Record<string, string>>,
  ): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          // Given, so the SDK never takes a body it cannot measure (an empty string) for a stream
          // and warns on the log for every window without rows.
          ContentLength: typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.byteLength,
          ContentType: contentType,
          ...(metadata ? { Metadata: { ...metadata } } : {}),
          ...this.encryption,
        }),
      );
    } catch (err) {
      throw new SinkError('put', key, this.context, { cause: err });
    }
  }

  async getObject(key: string): Promise<Uint8Array | undefined> {
    return (await this.getObjectWithMetadata(key))?.body;
  }

  async getObjectWithMetadata(
    key: string,
  ): Promise<{ readonly body: Uint8Array; readonly metadata: Readonly<Record<string, string>> } | undefined> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const body = out.Body ? await out.Body.transformToByteArray() : new Uint8Array();
      return { body, metadata: out.Metadata ?? {} };
    } catch (err) {
      if (err instanceof NoSuchKey || (err as { name?: string }).name === 'NoSuchKey') return undefined;
      throw new SinkError('get', key, this.context, { cause: err });
    }
  }

  location(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  async listKeys(prefix: string): Promise<string[]> {
    return (await this.listObjects(prefix)).map((o) => o.key);
  }

  async listObjects(prefix: string): Promise<ListedObject[]> {
    const objects: ListedObject[] = [];
    let token: string | undefined;
    try {
      do {
        const out = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const object of out.Contents ?? []) {
          if (object.Key === undefined) continue;
          objects.push({ key: object.Key, lastModified: object.LastModified ?? new Date(0), size: object.Size ?? 0 });
        }
        token = out.IsTruncated ? out.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw new SinkError('list', prefix, this.context, { cause: err });
    }
    return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async deleteKeys(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      let errors: { Key?: string; Code?: string; Message?: string }[] = [];
      try {
        const out = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
        );
        errors = out.Errors ?? [];
      } catch (err) {
        throw new SinkError('delete', batch[0]!, this.context, { cause: err });
      }
      const first = errors[0];
      if (first) {
        throw new SinkError('delete', first.Key ?? batch[0]!, this.context, {
          cause: new Error(`${errors.length} key(s) not deleted, first: ${first.Code}: ${first.Message}`),
        });
      }
    }
  }
}
