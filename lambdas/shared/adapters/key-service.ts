/**
 * The key-wrapping seam: AWS KMS in the cloud, an AES-256-GCM implementation under a local master
 * key on a laptop or in tests (KMS has no local engine).
 */

/** A fresh data key: the plaintext for use in memory only, the ciphertext for storage. */
export interface DataKey {
  /** 32 bytes; never logged or stored. */
  readonly plaintext: Buffer;
  /** The wrapped key, safe to store; only the key service can unwrap it. */
  readonly ciphertext: Buffer;
}

/** Generates and unwraps data keys (KMS `GenerateDataKey` / `Decrypt` with the operator's key). */
export interface KeyService {
  /** A new AES-256 data key wrapped under `keyId`. */
  generateDataKey(keyId: string): Promise<DataKey>;
  /** The plaintext of a wrapped data key; with `keyId`, refuses a ciphertext wrapped under another key. */
  decrypt(ciphertext: Buffer, keyId?: string): Promise<Buffer>;
}

/** A key operation failed. The message names the operator, operation and key, never key material. */
export class KeyServiceError extends Error {
  override readonly name = 'KeyServiceError';
  constructor(
    message: string,
    readonly operation: 'GenerateDataKey' | 'Decrypt' | 'LoadMasterKey',
    /** Throttling and service errors may succeed on retry; access and key-state errors will not. */
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
