import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DecryptCommand, GenerateDataKeyCommand, KMSClient, KMSServiceException } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KeyServiceError } from '#shared/adapters/key-service';
import { AwsKeyService } from '#shared/adapters/kms-aws';
import { LocalKeyService, loadOrCreateMasterKey } from '#shared/adapters/kms-local';

const KEY_ARN = 'arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab';

describe('AwsKeyService (aws-sdk-client-mock: KMS has no local engine)', () => {
  const kms = mockClient(KMSClient);
  beforeEach(() => kms.reset());
  const service = () =>
    new AwsKeyService({ operatorId: 'acme-casino', client: new KMSClient({ region: 'eu-west-1' }) });

  it('generates an AES_256 data key bound to the operator', async () => {
    const plaintext = Buffer.alloc(32, 7);
    const blob = Buffer.from('wrapped-by-kms');
    kms.on(GenerateDataKeyCommand).resolves({ Plaintext: plaintext, CiphertextBlob: blob, KeyId: KEY_ARN });
    const key = await service().generateDataKey(KEY_ARN);
    expect(key.plaintext.equals(plaintext)).toBe(true);
    expect(key.ciphertext.equals(blob)).toBe(true);
    expect(kms.commandCalls(GenerateDataKeyCommand)[0]?.args[0].input).toEqual({
      KeyId: KEY_ARN,
      KeySpec: 'AES_256',
      EncryptionContext: { operator: 'acme-casino' },
    });
  });

  it('decrypts with the key id and the same encryption context', async () => {
    kms.on(DecryptCommand).resolves({ Plaintext: Buffer.alloc(32, 9), KeyId: KEY_ARN });
    const plain = await service().decrypt(Buffer.from('blob'), KEY_ARN);
    expect(plain.equals(Buffer.alloc(32, 9))).toBe(true);
    const input = kms.commandCalls(DecryptCommand)[0]?.args[0].input;
    expect(input?.KeyId).toBe(KEY_ARN);
    expect(input?.EncryptionContext).toEqual({ operator: 'acme-casino' });
    expect(Buffer.from(input?.CiphertextBlob ?? []).toString()).toBe('blob');
  });

  it('explains access errors and does not retry them', async () => {
    kms.on(DecryptCommand).rejects(
      new KMSServiceException({
        name: 'AccessDeniedException',
        $fault: 'client',
        $metadata: {},
        message: 'User is not authorized to perform kms:Decrypt',
      }),
    );
    const error = await service()
      .decrypt(Buffer.from('blob'), KEY_ARN)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeyServiceError);
    expect((error as KeyServiceError).message).toBe(
      `KMS Decrypt for operator acme-casino with key ${KEY_ARN} failed: AccessDeniedException: User is not authorized to perform kms:Decrypt; the function role needs kms:GenerateDataKey and kms:Decrypt on this key (check the key policy too)`,
    );
    expect((error as KeyServiceError).retryable).toBe(false);
    expect((error as KeyServiceError).cause).toBeInstanceOf(KMSServiceException);
  });

  it('marks throttling as retryable', async () => {
    kms.on(GenerateDataKeyCommand).rejects(
      new KMSServiceException({
        name: 'ThrottlingException',
        $fault: 'client',
        $metadata: {},
        message: 'Rate exceeded',
      }),
    );
    const error = await service()
      .generateDataKey(KEY_ARN)
      .catch((e: unknown) => e);
    expect((error as KeyServiceError).retryable).toBe(true);
    expect((error as KeyServiceError).operation).toBe('GenerateDataKey');
  });

  it('refuses an empty answer', async () => {
    kms.on(GenerateDataKeyCommand).resolves({ CiphertextBlob: Buffer.from('x') });
    await expect(service().generateDataKey(KEY_ARN)).rejects.toThrow('returned no key');
  });
});

describe('LocalKeyService', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'local-kms-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('creates a private master key on first use and round-trips data keys', async () => {
    const keyFile = join(dir, 'nested', 'master.key');
    const service = new LocalKeyService({ keyFile, operatorId: 'acme-casino' });
    const { plaintext, ciphertext } = await service.generateDataKey('local-key');
    expect(plaintext).toHaveLength(32);
    expect(ciphertext.includes(plaintext)).toBe(false);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(keyFile)).toHaveLength(32);
    expect((await service.decrypt(ciphertext, 'local-key')).equals(plaintext)).toBe(true);
    // Another process with the same file unwraps it too.
    const other = new LocalKeyService({ keyFile, operatorId: 'acme-casino' });
    expect((await other.decrypt(ciphertext)).equals(plaintext)).toBe(true);
    // Two keys are different.
    expect((await service.generateDataKey('local-key')).plaintext.equals(plaintext)).toBe(false);
  });

  it('binds the key id and operator, and detects tampering', async () => {
    const keyFile = join(dir, 'bind.key');
    const service = new LocalKeyService({ keyFile, operatorId: 'acme-casino' });
    const { ciphertext } = await service.generateDataKey('key-a');
    await expect(service.decrypt(ciphertext, 'key-b')).rejects.toThrow('wrapped under key key-a, not key-b');
    const otherOperator = new LocalKeyService({ keyFile, operatorId: 'royal-spins' });
    await expect(otherOperator.decrypt(ciphertext)).rejects.toThrow(/authentication failed/);
    const tampered = Buffer.from(ciphertext);
    tampered[tampered.length - 1]! ^= 1;
    await expect(service.decrypt(tampered)).rejects.toThrow(/authentication failed/);
    await expect(service.decrypt(Buffer.from('AQIDAHh...kms-blob'))).rejects.toThrow(
      /not a ciphertext of the local key service/,
    );
    const otherMaster = new LocalKeyService({ keyFile: join(dir, 'other.key'), operatorId: 'acme-casino' });
    await expect(otherMaster.decrypt(ciphertext)).rejects.toThrow(KeyServiceError);
  });

  it('agrees on one master key when processes start together', async () => {
    const keyFile = join(dir, 'race.key');
    const keys = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateMasterKey(keyFile)));
    for (const k of keys) expect(k.equals(keys[0]!)).toBe(true);
  });

  it('accepts a hex key file and refuses a readable or malformed one', async () => {
    const hex = join(dir, 'hex.key');
    writeFileSync(hex, `${'ab'.repeat(32)}\n`, { mode: 0o600 });
    expect((await loadOrCreateMasterKey(hex)).equals(Buffer.alloc(32, 0xab))).toBe(true);
    const open = join(dir, 'open.key');
    writeFileSync(open, Buffer.alloc(32), { mode: 0o644 });
    await expect(loadOrCreateMasterKey(open)).rejects.toThrow(
      `local master key ${open} is readable by other users (mode 644); chmod 600 it`,
    );
    const short = join(dir, 'short.key');
    writeFileSync(short, 'secret-ish', { mode: 0o600 });
    const error = await loadOrCreateMasterKey(short).catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      `local master key ${short} must hold 32 raw bytes or 64 hex characters (found 10 bytes)`,
    );
  });
});
