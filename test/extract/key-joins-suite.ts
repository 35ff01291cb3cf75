/**
 * Keys join in the lake as they join in the source. Players and payments whose player references
 * differ from the player keys only by letter case or trailing spaces are landed through the real
 * extract-window handler, read back with DuckDB, and the lake's join is compared payment by payment
 * with the source database's own JOIN: on MariaDB under `utf8mb4_general_ci` (case-insensitive,
 * PAD SPACE) they join, on PostgreSQL (deterministic collation) only identical bytes join.
 *
 * key-joins-mysql.test.ts and key-joins-postgres.test.ts run it, one engine per file, because the
 * handlers build their runtime from the environment once per process.
 */
import { createHmac } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LocalKeyService } from '#shared/adapters/kms-local';
import type { ExtractResult, ExtractWindowInput } from '#shared/contracts/steps';
import { loadPseudonymKey } from '#shared/pii/key';
import { SyncStateStore } from '#shared/state/store';
import { type Engine, engineUrl } from '../helpers/databases.ts';
import { type DuckDbHandle, openDuckDb, parquetSource } from '../helpers/duckdb.ts';
import {
  createScratchSchema,
  getManifest,
  HOUR,
  KMS_KEY_ARN,
  type LocalAws,
  lambdaContext,
  setHandlerEnv,
  startLocalAws,
} from './fixtures.ts';

type ExtractWindowModule = typeof import('../../lambdas/extract-window/handler.ts');
type ScratchDb = Awaited<ReturnType<typeof createScratchSchema>>;

/** Players: key and a clear attribute (country) that tells which player a payment joined. */
const PLAYERS: readonly (readonly [string, string])[] = [
  ['Ace-Key ', 'MT'],
  ['MiXeD-Kase', 'DE'],
  ['plain-1', 'SE'],
  ['Tabbed', 'FI'],
];

/** Payments: id and player reference. */
const PAYMENTS: readonly (readonly [string, string])[] = [
  ['pay-01', 'Ace-Key'],
  ['pay-02', 'Ace-Key '],
  ['pay-03', 'ace-key  '],
  ['pay-04', 'mixed-kase'],
  ['pay-05', 'MiXeD-Kase'],
  ['pay-06', 'MIXED-KASE '],
  ['pay-07', 'plain-1'],
  ['pay-08', 'PLAIN-1'],
  // A trailing tab is not a trailing space: no collation ignores it.
  ['pay-09', 'Tabbed\t'],
  ['pay-10', ' plain-1'],
  ['pay-11', 'nobody'],
];

const hmac = (key: Buffer, text: string) => createHmac('sha256', key).update(text, 'utf8').digest('hex');

