/**
 * The key audit on one engine, against the real database and the local lake: a snapshot is landed
 * and published through the product's extractor and MERGE, then rows are hard-deleted at the
 * source and deleted from the serving table (lost rows), and the audit must find exactly those,
 * land tombstones and re-extracted rows as committed windows, and the publish must leave the
 * serving table equal to the source's current rows. Runs on a clear key (payments) and a
 * pseudonymized one (players). key-audit-postgres.test.ts and key-audit-mysql.test.ts run it.
 */
import { randomBytes } from 'node:crypto';
import { TrinoSQL } from 'dt-sql-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueryEngine } from '#shared/adapters/athena';
import { auditRunId, type KeyAuditReport, runKeyAudit } from '#shared/audit/key-audit';
import type { StreamName } from '#shared/canonical';
import { parseOperatorConfig } from '#shared/config/load';
import type { OperatorConfig } from '#shared/config/schema';
import { extractRange } from '#shared/extract/extract-range';
import { createPseudonymizer, normalizeForPseudonym } from '#shared/pii/pseudonymizer';
import { openSource, type SourceConnection } from '#shared/sources/index';
import { createScratchSchema } from '../extract/fixtures.ts';
import { credentialsFor, type Engine } from '../helpers/databases.ts';
import { ServingLake } from '../shared/serving/lake.ts';

const trino = new TrinoSQL();
const MINUTE = 60_000;
const DAY = 86_400_000;

