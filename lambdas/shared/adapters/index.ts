/**
 * Picks the implementations of the services that have no local engine (KMS, Secrets Manager):
 * AWS in Lambda, local ones on a laptop and in tests.
 *
 * | variable                        | meaning                                                   |
 * | ------------------------------- | --------------------------------------------------------- |
 * | `CONNECTOR_ADAPTERS`            | `aws` (default) or `local`                                |
 * | `CONNECTOR_OPERATOR_ID`         | operator id (KMS encryption context), unless passed in    |
 * | `CONNECTOR_LOCAL_KMS_KEY_FILE`  | local: master key file, created on first use (0600)       |
 * | `CONNECTOR_LOCAL_SECRETS_FILE`  | local: JSON file of secret id → credentials               |
 * | `CONNECTOR_SOURCE_URL`          | local: postgres://… or mysql://… for any other secret id  |
 */
import type { KeyService } from './key-service.ts';
import { AwsKeyService } from './kms-aws.ts';
import { LocalKeyService } from './kms-local.ts';
import type { SecretSource } from './secret-source.ts';
import { AwsSecretSource } from './secrets-aws.ts';
import { LocalSecretSource } from './secrets-local.ts';

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
  const operatorId = options.operatorId ?? env.CONNECTOR_OPERATOR_ID;
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
  return {
    mode,
    keys: new LocalKeyService({ keyFile, operatorId }),
    secrets: new LocalSecretSource({
      ...(env.CONNECTOR_LOCAL_SECRETS_FILE ? { secretsFile: env.CONNECTOR_LOCAL_SECRETS_FILE } : {}),
      ...(env.CONNECTOR_SOURCE_URL ? { sourceUrl: env.CONNECTOR_SOURCE_URL } : {}),
    }),
  };
}
