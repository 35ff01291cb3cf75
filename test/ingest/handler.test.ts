/**
 * The ingest-file handler module itself (middy, Powertools batch and metrics, local adapters for
 * the pseudonym key), with its environment set before it is imported, as Lambda would load it.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { WindowManifest } from '#shared/landing/window';
import {
  getBytes,
  getJson,
  type IngestEnv,
  luckyConfig,
  objectCreatedEventBody,
  sqsEvent,
  startIngestEnv,
  upload,
} from './fixtures.ts';

type HandlerModule = typeof import('../../lambdas/ingest-file/handler.ts');

const context = {
  callbackWaitsForEmptyEventLoop: false,
  functionName: 'ingest-file-test',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:333333333333:function:ingest-file-test',
  memoryLimitInMB: '1769',
  awsRequestId: randomBytes(8).toString('hex'),
  logGroupName: '/connector/lucky-files-sandbox/ingest-file',
  logStreamName: 'test',
  getRemainingTimeInMillis: () => 900_000,
  done: () => {},
  fail: () => {},
  succeed: () => {},
} as Context;

let env: IngestEnv;
let mod: HandlerModule;

beforeAll(async () => {
  env = await startIngestEnv();
  const configPath = join(env.dir, 'operator-config.json');
  await writeFile(configPath, JSON.stringify(luckyConfig()));
  Object.assign(process.env, {
    CONNECTOR_OPERATOR_ID: 'lucky-files',
    CONNECTOR_STAGE: 'sandbox',
    CONNECTOR_BUCKET: env.bucket,
    CONNECTOR_KMS_KEY_ARN: 'arn:aws:kms:eu-west-1:333333333333:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
    CONNECTOR_STATE_TABLE: env.table,
    CONNECTOR_CONFIG_PATH: configPath,
    CONNECTOR_ADAPTERS: 'local',
    CONNECTOR_LOCAL_KMS_KEY_FILE: join(env.dir, 'local-kms.key'),
    AWS_ENDPOINT_URL_S3: env.s3.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: env.dynamo.endpoint,
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_TRACE_ENABLED: 'false',
  });
  mod = await import('../../lambdas/ingest-file/handler.ts');
});
afterAll(async () => {
  await env?.stop();
});

describe('ingest-file handler', () => {
  it('lands a dropped CSV and a bad file from one batch and emits the file metrics', async () => {
    const good = await upload(
      env,
      'inbound/players/handler.csv',
      'PlayerID;Registered;LastModified;Country;Currency;Status\nH-1;01/06/2026 10:00:00;02/06/2026 10:00:00;AT;EUR;Active\n',
    );
    const bad = await upload(env, 'inbound/players/handler-bad.csv', 'PlayerID;Nope\nx;y\n');
    const writes: string[] = [];
    const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      writes.push(String(chunk));
      return true;
    });
    let response: Awaited<ReturnType<HandlerModule['handler']>>;
    try {
      response = await mod.handler(sqsEvent([objectCreatedEventBody(good), objectCreatedEventBody(bad)]), context);
    } finally {
      out.mockRestore();
    }
    expect(response).toEqual({ batchItemFailures: [] });

    const manifests = await env.s3.listKeys(env.bucket, '_manifests/players/');
    expect(manifests).toHaveLength(1);
    expect((await getJson<WindowManifest>(env, manifests[0]!))?.rowCount).toBe(1);
    expect(await getBytes(env, good.key)).toBeUndefined();
    expect(await getBytes(env, 'archive/players/handler.csv')).toBeDefined();
    expect(await getJson(env, 'quarantine/players/handler-bad.csv.reason.json')).toMatchObject({
      code: 'MISSING_COLUMN',
    });

    const metrics = writes
      .flatMap((w) => w.split('\n'))
      .filter((line) => line.includes('"_aws"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const value = (name: string) => metrics.find((m) => name in m)?.[name];
    expect(value('FilesIngested')).toBe(1);
    expect(value('RowsIngested')).toBe(1);
    expect(value('FilesQuarantined')).toBe(1);
    expect(value('IngestLagSeconds')).toEqual(expect.any(Number));
    expect(metrics.find((m) => 'FilesIngested' in m)).toMatchObject({ Operator: 'lucky-files-sandbox' });
    expect(metrics.find((m) => 'RowsIngested' in m)).toMatchObject({
      Operator: 'lucky-files-sandbox',
      Stream: 'players',
    });
    // One RowsIngested datapoint per landed file, under exactly the dimensions the file-drop
    // freshness alarm reads (its SampleCount is the number of files landed).
    const rows = metrics.find((m) => 'RowsIngested' in m) as {
      _aws: { CloudWatchMetrics: { Dimensions: string[][] }[] };
    };
    expect(rows._aws.CloudWatchMetrics[0]?.Dimensions.map((d) => [...d].sort())).toEqual([
      ['Operator', 'Stream', 'service'],
    ]);
    expect(metrics.filter((m) => 'RowsIngested' in m)).toHaveLength(1);
  });
});
