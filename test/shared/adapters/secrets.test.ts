import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clearCaches } from '@aws-lambda-powertools/parameters';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
  SecretsManagerServiceException,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AdapterConfigError, createAdapters } from '#shared/adapters/index';
import { AwsKeyService } from '#shared/adapters/kms-aws';
import { LocalKeyService } from '#shared/adapters/kms-local';
import { parseCredentials, SecretError } from '#shared/adapters/secret-source';
import { AwsSecretSource } from '#shared/adapters/secrets-aws';
import { LocalSecretSource, parseSourceUrl } from '#shared/adapters/secrets-local';

const PASSWORD = 'hunter2-Sup3r-s3cret';
const GOOD = { username: 'connector_ro', password: PASSWORD };

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('parseCredentials', () => {
  it('takes the user name and password (and an optional tls mode) only', () => {
    expect(parseCredentials(GOOD, 'acme/source')).toEqual(GOOD);
    expect(parseCredentials({ ...GOOD, tls: 'require' }, 'acme/source')).toEqual({ ...GOOD, tls: 'require' });
    // An RDS-style secret's connection settings are ignored: the operator config decides them.
    const rds = { engine: 'mariadb', host: 'h', port: '3306', dbname: 'casino', username: 'u', password: 'p' };
    expect(parseCredentials(rds, 'id')).toEqual({ username: 'u', password: 'p' });
  });

  it('refuses a CA certificate in the secret: trust is configured in the operator config', () => {
    const error = errorOf(() =>
      parseCredentials({ ...GOOD, caCertificate: '-----BEGIN CERTIFICATE-----' }, 'acme/source'),
    );
    expect(error.message).toMatch(/belong in the operator config \(source\.caBundle/);
  });

  it('names every missing or invalid field and never a value', () => {
    const bad = { username: '', tls: PASSWORD, password: undefined };
    const error = errorOf(() => parseCredentials(bad, 'acme/source'));
    expect(error).toBeInstanceOf(SecretError);
    expect(error.message).toMatch(
      /^secret acme\/source does not hold valid source credentials: username is invalid \(expected a user name\); password is missing; tls is invalid \(expected "verify-full", "require" or "disable"\)/,
    );
    expect(error.message).not.toContain('hunter2');
    expect(errorOf(() => parseCredentials('a string', 'id')).message).toMatch(/must be a JSON object/);
  });
});

describe('AwsSecretSource (aws-sdk-client-mock: Secrets Manager has no local engine)', () => {
  const sm = mockClient(SecretsManagerClient);
  beforeEach(() => {
    sm.reset();
    clearCaches();
  });

  it('reads the JSON secret once and serves later calls from the cache', async () => {
    sm.on(GetSecretValueCommand, { SecretId: 'acme/source' }).resolves({ SecretString: JSON.stringify(GOOD) });
    const source = new AwsSecretSource({ maxAgeSeconds: 300 });
    expect(await source.getCredentials('acme/source')).toEqual(GOOD);
    expect(await source.getCredentials('acme/source')).toEqual(GOOD);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    expect(sm.commandCalls(GetSecretValueCommand)[0]?.args[0].input).toEqual({ SecretId: 'acme/source' });
    // A refresh (after an authentication failure) goes to the API again.
    await source.getCredentials('acme/source', { refresh: true });
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('works with a provider of its own', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(GOOD) });
    const provider = new SecretsProvider({ awsSdkV3Client: new SecretsManagerClient({ region: 'eu-west-1' }) });
    const source = new AwsSecretSource({ provider, maxAgeSeconds: 0 });
    await source.getCredentials('a');
    await source.getCredentials('a');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('reports a missing secret with a hint', async () => {
    sm.on(GetSecretValueCommand).rejects(
      new ResourceNotFoundException({ $metadata: {}, message: "Secrets Manager can't find the specified secret." }),
    );
    const error = await new AwsSecretSource().getCredentials('acme/missing').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecretError);
    expect((error as SecretError).message).toBe(
      'cannot read secret acme/missing: ResourceNotFoundException; the secret does not exist; check the stack output SourceSecretArn',
    );
    expect((error as SecretError).retryable).toBe(false);
  });

  it('marks throttling as retryable', async () => {
    sm.on(GetSecretValueCommand).rejects(
      new SecretsManagerServiceException({
        name: 'ThrottlingException',
        $fault: 'client',
        $metadata: {},
        message: 'slow down',
      }),
    );
    const error = await new AwsSecretSource().getCredentials('acme/source').catch((e: unknown) => e);
    expect((error as SecretError).retryable).toBe(true);
  });

  it('never repeats a secret that is not JSON', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: `password=${PASSWORD}` });
    const error = await new AwsSecretSource().getCredentials('acme/source').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecretError);
    expect((error as SecretError).message).toBe(
      'secret acme/source is not valid JSON; store a JSON object with the credentials',
    );
    expect(JSON.stringify(error, Object.getOwnPropertyNames(error))).not.toContain('hunter2');
    expect((error as SecretError).cause).toBeUndefined();
  });

  it('validates the shape without leaking values', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ ...GOOD, username: '' }) });
    const error = await new AwsSecretSource().getCredentials('acme/source').catch((e: unknown) => e);
    expect((error as SecretError).message).toMatch(
      /^secret acme\/source does not hold valid source credentials: username is invalid/,
    );
    expect((error as SecretError).message).not.toContain(PASSWORD);
  });

  it('refuses a binary secret', async () => {
    sm.on(GetSecretValueCommand).resolves({});
    await expect(new AwsSecretSource().getCredentials('acme/source')).rejects.toThrow(/has no string value/);
  });
});

