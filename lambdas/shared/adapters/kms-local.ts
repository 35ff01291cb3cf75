/**
 * {@link KeyService} for laptops and tests: data keys are wrapped with AES-256-GCM under a local
 * 32-byte master key kept in a file (created with random bytes and mode 0600 on first use). Like
 * KMS, the key id and the operator id are authenticated with the ciphertext, so a data key wrapped
 * for one key or operator does not unwrap for another.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import { type DataKey, type KeyService, KeyServiceError } from './key-service.ts';

export interface LocalKeyServiceOptions {
  /** Path of the master key file (raw 32 bytes, or 64 hex characters). */
  readonly keyFile: string;
  /** Bound into every wrapped key, as KMS's encryption context. */
  readonly operatorId: string;
}

const MAGIC = Buffer.from('LKMS1');
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

/** Wraps and unwraps data keys under a local master key file. */
export class LocalKeyService implements KeyService {
  private masterKey: Promise<Buffer> | undefined;

  constructor(private readonly options: LocalKeyServiceOptions) {}

  async generateDataKey(keyId: string): Promise<DataKey> {
    const master = await this.master();
    const plaintext = randomBytes(KEY_BYTES);
    const id = Buffer.from(keyId, 'utf8');
    if (id.length === 0 || id.length > 255) {
      throw new KeyServiceError(`local key id must have 1 to 255 bytes, got ${id.length}`, 'GenerateDataKey', false);
    }
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', master, iv);
    cipher.setAAD(this.aad(keyId));
    const sealed = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const ciphertext = Buffer.concat([MAGIC, Buffer.from([id.length]), id, iv, cipher.getAuthTag(), sealed]);
    return { plaintext, ciphertext };
  }

  async decrypt(ciphertext: Buffer, keyId?: string): Promise<Buffer> {
    const refuse = (problem: string) =>
      new KeyServiceError(
        `local key service cannot decrypt for operator ${this.options.operatorId}: ${problem}`,
        'Decrypt',
        false,
      );
    if (ciphertext.length < MAGIC.length + 1 || !ciphertext.subarray(0, MAGIC.length).equals(MAGIC)) {
      throw refuse('not a ciphertext of the local key service (was it wrapped by AWS KMS?)');
    }
    const idLength = ciphertext[MAGIC.length]!;
    let at = MAGIC.length + 1;
    const embeddedKeyId = ciphertext.subarray(at, at + idLength).toString('utf8');
    at += idLength;
    if (keyId !== undefined && keyId !== embeddedKeyId) {
      throw refuse(`the data key was wrapped under key ${embeddedKeyId}, not ${keyId}`);
    }
    const iv = ciphertext.subarray(at, at + IV_BYTES);
    at += IV_BYTES;
    const tag = ciphertext.subarray(at, at + TAG_BYTES);
    at += TAG_BYTES;
    if (tag.length !== TAG_BYTES) throw refuse('the ciphertext is truncated');
    const master = await this.master();
    try {
      const decipher = createDecipheriv('aes-256-gcm', master, iv);
      decipher.setAAD(this.aad(embeddedKeyId));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ciphertext.subarray(at)), decipher.final()]);
    } catch {
      throw refuse(
        `authentication failed: wrong master key (${this.options.keyFile}) or the data key belongs to another operator`,
      );
    }
  }

  private aad(keyId: string): Buffer {
    return Buffer.from(JSON.stringify({ keyId, operator: this.options.operatorId }), 'utf8');
  }

  private master(): Promise<Buffer> {
    if (!this.masterKey) {
      this.masterKey = loadOrCreateMasterKey(this.options.keyFile);
      this.masterKey.catch(() => {
        this.masterKey = undefined;
      });
    }
    return this.masterKey;
  }
}

/**
 * Reads the master key file, creating it with 32 random bytes (mode 0600) when it does not exist.
 * Creation is atomic (write a private temporary file, then hard-link it into place), so processes
 * starting together agree on one key.
 */
export async function loadOrCreateMasterKey(file: string): Promise<Buffer> {
  const fail = (problem: string, cause?: unknown) =>
    new KeyServiceError(
      `local master key ${file} ${problem}`,
      'LoadMasterKey',
      false,
      cause === undefined ? undefined : { cause },
    );
  let content: Buffer;
  try {
    content = await fs.readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw fail('cannot be read', error);
    await fs.mkdir(dirname(file), { recursive: true, mode: 0o700 });
    const temporary = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    await fs.writeFile(temporary, randomBytes(KEY_BYTES), { mode: 0o600, flag: 'wx' });
    try {
      await fs.link(temporary, file);
    } catch (linkError) {
      if ((linkError as NodeJS.ErrnoException).code !== 'EEXIST') throw fail('cannot be created', linkError);
    } finally {
      await fs.unlink(temporary).catch(() => undefined);
    }
    content = await fs.readFile(file);
  }
  const stat = await fs.stat(file);
  if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
    throw fail(`is readable by other users (mode ${(stat.mode & 0o777).toString(8)}); chmod 600 it`);
  }
  const text = content.toString('latin1').trim();
  if (content.length === KEY_BYTES) return content;
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  throw fail(`must hold ${KEY_BYTES} raw bytes or ${KEY_BYTES * 2} hex characters (found ${content.length} bytes)`);
}
