/**
 * `discover` proposes and `check` verifies source.keyComparison against the real MariaDB and
 * PostgreSQL catalogs and data: collations that ignore case and trailing spaces, NO PAD
 * collations, character(n), accent-insensitive collations and letters the key form folds but the
 * collation keeps apart.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { createScratchSchema } from '../extract/fixtures.ts';
import { type Engine, engineAvailable, engineUrl } from '../helpers/databases.ts';
import { runCli } from './run.ts';

const available: Record<Engine, boolean> = {
  postgres: await engineAvailable('postgres'),
  mysql: await engineAvailable('mysql'),
};

interface Finding {
  name: string;
  status: string;
  message: string;
  stream?: string;
  suggestion?: string;
}

const KELVIN = '\u212a';

for (const engine of ['mysql', 'postgres'] as const) {
  describe.skipIf(!available[engine])(`key comparison on ${engine}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-keys-'));
    const configFile = join(dir, 'operator.yaml');
    const url = new URL(engineUrl(engine));
    let db: Awaited<ReturnType<typeof createScratchSchema>>;
    let schema: string;
    let sourceUrl: string;

    const writeConfig = (keyComparison?: { caseInsensitive: boolean; padSpace: boolean }) =>
      writeFileSync(
        configFile,
        stringify({
          operatorId: 'key-compare',
          displayName: 'Key Compare',
          stage: 'sandbox',
          account: '111111111111',
          region: 'eu-west-1',
          source: {
            type: engine,
            host: url.hostname,
            port: Number(url.port),
            database: engine === 'mysql' ? schema : decodeURIComponent(url.pathname.slice(1)),
            ...(engine === 'postgres' ? { schema } : {}),
            tls: 'disable',
            ...(keyComparison ? { keyComparison } : {}),
            network: { mode: 'created' },
          },
          streams: {
            players: { table: 'customers', columns: { player_id: 'customer_id', updated_at: 'modified_ts' } },
            payments: {
              table: 'cashier',
              columns: { payment_id: 'txn_id', player_id: 'customer_id', updated_at: 'modified_ts' },
            },
          },
        }),
      );

    async function keyFindings(...args: string[]): Promise<Finding[]> {
      const r = await runCli(['check', '--config', configFile, '--url', sourceUrl, '--json', ...args]);
      expect(r.err).not.toMatch(/Ace-Key|MiXeD|Zeta|Zéta/);
      expect(r.out).not.toMatch(/Ace-Key|MiXeD|Zeta|Zéta/);
      const report = JSON.parse(r.out) as { checks: Finding[] };
      return report.checks.filter((c) => c.name === 'key comparison');
    }
    const find = (findings: Finding[], stream: string, field = 'player_id') =>
      findings.find((f) => f.stream === stream && f.message.startsWith(`${field} (`));

    beforeAll(async () => {
      db = await createScratchSchema(engine, `keycmp_${engine}`, { mysqlCollation: 'utf8mb4_general_ci' });
      schema = db.schema;
      sourceUrl = engine === 'mysql' ? `${engineUrl(engine).replace(/\/[^/]*$/, '')}/${schema}` : engineUrl(engine);
      const time = engine === 'postgres' ? 'timestamp(3)' : 'datetime(3)';
      await db.exec(
        `CREATE TABLE ${db.table('customers')} (customer_id varchar(40) PRIMARY KEY, modified_ts ${time} NOT NULL)`,
      );
      await db.exec(
        `CREATE TABLE ${db.table('cashier')} (txn_id varchar(40) PRIMARY KEY, customer_id varchar(40) NOT NULL, modified_ts ${time} NOT NULL)`,
      );
      await db.insert(
        'customers',
        ['customer_id', 'modified_ts'],
        ['Ace-Key ', 'MiXeD-Kase', 'plain-1'].map((id) => [id, '2026-01-01 00:00:00']),
      );
      await db.insert(
        'cashier',
        ['txn_id', 'customer_id', 'modified_ts'],
        ['Ace-Key', 'ace-key  ', 'mixed-kase', 'MiXeD-Kase', 'plain-1'].map((p, i) => [
          `pay-${i}`,
          p,
          '2026-01-01 00:00:00',
        ]),
      );
    });

    afterAll(async () => {
      await db?.drop();
    });

    if (engine === 'mysql') {
      it('discover shows the collations and proposes a case-insensitive, PAD SPACE key comparison', async () => {
        const r = await runCli(['discover', '--url', sourceUrl, '--no-values']);
        expect(r.code).toBe(0);
        expect(r.out).toMatch(
          /^# {5}customer_id varchar\(40\) \(primary key, not null, collation utf8mb4_general_ci\)$/m,
        );
        expect(r.out).toContain(
          '# Player ids compare case-insensitive, trailing spaces ignored (customers.customer_id, collation utf8mb4_general_ci): set source.keyComparison: { caseInsensitive: true, padSpace: true }',
        );
        expect(r.out).toContain('also equates accented and unaccented letters (é = e)');
        const json = await runCli(['discover', '--url', sourceUrl, '--no-values', '--json']);
        expect(JSON.parse(json.out).keyComparison).toEqual({ caseInsensitive: true, padSpace: true });
        expect(parse(r.out).streams.players.columns.player_id).toBe('customer_id');
      });

      it('check accepts the default and finds the sampled values grouped as MariaDB groups them', async () => {
        writeConfig();
        const findings = await keyFindings();
        expect(find(findings, 'players')).toMatchObject({ status: 'ok' });
        expect(find(findings, 'payments')).toMatchObject({ status: 'ok' });
        expect(find(findings, 'payments')?.message).toContain(
          `${schema}.cashier.customer_id, collation utf8mb4_general_ci: case-insensitive, trailing spaces ignored`,
        );
        expect(find(findings, 'payments')?.message).toContain(
          'in a sample of 5 distinct values, the database groups them as the lake does',
        );
        // The clear payment id is unique under the collation: nothing to join differently.
        expect(find(findings, 'payments', 'payment_id')).toMatchObject({ status: 'ok' });
      });

      it('check fails when the config compares exactly, naming table, column, collation and the setting', async () => {
        writeConfig({ caseInsensitive: false, padSpace: false });
        const findings = await keyFindings();
        for (const [stream, table] of [
          ['players', 'customers'],
          ['payments', 'cashier'],
        ] as const) {
          const f = find(findings, stream);
          expect(f?.status).toBe('fail');
          expect(f?.message).toContain(`${schema}.${table}.customer_id, collation utf8mb4_general_ci`);
          expect(f?.message).toContain(
            'source.keyComparison says case-sensitive, trailing spaces significant, so keys equal in the database would not join in the lake',
          );
          expect(f?.suggestion).toContain('set source.keyComparison: { caseInsensitive: true, padSpace: true }');
        }
        const text = await runCli(['check', '--config', configFile, '--url', sourceUrl]);
        expect(text.out).toMatch(/^FAIL {2}key comparison \[payments\]: player_id \(/m);
        expect(text.code).toBe(1);
      });

      it('check warns when the collation equates accents the key form keeps apart, and can skip the sample', async () => {
        writeConfig();
        await db.insert(
          'cashier',
          ['txn_id', 'customer_id', 'modified_ts'],
          [
            ['pay-a', 'Zeta', '2026-01-01 00:00:00'],
            ['pay-b', 'Zéta', '2026-01-01 00:00:00'],
          ],
        );
        try {
          const f = find(await keyFindings(), 'payments');
          expect(f?.status).toBe('warn');
          expect(f?.message).toContain(
            'in a sample of 7 distinct values, the database treats 1 group of different values as equal',
          );
          expect(f?.message).toContain('the collation also equates accented and unaccented letters (é = e), ß and s');
          const unsampled = find(await keyFindings('--key-sample', '0'), 'payments');
          expect(unsampled?.status).toBe('warn');
          expect(unsampled?.message).toContain('not sampled (--key-sample 0)');
        } finally {
          await db.exec(`DELETE FROM ${db.table('cashier')} WHERE txn_id IN ('pay-a', 'pay-b')`);
        }
      });

      it('check fails when the key form would merge keys the collation keeps apart (Kelvin sign and k)', async () => {
        writeConfig();
        await db.insert(
          'customers',
          ['customer_id', 'modified_ts'],
          [
            [`${KELVIN}-7`, '2026-01-01 00:00:00'],
            ['k-7', '2026-01-01 00:00:00'],
          ],
        );
        try {
          const f = find(await keyFindings(), 'players');
          expect(f?.status).toBe('fail');
          expect(f?.message).toContain(
            '1 key form is shared by values the database keeps apart: distinct keys would share one pseudonym',
          );
        } finally {
          await db.exec(`DELETE FROM ${db.table('customers')} WHERE customer_id IN ('k-7', '${KELVIN}-7')`);
        }
      });

      it('check fails on a NO PAD column when the config ignores trailing spaces', async () => {
        writeConfig();
        await db.exec(
          `ALTER TABLE ${db.table('cashier')} MODIFY customer_id varchar(40) COLLATE utf8mb4_general_nopad_ci NOT NULL`,
        );
        try {
          const f = find(await keyFindings(), 'payments');
          expect(f?.status).toBe('fail');
          expect(f?.message).toContain(
            'collation utf8mb4_general_nopad_ci: case-insensitive, trailing spaces significant',
          );
          expect(f?.message).toContain('keys the database keeps apart would share one pseudonym');
          expect(f?.suggestion).toContain('set source.keyComparison: { caseInsensitive: true, padSpace: false }');
        } finally {
          await db.exec(
            `ALTER TABLE ${db.table('cashier')} MODIFY customer_id varchar(40) COLLATE utf8mb4_general_ci NOT NULL`,
          );
        }
      });
    } else {
      it('discover proposes exact comparison for text keys and check accepts it without sampling', async () => {
        const r = await runCli(['discover', '--url', sourceUrl, '--schema', schema, '--no-values', '--json']);
        expect(JSON.parse(r.out).keyComparison).toEqual({ caseInsensitive: false, padSpace: false });
        writeConfig();
        const findings = await keyFindings();
        expect(find(findings, 'players')).toMatchObject({ status: 'ok' });
        expect(find(findings, 'players')?.message).toContain(
          'pseudonymized in its key form (case-sensitive, trailing spaces significant), as the database does',
        );
        expect(find(findings, 'payments')).toMatchObject({ status: 'ok' });
      });

      it('samples a key under a nondeterministic (case-insensitive ICU) collation and warns where the lake splits', async () => {
        await db.exec(
          `CREATE COLLATION ${db.q(schema)}.ci_level2 (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`,
        );
        await db.exec(
          `ALTER TABLE ${db.table('cashier')} ALTER COLUMN customer_id TYPE varchar(40) COLLATE ${db.q(schema)}.ci_level2`,
        );
        try {
          writeConfig();
          const exact = find(await keyFindings(), 'payments');
          expect(exact?.status).toBe('warn');
          expect(exact?.message).toContain(
            'collation ci_level2: case-sensitive, trailing spaces significant (unrecognized collation)',
          );
          expect(exact?.message).toContain('the connector does not recognize this collation');
          // Ace-Key / ace-key  are apart (trailing spaces count here); mixed-kase / MiXeD-Kase are one group.
          expect(exact?.message).toContain(
            'in a sample of 5 distinct values, the database treats 1 group of different values as equal',
          );
          writeConfig({ caseInsensitive: true, padSpace: false });
          const folded = find(await keyFindings(), 'payments');
          expect(folded?.status).toBe('ok');
          expect(folded?.message).toContain(
            'in a sample of 5 distinct values, the database groups them as the lake does',
          );
        } finally {
          await db.exec(
            `ALTER TABLE ${db.table('cashier')} ALTER COLUMN customer_id TYPE varchar(40) COLLATE "default"`,
          );
        }
      });

      it('a character(n) key ignores trailing spaces: discover proposes padSpace and check asks for it', async () => {
        await db.exec(`ALTER TABLE ${db.table('customers')} ALTER COLUMN customer_id TYPE character(12)`);
        await db.exec(`ALTER TABLE ${db.table('cashier')} ALTER COLUMN customer_id TYPE character(12)`);
        try {
          const r = await runCli(['discover', '--url', sourceUrl, '--schema', schema, '--no-values', '--json']);
          expect(JSON.parse(r.out).keyComparison).toEqual({ caseInsensitive: false, padSpace: true });
          writeConfig();
          const f = find(await keyFindings(), 'players');
          expect(f?.status).toBe('fail');
          expect(f?.message).toContain(
            `${schema}.customers.customer_id, collation default: case-sensitive, trailing spaces ignored`,
          );
          expect(f?.suggestion).toContain('set source.keyComparison: { caseInsensitive: false, padSpace: true }');
          writeConfig({ caseInsensitive: false, padSpace: true });
          expect(find(await keyFindings(), 'players')?.status).toBe('ok');
        } finally {
          await db.exec(`ALTER TABLE ${db.table('customers')} ALTER COLUMN customer_id TYPE varchar(40)`);
          await db.exec(`ALTER TABLE ${db.table('cashier')} ALTER COLUMN customer_id TYPE varchar(40)`);
        }
      });
    }
  });
}
