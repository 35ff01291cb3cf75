/** {@link KeyService} on AWS KMS, with the operator id as encryption context. */
import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { type DataKey, type KeyService, KeyServiceError } from './key-service.ts';

export interface AwsKeyServiceOptions {
  /** Bound into every data key as encryption context `{ operator: <id> }`. */
  readonly operatorId: string;
  /** @default a KMSClient from the environment (honours AWS_ENDPOINT_URL_KMS) */
  readonly client?: KMSClient;
}

const RETRYABLE = new Set([
  'ThrottlingException',
  'KMSInternalException',
  'DependencyTimeoutException',
  'KeyUnavailableException',
  'LimitExceededException',
]);

const HINTS: Record<string, string> = {
  AccessDeniedException:
    'the function role needs kms:GenerateDataKey and kms:Decrypt on this key (check the key policy too)',
  NotFoundException: 'the key does not exist in this account and region; check the stack output KmsKeyArn',
  DisabledException: 'the key is disabled; enable it (aws kms enable-key) before the next run',
  KMSInvalidStateException: 'the key is pending deletion or otherwise unusable; cancel the deletion',
  InvalidCiphertextException:
    'the stored pseudonym key was not wrapped by this key with this operator context; do not edit the CONFIG/PSEUDONYM_KEY item',
  IncorrectKeyException: 'the stored pseudonym key was wrapped by another KMS key; restore the original key',
};

/** Wraps and unwraps data keys with AWS KMS. */
export class AwsKeyService implements KeyService {
  private readonly client: KMSClient;
  private readonly context: Record<string, string>;

  constructor(private readonly options: AwsKeyServiceOptions) {
    this.client = options.client ?? new KMSClient({});
    this.context = { operator: options.operatorId };
  }

  async generateDataKey(keyId: string): Promise<DataKey> {
    const out = await this.send('GenerateDataKey', keyId, () =>
      this.client.send(
        new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: this.context }),
      ),
    );
    if (!out.Plaintext || !out.CiphertextBlob) {
      throw new KeyServiceError(this.describe('GenerateDataKey', keyId, 'returned no key'), 'GenerateDataKey', true);
    }
    return { plaintext: Buffer.from(out.Plaintext), ciphertext: Buffer.from(out.CiphertextBlob) };
  }

  async decrypt(ciphertext: Buffer, keyId?: string): Promise<Buffer> {
    const out = await this.send('Decrypt', keyId, () =>
      this.client.send(
        new DecryptCommand({
          CiphertextBlob: ciphertext,
          EncryptionContext: this.context,
          ...(keyId ? { KeyId: keyId } : {}),
        }),
      ),
    );
    if (!out.Plaintext)
      throw new KeyServiceError(this.describe('Decrypt', keyId, 'returned no plaintext'), 'Decrypt', true);
    return Buffer.from(out.Plaintext);
  }

  private describe(operation: string, keyId: string | undefined, problem: string): string {
    return `KMS ${operation} for operator ${this.options.operatorId}${keyId ? ` with key ${keyId}` : ''} ${problem}`;
  }

  private async send<T>(operation: 'GenerateDataKey' | 'Decrypt', keyId: string | undefined, call: () => Promise<T>) {
    try {
      return await call();
    } catch (error) {
      const name = (error as { name?: string }).name ?? 'Error';
      const message = (error as { message?: string }).message ?? '';
      const hint = HINTS[name];
      throw new KeyServiceError(
        `${this.describe(operation, keyId, 'failed')}: ${name}${message ? `: ${message}` : ''}${hint ? `; ${hint}` : ''}`,
        operation,
        RETRYABLE.has(name) || Boolean((error as { $retryable?: unknown }).$retryable),
        { cause: error },
      );
    }
  }
}