/** Defines the key-join test of one engine. */
export function describeKeyJoins(engine: Engine, available: boolean): void {
  describe.skipIf(!available)(
    `keys join as in the source on ${engine === 'postgres' ? 'PostgreSQL' : 'MariaDB'}`,
    () => {
      const operatorId = 'key-join-casino';
      const H0 = Math.floor((Date.now() - 3 * HOUR) / HOUR) * HOUR;
      let aws: LocalAws;
      let duck: DuckDbHandle;
      let db: ScratchDb;
      let pseudonymKey: Buffer;
      let store: SyncStateStore;
      let extract: ExtractWindowModule;
      const context: Context = lambdaContext(() => 900_000);

      const wall = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');

      beforeAll(async () => {
        [aws, duck] = await Promise.all([startLocalAws(), openDuckDb()]);
        // MariaDB's default collation: case-insensitive and PAD SPACE.
        db = await createScratchSchema(engine, `keys_${engine}`, { mysqlCollation: 'utf8mb4_general_ci' });
        const schema = db.schema;
        const time = engine === 'postgres' ? 'timestamp(3)' : 'datetime(3)';
        await db.exec(
          `CREATE TABLE ${db.table('customers')} (customer_id varchar(40) PRIMARY KEY, country_code char(2), modified_ts ${time} NOT NULL)`,
        );
        await db.exec(
          `CREATE TABLE ${db.table('cashier')} (txn_id varchar(40) PRIMARY KEY, customer_id varchar(40) NOT NULL, modified_ts ${time} NOT NULL)`,
        );
        await db.insert(
          'customers',
          ['customer_id', 'country_code', 'modified_ts'],
          PLAYERS.map(([id, country], i) => [id, country, wall(H0 - 2 * HOUR + i * 1000)]),
        );
        await db.insert(
          'cashier',
          ['txn_id', 'customer_id', 'modified_ts'],
          PAYMENTS.map(([id, player], i) => [id, player, wall(H0 - HOUR + i * 1000)]),
        );

        const url = new URL(engineUrl(engine));
        const config = {
          operatorId,
          displayName: 'Key Join Casino',
          stage: 'sandbox',
          account: '111111111111',
          region: 'eu-west-1',
          // keyComparison is left to the engine's default: exact on PostgreSQL, case-insensitive and
          // PAD SPACE on MySQL/MariaDB.
          source: {
            type: engine,
            host: url.hostname,
            port: Number(url.port || (engine === 'postgres' ? 5432 : 3306)),
            database: engine === 'postgres' ? decodeURIComponent(url.pathname.slice(1)) || 'postgres' : schema,
            ...(engine === 'postgres' ? { schema } : {}),
            tls: 'disable',
            timeZone: 'UTC',
            network: { mode: 'created' },
          },
          streams: {
            players: {
              table: 'customers',
              columns: { player_id: 'customer_id', country: 'country_code', updated_at: 'modified_ts' },
            },
            payments: {
              table: 'cashier',
              columns: { payment_id: 'txn_id', player_id: 'customer_id', updated_at: 'modified_ts' },
            },
          },
        };
        const { keyFile } = await setHandlerEnv({ aws, config, sourceUrl: engineUrl(engine), reserveMs: 60_000 });
        extract = await import('../../lambdas/extract-window/handler.ts');
        store = new SyncStateStore(aws.dynamo.doc, aws.table);
        pseudonymKey = await loadPseudonymKey({
          keys: new LocalKeyService({ keyFile, operatorId }),
          store,
          keyId: KMS_KEY_ARN,
          cache: false,
        });
        await store.snapshots.start({
          snapshotId: 'snap-keys',
          cutoff: new Date(H0),
          streams: ['players', 'payments'],
          windows: (['players', 'payments'] as const).map((stream) => ({
            stream,
            windowId: 'w1',
            from: new Date(H0 - 24 * HOUR),
            to: new Date(H0),
          })),
        });
      });

      afterAll(async () => {
        await db?.drop();
        duck?.close();
        await aws?.stop();
      });

      async function land(stream: 'players' | 'payments'): Promise<string[]> {
        const event: ExtractWindowInput = {
          snapshotId: 'snap-keys',
          runId: 'snap-keys',
          stream,
          windowId: 'w1',
          from: new Date(H0 - 24 * HOUR).toISOString(),
          to: new Date(H0).toISOString(),
        };
        const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
        let result: ExtractResult;
        try {
          result = await extract.handler(event, context);
        } finally {
          out.mockRestore();
        }
        if (result.status !== 'complete') throw new Error(`${stream} did not complete: ${result.status}`);
        const manifest = await getManifest(aws, result.manifestKey);
        const keys = manifest!.parts.map((p) => p.key);
        return aws.s3.download(aws.bucket, keys, await mkdtemp(join(aws.dir, `${stream}-`)));
      }

      it("joins every payment to the player the source's own JOIN finds", async () => {
        const players = await land('players');
        const payments = await land('payments');
        await duck.query(
          `CREATE TABLE players AS SELECT * FROM ${parquetSource(players, 'hive_partitioning = false')}`,
        );
        await duck.query(
          `CREATE TABLE payments AS SELECT * FROM ${parquetSource(payments, 'hive_partitioning = false')}`,
        );

        const lake = await duck.query(
          `SELECT p.payment_id AS payment, u.country AS player
           FROM payments p LEFT JOIN players u ON u.player_id = p.player_id ORDER BY 1, 2`,
        );
        const source = await db.rows(
          `SELECT p.txn_id AS payment, c.country_code AS player
           FROM ${db.table('cashier')} p LEFT JOIN ${db.table('customers')} c ON c.customer_id = p.customer_id
          ORDER BY 1, 2`,
        );
        expect(lake.map((r) => [r.payment, r.player])).toEqual(source.map((r) => [r.payment, r.player]));

        // The join counts, and what they are on each engine.
        const [lakeCount] = await duck.query(
          'SELECT count(*)::INTEGER AS n FROM payments p JOIN players u ON u.player_id = p.player_id',
        );
        const [sourceCount] = await db.rows(
          `SELECT count(*) AS n FROM ${db.table('cashier')} p JOIN ${db.table('customers')} c ON c.customer_id = p.customer_id`,
        );
        expect(Number(lakeCount!.n)).toBe(Number(sourceCount!.n));
        // MariaDB: Ace-Key ×3, MiXeD-Kase ×3, plain-1 ×2; PostgreSQL: only pay-02, pay-05 and pay-07.
        expect(Number(lakeCount!.n)).toBe(engine === 'mysql' ? 8 : 3);
      });

      it('pseudonymizes the key form on MariaDB and the exact bytes on PostgreSQL', async () => {
        const landed = await duck.query('SELECT player_id, country FROM players ORDER BY country');
        const expected = PLAYERS.map(([id, country]) => ({
          country,
          player_id: hmac(pseudonymKey, engine === 'mysql' ? id.trimEnd().toLowerCase() : id),
        })).sort((a, b) => a.country.localeCompare(b.country));
        expect(landed).toEqual(expected);
        // The clear payment ids land exactly as the source holds them.
        const ids = await duck.query('SELECT payment_id FROM payments ORDER BY 1');
        expect(ids.map((r) => r.payment_id)).toEqual(PAYMENTS.map(([id]) => id).sort());
      });
    },
  );
}
