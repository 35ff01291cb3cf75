/**
 * grant-sql, check and discover against the real PostgreSQL and MariaDB, on a small synthetic
 * operator database per engine.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { parseOperatorConfig } from '#shared/config/load';
import { createSyntheticOperator, syntheticOperatorConfig } from '../../synthetic/operator.ts';
import { type Engine, engineAvailable, engineUrl, uniqueName } from '../helpers/databases.ts';
import { runCli } from './run.ts';

const available: Record<Engine, boolean> = {
  postgres: await engineAvailable('postgres'),
  mysql: await engineAvailable('mysql'),
};

/** The parts of a config (or proposal) the tests read and edit. */
interface EditableConfig {
  streams: Record<string, { table: string; columns: Record<string, unknown> }>;
  [key: string]: unknown;
}

/** A URL of the engine as another user, for another database. */
function urlAs(engine: Engine, user: string, password: string, database?: string): string {
  const url = new URL(engineUrl(engine));
  url.username = user;
  url.password = password;
  if (database) url.pathname = `/${database}`;
  return url.toString();
}

for (const engine of ['postgres', 'mysql'] as const) {
  describe.skipIf(!available[engine])(`connector on ${engine}`, () => {
    const schema = uniqueName(`cli_${engine}`);
    const user = `${schema}_ro`.slice(0, 30);
    const password = `pw-${randomBytes(6).toString('hex')}`;
    const dir = mkdtempSync(join(tmpdir(), 'cli-db-'));
    const configFile = join(dir, 'operator.yaml');
    const adminUrl = engine === 'postgres' ? engineUrl(engine) : urlAs(engine, 'root', '', schema);
    let base: Record<string, unknown>;
    let pgAdmin: pg.Client | undefined;
    let myAdmin: mysql.Connection | undefined;

    const exec = async (sql: string) => {
      if (pgAdmin) await pgAdmin.query(sql);
      else await myAdmin!.query(sql);
    };
    const writeConfig = (edit: (c: EditableConfig) => void = () => {}) => {
      const config = structuredClone(base) as EditableConfig;
      edit(config);
      writeFileSync(configFile, stringify(config));
    };

    beforeAll(async () => {
      await createSyntheticOperator({ engine, url: engineUrl(engine), schema, players: 20, days: 5 });
      base = syntheticOperatorConfig({ engine, url: engineUrl(engine), schema, operatorId: 'cli-synthetic' });
      writeConfig();
      if (engine === 'postgres') {
        pgAdmin = new pg.Client({ connectionString: engineUrl(engine) });
        await pgAdmin.connect();
      } else {
        myAdmin = await mysql.createConnection({ uri: engineUrl(engine), multipleStatements: true });
      }
    });

    afterAll(async () => {
      if (pgAdmin) {
        await pgAdmin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await pgAdmin.query(`DROP OWNED BY "${user}"`).catch(() => {});
        await pgAdmin.query(`DROP ROLE IF EXISTS "${user}"`);
        await pgAdmin.end();
      }
      if (myAdmin) {
        await myAdmin.query(`DROP USER IF EXISTS '${user}'@'%'`);
        await myAdmin.query(`DROP DATABASE IF EXISTS \`${schema}\``);
        await myAdmin.end();
      }
    });

    it('grant-sql creates a user that reads the mapped columns only and cannot write; check passes for it', async () => {
      const generated = await runCli(['grant-sql', '--config', configFile, '--user', user]);
      expect(generated.code).toBe(0);
      expect(generated.out).not.toContain(password);
      if (engine === 'postgres') {
        // What psql does with -v password=…
        await exec(generated.out.replace(":'password'", `'${password}'`));
      } else {
        const unlock = /^-- (ALTER USER .* IDENTIFIED BY )'<a strong password>'( ACCOUNT UNLOCK;)$/m.exec(
          generated.out,
        );
        expect(unlock).not.toBeNull();
        await exec(generated.out);
        await exec(`${unlock![1]}'${password}'${unlock![2]}`);
      }
      const url = urlAs(engine, user, password, engine === 'mysql' ? schema : undefined);
      const q = engine === 'postgres' ? (s: string) => `"${s}"` : (s: string) => `\`${s}\``;
      const table = `${q(schema)}.${q('customers')}`;
      if (engine === 'postgres') {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          const rows = await client.query(`SELECT customer_id, modified_ts, email_address FROM ${table} LIMIT 1`);
          expect(rows.rowCount).toBe(1);
          await expect(client.query(`SELECT first_name FROM ${table}`)).rejects.toThrow(/permission denied/);
          await expect(client.query(`SELECT dob FROM ${table}`)).rejects.toThrow(/permission denied/);
          await expect(client.query(`UPDATE ${table} SET country_code = 'XX'`)).rejects.toThrow(
            /read-only|permission denied/,
          );
          await client.query('BEGIN READ WRITE');
          await expect(client.query(`DELETE FROM ${table}`)).rejects.toThrow(/permission denied/);
          await client.query('ROLLBACK');
          await expect(client.query(`CREATE TABLE ${q(schema)}.x (a int)`)).rejects.toThrow(
            /read-only|permission denied/,
          );
          const [limit] = (await client.query('SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user')).rows;
          expect(limit.rolconnlimit).toBe(4);
        } finally {
          await client.end();
        }
      } else {
        const conn = await mysql.createConnection({ uri: url });
        try {
          const [rows] = await conn.query(`SELECT customer_id, modified_ts, email_address FROM ${table} LIMIT 1`);
          expect((rows as unknown[]).length).toBe(1);
          await expect(conn.query(`SELECT first_name FROM ${table}`)).rejects.toThrow(/command denied|denied/);
          await expect(conn.query(`SELECT dob FROM ${table}`)).rejects.toThrow(/denied/);
          await expect(conn.query(`UPDATE ${table} SET country_code = 'XX'`)).rejects.toThrow(/denied/);
          await expect(conn.query(`INSERT INTO ${table} (customer_id) VALUES ('x')`)).rejects.toThrow(/denied/);
          await expect(conn.query(`CREATE TABLE ${q(schema)}.x (a int)`)).rejects.toThrow(/denied/);
        } finally {
          await conn.end();
        }
      }
      const check = await runCli(['check', '--config', configFile, '--url', url]);
      expect(check.out).toMatch(/^ok {4}read-only: the user cannot write$/m);
      expect(check.out).toMatch(/^ok {4}clock: /m);
      if (engine === 'postgres') {
        // grant-sql granted pg_read_all_stats: the user sees other sessions' open transactions.
        expect(check.out).toMatch(/^ok {4}open transactions: the user sees every session/m);
      }
      expect(check.out).toMatch(/^ok {4}lookback: no late arrivals observed yet/m);
      expect(check.out).toContain('All checks passed.');
      expect(check.code).toBe(0);
      expect(check.out + check.err).not.toContain(password);
    });

    it('check finds a writable user, a missing column and a missing cursor index', async () => {
      const indexName =
        engine === 'postgres'
          ? `"${schema}"."rg_events_event_ts_idx"`
          : '`rg_events_event_ts_idx` ON `' + schema + '`.`rg_events`';
      await exec(`DROP INDEX ${indexName}`);
      writeConfig((c) => {
        c.streams.players!.columns.country = 'country_cd';
      });
      try {
        const r = await runCli(['check', '--config', configFile, '--url', adminUrl, '--json']);
        expect(r.code).toBe(1);
        const report = JSON.parse(r.out) as {
          checks: { name: string; status: string; message: string; stream?: string; suggestion?: string }[];
        };
        const find = (name: string, stream?: string) =>
          report.checks.find(
            (c) => c.name === name && c.status === 'fail' && (stream === undefined || c.stream === stream),
          );
        expect(find('read-only')?.message).toMatch(engine === 'postgres' ? /superuser/ : /ALL/);
        expect(find('tables', 'players')?.message).toMatch(/column country_cd \(field country\) does not exist/);
        const index = find('cursor index', 'compliance_events');
        expect(index?.suggestion).toBe(
          engine === 'postgres'
            ? `CREATE INDEX CONCURRENTLY "rg_events_event_ts_event_id_idx" ON "${schema}"."rg_events" ("event_ts", "event_id");`
            : `CREATE INDEX \`rg_events_event_ts_event_id_idx\` ON \`${schema}\`.\`rg_events\` (\`event_ts\`, \`event_id\`) ALGORITHM=INPLACE LOCK=NONE;`,
        );
        expect(report.checks.filter((c) => c.name === 'cursor index' && c.status === 'ok')).toHaveLength(6);
        const text = await runCli(['check', '--config', configFile, '--url', adminUrl]);
        expect(text.out).toMatch(/^FAIL {2}cursor index \[compliance_events\]: no index/m);
        expect(text.out).toContain('3 check(s) failed.');
      } finally {
        writeConfig();
      }
    });

    it('check exits 3 with what to do when the server refuses the login', async () => {
      const r = await runCli([
        'check',
        '--config',
        configFile,
        '--url',
        urlAs(engine, 'nobody_here', 'not-the-pw', engine === 'mysql' ? schema : undefined),
      ]);
      expect(r.code).toBe(3);
      expect(r.err).toContain('cannot connect to');
      expect(r.err).toContain('what to do:');
      expect(r.err).not.toContain('not-the-pw');
    });

    it('discover says when the schema asked for does not exist', async () => {
      const r = await runCli(['discover', '--url', adminUrl, '--schema', `${schema}x`, '--json']);
      expect(r.code).toBe(1);
      const what = engine === 'postgres' ? 'schema' : 'database';
      expect(JSON.parse(r.out).error.message).toContain(
        `discover: ${what} ${schema}x does not exist; did you mean ${schema}?`,
      );
    });

    it('stores credentials for the granted user in the local secrets file, and check passes with them', async () => {
      const secrets = join(dir, 'secrets.json');
      const env = { CONNECTOR_ADAPTERS: 'local', CONNECTOR_LOCAL_SECRETS_FILE: secrets };
      const url = new URL(engineUrl(engine));
      const database = (base.source as { database: string }).database;
      const creds = {
        engine,
        host: url.hostname,
        port: Number(url.port),
        database,
        username: user,
        password,
        tls: 'disable',
      };
      const stored = await runCli(['credentials', 'set', '--config', configFile], {
        stdin: JSON.stringify(creds),
        env,
      });
      expect(stored.err).not.toContain(password);
      expect(stored.code).toBe(0);
      const check = await runCli(['check', '--config', configFile], { env });
      // (the earlier test dropped one cursor index, so check reports that and nothing else)
      expect(check.out).toMatch(/^ok {4}reachable: /m);
      expect(check.out).toMatch(/^ok {4}read-only: the user cannot write$/m);
      expect(check.out).toMatch(/^ok {4}tables \[players\]: /m);
      expect(check.out).toMatch(/rows\/s \(measured by npm run bench/);
      expect(check.out).toContain('1 check(s) failed.');
      // Where to connect is config, not secret: connection fields on stdin are ignored, with a warning.
      const other = await runCli(['credentials', 'set', '--config', configFile], {
        stdin: JSON.stringify({ ...creds, database: 'elsewhere' }),
        env,
      });
      expect(other.code).toBe(0);
      expect(other.err).toMatch(/warning: ignoring .*database.* on stdin/);
      expect(other.err).toContain(`/${database} (tls:`);
    });

    it('discover proposes a mapping that validates', async () => {
      const r = await runCli(['discover', '--url', adminUrl, '--schema', schema]);
      expect(r.code).toBe(0);
      expect(r.err).toContain(`reading schema ${schema}`);
      const proposal = parse(r.out) as EditableConfig;
      expect(Object.keys(proposal.streams)).toHaveLength(7);
      expect(proposal.streams.players!.table).toBe('customers');
      expect(proposal.streams.players!.columns).toMatchObject({
        player_id: 'customer_id',
        updated_at: 'modified_ts',
        kyc_status: { column: 'kyc_state', values: { OK: 'verified' } },
      });
      expect(proposal.streams.payments!.columns.amount).toEqual({ column: 'amount', precision: 18, scale: 2 });
      expect(proposal.streams.game_rounds!.columns.stake).toMatchObject({ column: 'bet_amount' });
      expect(r.out).toContain(
        engine === 'postgres'
          ? `# Every table is in ${schema}: set source.schema: ${schema}`
          : `# Every table is in database ${schema}: set source.database: ${schema} (on MySQL a schema is a database)`,
      );
      const wrapper = {
        ...base,
        source: { ...(base.source as object), ...(engine === 'postgres' ? { schema } : { database: schema }) },
        streams: proposal.streams,
      };
      const result = parseOperatorConfig(stringify(wrapper), 'discovered.yaml');
      expect(result.issues).toEqual([]);
    });
  });
}