export function describeKeyAudit(engine: Engine, available: boolean): void {
  describe.skipIf(!available)(`key audit on ${engine === 'postgres' ? 'PostgreSQL' : 'MariaDB/MySQL'}`, () => {
    const now = Date.now();
    const horizon = new Date(now - 3 * DAY);
    const watermark = new Date(now - 10 * MINUTE);
    const key = randomBytes(32);
    const pseudonymizer = createPseudonymizer(key);
    let db: Awaited<ReturnType<typeof createScratchSchema>>;
    let source: SourceConnection;
    let lake: ServingLake;
    let config: OperatorConfig;
    const statements: string[] = [];
    let athena: QueryEngine;
    const ts = engine === 'postgres' ? 'timestamptz' : 'DATETIME(6)';
    const at = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');

    beforeAll(async () => {
      db = await createScratchSchema(engine, `kaud_${engine === 'postgres' ? 'pg' : 'my'}`);
      await db.exec(
        `CREATE TABLE ${db.table('pay')} (id BIGINT PRIMARY KEY, customer VARCHAR(40) NOT NULL, amount DECIMAL(12,2) NOT NULL, created ${ts} NOT NULL, modified ${ts} NOT NULL)`,
      );
      await db.exec(
        `CREATE TABLE ${db.table('cust')} (cid VARCHAR(40) PRIMARY KEY, country CHAR(2), modified ${ts} NOT NULL)`,
      );
      const payments = Array.from({ length: 300 }, (_, i) => {
        const created = now - 2 * DAY + i * 7 * MINUTE;
        return [i + 1, `P${String((i % 50) + 1).padStart(4, '0')}`, `${i + 1}.25`, at(created), at(created + MINUTE)];
      });
      // Older than the lake's horizon: never landed, never a difference.
      payments.push([1000, 'P0001', '5.00', at(now - 10 * DAY), at(now - 10 * DAY)]);
      await db.insert('pay', ['id', 'customer', 'amount', 'created', 'modified'], payments);
      const players = Array.from({ length: 120 }, (_, i) => [
        `P${String(i + 1).padStart(4, '0')}`,
        'MT',
        at(now - DAY - i * 5 * MINUTE),
      ]);
      await db.insert('cust', ['cid', 'country', 'modified'], players);

      const parsed = parseOperatorConfig(
        JSON.stringify({
          operatorId: 'audit-casino',
          displayName: 'Audit Casino',
          stage: 'sandbox',
          account: '111111111111',
          region: 'eu-west-1',
          source: {
            type: engine,
            host: '127.0.0.1',
            database: engine === 'postgres' ? credentialsFor(engine).database : db.schema,
            ...(engine === 'postgres' ? { schema: db.schema } : {}),
            timeZone: 'UTC',
            tls: 'disable',
            network: { mode: 'created' },
          },
          streams: {
            payments: {
              table: 'pay',
              cursorType: 'zoned',
              columns: {
                payment_id: 'id',
                player_id: 'customer',
                amount: 'amount',
                created_at: 'created',
                updated_at: 'modified',
              },
            },
            players: {
              table: 'cust',
              cursorType: 'zoned',
              columns: { player_id: 'cid', country: 'country', updated_at: 'modified' },
            },
          },
        }),
        'key-audit test config',
      );
      if (!parsed.config) throw new Error(JSON.stringify(parsed.issues));
      config = parsed.config;
      source = await openSource(credentialsFor(engine, engine === 'postgres' ? undefined : db.schema), {
        applicationName: 'key-audit-test',
        statementTimeoutSeconds: 30,
        timeZone: 'UTC',
      });
      lake = await ServingLake.open(config);
      athena = {
        execute: (sql) => {
          statements.push(sql);
          return lake.athena.execute(sql);
        },
      };
      // The snapshot: landed and published as the pipeline does.
      for (const stream of ['payments', 'players'] as const) {
        const outcome = await extractRange(
          {
            config,
            source,
            sink: lake.sink,
            pseudonymizer,
            pseudonymKey: key,
            remainingMs: () => Number.MAX_SAFE_INTEGER,
          },
          { stream, runId: 'snap', windowId: 'w0', from: horizon, to: watermark },
        );
        expect(outcome.status).toBe('complete');
        await lake.publish(stream, ['snap'], ['w0']);
      }
    }, 300_000);

    afterAll(async () => {
      await source?.close();
      await lake?.close();
      await db?.drop();
    });

    const audit = (stream: StreamName, runAt: Date): Promise<KeyAuditReport> =>
      runKeyAudit(
        {
          config,
          source,
          athena,
          database: lake.database,
          sink: lake.sink,
          pseudonymizer,
          pseudonymKey: key,
          beforeCommit: async () => {},
          // Small pages and buckets: several pages per pass and refinement below the first depth.
          tuning: { pageRows: 40, leafRows: 6, maxKeys: 5000, startDepth: 1 },
          now: () => runAt,
        },
        { stream, runId: auditRunId(runAt), horizon, watermark },
      );

    /** The lake's form of a player id: its pseudonym in the source's key form, as the mapper computes it. */
    const pseudonym = (id: string) =>
      pseudonymizer.pseudonymize(normalizeForPseudonym('players', 'player_id', id, config.source.keyComparison));

    const servedKeys = async (stream: StreamName, column: string) =>
      (await lake.athena.rows(lake.database, stream, [column])).map((r) => String(r[column])).sort();

    it('finds nothing when the lake matches the source', async () => {
      const report = await audit('payments', new Date(now - 5 * MINUTE));
      expect(report).toMatchObject({
        sourceKeys: 300,
        lakeKeys: 300,
        deletesDetected: 0,
        missingKeys: 0,
        rowsRepaired: 0,
        windows: [],
      });
      for (const sql of statements) expect(trino.validate(sql), sql).toEqual([]);
    });

    it('tombstones hard deletes and re-extracts lost rows of a clear key, and the publish applies both', async () => {
      await db.exec(`DELETE FROM ${db.table('pay')} WHERE id IN (17, 200)`);
      await lake.athena.execute(`DELETE FROM "${lake.database}"."payments" WHERE "payment_id" IN ('42', '43')`);
      // A row the source moved out of the lake's scope: present at the source, so never deleted.
      await db.exec(`UPDATE ${db.table('pay')} SET modified = ${db.p(1)} WHERE id = 19`, [at(now - 5 * DAY)]);
      // A row not synced yet (past the watermark): missing, but pending, not lost.
      await db.insert(
        'pay',
        ['id', 'customer', 'amount', 'created', 'modified'],
        [[301, 'P0002', '9.99', at(now), at(now)]],
      );
      statements.length = 0;
      const runAt = new Date(now - 4 * MINUTE);
      const report = await audit('payments', runAt);
      expect(report).toMatchObject({
        pseudonymized: false,
        sourceKeys: 298 - 1 + 1,
        lakeKeys: 298,
        deletesDetected: 2,
        outOfScopeKeys: 1,
        missingKeys: 3,
        rowsRepaired: 2,
        pendingKeys: 1,
      });
      expect(report.passes).toBeGreaterThan(1);
      expect(report.windows).toEqual(['tombstones-0', 'repair-0']);
      for (const sql of statements) expect(trino.validate(sql), sql).toEqual([]);

      await lake.publish('payments', [report.runId], report.windows);
      const expected = Array.from({ length: 300 }, (_, i) => String(i + 1)).filter((k) => !['17', '200'].includes(k));
      expect(await servedKeys('payments', 'payment_id')).toEqual(expected.sort());
      const repaired = await lake.athena.execute(
        `SELECT CAST("amount" AS varchar) AS amount FROM "${lake.database}"."payments" WHERE "payment_id" = '42'`,
      );
      expect(repaired.rows).toEqual([{ amount: '42.2500000000' }]);

      // A second audit finds only the row still pending.
      const again = await audit('payments', new Date(now - 3 * MINUTE));
      expect(again).toMatchObject({
        deletesDetected: 0,
        missingKeys: 1,
        rowsRepaired: 0,
        pendingKeys: 1,
        outOfScopeKeys: 1,
      });
    });

    it('audits a pseudonymized key in memory, without the key reaching the database', async () => {
      await db.exec(`DELETE FROM ${db.table('cust')} WHERE cid = 'P0005'`);
      const lost = pseudonym('P0010');
      await lake.athena.execute(`DELETE FROM "${lake.database}"."players" WHERE "player_id" = '${lost}'`);
      statements.length = 0;
      const report = await audit('players', new Date(now - 2 * MINUTE));
      expect(report).toMatchObject({
        pseudonymized: true,
        sourceKeys: 119,
        lakeKeys: 119,
        deletesDetected: 1,
        missingKeys: 1,
        rowsRepaired: 1,
        pendingKeys: 0,
      });
      for (const sql of statements) expect(sql).not.toContain(key.toString('hex'));
      await lake.publish('players', [report.runId], report.windows);
      const expected = Array.from({ length: 120 }, (_, i) => `P${String(i + 1).padStart(4, '0')}`)
        .filter((k) => k !== 'P0005')
        .map((k) => pseudonym(k))
        .sort();
      expect(await servedKeys('players', 'player_id')).toEqual(expected);
    });
  });
}
