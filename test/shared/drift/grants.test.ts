/**
 * The schema check works with the read-only user `connector grant-sql` creates (SELECT on the mapped
 * columns only), on both engines: no false drift, a retyped mapped column is caught, and a new
 * unmapped column is seen on PostgreSQL (pg_catalog lists every column) but not on MySQL/MariaDB
 * (information_schema lists granted columns only), as documented.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { operatorConfigSchema } from '#shared/config/schema';
import { checkSchemas } from '#shared/drift/check';
import { openSource, type SourceConnection } from '#shared/sources/index';
import { SchemaLedger } from '#shared/state/schemas';
import { createSyntheticOperator, syntheticOperatorConfig } from '../../../synthetic/operator.ts';
import { runCli } from '../../cli/run.ts';
import { credentialsFor, type Engine, engineAvailable, engineUrl, uniqueName } from '../../helpers/databases.ts';
import { type DynaliteHandle, startDynalite } from '../../helpers/dynalite.ts';

const available: Record<Engine, boolean> = {
  postgres: await engineAvailable('postgres'),
  mysql: await engineAvailable('mysql'),
};

for (const engine of ['postgres', 'mysql'] as const) {
  describe.skipIf(!available[engine])(`schema check as the grant-sql user on ${engine}`, () => {
    const schema = uniqueName(`driftgrant_${engine === 'postgres' ? 'pg' : 'my'}`);
    const user = `${schema}_ro`.slice(0, 30);
    const password = `pw-${randomBytes(6).toString('hex')}`;
    const raw = syntheticOperatorConfig({ engine, url: engineUrl(engine), schema, operatorId: 'drift-grants' });
    const config = operatorConfigSchema.parse(raw);
    const streams = ['players', 'payments'] as const;
    let dynamo: DynaliteHandle;
    let ledger: SchemaLedger;
    let exec: (sql: string) => Promise<void>;
    let closeAdmin: () => Promise<void>;
    let source: SourceConnection;
    const q = (s: string) => (engine === 'postgres' ? `"${s}"` : `\`${s}\``);
    const table = (t: string) => `${q(schema)}.${q(t)}`;

    beforeAll(async () => {
      await createSyntheticOperator({ engine, url: engineUrl(engine), schema, players: 4, days: 1, seed: 9 });
      dynamo = await startDynalite();
      ledger = new SchemaLedger(dynamo.doc, await dynamo.createSyncStateTable());
      if (engine === 'postgres') {
        const admin = new pg.Client({ connectionString: engineUrl(engine) });
        await admin.connect();
        exec = async (sql) => void (await admin.query(sql));
        closeAdmin = () => admin.end();
      } else {
        const admin = await mysql.createConnection({ uri: engineUrl(engine), multipleStatements: true });
        exec = async (sql) => void (await admin.query(sql));
        closeAdmin = () => admin.end();
      }
      const dir = mkdtempSync(join(tmpdir(), 'drift-grants-'));
      const configFile = join(dir, 'operator.yaml');
      writeFileSync(configFile, stringify(raw));
      const generated = await runCli(['grant-sql', '--config', configFile, '--user', user]);
      expect(generated.code).toBe(0);
      if (engine === 'postgres') {
        await exec(generated.out.replace(":'password'", `'${password}'`));
      } else {
        const unlock = /^-- (ALTER USER .* IDENTIFIED BY )'<a strong password>'( ACCOUNT UNLOCK;)$/m.exec(
          generated.out,
        );
        await exec(generated.out);
        await exec(`${unlock![1]}'${password}'${unlock![2]}`);
      }
      source = await openSource(
        {
          ...credentialsFor(engine, engine === 'mysql' ? schema : undefined),
          username: user,
          password,
        },
        { applicationName: 'drift-grants-test', statementTimeoutSeconds: 30, timeZone: 'Europe/Malta' },
      );
    });

    afterAll(async () => {
      await source?.close();
      if (engine === 'postgres') {
        await exec?.(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await exec?.(`DROP OWNED BY "${user}"`).catch(() => {});
        await exec?.(`DROP ROLE IF EXISTS "${user}"`);
      } else {
        await exec?.(`DROP USER IF EXISTS '${user}'@'%'`);
        await exec?.(`DROP DATABASE IF EXISTS \`${schema}\``);
      }
      await closeAdmin?.();
      await dynamo?.stop();
    });

    const check = (runId: string) => checkSchemas({ source, config, ledger, streams: [...streams], runId });

    it('sees every mapped column (no false drift), and only what it may see', async () => {
      const first = await check('r1');
      for (const stream of streams) {
        expect(first[stream]?.changes).toEqual([]);
        expect(first[stream]?.error).toBeUndefined();
        await ledger.accept(stream, 'r1');
      }
      const names = first.players!.fingerprint.columns.map((c) => c.name);
      expect(names).toContain('email_address');
      // PostgreSQL's catalog lists the columns the user may not read; MySQL's lists granted ones only.
      if (engine === 'postgres') expect(names).toContain('first_name');
      else expect(names).not.toContain('first_name');
    });

    it('catches a retyped mapped column, and sees a new column where the catalog shows it', async () => {
      await exec(`ALTER TABLE ${table('customers')} ADD COLUMN referral_code varchar(16)`);
      await exec(
        engine === 'postgres'
          ? `ALTER TABLE ${table('cashier_transactions')} ALTER COLUMN amount TYPE numeric(30,6)`
          : `ALTER TABLE ${table('cashier_transactions')} MODIFY COLUMN amount decimal(30,6)`,
      );
      const second = await check('r2');
      expect(second.payments?.error?.name).toBe('SchemaDriftError');
      expect(second.payments?.error?.message).toContain('streams.payments.columns.amount.precision: 30');
      expect(second.players?.changes).toEqual(
        engine === 'postgres' ? [{ change: 'added', column: 'referral_code', to: 'character varying(16)' }] : [],
      );
    });

    it.runIf(engine === 'mysql')(
      'sees new columns on MySQL/MariaDB with the optional REFERENCES grant grant-sql offers',
      async () => {
        const dir = mkdtempSync(join(tmpdir(), 'drift-grants-'));
        const configFile = join(dir, 'operator.yaml');
        writeFileSync(configFile, stringify(raw));
        const generated = await runCli(['grant-sql', '--config', configFile, '--user', user]);
        const offered = /^-- (GRANT REFERENCES ON .*`customers` TO .*;)$/m.exec(generated.out);
        expect(offered).not.toBeNull();
        await exec(offered![1]!);
        const third = await check('r3');
        expect(third.players?.changes).toEqual(
          expect.arrayContaining([{ change: 'added', column: 'referral_code', to: 'varchar(16)' }]),
        );
        // Still no read of a column that is not granted.
        await expect(source.query(`SELECT referral_code FROM ${table('customers')} LIMIT 1`)).rejects.toThrow();
      },
    );
  });
}
