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

/**
 * Creates the adapters selected by `CONNECTOR_ADAPTERS`; call once at module scope. The settings
 * are checked here; the services themselves are built on first use, so a function that never
 * unwraps a key or reads a secret never creates a KMS or Secrets Manager client.
 */
export function createAdapters(
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: CreateAdaptersOptions = {},
): Adapters {
  const mode = env[ENV.adapters]?.trim() || 'aws';
  if (mode !== 'aws' && mode !== 'local') {
    throw new AdapterConfigError(`${ENV.adapters} must be "aws" or "local", got ${JSON.stringify(mode)}`);
  }
  const operatorId = options.operatorId ?? env[ENV.operatorId];
  if (!operatorId) {
    throw new AdapterConfigError(`the operator id is unknown: set ${ENV.operatorId} (or pass operatorId)`);
  }
  if (mode === 'aws') {
    return lazyAdapters(
      mode,
      () => new AwsKeyService({ operatorId }),
      () => new AwsSecretSource(),
    );
  }
  const keyFile = env[ENV.localKmsKeyFile];
  if (!keyFile) {
    throw new AdapterConfigError(
      `${ENV.adapters}=local needs ${ENV.localKmsKeyFile}: the path of the local master key file (created on first use)`,
    );
  }
  const secretsFile = env[ENV.localSecretsFile];
  const sourceUrl = env[ENV.sourceUrl];
  // Functions that never open the source (planning, file ingestion) need neither: a missing one is
  // reported when credentials are asked for.
  return lazyAdapters(
    mode,
    () => new LocalKeyService({ keyFile, operatorId }),
    () => (secretsFile ? new LocalSecretSource({ secretsFile }) : new MissingSecretSource()),
    sourceUrl ? parseSourceUrl(sourceUrl) : undefined,
  );
}

/** Adapters whose key service and secret source are built once, on first use. */
function lazyAdapters(
  mode: AdapterMode,
  createKeys: () => KeyService,
  createSecrets: () => SecretSource,
  sourceOverride?: SourceCredentials,
): Adapters {
  let keys: KeyService | undefined;
  let secrets: SecretSource | undefined;
  return {
    mode,
    get keys() {
      keys ??= createKeys();
      return keys;
    },
    get secrets() {
      secrets ??= createSecrets();
      return secrets;
    },
    ...(sourceOverride ? { sourceOverride } : {}),
  };
}

/** Local mode without a secrets file: every database session uses CONNECTOR_SOURCE_URL instead. */
class MissingSecretSource implements SecretSource {
  async getCredentials(secretId: string): Promise<never> {
    throw new SecretError(
      `no local credentials for secret ${secretId}: set ${ENV.localSecretsFile} to a JSON file of secrets, or ${ENV.sourceUrl} to postgres://… or mysql://…`,
      secretId,
    );
  }
}
