/**
 * A real S3 engine for tests: s3rver, storing objects in a fresh temp directory, on a random
 * loopback port, with an S3Client configured for it.
 *
 * ```ts
 * const s3 = await startS3rver();
 * const bucket = await s3.createBucket();
 * const sink = new S3Sink({ client: s3.client, bucket });
 * ...
 * await s3.stop();
 * ```
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverClass = new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  resetOnClose: boolean;
}) => S3rverInstance;

const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;

export interface S3rverHandle {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  /** Path-style client, region eu-west-1, credentials S3RVER/S3RVER, checksums only when required. */
  readonly client: S3Client;
  /** Where s3rver keeps the objects (removed by `stop`). */
  readonly directory: string;
  /** Creates a bucket (random name unless given) and returns its name. */
  createBucket(name?: string): Promise<string>;
  /** Every key in the bucket under `prefix`, sorted. */
  listKeys(bucket: string, prefix?: string): Promise<string[]>;
  /** Downloads the objects to files under `dir` (same relative paths as the keys) and returns the paths. */
  download(bucket: string, keys: readonly string[], dir: string): Promise<string[]>;
  /** Closes the client and the server and removes the directory. */
  stop(): Promise<void>;
}

/** Options for the S3Client that talks to s3rver; tests may add middleware to it. */
export function s3rverClientConfig(endpoint: string) {
  return {
    endpoint,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  } as const;
}

/** Starts s3rver on a random port in a new temp directory. */
export async function startS3rver(): Promise<S3rverHandle> {
  const directory = await mkdtemp(join(tmpdir(), 's3rver-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, resetOnClose: false });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client(s3rverClientConfig(endpoint));

  const listKeys = async (bucket: string, prefix = ''): Promise<string[]> => {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const out = await client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of out.Contents ?? []) if (o.Key) keys.push(o.Key);
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  };

  return {
    endpoint,
    client,
    directory,
    async createBucket(name = `landing-${randomUUID().slice(0, 8)}`) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
      return name;
    },
    listKeys,
    async download(bucket, keys, dir) {
      const paths: string[] = [];
      for (const key of keys) {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        const path = join(dir, key);
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, await out.Body!.transformToByteArray());
        paths.push(path);
      }
      return paths;
    },
    async stop() {
      client.destroy();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
