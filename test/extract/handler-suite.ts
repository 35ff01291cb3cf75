/**
 * The extraction handlers (extract-window, incremental-sync) end to end on one engine: a synthetic
 * operator database, s3rver, dynalite, and the landed Parquet read back with DuckDB and compared
 * row by row with the source. postgres.test.ts and mysql.test.ts run it, one engine per file,
 * because the handlers build their runtime from the environment once per process.
 *
 * The synthetic history ends three hours before the test starts; the snapshot cutoff is that end,
 * and incremental runs read up to now minus the safety lag, as in production.
 */
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LocalKeyService } from '#shared/adapters/kms-local';
import type { StreamName } from '#shared/canonical';
import type {
  ExtractResult,
  ExtractWindowInput,
  IncrementalSyncInput,
  IncrementalSyncResult,
} from '#shared/contracts/steps';
import { unscaledOf } from '#shared/parquet/decimal-text';
import { loadPseudonymKey } from '#shared/pii/key';
import { INCREMENTAL_LOCK } from '#shared/state/keys';
import { SnapshotIncompleteError } from '#shared/state/snapshots';
import { SyncStateStore } from '#shared/state/store';
import {
  advanceSyntheticOperator,
  createSyntheticOperator,
  syntheticOperatorConfig,
} from '../../synthetic/operator.ts';
import { type Engine, engineUrl, uniqueName } from '../helpers/databases.ts';
import { type DuckDbHandle, openDuckDb } from '../helpers/duckdb.ts';
import {
  comparable,
  DAY,
  type Emf,
  emfDocuments,
  expectedRows,
  getManifest,
  HOUR,
  KMS_KEY_ARN,
  type LandedRow,
  type LocalAws,
  lambdaContext,
  latestPerKey,
  MINUTE,
  openSourceDb,
  pseudonym,
  readLanded,
  type SourceDb,
  type SourceRow,
  setHandlerEnv,
  startLocalAws,
  sumOf,
  syntheticExpectation,
  wallText,
  windowPartKeys,
} from './fixtures.ts';

type ExtractWindowModule = typeof import('../../lambdas/extract-window/handler.ts');
type IncrementalModule = typeof import('../../lambdas/incremental-sync/handler.ts');
type SyntheticStream = 'payments' | 'game_rounds' | 'players';

/** Source table and landed key of the synthetic streams used here (the cursor is `modified_ts`). */
const STREAMS: Record<SyntheticStream, { table: string; key: string }> = {
  payments: { table: 'cashier_transactions', key: 'payment_id' },
  game_rounds: { table: 'game_rounds', key: 'round_id' },
  players: { table: 'customers', key: 'player_id' },
};
const CURSOR = 'modified_ts';
const OPERATOR = 'synthetic-casino';
const LOOKBACK = 60 * MINUTE;
const SAFETY_LAG = 60_000;
/** CONNECTOR_TIME_RESERVE_MS of the handlers. */
const RESERVE_MS = 60_000;

const iso = (ms: number) => new Date(ms).toISOString();

function complete<T extends ExtractResult | IncrementalSyncResult>(result: T): Extract<T, { status: 'complete' }> {
  if (result.status !== 'complete') throw new Error(`expected a complete result, got ${result.status}`);
  return result as Extract<T, { status: 'complete' }>;
}

const withoutRunId = (rows: readonly LandedRow[]) => rows.map(({ _run_id: _, ...rest }) => rest);

