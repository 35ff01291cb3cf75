/**
 * The serving tables end to end on one engine, through the synthesized state machines: the
 * snapshot and incremental executions start the publish state machine, whose Athena tasks run on
 * the local engine (DuckDB), and the serving tables are compared with the source's current rows,
 * key by key and value by value (money exact). Every statement sent is parsed with a Trino
 * grammar. serving-postgres.test.ts and serving-mysql.test.ts run it, one engine per file.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TrinoSQL } from 'dt-sql-parser';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LocalKeyService } from '#shared/adapters/kms-local';
import type { StreamName } from '#shared/canonical';
import { readCommittedWindow } from '#shared/landing/window';
import { loadPseudonymKey } from '#shared/pii/key';
import { publicationOf } from '#shared/serving/backlog';
import { S3Sink } from '#shared/sink/s3';
import { PublicationLedger } from '#shared/state/publications';
import { glueDatabaseName } from '../../lib/constructs/data-catalog.ts';
import { type DynaliteHandle, type S3rverHandle, startDynalite, startS3rver } from '../../local/engines.ts';
import { createLocalPipeline, type LocalPipeline } from '../../local/pipeline-runner.ts';
import {
  advanceSyntheticOperator,
  createSyntheticOperator,
  syntheticOperatorConfig,
} from '../../synthetic/operator.ts';
import {
  comparable,
  DAY,
  expectedRows,
  HOUR,
  type LandedRow,
  MINUTE,
  openSourceDb,
  type SourceDb,
  syntheticExpectation,
  wallToUtcMs,
} from '../extract/fixtures.ts';
import { type Engine, engineUrl, uniqueName } from '../helpers/databases.ts';
import { silenceMetricsWarnings } from '../helpers/quiet-metrics.ts';

const OPERATOR = 'serving-casino';
const SNAPSHOT_DAYS = 3;
const trino = new TrinoSQL();

/** The synthetic operator's tables as the acme-casino mapping lands them. */
const STREAMS: Record<
  StreamName,
  { readonly table: string; readonly key: string; readonly sourceKey: string; readonly cursor: string }
> = {
  players: { table: 'customers', key: 'player_id', sourceKey: 'customer_id', cursor: 'modified_ts' },
  sessions: { table: 'login_sessions', key: 'session_id', sourceKey: 'sess_id', cursor: 'login_ts' },
  payments: { table: 'cashier_transactions', key: 'payment_id', sourceKey: 'txn_id', cursor: 'modified_ts' },
  wallet_transactions: { table: 'wallet_ledger', key: 'transaction_id', sourceKey: 'entry_id', cursor: 'booked_ts' },
  game_rounds: { table: 'game_rounds', key: 'round_id', sourceKey: 'round_id', cursor: 'modified_ts' },
  bonuses: { table: 'bonus_awards', key: 'bonus_id', sourceKey: 'award_id', cursor: 'modified_ts' },
  compliance_events: { table: 'rg_events', key: 'event_id', sourceKey: 'event_id', cursor: 'event_ts' },
};
const ALL = Object.keys(STREAMS) as StreamName[];
const MAPPED = ['payments', 'game_rounds', 'players'] as const;

