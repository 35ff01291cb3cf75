/**
 * Shared setup of the file-drop ingestion tests: s3rver and dynalite, the lucky-files example
 * operator, uploads, the events EventBridge would deliver, and landed Parquet read back with DuckDB.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { SQSEvent } from 'aws-lambda';
import { parseOperatorConfig } from '#shared/config/load';
import type { OperatorConfig } from '#shared/config/schema';
import { FileLedger, type IngestDeps, objectCreatedEventBody } from '#shared/ingest/index';
import type { WindowManifest } from '#shared/landing/window';
import { createPseudonymizer } from '#shared/pii/pseudonymizer';
import { type DuckDbHandle, openDuckDb, parquetSource } from '../helpers/duckdb.ts';
import { type DynaliteHandle, startDynalite } from '../helpers/dynalite.ts';
import { type S3rverHandle, s3rverClientConfig, startS3rver } from '../helpers/s3rver.ts';

export const CONFIG_FILE = 'config/operators/lucky-files.yaml';

/** The lucky-files example operator (players: `;`-separated latin1 CSV, local London time). */
export function luckyConfig(): OperatorConfig {
  const result = parseOperatorConfig(readFileSync(CONFIG_FILE, 'utf8'), CONFIG_FILE);
  if (!result.config) throw new Error(`${CONFIG_FILE} is invalid`);
  return result.config;
}

export interface IngestEnv {
  readonly s3: S3rverHandle;
  readonly dynamo: DynaliteHandle;
  readonly bucket: string;
  readonly table: string;
  readonly dir: string;
  readonly duck: DuckDbHandle;
  stop(): Promise<void>;
}

export async function startIngestEnv(): Promise<IngestEnv> {
  const [s3, dynamo, dir, duck] = await Promise.all([
    startS3rver(),
    startDynalite(),
    mkdtemp(join(tmpdir(), 'ingest-')),
    openDuckDb(),
  ]);
  const [bucket, table] = await Promise.all([s3.createBucket(), dynamo.createSyncStateTable()]);
  return {
    s3,
    dynamo,
    bucket,
    table,
    dir,
    duck,
    async stop() {
      duck.close();
      await Promise.allSettled([s3.stop(), dynamo.stop()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * An S3 client for s3rver, which has no versioning: it ignores `versionId` on GET and DELETE but
 * would take `?versionId=` in a copy source as part of the key. The middleware drops it there, so
 * events with version ids (as the versioned landing bucket sends) can be replayed locally.
 */
export function versionTolerantClient(endpoint: string): S3Client {
  const client = new S3Client(s3rverClientConfig(endpoint));
  client.middlewareStack.add(
    (next) => async (args) => {
      const input = args.input as { CopySource?: string };
      if (input.CopySource) input.CopySource = input.CopySource.replace(/\?versionId=.*$/, '');
      return next(args);
    },
    { step: 'initialize', name: 'dropCopySourceVersionForS3rver' },
  );
  return client;
}

export const PSEUDONYM_KEY = randomBytes(32);

/** Ingest dependencies against the local engines. */
export function ingestDeps(env: IngestEnv, config: OperatorConfig, s3: S3Client = env.s3.client): IngestDeps {
  const pseudonymizer = createPseudonymizer(PSEUDONYM_KEY);
  return {
    config,
    s3,
    bucket: env.bucket,
    ledger: new FileLedger({ doc: env.dynamo.doc, tableName: env.table }),
    pseudonymizer: async () => pseudonymizer,
    tmpDir: env.dir,
  };
}

/** Uploads a file and returns the fields of its Object Created event. */
export async function upload(env: IngestEnv, key: string, body: string | Uint8Array) {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
  const out = await env.s3.client.send(new PutObjectCommand({ Bucket: env.bucket, Key: key, Body: bytes }));
  return { bucket: env.bucket, key, size: bytes.length, etag: out.ETag?.replaceAll('"', ''), time: new Date() };
}

/** An SQS event with one message per object event. */
export function sqsEvent(bodies: readonly string[]): SQSEvent {
  return {
    Records: bodies.map((body, i) => ({
      messageId: `msg-${i}-${randomBytes(4).toString('hex')}`,
      receiptHandle: `rh-${i}`,
      body,
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: String(Date.now()),
        SenderId: 'events',
        ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:eu-west-1:333333333333:ingest',
      awsRegion: 'eu-west-1',
    })),
  };
}

export { objectCreatedEventBody };

export async function getBytes(env: IngestEnv, key: string): Promise<Buffer | undefined> {
  try {
    const out = await env.s3.client.send(new GetObjectCommand({ Bucket: env.bucket, Key: key }));
    return Buffer.from(await out.Body!.transformToByteArray());
  } catch (e) {
    if ((e as { name?: string }).name === 'NoSuchKey') return undefined;
    throw e;
  }
}

export async function getJson<T>(env: IngestEnv, key: string): Promise<T | undefined> {
  const bytes = await getBytes(env, key);
  return bytes ? (JSON.parse(bytes.toString('utf8')) as T) : undefined;
}

export type Row = Record<string, string | number | null>;

/** The rows of a manifest's parts, with timestamps as `YYYY-MM-DD HH:MM:SS` (UTC), ordered by `orderBy`. */
export async function readLanded(env: IngestEnv, manifest: WindowManifest, select: string, orderBy: string) {
  const paths = await env.s3.download(
    env.bucket,
    manifest.parts.map((p) => p.key),
    join(env.dir, `dl-${randomBytes(4).toString('hex')}`),
  );
  return (await env.duck.query(`SELECT ${select} FROM ${parquetSource(paths)} ORDER BY ${orderBy}`)) as Row[];
}