/** Defines the handler tests of one engine. */
export function describeHandlers(engine: Engine, available: boolean): void {
  describe.skipIf(!available)(
    `extraction handlers on ${engine === 'postgres' ? 'PostgreSQL' : 'MariaDB/MySQL'}`,
    () => {
      const url = engineUrl(engine);
      const schema = uniqueName(`extract_${engine}`);
      const started = Date.now();
      /** End of the synthetic history and cutoff of the snapshot (whole minutes). */
      const H0 = Math.floor((started - 3 * HOUR) / MINUTE) * MINUTE;
      const SNAP = 'snap-1';

      let aws: LocalAws;
      let duck: DuckDbHandle;
      let db: SourceDb;
      let store: SyncStateStore;
      let config: Record<string, unknown>;
      let pseudonymKey: Buffer;
      let extract: ExtractWindowModule;
      let incremental: IncrementalModule;
      /** What the fake Lambda context reports as time left (middy also times the invocation out by it). */
      let remaining = 900_000;
      const context: Context = lambdaContext(() => remaining);
      /** EMF documents the handlers printed, in order. */
      const emitted: Emf[] = [];

      /**
       * Runs handlers (through their middy wrappers, as Lambda does) with stdout and stderr captured:
       * the EMF metrics are kept, Powertools' warnings are dropped. Not reentrant: run concurrent
       * invocations inside one call.
       */
      async function captured<T>(fn: () => Promise<T>): Promise<T> {
        const writes: string[] = [];
        const keep = (chunk: string | Uint8Array) => {
          writes.push(String(chunk));
          return true;
        };
        const out = vi.spyOn(process.stdout, 'write').mockImplementation(keep);
        const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
        try {
          return await fn();
        } finally {
          out.mockRestore();
          err.mockRestore();
          emitted.push(...emfDocuments(writes));
        }
      }
      const runWindow = (event: ExtractWindowInput) => captured(() => extract.handler(event, context));
      const runIncremental = (event: IncrementalSyncInput) => captured(() => incremental.handler(event, context));
      const runIncrementals = (events: readonly IncrementalSyncInput[]) =>
        captured(() => Promise.all(events.map((event) => incremental.handler(event, context))));

      /** Compares the landed rows of `manifestKeys` with the source rows of [from, to). */
      async function expectLandedExactly(
        stream: SyntheticStream,
        runId: string,
        manifestKeys: readonly string[],
        from: number,
        to: number,
      ): Promise<{ landed: LandedRow[]; source: SourceRow[] }> {
        const { table, key } = STREAMS[stream];
        const source = await db.rowsInRange(table, CURSOR, new Date(from), new Date(to));
        const landed = await readLanded(aws, duck, manifestKeys);
        const expected = expectedRows(syntheticExpectation(config, stream, pseudonymKey, runId), source);
        expect(landed.rows).toHaveLength(source.length);
        expect(comparable(landed.rows, key)).toEqual(comparable(expected, key));
        const extractedAt = landed.rows.map((r) => Number(r._extracted_at));
        expect(Math.min(...extractedAt)).toBeGreaterThanOrEqual(started);
        expect(Math.max(...extractedAt)).toBeLessThanOrEqual(Date.now());
        const rowCount = landed.manifests.reduce((n, m) => n + m.rowCount, 0);
        expect(rowCount).toBe(source.length);
        return { landed: landed.rows, source };
      }

      beforeAll(async () => {
        [aws, duck] = await Promise.all([startLocalAws(), openDuckDb()]);
        await createSyntheticOperator({ engine, url, schema, players: 30, days: 3, now: new Date(H0), seed: 7 });
        config = syntheticOperatorConfig({ engine, url, schema, operatorId: OPERATOR });
        const { keyFile } = await setHandlerEnv({ aws, config, sourceUrl: url, reserveMs: RESERVE_MS });
        extract = await import('../../lambdas/extract-window/handler.ts');
        incremental = await import('../../lambdas/incremental-sync/handler.ts');
        store = new SyncStateStore(aws.dynamo.doc, aws.table);
        db = await openSourceDb(engine, schema);
        // Created here, read back by the handlers: the key the expected pseudonyms are computed with.
        pseudonymKey = await loadPseudonymKey({
          keys: new LocalKeyService({ keyFile, operatorId: OPERATOR }),
          store,
          keyId: KMS_KEY_ARN,
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
        duck?.close();
        await aws?.stop();
      });

      const windowEvent = (
        stream: StreamName,
        windowId: string,
        from: number,
        to: number,
        snapshotId = SNAP,
      ): ExtractWindowInput => ({ snapshotId, runId: snapshotId, stream, windowId, from: iso(from), to: iso(to) });

      const snapshotWindows = [
        windowEvent('payments', 'w1', H0 - DAY, H0),
        windowEvent('game_rounds', 'w1', H0 - DAY, H0),
        windowEvent('players', 'w1', H0 - DAY, H0),
        windowEvent('payments', 'w-empty', Date.parse('2001-01-01T00:00:00Z'), Date.parse('2001-01-02T00:00:00Z')),
      ];

      it('lands snapshot windows of payments, game_rounds and players exactly and marks them done', async () => {
        await store.snapshots.start({
          snapshotId: SNAP,
          cutoff: new Date(H0),
          streams: ['payments', 'game_rounds', 'players'],
          windows: snapshotWindows.map((w) => ({ ...w, from: new Date(w.from), to: new Date(w.to) })),
        });
        const [payments, rounds, players] = snapshotWindows as [
          ExtractWindowInput,
          ExtractWindowInput,
          ExtractWindowInput,
        ];

        const paymentsResult = complete(await runWindow(payments));
        const playersResult = complete(await runWindow(players));

        // Less time left than the reserve: the window stops after its first batch and returns a
        // continuation, saved in the sync state.
        remaining = RESERVE_MS / 2;
        const first = await runWindow(rounds);
        remaining = 900_000;
        if (first.status !== 'continue') throw new Error('game_rounds should have continued');
        expect(first.continuation.after).toMatch(/^v1\./);
        const [saved] = await store.snapshots.listWindows(SNAP, { stream: 'game_rounds' });
        expect(saved).toMatchObject({ status: 'running', continuation: first.continuation });
        const roundsResult = complete(
          await runWindow({ ...rounds, continuation: JSON.parse(JSON.stringify(first.continuation)) }),
        );

        const results = { payments: paymentsResult, game_rounds: roundsResult, players: playersResult };
        const landed: Partial<Record<SyntheticStream, LandedRow[]>> = {};
        for (const stream of ['payments', 'game_rounds', 'players'] as const) {
          const result = results[stream];
          const { landed: rows, source } = await expectLandedExactly(stream, SNAP, [result.manifestKey], H0 - DAY, H0);
          expect(source.length).toBeGreaterThan(stream === 'players' ? 0 : 20);
          expect(result.rows).toBe(source.length);
          expect(result.reconciliation).toMatchObject({ ok: true, sourceRows: String(source.length) });
          landed[stream] = rows;
        }
        expect(first.rows).toBeGreaterThan(0);
        expect(first.rows).toBeLessThanOrEqual(roundsResult.rows);

        // Exact money: the manifest's sums are the sums of the landed values and of the source.
        const manifest = await getManifest(aws, paymentsResult.manifestKey);
        const amount = sumOf(landed.payments!, 'amount', 2);
        expect(manifest?.moneySums.amount).toBe(amount);
        expect(unscaledOf(paymentsResult.reconciliation.sums.amount!.source, 2)).toBe(unscaledOf(amount, 2));
        const roundsManifest = await getManifest(aws, roundsResult.manifestKey);
        for (const field of ['stake', 'payout', 'bonus_stake']) {
          expect(roundsManifest?.moneySums[field]).toBe(sumOf(landed.game_rounds!, field, 2));
        }

        // The Parquet types an independent reader sees.
        const types = (await readLanded(aws, duck, [paymentsResult.manifestKey])).types;
        expect(types).toMatchObject({
          payment_id: 'VARCHAR',
          player_id: 'VARCHAR',
          amount: 'DECIMAL(18,2)',
          updated_at: 'TIMESTAMP WITH TIME ZONE',
          _cursor: 'TIMESTAMP WITH TIME ZONE',
          _cursor_us: 'BIGINT',
          _source_seq: 'BIGINT',
          _deleted: 'BOOLEAN',
        });
        expect(Object.keys(types)).not.toContain('card_last4');
        const playerTypes = (await readLanded(aws, duck, [playersResult.manifestKey])).types;
        expect(playerTypes.vip_level).toBe('INTEGER');
        expect(Object.keys(playerTypes)).not.toContain('birth_date');

        // One pseudonym per player across streams.
        const byStream = (rows: readonly LandedRow[]) => new Set(rows.map((r) => String(r.player_id)));
        const shared = [...byStream(landed.players!)].filter((p) => byStream(landed.payments!).has(p));
        expect(shared.length).toBeGreaterThan(0);
        for (const p of shared) expect(p).toMatch(/^[0-9a-f]{64}$/);

        const windows = await store.snapshots.listWindows(SNAP);
        for (const stream of ['payments', 'game_rounds', 'players'] as const) {
          const w = windows.find((x) => x.stream === stream && x.windowId === 'w1');
          expect(w).toMatchObject({
            status: 'done',
            rows: results[stream].rows,
            manifestKey: results[stream].manifestKey,
          });
          expect(w?.continuation).toBeUndefined();
        }
        expect(windows.find((x) => x.stream === 'game_rounds')?.attempts).toBe(2);
      });

      it('commits an empty window with a manifest of 0 rows', async () => {
        const result = complete(await runWindow(snapshotWindows[3]!));
        expect(result.rows).toBe(0);
        expect(result.reconciliation.ok).toBe(true);
        expect(result.reconciliation.sourceRows).toBe('0');
        expect(unscaledOf(result.reconciliation.sums.amount!.landed, 2)).toBe(0n);
        const manifest = await getManifest(aws, result.manifestKey);
        expect(manifest).toMatchObject({ rowCount: 0, parts: [], minCursor: null, maxCursor: null });
        expect(await windowPartKeys(aws, 'payments', SNAP, 'w-empty')).toEqual([]);
        const [w] = (await store.snapshots.listWindows(SNAP)).filter((x) => x.windowId === 'w-empty');
        expect(w?.status).toBe('done');
      });

      let W1 = 0;
      let run1: LandedRow[] = [];

      it('starts incremental syncs at the snapshot cutoff minus the lookback and emits its metrics as EMF', async () => {
        const completed = await store.snapshots.complete(SNAP);
        expect(completed.watermarks.payments).toEqual({ advanced: true, current: new Date(H0) });

        const mark = emitted.length;
        const result = complete(await runIncremental({ runId: 'incr-1', stream: 'payments' }));
        expect(result.range.from).toBe(iso(H0 - LOOKBACK));
        W1 = Date.parse(result.watermark!);
        expect(result.range.to).toBe(result.watermark);
        expect(W1).toBeGreaterThan(H0);
        expect(W1).toBeLessThanOrEqual(Date.now() - SAFETY_LAG);
        expect(await store.watermarks.get('payments')).toEqual(new Date(W1));

        const { landed, source } = await expectLandedExactly(
          'payments',
          'incr-1',
          [result.manifestKey],
          H0 - LOOKBACK,
          W1,
        );
        expect(source.length).toBeGreaterThan(0);
        run1 = landed;

        const emf = emitted.slice(mark);
        // The run's metrics, and the schema check's SchemaDriftColumns (0: nothing changed) in a document of its own.
        expect(emf).toHaveLength(2);
        expect(emf.filter((d) => 'SchemaDriftColumns' in d)).toEqual([
          expect.objectContaining({ Stream: 'payments', SchemaDriftColumns: 0 }),
        ]);
        const doc = emf.find((d) => 'RowsExtracted' in d)!;
        const directive = doc._aws.CloudWatchMetrics[0]!;
        expect(directive.Namespace).toBe('IGamingConnector');
        expect(directive.Metrics.map((m) => m.Name)).toEqual(
          expect.arrayContaining([
            'RowsExtracted',
            'BytesWritten',
            'WindowDurationMs',
            'FreshnessLagSeconds',
            'ReconciliationMismatch',
            'UnmappedValues',
          ]),
        );
        expect(doc).toMatchObject({ Operator: `${OPERATOR}-sandbox`, Stream: 'payments', ReconciliationMismatch: 0 });
        expect(doc.RowsExtracted).toBe(source.length);
        // Measured against the snapshot's digest of [H0 − lookback, H0): nothing was committed late.
        expect(result.lateness).toEqual({ rows: 0, maxLatenessSeconds: 0 });
        expect(doc).toMatchObject({ LateRows: 0, MaxLatenessSeconds: 0 });
        expect(doc.FreshnessLagSeconds).toBeGreaterThanOrEqual(SAFETY_LAG / 1000);
        expect(doc.FreshnessLagSeconds).toBeLessThan(600);
      });

      it('catches a late-committed row through the lookback and lands both versions of an updated row', async () => {
        // New activity since the last run, plus a payment committed late with a cursor 35 minutes before the watermark.
        const advanced = await advanceSyntheticOperator({
          engine,
          url,
          schema,
          seed: 7,
          from: new Date(W1 - 20 * MINUTE),
          to: new Date(W1),
          lateByMs: 15 * MINUTE,
        });
        expect(advanced.lateKey).toBeDefined();
        const lateCursor = W1 - 35 * MINUTE;
        // The newest payment of the last run is refunded before the next run.
        const updated = [...run1].sort((a, b) => Number(b._cursor) - Number(a._cursor))[0]!;
        const updatedKey = String(updated.payment_id);
        await db.exec(
          `UPDATE ${db.table('cashier_transactions')} SET txn_status = ${db.p(1)}, modified_ts = ${db.p(2)} WHERE txn_id = ${db.p(3)}`,
          ['REFUNDED', wallText(W1 - 5 * MINUTE), updatedKey],
        );

        const result = complete(await runIncremental({ runId: 'incr-2', stream: 'payments' }));
        expect(result.range.from).toBe(iso(W1 - LOOKBACK));
        const W2 = Date.parse(result.watermark!);
        expect(W2).toBeGreaterThan(W1);
        const { landed: run2 } = await expectLandedExactly(
          'payments',
          'incr-2',
          [result.manifestKey],
          W1 - LOOKBACK,
          W2,
        );

        // Late arrivals, measured: every version of [W1 − lookback, W1) that incr-1 did not read
        // (the new activity, the late payment, the refund), late by W1 − its cursor.
        const readBefore = new Set(run1.map((r) => `${r.payment_id}|${r._cursor_us}`));
        const lateVersions = run2.filter(
          (r) =>
            Number(r._cursor) >= W1 - LOOKBACK &&
            Number(r._cursor) < W1 &&
            !readBefore.has(`${r.payment_id}|${r._cursor_us}`),
        );
        expect(lateVersions.length).toBeGreaterThan(2);
        const maxLateness = Math.max(...lateVersions.map((r) => (W1 * 1000 - Number(r._cursor_us)) / 1e6));
        expect(maxLateness).toBe(35 * 60);
        expect(result.lateness).toEqual({ rows: lateVersions.length, maxLatenessSeconds: maxLateness });
        const recorded = (await store.watermarks.getState('payments')).lateness;
        expect(recorded).toMatchObject({
          runs: 2,
          rows: lateVersions.length,
          maxSeconds: maxLateness,
          lastRunId: 'incr-2',
        });
        const doc = emitted.at(-1)!;
        expect(doc).toMatchObject({
          Stream: 'payments',
          LateRows: lateVersions.length,
          MaxLatenessSeconds: maxLateness,
        });

        const late = run2.filter((r) => r.payment_id === advanced.lateKey);
        expect(late).toHaveLength(1);
        expect(late[0]?._cursor).toBe(lateCursor);
        expect(lateCursor).toBeLessThan(W1);
        expect(run1.some((r) => r.payment_id === advanced.lateKey)).toBe(false);

        const versions = [...run1, ...run2]
          .filter((r) => r.payment_id === updatedKey)
          .sort((a, b) => Number(a._cursor) - Number(b._cursor));
        expect(versions).toHaveLength(2);
        expect(versions[0]).toMatchObject({ _run_id: 'incr-1', _cursor: updated._cursor, status: updated.status });
        expect(versions[1]).toMatchObject({ _run_id: 'incr-2', _cursor: W1 - 5 * MINUTE, status: 'refunded' });

        // Latest _cursor per key over both runs is the source's current state of those keys.
        const current = latestPerKey([...run1, ...run2], 'payment_id');
        const keys = new Set(current.map((r) => String(r.payment_id)));
        const sourceNow = (await db.rows(`SELECT * FROM ${db.table('cashier_transactions')}`)).filter((r) =>
          keys.has(String(r.txn_id)),
        );
        const expected = expectedRows(syntheticExpectation(config, 'payments', pseudonymKey, ''), sourceNow);
        expect(withoutRunId(comparable(current, 'payment_id'))).toEqual(
          withoutRunId(comparable(expected, 'payment_id')),
        );
      });

      it('never moves the watermark backwards', async () => {
        const before = (await store.watermarks.get('payments'))!;
        const replay = complete(
          await runIncremental({
            runId: 'incr-replay',
            stream: 'payments',
            range: { from: iso(H0 - LOOKBACK), to: iso(H0) },
          }),
        );
        expect(replay.watermark).toBe(before.toISOString());
        expect(await store.watermarks.get('payments')).toEqual(before);
        expect(await store.watermarks.advance('payments', new Date(H0), 'manual')).toEqual({
          advanced: false,
          current: before,
        });
      });

      it.runIf(engine === 'postgres')(
        'holds the range end behind a transaction still open on PostgreSQL, and records it',
        async () => {
          const pg = await import('pg');
          const writer = new pg.default.Client({ connectionString: url });
          await writer.connect();
          try {
            await writer.query('BEGIN');
            const [{ started }] = (
              await writer.query(
                `SELECT floor(extract(epoch FROM xact_start) * 1000)::bigint AS started FROM pg_stat_activity WHERE pid = pg_backend_pid()`,
              )
            ).rows as [{ started: string }];
            // A write gives the transaction an id: it may commit rows the watermark must not pass.
            await writer.query(
              `UPDATE "${schema}".cashier_transactions SET txn_status = txn_status WHERE txn_id = (SELECT min(txn_id) FROM "${schema}".cashier_transactions)`,
            );
            await new Promise((resolve) => setTimeout(resolve, 1500));
            const before = Date.now();
            const result = complete(await runIncremental({ runId: 'incr-held', stream: 'payments' }));
            const to = Date.parse(result.range.to);
            // Without the holdback the end would be now − safety lag, after the transaction's start − margin.
            expect(before - SAFETY_LAG).toBeGreaterThan(Number(started) - 60_000);
            expect(to).toBeLessThanOrEqual(Number(started) - 60_000);
            expect(result.heldBackSeconds).toBeGreaterThan(0);
            const state = await store.watermarks.getState('payments');
            expect(state.holdback).toMatchObject({ runId: 'incr-held', visibility: 'all' });
            expect(state.holdback?.heldBackSeconds).toBe(result.heldBackSeconds);
            expect(emitted.at(-1)).toMatchObject({ WatermarkHeldBackSeconds: result.heldBackSeconds });
          } finally {
            await writer.query('ROLLBACK').catch(() => undefined);
            await writer.end();
          }
        },
      );

      it('runs one incremental sync per operator at a time; the other is skipped and lands nothing', async () => {
        const before = (await store.watermarks.get('payments'))!;
        const results = await runIncrementals([
          { runId: 'incr-3a', stream: 'payments' },
          { runId: 'incr-3b', stream: 'payments' },
        ]);
        expect(results.map((r) => r.status).sort()).toEqual(['complete', 'skipped']);
        const winner = results.findIndex((r) => r.status === 'complete');
        const [winRun, loseRun] = winner === 0 ? ['incr-3a', 'incr-3b'] : ['incr-3b', 'incr-3a'];
        const manifests = (await aws.s3.listKeys(aws.bucket, '_manifests/payments/')).filter((k) =>
          k.includes('/incr-3'),
        );
        expect(manifests).toHaveLength(1);
        expect(manifests[0]).toMatch(new RegExp(`^_manifests/payments/${winRun}/incr/[^/]+\\.json$`));
        expect(await windowPartKeys(aws, 'payments', loseRun, 'incr')).toEqual([]);
        expect((await store.watermarks.get('payments'))!.getTime()).toBeGreaterThan(before.getTime());
        expect(await store.locks.get(INCREMENTAL_LOCK)).toBeUndefined();

        // A run of the state machine holds the lock: a direct invocation is skipped.
        expect(await store.locks.acquire(INCREMENTAL_LOCK, 'state-machine-run', 60)).toBe(true);
        const skipped = await runIncremental({ runId: 'incr-4', stream: 'payments' });
        expect(skipped).toMatchObject({ status: 'skipped', stream: 'payments' });
        expect(await aws.s3.listKeys(aws.bucket, '_manifests/payments/incr-4/')).toEqual([]);
        expect(await store.locks.release(INCREMENTAL_LOCK, 'state-machine-run')).toBe(true);
      });

      it('orders two versions of one player landed 800 µs apart, and a rewrite at the same cursor, by (_cursor_us, _source_seq)', async () => {
        const [player] = await db.rows(
          `SELECT customer_id, kyc_state, account_state FROM ${db.table('customers')} ORDER BY customer_id LIMIT 1`,
        );
        const id = String(player!.customer_id);
        const pseudonymId = pseudonym(pseudonymKey, id);
        // Versions 800 µs apart within one millisecond, well inside the next runs' ranges.
        const at = Math.floor((Date.now() - 10 * MINUTE) / 1000) * 1000;
        const v1 = `${wallText(at)}100`;
        const v2 = `${wallText(at)}900`;
        const setPlayer = (sets: string, values: readonly string[]) =>
          db.exec(`UPDATE ${db.table('customers')} SET ${sets} WHERE customer_id = ${db.p(values.length + 1)}`, [
            ...values,
            id,
          ]);
        const dbStarted = BigInt(Date.now() - MINUTE) * 1000n;

        await setPlayer(`kyc_state = ${db.p(1)}, modified_ts = ${db.p(2)}`, ['PENDING', v1]);
        const first = complete(await runIncremental({ runId: 'incr-v1', stream: 'players' }));
        await setPlayer(`kyc_state = ${db.p(1)}, modified_ts = ${db.p(2)}`, ['OK', v2]);
        const second = complete(await runIncremental({ runId: 'incr-v2', stream: 'players' }));
        // A change that leaves the cursor as it was: only the read order tells the versions apart.
        await setPlayer(`account_state = ${db.p(1)}`, ['BLOCKED']);
        const third = complete(await runIncremental({ runId: 'incr-v3', stream: 'players' }));
        const manifests = [first.manifestKey, second.manifestKey, third.manifestKey];

        const versions = (await readLanded(aws, duck, manifests)).rows
          .filter((r) => r.player_id === pseudonymId)
          .sort((a, b) => String(a._run_id).localeCompare(String(b._run_id)));
        expect(versions.map((r) => [r._run_id, r.kyc_status, r.status])).toEqual([
          ['incr-v1', 'pending', expect.any(String)],
          ['incr-v2', 'verified', expect.any(String)],
          ['incr-v3', 'verified', 'suspended'],
        ]);
        // Milliseconds cannot tell them apart; microseconds and the read order can.
        expect(new Set(versions.map((r) => r._cursor))).toEqual(new Set([at]));
        const base = BigInt(at) * 1000n;
        expect(versions.map((r) => r._cursor_us)).toEqual([
          String(base + 100n),
          String(base + 900n),
          String(base + 900n),
        ]);
        const seqs = versions.map((r) => BigInt(String(r._source_seq)));
        expect(seqs[0]! < seqs[1]! && seqs[1]! < seqs[2]!).toBe(true);
        // The database's transaction start in µs since the epoch (the test database runs on this machine).
        expect(seqs[0]! > dbStarted && seqs[2]! < BigInt(Date.now() + MINUTE) * 1000n).toBe(true);

        // The current version by the documented order, as an independent reader computes it, is the source's row.
        const current = (await readLanded(aws, duck, manifests, { currentBy: 'player_id' })).rows.filter(
          (r) => r.player_id === pseudonymId,
        );
        const sourceNow = await db.rows(`SELECT * FROM ${db.table('customers')} WHERE customer_id = ${db.p(1)}`, [id]);
        const expected = expectedRows(syntheticExpectation(config, 'players', pseudonymKey, 'incr-v3'), sourceNow);
        expect(comparable(current, 'player_id')).toEqual(comparable(expected, 'player_id'));
        expect(latestPerKey(versions, 'player_id')).toEqual([versions[2]]);
      });

      it('fails a window whose value does not fit its landed type with a CoercionError, and publishes nothing', async () => {
        const widen =
          engine === 'postgres'
            ? [
                `ALTER TABLE ${db.table('cashier_transactions')} ALTER COLUMN amount TYPE numeric(18,3)`,
                `ALTER TABLE ${db.table('customers')} ALTER COLUMN vip_tier TYPE bigint`,
              ]
            : [
                `ALTER TABLE ${db.table('cashier_transactions')} MODIFY COLUMN amount decimal(18,3)`,
                `ALTER TABLE ${db.table('customers')} MODIFY COLUMN vip_tier bigint`,
              ];
        for (const sql of widen) await db.exec(sql);
        const at = '2002-03-01 12:00:00';
        await db.insert(
          'cashier_transactions',
          [
            'txn_id',
            'customer_id',
            'txn_type',
            'payment_method',
            'amount',
            'currency_code',
            'txn_status',
            'requested_ts',
            'modified_ts',
          ],
          [['990000001', 'C0000001', 'DEP', 'card', '12.345', 'EUR', 'APPROVED', at, at]],
        );
        await db.insert(
          'customers',
          [
            'customer_id',
            'signup_ts',
            'modified_ts',
            'country_code',
            'currency_code',
            'account_state',
            'kyc_state',
            'vip_tier',
          ],
          [['C9999999', at, at, 'MT', 'EUR', 'ACTIVE', 'OK', '3000000000']],
        );
        const from = Date.parse('2002-03-01T00:00:00Z');
        const bad = [
          windowEvent('payments', 'w-bad', from, from + DAY, 'snap-bad'),
          windowEvent('players', 'w-bad', from, from + DAY, 'snap-bad'),
        ] as const;
        await store.snapshots.start({
          snapshotId: 'snap-bad',
          cutoff: new Date(from + DAY),
          streams: ['payments', 'players'],
          windows: bad.map((w) => ({ ...w, from: new Date(w.from), to: new Date(w.to) })),
        });

        const failure = async (event: ExtractWindowInput) =>
          runWindow(event).then(
            () => undefined,
            (error: unknown) => error as Error & Record<string, unknown>,
          );
        const mark = emitted.length;
        const amount = await failure(bad[0]);
        expect(amount).toMatchObject({
          name: 'CoercionError',
          operatorId: OPERATOR,
          stream: 'payments',
          column: 'amount',
        });
        expect(amount?.message).toContain(`${OPERATOR}/payments: amount (column amount): value "12.345"`);
        const vip = await failure(bad[1]);
        expect(vip).toMatchObject({
          name: 'CoercionError',
          operatorId: OPERATOR,
          stream: 'players',
          column: 'vip_tier',
        });
        expect(vip?.message).toContain(`${OPERATOR}/players: vip_level (column vip_tier): value "3000000000"`);

        const failures = emitted.slice(mark);
        expect(failures.map((d) => [d.Stream, d.ExtractFailures])).toEqual([
          ['payments', 1],
          ['players', 1],
        ]);

        const windows = await store.snapshots.listWindows('snap-bad');
        expect(windows.map((w) => [w.stream, w.status])).toEqual([
          ['payments', 'failed'],
          ['players', 'failed'],
        ]);
        for (const w of windows) expect(w.error).toMatch(/^CoercionError: /);
        for (const stream of ['payments', 'players'] as const) {
          expect(await aws.s3.listKeys(aws.bucket, `_manifests/${stream}/snap-bad/`)).toEqual([]);
          expect(await windowPartKeys(aws, stream, 'snap-bad', 'w-bad')).toEqual([]);
        }
        await expect(store.snapshots.complete('snap-bad')).rejects.toBeInstanceOf(SnapshotIncompleteError);
      });
    },
  );
}