/** Defines the serving tests of one engine. */
export function describeServing(engine: Engine, available: boolean): void {
  describe.skipIf(!available)(`serving tables on ${engine === 'postgres' ? 'PostgreSQL' : 'MariaDB/MySQL'}`, () => {
    const url = engineUrl(engine);
    const schema = uniqueName(`srv_${engine}`);
    const H0 = Math.floor((Date.now() - 2 * HOUR) / MINUTE) * MINUTE;

    let s3: S3rverHandle;
    let dynamo: DynaliteHandle;
    let pipeline: LocalPipeline;
    let db: SourceDb;
    let scratch: string;
    let config: Record<string, unknown>;
    let database: string;
    let pseudonymKey: Buffer;
    let start = 0;
    const sent: string[] = [];

    /** A serving table's rows as the landed-row helpers compare them (times in ms, decimals as text). */
    async function servingRows(stream: StreamName): Promise<LandedRow[]> {
      const table = pipeline.athena.table(database, stream)!;
      const select = table.columns.map((c) => {
        const q = `"${c.name}"`;
        if (c.type === 'timestamp') return `epoch_ms(${q}) AS ${q}`;
        if (c.type.startsWith('decimal') || c.type === 'date' || c.type === 'long')
          return `CAST(${q} AS VARCHAR) AS ${q}`;
        return q;
      });
      const out = await pipeline.athena.execute(`SELECT ${select.join(', ')} FROM "${database}"."${stream}"`);
      return out.rows.map((r) =>
        Object.fromEntries(
          Object.entries(r).map(([k, v]) => [
            k,
            v === null
              ? null
              : typeof v === 'string' &&
                  /^-?\d+$/.test(v) &&
                  table.columns.find((c) => c.name === k)?.type === 'timestamp'
                ? Number(v)
                : (v as string | number),
          ]),
        ),
      );
    }

    /** The source's current rows with a cursor in [start, to), as the mapping lands them. */
    async function sourceCurrent(stream: (typeof MAPPED)[number], to: number): Promise<LandedRow[]> {
      const { table, cursor } = STREAMS[stream];
      const rows = await db.rowsInRange(table, cursor, new Date(start), new Date(to));
      return expectedRows(syntheticExpectation(config, stream, pseudonymKey, 'any'), rows);
    }

    /** Every key of a stream's source table with a cursor in [start, to). */
    async function sourceKeys(stream: StreamName, to: number): Promise<string[]> {
      const { table, sourceKey, cursor } = STREAMS[stream];
      const rows = await db.rows(`SELECT ${db.q(sourceKey)} AS k, ${db.q(cursor)} AS c FROM ${db.table(table)}`);
      return rows
        .filter((r) => {
          const at = wallToUtcMs(String(r.c));
          return at >= start && at < to;
        })
        .map((r) => String(r.k))
        .sort();
    }

    const withoutRun = (rows: readonly LandedRow[]) => rows.map(({ _run_id: _, _deleted: __, ...rest }) => rest);

    /** The serving tables equal the source's current rows up to `to` (the last watermark). */
    async function expectServingEqualsSource(to: number): Promise<void> {
      for (const stream of MAPPED) {
        const key = STREAMS[stream].key;
        const serving = await servingRows(stream);
        expect(new Set(serving.map((r) => r[key])).size, `${stream}: one row per key`).toBe(serving.length);
        expect(withoutRun(comparable(serving, key)), stream).toEqual(
          withoutRun(comparable(await sourceCurrent(stream, to), key)),
        );
      }
      for (const stream of ALL.filter((s) => !(MAPPED as readonly string[]).includes(s))) {
        const serving = await servingRows(stream);
        const keys = serving.map((r) => String(r[STREAMS[stream].key])).sort();
        expect(keys, stream).toEqual(await sourceKeys(stream, to));
      }
    }

    /** New activity, updates and late rows with cursors the next run reads (inside the lookback, up to now). */
    async function advanceRecent(): Promise<void> {
      const from = (await lastWatermark()) - 20 * MINUTE;
      await advanceSyntheticOperator({
        engine,
        url,
        schema,
        from: new Date(from),
        to: new Date(Date.now() - 2 * MINUTE),
        seed: 17,
      });
    }

    async function lastWatermark(): Promise<number> {
      const marks = await Promise.all(ALL.map((s) => pipeline.store.watermarks.get(s)));
      return Math.min(...marks.map((m) => m!.getTime()));
    }

    beforeAll(async () => {
      silenceMetricsWarnings();
      [s3, dynamo] = await Promise.all([startS3rver(), startDynalite()]);
      scratch = await mkdtemp(join(tmpdir(), 'e2e-serving-'));
      await createSyntheticOperator({
        engine,
        url,
        schema,
        players: 15,
        days: SNAPSHOT_DAYS,
        now: new Date(H0),
        seed: 17,
      });
      const base = syntheticOperatorConfig({ engine, url, schema, operatorId: OPERATOR });
      config = { ...base, snapshot: { ...(base.snapshot as object), days: SNAPSHOT_DAYS } };
      pipeline = await createLocalPipeline({
        config,
        engines: { s3, dynamo, source: { url } },
        shortenWaits: true,
        dir: scratch,
      });
      database = glueDatabaseName(OPERATOR, 'sandbox');
      db = await openSourceDb(engine, schema);
      pseudonymKey = await loadPseudonymKey({
        keys: new LocalKeyService({
          keyFile: pipeline.environment.CONNECTOR_LOCAL_KMS_KEY_FILE!,
          operatorId: OPERATOR,
        }),
        store: pipeline.store,
        keyId: pipeline.environment.CONNECTOR_KMS_KEY_ARN!,
        cache: false,
      });
    });

    afterAll(async () => {
      if (db) {
        await db
          .exec(
            engine === 'postgres'
              ? `DROP SCHEMA IF EXISTS "${schema}" CASCADE`
              : `DROP DATABASE IF EXISTS \`${schema}\``,
          )
          .finally(() => db.close());
      }
      await pipeline?.close();
      await Promise.allSettled([s3?.stop(), dynamo?.stop()]);
      if (scratch) await rm(scratch, { recursive: true, force: true });
      vi.restoreAllMocks();
    });

    it('publishes a snapshot: every serving table holds the source current state', async () => {
      const run = await pipeline.runSnapshot({}, { executionName: 'serving-snapshot' });
      expect(run.status, run.cause).toBe('SUCCEEDED');
      const meta = await pipeline.store.snapshots.get(run.snapshotId!);
      start = meta!.cutoff.getTime() - SNAPSHOT_DAYS * DAY;
      const publish = pipeline.publishes.at(-1)!;
      expect(publish.status).toBe('SUCCEEDED');
      expect(publish.statements.length).toBeGreaterThanOrEqual(ALL.length);
      sent.push(...publish.statements);
      await expectServingEqualsSource(meta!.cutoff.getTime());
    });

    it('publishes incremental runs: inserts, updates and late rows, one row per key', async () => {
      for (let step = 1; step <= 2; step++) {
        await advanceRecent();
        const run = await pipeline.runIncremental({ executionName: `serving-incremental-${step}` });
        expect(run.status, run.cause).toBe('SUCCEEDED');
        sent.push(...pipeline.publishes.at(-1)!.statements);
      }
      await expectServingEqualsSource(await lastWatermark());
    });

    it('changes nothing when windows are published again, and publishes nothing without a backlog', async () => {
      const before = await Promise.all(ALL.map((s) => servingRows(s)));
      // A publish whose end never ran: its windows are still in the backlog and merge again.
      const ledger = new PublicationLedger(dynamo.doc, pipeline.tableName);
      const sink = new S3Sink({ client: s3.client, bucket: pipeline.bucket });
      const snapshots = pipeline.publishes.flatMap((p) => p.statements);
      expect(snapshots.length).toBeGreaterThan(0);
      const lastRun = (await pipeline.store.watermarks.getState('payments')).lastRunId!;
      const committed = await readCommittedWindow(sink, 'payments', lastRun, 'incr');
      await ledger.register(publicationOf(pipeline.config, committed!.manifest));
      const again = await pipeline.runPublish({ executionName: 'serving-publish-again' });
      expect(again.status).toBe('SUCCEEDED');
      expect(again.statements).toHaveLength(1);
      sent.push(...again.statements);
      const empty = await pipeline.runPublish({ executionName: 'serving-publish-empty' });
      expect(empty.status).toBe('SUCCEEDED');
      expect(empty.statements).toEqual([]);
      expect(await Promise.all(ALL.map((s) => servingRows(s)))).toEqual(before);
    });

    it('fails a run visibly when publishing fails, keeps extraction going, and the next run publishes the backlog', async () => {
      await advanceRecent();
      const watermarkBefore = await pipeline.store.watermarks.get('game_rounds');
      const failing = await pipeline.runIncremental({
        executionName: 'serving-incremental-publish-fails',
        athenaFault: (sql) =>
          sql.startsWith('MERGE INTO') && sql.includes('."game_rounds" AS t')
            ? new Error('ICEBERG_COMMIT_ERROR: the table changed under the commit')
            : undefined,
      });
      expect(failing.status).toBe('FAILED');
      expect(failing.error).toBe('PublishFailed');
      expect(failing.cause).toContain(`operator ${OPERATOR} (sandbox): incremental run`);
      expect(failing.cause).toContain('stream game_rounds');
      // Extraction went on: the watermark moved, the other streams were published.
      expect((await pipeline.store.watermarks.get('game_rounds'))!.getTime()).toBeGreaterThan(
        watermarkBefore!.getTime(),
      );
      const backlog = await new PublicationLedger(dynamo.doc, pipeline.tableName).pending('game_rounds');
      expect(backlog.length).toBeGreaterThan(0);
      expect(await new PublicationLedger(dynamo.doc, pipeline.tableName).pending('payments')).toEqual([]);

      const next = await pipeline.runIncremental({ executionName: 'serving-incremental-after-failure' });
      expect(next.status, next.cause).toBe('SUCCEEDED');
      sent.push(...pipeline.publishes.at(-1)!.statements);
      expect(await new PublicationLedger(dynamo.doc, pipeline.tableName).pending('game_rounds')).toEqual([]);
      await expectServingEqualsSource(await lastWatermark());
    });

    it('sends only statements the Trino grammar accepts', () => {
      expect(sent.length).toBeGreaterThan(ALL.length);
      for (const sql of sent) expect(trino.validate(sql), sql).toEqual([]);
    });
  });
}