describe('LocalSecretSource', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'local-secrets-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads credentials from a JSON file of secrets', async () => {
    const file = join(dir, 'secrets.json');
    writeFileSync(file, JSON.stringify({ 'acme/source': GOOD, 'bad/source': { ...GOOD, password: 42 } }));
    const source = new LocalSecretSource({ secretsFile: file });
    expect(await source.getCredentials('acme/source')).toEqual(GOOD);
    await expect(source.getCredentials('bad/source')).rejects.toThrow(
      `secret bad/source in ${file} does not hold valid source credentials: password is invalid`,
    );
    await expect(source.getCredentials('other')).rejects.toThrow(
      `secret other is not in ${file} (it holds acme/source, bad/source)`,
    );
  });

  it('never quotes a broken file', async () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, `{"acme/source": {"password": "${PASSWORD}"`);
    const broken = new LocalSecretSource({ secretsFile: file });
    const error = await broken.getCredentials('acme/source').catch((e: unknown) => e);
    expect((error as Error).message).toBe(`local secrets file ${file} is not valid JSON`);
  });
});

describe('parseSourceUrl', () => {
  it('parses PostgreSQL and MySQL URLs', () => {
    expect(parseSourceUrl('postgresql://reader:p%40ss%3Aw0rd@db.example.com/casino?sslmode=require')).toEqual({
      engine: 'postgres',
      host: 'db.example.com',
      port: 5432,
      database: 'casino',
      username: 'reader',
      password: 'p@ss:w0rd',
      tls: 'require',
    });
    expect(parseSourceUrl('postgres://postgres@127.0.0.1:5432/test')).toMatchObject({ tls: 'disable', password: '' });
    expect(parseSourceUrl('mysql://u:p@db.example.com:3307/casino')).toMatchObject({ port: 3307, tls: 'verify-full' });
  });

  it('never puts the URL into errors', () => {
    for (const url of [
      `oracle://u:${PASSWORD}@h/db`,
      `postgres://u:${PASSWORD}@h/`,
      `postgres://u:${PASSWORD}@h/db?sslmode=x`,
      `::${PASSWORD}`,
    ]) {
      const error = errorOf(() => parseSourceUrl(url));
      expect(error).toBeInstanceOf(SecretError);
      expect(error.message).not.toContain(PASSWORD);
      expect(error.message).toMatch(/^CONNECTOR_SOURCE_URL /);
    }
  });
});

describe('createAdapters', () => {
  it('defaults to AWS', () => {
    const adapters = createAdapters({ CONNECTOR_OPERATOR_ID: 'acme-casino' });
    expect(adapters.mode).toBe('aws');
    expect(adapters.keys).toBeInstanceOf(AwsKeyService);
    expect(adapters.secrets).toBeInstanceOf(AwsSecretSource);
  });

  it('picks the local implementations', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'adapters-'));
    try {
      const adapters = createAdapters(
        {
          CONNECTOR_ADAPTERS: 'local',
          CONNECTOR_LOCAL_KMS_KEY_FILE: join(dir, 'master.key'),
          CONNECTOR_SOURCE_URL: 'postgres://postgres@127.0.0.1:5432/test',
        },
        { operatorId: 'acme-casino' },
      );
      expect(adapters.mode).toBe('local');
      expect(adapters.keys).toBeInstanceOf(LocalKeyService);
      const { plaintext, ciphertext } = await adapters.keys.generateDataKey('k');
      expect((await adapters.keys.decrypt(ciphertext, 'k')).equals(plaintext)).toBe(true);
      // The URL replaces the operator's database, credentials and TLS mode included.
      expect(adapters.sourceOverride).toEqual({
        engine: 'postgres',
        host: '127.0.0.1',
        port: 5432,
        database: 'test',
        username: 'postgres',
        password: '',
        tls: 'disable',
      });
      await expect(adapters.secrets.getCredentials('acme/source')).rejects.toThrow(/CONNECTOR_LOCAL_SECRETS_FILE/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says which variable to set', () => {
    expect(() => createAdapters({ CONNECTOR_ADAPTERS: 'mock', CONNECTOR_OPERATOR_ID: 'a' })).toThrow(
      'CONNECTOR_ADAPTERS must be "aws" or "local", got "mock"',
    );
    expect(() => createAdapters({})).toThrow(AdapterConfigError);
    expect(() => createAdapters({ CONNECTOR_ADAPTERS: 'local', CONNECTOR_OPERATOR_ID: 'a' })).toThrow(
      /needs CONNECTOR_LOCAL_KMS_KEY_FILE/,
    );
  });
});
