/** {@link SecretSource} on AWS Secrets Manager through Powertools Parameters (cached, JSON-parsed). */
import { getSecret, type SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import type { SecretCredentials } from '../types.ts';
import { parseCredentials, SecretError, type SecretSource } from './secret-source.ts';

export interface AwsSecretSourceOptions {
  /**
   * Seconds a fetched secret is reused before Secrets Manager is asked again (per execution
   * environment, so warm invocations do not call the API).
   * @default 300
   */
  readonly maxAgeSeconds?: number;
  /** @default Powertools' shared provider (`getSecret`), with a client from the environment */
  readonly provider?: SecretsProvider;
}

const RETRYABLE = new Set(['ThrottlingException', 'InternalServiceError', 'TimeoutError', 'RequestTimeout']);

const HINTS: Record<string, string> = {
  ResourceNotFoundException: 'the secret does not exist; check the stack output SourceSecretArn',
  AccessDeniedException:
    'the function role needs secretsmanager:GetSecretValue on the secret and kms:Decrypt on its key',
  DecryptionFailure: "Secrets Manager cannot decrypt the secret with its KMS key; check the key's state and policy",
  InvalidRequestException: 'the secret is scheduled for deletion or has no current version; restore it',
};

/** Reads source credentials from Secrets Manager. */
export class AwsSecretSource implements SecretSource {
  private readonly maxAge: number;

  constructor(private readonly options: AwsSecretSourceOptions = {}) {
    this.maxAge = options.maxAgeSeconds ?? 300;
  }

  async getCredentials(secretId: string, options: { readonly refresh?: boolean } = {}): Promise<SecretCredentials> {
    const getOptions = { maxAge: this.maxAge, transform: 'json', forceFetch: options.refresh ?? false } as const;
    let value: unknown;
    try {
      value = this.options.provider
        ? await this.options.provider.get(secretId, getOptions)
        : await getSecret(secretId, getOptions);
    } catch (error) {
      const name = (error as { name?: string }).name;
      if (name === 'TransformParameterError') {
        // The parser's message quotes part of the secret: it is neither repeated nor kept as cause.
        throw new SecretError(
          `secret ${secretId} is not valid JSON; store a JSON object with the credentials`,
          secretId,
        );
      }
      const cause = (error as { cause?: unknown }).cause ?? error;
      const causeName = (cause as { name?: string }).name ?? 'Error';
      const hint = HINTS[causeName];
      throw new SecretError(
        `cannot read secret ${secretId}: ${causeName}${hint ? `; ${hint}` : ''}`,
        secretId,
        RETRYABLE.has(causeName) || Boolean((cause as { $retryable?: unknown }).$retryable),
        { cause: error },
      );
    }
    if (value === undefined || value === null) {
      throw new SecretError(
        `secret ${secretId} has no string value (binary secrets are not supported); put the credentials JSON in it`,
        secretId,
      );
    }
    return parseCredentials(value, secretId);
  }
}
