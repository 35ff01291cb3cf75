/**
 * Picks the implementations of the services that have no local engine (KMS, Secrets Manager):
 * AWS in Lambda, local ones on a laptop and in tests.
 *
 * | variable                        | meaning                                                   |
 * | ------------------------------- | --------------------------------------------------------- |
 * | `CONNECTOR_ADAPTERS`            | `aws` (default) or `local`                                |
 * | `CONNECTOR_OPERATOR_ID`         | operator id (KMS encryption context), unless passed in    |
 * | `CONNECTOR_LOCAL_KMS_KEY_FILE`  | local: master key file, created on first use (0600)       |
 * | `CONNECTOR_LOCAL_SECRETS_FILE`  | local: JSON file of secret id → `{username, password}`    |
 * | `CONNECTOR_SOURCE_URL`          | local: postgres://… or mysql://… used instead of the      |
 * |                                 | operator's database (host, credentials and TLS mode)      |
 */

import { ENV } from '../contracts/environment.ts';
import type { SourceCredentials } from '../types.ts';
import type { KeyService } from './key-service.ts';
import { AwsKeyService } from './kms-aws.ts';
import { LocalKeyService } from './kms-local.ts';
import { SecretError, type SecretSource } from './secret-source.ts';
import { AwsSecretSource } from './secrets-aws.ts';
import { LocalSecretSource, parseSourceUrl } from './secrets-local.ts';

export { type DataKey, type KeyService, KeyServiceError } from './key-service.ts';
export { AwsKeyService, type AwsKeyServiceOptions } from './kms-aws.ts';
export { LocalKeyService, type LocalKeyServiceOptions, loadOrCreateMasterKey } from './kms-local.ts';
export { CREDENTIALS_EXAMPLE, parseCredentials, SecretError, type SecretSource } from './secret-source.ts';
export { AwsSecretSource, type AwsSecretSourceOptions } from './secrets-aws.ts';
export { LocalSecretSource, type LocalSecretSourceOptions, parseSourceUrl } from './secrets-local.ts';

export type AdapterMode = 'aws' | 'local';

export interface Adapters {
  readonly mode: AdapterMode;
  readonly keys: KeyService;
  readonly secrets: SecretSource;
  /**
   * Local only (`CONNECTOR_SOURCE_URL`): a database that replaces the operator's, with its own
   * credentials and TLS mode; the secret and `source.host`… of the config are then not used.
   */
  readonly sourceOverride?: SourceCredentials;
}

/** The adapter configuration is invalid (names the variable to fix). */
export class AdapterConfigError extends Error {
  override readonly name = 'AdapterConfigError';
}

export interface CreateAdaptersOptions {
  /** @default env.CONNECTOR_OPERATOR_ID */
  readonly operatorId?: string;
}

/** Creates the adapters selected by `CONNECTOR_ADAPTERS`; call once at module scope. */
export function createAdapters(
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: CreateAdaptersOptions = {},
): Adapters {
  const mode = env.CONNECTOR_ADAPTERS?.trim() || 'aws';
  if (mode !== 'aws' && mode !== 'local') {
    throw new AdapterConfigError(`CONNECTOR_ADAPTERS must be "aws" or "local", got ${JSON.stringify(mode)}`);
  }
  const operatorId = options.operatorId ?? env[ENV.operatorId];
  if (!operatorId) {
    throw new AdapterConfigError('the operator id is unknown: set CONNECTOR_OPERATOR_ID (or pass operatorId)');
  }
  if (mode === 'aws') {
    return { mode, keys: new AwsKeyService({ operatorId }), secrets: new AwsSecretSource() };
  }
  const keyFile = env.CONNECTOR_LOCAL_KMS_KEY_FILE;
  if (!keyFile) {
    throw new AdapterConfigError(
      'CONNECTOR_ADAPTERS=local needs CONNECTOR_LOCAL_KMS_KEY_FILE: the path of the local master key file (created on first use)',
    );
  }
  const secretsFile = env.CONNECTOR_LOCAL_SECRETS_FILE;
  const sourceUrl = env.CONNECTOR_SOURCE_URL;
  // Functions that never open the source (planning, file ingestion) need neither: a missing one is
  // reported when credentials are asked for.
  return {
    mode,
    keys: new LocalKeyService({ keyFile, operatorId }),
    secrets: secretsFile ? new LocalSecretSource({ secretsFile }) : new MissingSecretSource(),
    ...(sourceUrl ? { sourceOverride: parseSourceUrl(sourceUrl) } : {}),
  };
}

/** Local mode without a secrets file: every database session uses CONNECTOR_SOURCE_URL instead. */
class MissingSecretSource implements SecretSource {
  async getCredentials(secretId: string): Promise<never> {
    throw new SecretError(
      `no local credentials for secret ${secretId}: set CONNECTOR_LOCAL_SECRETS_FILE to a JSON file of secrets, or CONNECTOR_SOURCE_URL to postgres://… or mysql://…`,
      secretId,
    );
  }
}
