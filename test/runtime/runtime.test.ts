/**
 * The handlers' runtime: the environment and the config are checked when it is created, every
 * client is built on first use and once, and a function that never unwraps a key nor lands an
 * object (run-lock) builds no KMS and no S3 client. The sync-state table is a real dynalite.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ENV } from '#shared/contracts/environment';
import { RuntimeConfigError } from '#shared/runtime/context';
import { createRuntime, DEFAULT_TIME_RESERVE_MS } from '#shared/runtime/runtime';
import { type DynaliteHandle, startDynalite } from '../helpers/dynalite.ts';
import { luckyConfig } from '../ingest/fixtures.ts';

/** Clients constructed so far, per service. */
const built = vi.hoisted(() => ({ kms: 0, s3: 0 }));

vi.mock('@aws-sdk/client-kms', async (importOriginal) => {
  const real = await importOriginal<typeof import('@aws-sdk/client-kms')>();
  class CountedKMSClient extends real.KMSClient {
    constructor(...args: ConstructorParameters<typeof real.KMSClient>) {
      super(...args);
      built.kms++;
    }
  }
  return { ...real, KMSClient: CountedKMSClient };
});

vi.mock('@aws-sdk/client-s3', async (importOriginal) => {
  const real = await importOriginal<typeof import('@aws-sdk/client-s3')>();
  class CountedS3Client extends real.S3Client {
    constructor(...args: ConstructorParameters<typeof real.S3Client>) {
      super(...args);
      built.s3++;
    }
  }
  return { ...real, S3Client: CountedS3Client };
});

let dynamo: DynaliteHandle;
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  [dynamo, dir] = await Promise.all([startDynalite(), mkdtemp(join(tmpdir(), 'runtime-'))]);
  const table = await dynamo.createSyncStateTable();
  const configPath = join(dir, 'operator-config.json');
  await writeFile(configPath, JSON.stringify(luckyConfig()));
  env = {
    [ENV.operatorId]: 'lucky-files',
    [ENV.stage]: 'sandbox',
    [ENV.bucket]: 'runtime-test-bucket',
    [ENV.kmsKeyArn]: 'arn:aws:kms:eu-west-1:333333333333:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
    [ENV.stateTable]: table,
    [ENV.configPath]: configPath,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_TRACE_ENABLED: 'false',
    POWERTOOLS_METRICS_DISABLED: 'true',
  };
  Object.assign(process.env, env);
});

afterAll(async () => {
  await dynamo?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('createRuntime', () => {
  it('fails at creation naming a missing variable or an unreadable config', () => {
    const { [ENV.stateTable]: _, ...withoutTable } = env;
    expect(() => createRuntime(withoutTable)).toThrow(RuntimeConfigError);
    expect(() => createRuntime(withoutTable)).toThrow(/CONNECTOR_STATE_TABLE is not set/);
    expect(() => createRuntime({ ...env, [ENV.configPath]: join(dir, 'missing.json') })).toThrow(
      /cannot read the operator config at .*missing\.json/,
    );
  });

  it('builds each client on first use, once', async () => {
    const before = { ...built };
    const rt = createRuntime({ ...env, [ENV.adapters]: 'aws' });
    expect(rt.config.operatorId).toBe('lucky-files');
    expect(built).toEqual(before);

    // The sync-state table through the lazily built DynamoDB client: a real round trip.
    expect(await rt.store.locks.acquire('RUNTIME_TEST', 'owner-1', 60)).toBe(true);
    expect((await rt.store.locks.get('RUNTIME_TEST'))?.owner).toBe('owner-1');
    expect(rt.store).toBe(rt.store);
    expect(rt.clients.doc).toBe(rt.clients.doc);
    expect(built).toEqual(before);

    const keys = rt.adapters.keys;
    expect(rt.adapters.keys).toBe(keys);
    expect(built.kms).toBe(before.kms + 1);

    rt.sink({ stream: 'players' });
    rt.sink();
    expect(built.s3).toBe(before.s3 + 1);
  });

  it('reads the time reserve and optional variables by their contract names', () => {
    expect(createRuntime(env).reserveMs).toBe(DEFAULT_TIME_RESERVE_MS);
    expect(createRuntime({ ...env, [ENV.timeReserveMs]: '1500' }).reserveMs).toBe(1500);
    expect(createRuntime({ ...env, [ENV.timeReserveMs]: '-1' }).reserveMs).toBe(DEFAULT_TIME_RESERVE_MS);
    const rt = createRuntime({ ...env, [ENV.glueDatabase]: '  connector_lucky  ', [ENV.athenaWorkGroup]: ' ' });
    expect(rt.variable(ENV.glueDatabase)).toBe('connector_lucky');
    expect(rt.variable(ENV.athenaWorkGroup)).toBeUndefined();
  });
});

describe('a handler that needs neither KMS nor S3', () => {
  it('run-lock begins a run without building either client', async () => {
    const before = { ...built };
    const { runLock } = await import('../../lambdas/run-lock/handler.ts');
    const result = await runLock({
      action: 'begin',
      executionName: 'runtime-test',
      startTime: new Date().toISOString(),
    });
    // No snapshot has completed in this table: the run waits, after reading the sync state.
    expect(result).toMatchObject({ status: 'waiting' });
    expect(built).toEqual(before);
  });
});
