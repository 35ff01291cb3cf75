/**
 * The TLS policy and the credential refresh against real servers that speak TLS and check
 * passwords (an embedded PostgreSQL and a second MariaDB, see helpers/tls-servers.ts): the config's
 * `source.tls` is the minimum, `verify-full` checks the certificate against `source.caBundle` and
 * the host name, and a refused login reads the secret once more before failing.
 */
import { clearCaches } from '@aws-lambda-powertools/parameters';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AwsSecretSource } from '#shared/adapters/secrets-aws';
import type { DatabaseSourceConfig } from '#shared/config/schema';
import { openOperatorDatabase } from '#shared/sources/connect';
import { SourceAccessError, type SourceConnection, type SourceOptions } from '#shared/sources/index';
import type { SecretCredentials } from '#shared/types';
import {
  createTestPki,
  mariadbAvailable,
  startTlsMariadb,
  startTlsPostgres,
  type TestPki,
  type TlsServer,
} from '../../helpers/tls-servers.ts';

const PASSWORD = 'Old-Pw-4711-secret';
const ROTATED = 'New-Pw-0815-secret';
const SECRET_ID = 'connector/tls-test-sandbox/source';
const OPTIONS: SourceOptions = {
  applicationName: 'igaming-connector/tls-test',
  statementTimeoutSeconds: 30,
  timeZone: 'UTC',
  operatorId: 'tls-test',
  connectTimeoutSeconds: 5,
};

if (!mariadbAvailable() && process.env.CI) throw new Error('mariadbd is not installed; CI needs it for the TLS tests');

/** A fixed secret (no cache). */
const fixedSecret = (secret: SecretCredentials) => ({ getCredentials: async () => secret });

const sm = mockClient(SecretsManagerClient);
afterAll(() => sm.restore());

