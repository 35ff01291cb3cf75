/**
 * What every handler needs at cold start: the environment the stack sets (variable names in
 * contracts/environment.ts), the operator config bundled beside the code, and AWS clients that
 * honour `AWS_ENDPOINT_URL_<SERVICE>` (local engines on a laptop). `CONNECTOR_ADAPTERS` chooses
 * `aws` (default) or `local` adapters (see adapters/index.ts).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type OperatorConfig, operatorConfigSchema } from '../config/schema.ts';
import { BUNDLED_CONFIG_FILE, ENV } from '../contracts/environment.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** A required environment variable is missing; the message names it. */
export class RuntimeConfigError extends Error {
  override readonly name = 'RuntimeConfigError';
}

export interface RuntimeEnv {
  readonly operatorId: string;
  readonly stage: string;
  readonly bucket: string;
  readonly kmsKeyArn: string;
  readonly stateTable: string;
  /** Database sources only. */
  readonly secretId?: string;
}

function required(env: Env, name: string): string {
  const value = env[name]?.trim();
  if (!value)
    throw new RuntimeConfigError(`environment variable ${name} is not set (the stack sets it on every function)`);
  return value;
}

/** The variables every function has (a missing one is a {@link RuntimeConfigError}) and the secret's. */
export function readRuntimeEnv(env: Env = process.env): RuntimeEnv {
  const secretId = env[ENV.secretId]?.trim();
  return {
    operatorId: required(env, ENV.operatorId),
    stage: required(env, ENV.stage),
    bucket: required(env, ENV.bucket),
    kmsKeyArn: required(env, ENV.kmsKeyArn),
    stateTable: required(env, ENV.stateTable),
    ...(secretId ? { secretId } : {}),
  };
}

/** Loads and re-validates the operator config (defaults applied, as at synth). */
export function loadRuntimeConfig(env: Env = process.env): OperatorConfig {
  const path = env[ENV.configPath]?.trim() || join(dirname(fileURLToPath(import.meta.url)), BUNDLED_CONFIG_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new RuntimeConfigError(`cannot read the operator config at ${path}: ${(e as Error).message}`, { cause: e });
  }
  const parsed = operatorConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new RuntimeConfigError(`the operator config at ${path} is invalid: ${parsed.error.issues[0]?.message ?? ''}`);
  }
  return parsed.data;
}

export interface AwsClients {
  readonly s3: S3Client;
  readonly dynamo: DynamoDBClient;
  readonly doc: DynamoDBDocumentClient;
}

/**
 * AWS clients for the data path, each created on first use. Endpoints come from
 * `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL_DYNAMODB` when set (the SDK reads them); a local S3
 * endpoint gets path-style addressing. Checksums are only sent when an operation requires them,
 * which both S3 and s3rver accept.
 */
export function createAwsClients(env: Env = process.env): AwsClients {
  const localS3 = Boolean(env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL);
  let s3: S3Client | undefined;
  let dynamo: DynamoDBClient | undefined;
  let doc: DynamoDBDocumentClient | undefined;
  return {
    get s3() {
      s3 ??= new S3Client({
        forcePathStyle: localS3,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
      return s3;
    },
    get dynamo() {
      dynamo ??= new DynamoDBClient({});
      return dynamo;
    },
    get doc() {
      doc ??= DynamoDBDocumentClient.from(this.dynamo, { marshallOptions: { removeUndefinedValues: true } });
      return doc;
    },
  };
}
