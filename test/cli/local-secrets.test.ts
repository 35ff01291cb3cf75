/**
 * `credentials set` and `check` with the local adapters (`CONNECTOR_ADAPTERS=local`): the secret
 * goes into and comes from the local secrets file, on the real PostgreSQL, and Secrets Manager is
 * never called.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { LocalSecretSource } from '#shared/adapters/secrets-local';
import { createSyntheticOperator, syntheticOperatorConfig } from '../../synthetic/operator.ts';
import { engineAvailable, PG_URL, uniqueName } from '../helpers/databases.ts';
import { runCli } from './run.ts';

const available = await engineAvailable('postgres');

describe.skipIf(!available)('credentials set and check with CONNECTOR_ADAPTERS=local', () => {
  const schema = uniqueName('cli_local');
  const user = `${schema}_ro`.slice(0, 30);
  const password = `Pw-${randomBytes(8).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'cli-local-'));
  const configFile = join(dir, 'operator.yaml');
  const secretsFile = join(dir, 'secrets.json');
  const secretId = 'connector/cli-local-sandbox/source';
  const env = { CONNECTOR_ADAPTERS: 'local', CONNECTOR_LOCAL_SECRETS_FILE: secretsFile };
  const creds = { username: user, password };
  const sm = mockClient(SecretsManagerClient);
  let admin: pg.Client;

  beforeAll(async () => {
    await createSyntheticOperator({ engine: 'postgres', url: PG_URL, schema, players: 10, days: 3 });
    const config = syntheticOperatorConfig({ engine: 'postgres', url: PG_URL, schema, operatorId: 'cli-local' });
    writeFileSync(configFile, stringify(config));
    admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    const grants = await runCli(['grant-sql', '--config', configFile, '--user', user]);
    expect(grants.code).toBe(0);
    await admin.query(grants.out.replace(":'password'", `'${password}'`));
  });

  afterAll(async () => {
    sm.restore();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.query(`DROP OWNED BY "${user}"`).catch(() => {});
    await admin.query(`DROP ROLE IF EXISTS "${user}"`);
    await admin.end();
  });

  it('writes the secret into a new 0600 file, keeps other secrets, and check reads it', async () => {
    const missingFile = await runCli(['credentials', 'set', 'cli-local', '--config', configFile], {
      stdin: JSON.stringify(creds),
      env: { CONNECTOR_ADAPTERS: 'local' },
    });
    expect(missingFile.code).toBe(2);
    expect(missingFile.err).toContain('CONNECTOR_ADAPTERS=local needs CONNECTOR_LOCAL_SECRETS_FILE');

    const notYet = await runCli(['check', '--config', configFile], { env });
    expect(notYet.code).toBe(4);
    expect(notYet.err).toContain(`cannot be read`);

    const set = await runCli(['credentials', 'set', 'cli-local', '--config', configFile], {
      stdin: JSON.stringify(creds),
      env,
    });
    expect(set.err).toBe(
      `testing the connection to 127.0.0.1:5432/test (tls: disable) as ${user}…\nstoring the credentials in secret ${secretId} in the local secrets file ${secretsFile}…\n`,
    );
    expect(set.code).toBe(0);
    expect(set.out).toContain(`in ${secretId} (local file ${secretsFile}).`);
    expect(statSync(secretsFile).mode & 0o777).toBe(0o600);
    expect(await new LocalSecretSource({ secretsFile }).getCredentials(secretId)).toEqual(creds);

    // Another operator's secret already in the file is kept; a second set replaces only this one.
    const other = { ...creds, username: 'someone_else' };
    const stored = JSON.parse(readFileSync(secretsFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(secretsFile, JSON.stringify({ ...stored, 'connector/other-sandbox/source': other }), { mode: 0o644 });
    const again = await runCli(['credentials', 'set', 'cli-local', '--config', configFile, '--no-check', '--json'], {
      stdin: JSON.stringify(creds),
      env,
    });
    expect(again.code).toBe(0);
    expect(JSON.parse(again.out)).toEqual({ secret: secretId, versionId: null, checked: false, file: secretsFile });
    expect(Object.keys(JSON.parse(readFileSync(secretsFile, 'utf8')))).toEqual([
      secretId,
      'connector/other-sandbox/source',
    ]);
    expect(statSync(secretsFile).mode & 0o777).toBe(0o600);

    const check = await runCli(['check', '--config', configFile], { env });
    expect(check.err).toContain(`(credentials from secret ${secretId} in ${secretsFile})`);
    expect(check.out).toMatch(/^ok {4}read-only: the user cannot write$/m);
    expect(check.out).toContain('All checks passed.');
    expect(check.code).toBe(0);

    for (const r of [missingFile, notYet, set, again, check]) expect(r.out + r.err).not.toContain(password);
    expect(sm.calls()).toHaveLength(0);
  });

  it('refuses a corrupt secrets file without quoting it, and stores nothing', async () => {
    const corrupt = join(dir, 'corrupt.json');
    writeFileSync(corrupt, `{"x": {"password": "${password}"`);
    const r = await runCli(['credentials', 'set', 'cli-local', '--config', configFile, '--no-check'], {
      stdin: JSON.stringify(creds),
      env: { ...env, CONNECTOR_LOCAL_SECRETS_FILE: corrupt },
    });
    expect(r.code).toBe(1);
    expect(r.err).toContain(`local secrets file ${corrupt} is not valid JSON`);
    expect(r.out + r.err).not.toContain(password);
    expect(readFileSync(corrupt, 'utf8')).toBe(`{"x": {"password": "${password}"`);
  });
});