for (const engine of ['postgres', 'mysql'] as const) {
  describe.skipIf(engine === 'mysql' && !mariadbAvailable())(`TLS policy and credential refresh on ${engine}`, () => {
    let pki: TestPki;
    let server: TlsServer;

    const source = (overrides: Partial<DatabaseSourceConfig> = {}): DatabaseSourceConfig =>
      ({
        type: engine,
        host: 'localhost',
        port: server.port,
        database: server.database,
        schema: engine === 'postgres' ? 'public' : server.database,
        tls: 'verify-full',
        caBundle: pki.ca,
        timeZone: 'UTC',
        statementTimeoutSeconds: 30,
        network: { mode: 'created', cidr: '10.40.0.0/16', maxAzs: 2 },
        ...overrides,
      }) as DatabaseSourceConfig;

    const open = (
      src: DatabaseSourceConfig,
      secret: SecretCredentials = { username: server.user, password: PASSWORD },
      stage = 'sandbox',
    ) => openOperatorDatabase({ source: src, stage, secrets: fixedSecret(secret), secretId: SECRET_ID }, OPTIONS);

    async function encrypted(conn: SourceConnection): Promise<boolean> {
      if (engine === 'postgres') {
        const [row] = await conn.query('SELECT ssl::text FROM pg_catalog.pg_stat_ssl WHERE pid = pg_backend_pid()');
        return row?.[0] === 'true';
      }
      const [row] = await conn.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'");
      return Boolean(row?.[1]);
    }

    beforeAll(async () => {
      pki = createTestPki();
      server = engine === 'postgres' ? await startTlsPostgres(pki, PASSWORD) : await startTlsMariadb(pki, PASSWORD);
    });
    afterAll(async () => {
      await server?.stop();
    });
    beforeEach(() => {
      sm.reset();
      clearCaches();
    });

    it('verify-full connects with the operator CA and the host name of the certificate, encrypted', async () => {
      const conn = await open(source());
      try {
        expect(await encrypted(conn)).toBe(true);
      } finally {
        await conn.close();
      }
    });

    it('verify-full refuses a certificate no trusted CA signed, and one for another host name', async () => {
      const untrusted = await open(source({ caBundle: 'system' })).catch((e: unknown) => e);
      expect(untrusted).toBeInstanceOf(SourceAccessError);
      expect((untrusted as Error).message).toMatch(
        /TLS: the server certificate (is not signed by a trusted CA|chain ends in a CA that is not trusted|could not be verified)/,
      );
      expect((untrusted as Error).message).not.toContain(PASSWORD);
      // The certificate names localhost only.
      const otherHost = await open(source({ host: '127.0.0.1' })).catch((e: unknown) => e);
      expect(otherHost).toBeInstanceOf(SourceAccessError);
      expect((otherHost as Error).message).toMatch(
        /TLS: the server certificate (does not name this host|could not be verified)/,
      );
    });

    it('require encrypts without checking the certificate (sandbox only)', async () => {
      const conn = await open(source({ tls: 'require', caBundle: 'system', host: '127.0.0.1' }));
      try {
        expect(await encrypted(conn)).toBe(true);
      } finally {
        await conn.close();
      }
    });

    it('takes the config mode as the minimum: a secret may only ask for more', async () => {
      const weaker = await open(source(), { username: server.user, password: PASSWORD, tls: 'require' }).catch(
        (e: unknown) => e,
      );
      expect(weaker).toBeInstanceOf(SourceAccessError);
      expect((weaker as Error).message).toContain(
        `secret ${SECRET_ID} asks for tls: require, weaker than source.tls: verify-full in the operator config`,
      );
      // A stricter secret wins over a lax config: verify-full against the system CAs fails.
      const stricter = await open(source({ tls: 'require', host: '127.0.0.1' }), {
        username: server.user,
        password: PASSWORD,
        tls: 'verify-full',
      }).catch((e: unknown) => e);
      expect(stricter).toBeInstanceOf(SourceAccessError);
      expect((stricter as Error).message).toMatch(/TLS: /);
    });

    it('refuses anything but verify-full for a production source, whatever the config object says', async () => {
      const error = await open(source({ tls: 'require' }), undefined, 'production').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SourceAccessError);
      expect((error as Error).message).toContain('production sources verify the server certificate');
    });

    it('reads the secret again once when the login is refused, and connects with the rotated password', async () => {
      const secrets = [PASSWORD, ROTATED];
      sm.on(GetSecretValueCommand).callsFake(() => ({
        SecretString: JSON.stringify({ username: server.user, password: secrets.shift() ?? ROTATED }),
      }));
      const cached = new AwsSecretSource({ maxAgeSeconds: 300 });
      const db = { source: source(), stage: 'sandbox', secrets: cached, secretId: SECRET_ID };
      const first = await openOperatorDatabase(db, OPTIONS);
      await first.close();
      expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
      // The platform team rotates the password and stores the new one; the cache still has the old.
      await server.setPassword(ROTATED);
      try {
        const second = await openOperatorDatabase(db, OPTIONS);
        await second.close();
        expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
        // The refreshed value is cached again: the next session needs no API call.
        const third = await openOperatorDatabase(db, OPTIONS);
        await third.close();
        expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
      } finally {
        await server.setPassword(PASSWORD);
      }
    });

    it('fails after one refresh when the secret still holds a refused password, without leaking it', async () => {
      sm.on(GetSecretValueCommand).resolves({
        SecretString: JSON.stringify({ username: server.user, password: 'Wrong-Pw-9931' }),
      });
      const db = { source: source(), stage: 'sandbox', secrets: new AwsSecretSource(), secretId: SECRET_ID };
      const error = await openOperatorDatabase(db, OPTIONS).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SourceAccessError);
      expect((error as SourceAccessError).code).toMatch(/^(28P01|ER_ACCESS_DENIED_ERROR)$/);
      expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
      expect(JSON.stringify(error, Object.getOwnPropertyNames(error))).not.toContain('Wrong-Pw-9931');
    });
  });
}
