/**
 * Committed-only visibility end to end on one engine: what a reader of the catalogued landed tables
 * (`<stream>_landed`, as the synthesized Glue definitions say Athena reads them) sees when windows
 * and runs fail, through the synthesized state machines with the real handlers. Nothing of a window
 * or run that did not commit may be visible — after a coercion error with a partition already
 * closed, after an incremental run that failed following a continuation (and after later runs),
 * after an execution aborted mid-window — and the landing sweep removes what such attempts left.
 * visibility-postgres.test.ts and visibility-mysql.test.ts run it, one engine per file.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { StreamName } from '#shared/canonical';
import type { ExtractResult } from '#shared/contracts/steps';
import { gridWindows } from '#shared/pipeline/window-grid';
import { keys } from '#shared/state/keys';
import { type DynaliteHandle, type S3rverHandle, startDynalite, startS3rver } from '../../local/engines.ts';
import { landedTableFiles, type TableFile } from '../../local/lake.ts';
import { createLocalPipeline, type LocalPipeline } from '../../local/pipeline-runner.ts';
import type { LambdaHandler } from '../../local/sfn-harness.ts';
import { createSyntheticOperator, syntheticOperatorConfig } from '../../synthetic/operator.ts';
import { DAY, HOUR, MINUTE, openSourceDb, type SourceDb, wallText } from '../extract/fixtures.ts';
import { type Engine, engineUrl, uniqueName } from '../helpers/databases.ts';
import { type DuckDbHandle, openDuckDb, parquetSource } from '../helpers/duckdb.ts';
import { silenceMetricsWarnings } from '../helpers/quiet-metrics.ts';

const OPERATOR = 'visible-casino';
const HISTORY_DAYS = 8;
const SNAPSHOT_DAYS = 7;
/** Windows of three whole UTC dates: the first is closed before a row of the third is read. */
const WINDOW_HOURS = 72;
const BAD_AMOUNT = '12.3456789';

type SweepModule = typeof import('../../lambdas/sweep-landing/handler.ts');

/** Defines the visibility tests of one engine. */
export function describeVisibility(engine: Engine, available: boolean): void {
  describe.skipIf(!available)(
    `committed-only visibility on ${engine === 'postgres' ? 'PostgreSQL' : 'MariaDB/MySQL'}`,
    () => {
      const url = engineUrl(engine);
      const schema = uniqueName(`vis_${engine}`);
      const H0 = Math.floor((Date.now() - 2 * HOUR) / MINUTE) * MINUTE;

      let s3: S3rverHandle;
      let dynamo: DynaliteHandle;
      let pipeline: LocalPipeline;
      let db: SourceDb;
      let duck: DuckDbHandle;
      let scratch: string;
      let sweep: SweepModule;

      /** The files a reader of `<stream>_landed` scans. */
      const visibleFiles = (stream: StreamName): Promise<TableFile[]> =>
        landedTableFiles(s3.client, pipeline.synthesized, stream);

      /** Rows of `<stream>_landed` with their partition, as the catalog makes them visible. */
      async function visibleRows(
        stream: StreamName,
        key: string,
      ): Promise<{ key: string; run: string; window: string }[]> {
        const files = await visibleFiles(stream);
        if (files.length === 0) return [];
        const dir = await mkdtemp(join(scratch, 'visible-'));
        try {
          const paths = await s3.download(
            pipeline.bucket,
            files.map((f) => f.key),
            dir,
          );
          const byPath = new Map(paths.map((p, i) => [p, files[i]!.partition]));
          const rows = await duck.query(
            `SELECT CAST("${key}" AS VARCHAR) AS k, filename AS f FROM ${parquetSource(paths, 'filename = true')}`,
          );
          return rows.map((r) => {
            const partition = byPath.get(String(r.f))!;
            return { key: String(r.k), run: partition.run_id!, window: partition.window_id! };
          });
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }

      /** Every part under raw/ of one run of a stream, of any attempt. */
      const rawParts = async (stream: StreamName, runId: string) =>
        (await s3.listKeys(pipeline.bucket, `raw/${stream}/${runId}/`)).filter((k) => k.endsWith('.parquet'));

      /** Widens a money column so the source can hold a value with more decimals than the mapping's scale. */
      /**
       * A source column wider than its mapping, as if it had always been (its stream's column
       * fingerprint is forgotten, so the schema check sees no retype): only a value can then fail,
       * with a CoercionError in the window or run that reads it.
       */
      async function widen(table: string, column: string, stream: StreamName): Promise<void> {
        await db.exec(
          engine === 'postgres'
            ? `ALTER TABLE ${db.table(table)} ALTER COLUMN ${db.q(column)} TYPE numeric(20,7)`
            : `ALTER TABLE ${db.table(table)} MODIFY ${db.q(column)} decimal(20,7)`,
        );
        await dynamo.doc.send(new DeleteCommand({ TableName: pipeline.tableName, Key: keys.schema(stream) }));
      }

      beforeAll(async () => {
        silenceMetricsWarnings();
        [s3, dynamo] = await Promise.all([startS3rver(), startDynalite()]);
        scratch = await mkdtemp(join(tmpdir(), 'e2e-visibility-'));
        await createSyntheticOperator({
          engine,
          url,
          schema,
          players: 25,
          days: HISTORY_DAYS,
          now: new Date(H0),
          seed: 5,
        });
        const base = syntheticOperatorConfig({ engine, url, schema, operatorId: OPERATOR });
        const config = {
          ...base,
          snapshot: { ...(base.snapshot as object), days: SNAPSHOT_DAYS, windowHours: WINDOW_HOURS },
        };
        pipeline = await createLocalPipeline({
          config,
          engines: { s3, dynamo, source: { url } },
          // Every invocation stops after one batch (10,000 rows) and continues in the next one.
          env: { CONNECTOR_TIME_RESERVE_MS: '900000' },
          shortenWaits: true,
        });
        sweep = await import('../../lambdas/sweep-landing/handler.ts');
        [db, duck] = await Promise.all([openSourceDb(engine, schema), openDuckDb()]);
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
        await pipeline?.close();
        await Promise.allSettled([s3?.stop(), dynamo?.stop()]);
        if (scratch) await rm(scratch, { recursive: true, force: true });
        vi.restoreAllMocks();
      });

      it('shows nothing of a window that fails after closing a partition, sweeps its parts, and shows it once fixed', async () => {
        // The last full 72-hour window of the snapshot: three whole UTC dates.
        const cutoff = Math.floor((Date.now() - 60_000) / HOUR) * HOUR;
        const windows = gridWindows(new Date(cutoff - SNAPSHOT_DAYS * DAY), new Date(cutoff), WINDOW_HOURS).filter(
          (w) => w.to.getTime() - w.from.getTime() === WINDOW_HOURS * HOUR,
        );
        const target = windows.at(-1)!;
        // 10,050 more payments spread over the window's three dates, the last of them (on the third
        // date, read in a later batch than the first date's rows) with a value the mapping's
        // DECIMAL(18,2) cannot hold.
        await widen('cashier_transactions', 'amount', 'payments');
        const [{ id: maxId }] = (await db.rows(
          `SELECT max(txn_id) AS id FROM ${db.table('cashier_transactions')}`,
        )) as [{ id: string }];
        const [{ customer_id: player }] = (await db.rows(
          `SELECT customer_id FROM ${db.table('customers')} ORDER BY customer_id LIMIT 1`,
        )) as [{ customer_id: string }];
        const firstId = BigInt(maxId) + 1n;
        const extra = 10_050;
        const span = WINDOW_HOURS * HOUR - 2 * HOUR;
        const payments: (string | number | null)[][] = [];
        for (let i = 0; i < extra; i++) {
          const at = wallText(target.from.getTime() + HOUR + Math.floor((i * span) / extra));
          const amount = i === extra - 1 ? BAD_AMOUNT : '10.00';
          payments.push([
            (firstId + BigInt(i)).toString(),
            player,
            'DEP',
            'card',
            amount,
            'EUR',
            'APPROVED',
            at,
            at,
            '4242',
          ]);
        }
        const paymentColumns = [
          'txn_id',
          'customer_id',
          'txn_type',
          'payment_method',
          'amount',
          'currency_code',
          'txn_status',
          'requested_ts',
          'modified_ts',
          'card_last4',
        ];
        for (let i = 0; i < payments.length; i += 1000) {
          await db.insert('cashier_transactions', paymentColumns, payments.slice(i, i + 1000));
        }
        const badId = (firstId + BigInt(extra - 1)).toString();
        const inWindow = await db.rowsInRange('cashier_transactions', 'modified_ts', target.from, target.to);
        expect(inWindow.length).toBeGreaterThan(extra);

        const failed = await pipeline.runSnapshot({}, { executionName: 'vis-snapshot' });
        expect(failed.status).toBe('FAILED');
        expect(failed.cause).toContain(`stream payments window ${target.windowId} (CoercionError`);
        const snapshotId = failed.snapshotId!;
        // The failed attempt stored the part of the window's first date before it read the bad row ...
        const stray = await rawParts('payments', snapshotId);
        const ofTarget = stray.filter((k) => k.includes(`/${target.windowId}/`));
        expect(ofTarget.length).toBeGreaterThan(0);
        expect(ofTarget.some((k) => k.includes(`/dt=${target.from.toISOString().slice(0, 10)}/`))).toBe(true);
        // ... yet no reader of the catalog sees a row of it; the other windows are visible.
        const visible = await visibleRows('payments', 'payment_id');
        expect(visible.filter((r) => r.window === target.windowId)).toEqual([]);
        expect(visible.length).toBeGreaterThan(0);
        expect(new Set(visible.map((r) => r.run))).toEqual(new Set([snapshotId]));

        // The sweep keeps the attempt during its grace period, then removes it (and nothing visible).
        const early = await sweep.sweepLanding({ streams: ['payments'] });
        expect(early.streams[0]).toMatchObject({ strayAttempts: 0, deletedObjects: 0 });
        expect(early.streams[0]!.pendingAttempts).toBeGreaterThan(0);
        const swept = await sweep.sweepLanding({ streams: ['payments'], graceHours: 0 });
        expect(swept.streams[0]).toMatchObject({ strayAttempts: 1, deletedObjects: ofTarget.length + 0 });
        expect((await rawParts('payments', snapshotId)).filter((k) => k.includes(`/${target.windowId}/`))).toEqual([]);
        expect(await visibleRows('payments', 'payment_id')).toEqual(visible);

        // Fixed at the source, the resumed snapshot lands the window once.
        await db.exec(`UPDATE ${db.table('cashier_transactions')} SET amount = 12.34 WHERE txn_id = ${badId}`);
        const resumed = await pipeline.runSnapshot({ snapshotId }, { executionName: 'vis-snapshot-resume' });
        expect(resumed.status).toBe('SUCCEEDED');
        const after = (await visibleRows('payments', 'payment_id')).filter((r) => r.window === target.windowId);
        expect(after.map((r) => r.key).sort()).toEqual(inWindow.map((r) => String(r.txn_id)).sort());
      });

      it('never shows an incremental run that failed after a continuation, also after the next runs', async () => {
        await widen('bonus_awards', 'amount', 'bonuses');
        const watermark = (await pipeline.store.watermarks.get('bonuses'))!;
        const [{ id: maxId }] = (await db.rows(`SELECT max(award_id) AS id FROM ${db.table('bonus_awards')}`)) as [
          { id: string },
        ];
        const [{ customer_id: player }] = (await db.rows(
          `SELECT customer_id FROM ${db.table('customers')} ORDER BY customer_id LIMIT 1`,
        )) as [{ customer_id: string }];
        // 10,020 good awards after the watermark, then one with a value the mapping cannot hold.
        const first = BigInt(maxId) + 1n;
        const rows: (string | number | null)[][] = [];
        for (let i = 0; i < 10_021; i++) {
          // Inside the lookback before the watermark: the next run reads them whatever the time of day.
          const at = wallText(watermark.getTime() - 10 * MINUTE + i);
          rows.push([
            (first + BigInt(i)).toString(),
            player,
            'FREE_SPINS',
            i === 10_020 ? BAD_AMOUNT : '5.00',
            '0.00',
            'EUR',
            'GRANTED',
            at,
            at,
            at,
          ]);
        }
        const columns = [
          'award_id',
          'customer_id',
          'bonus_kind',
          'amount',
          'wager_req',
          'currency_code',
          'award_state',
          'granted_ts',
          'expires_ts',
          'modified_ts',
        ];
        for (let i = 0; i < rows.length; i += 1000) await db.insert('bonus_awards', columns, rows.slice(i, i + 1000));

        const failing = await pipeline.runIncremental({ executionName: 'vis-incremental-1' });
        expect(failing.status).toBe('FAILED');
        expect(failing.cause).toMatch(/bonuses \(CoercionError/);
        const failedRun = failing.begin && failing.begin.status === 'acquired' ? failing.begin.runId : '';
        expect(failedRun).toMatch(/^incr-/);
        // The first invocation closed a 10,000-row part before the second one failed on the bad value.
        const continued = failing.streams.filter((r) => r.stream === 'bonuses' && r.status === 'continue');
        expect(continued.length).toBeGreaterThan(0);
        const failedParts = await rawParts('bonuses', failedRun);
        expect(failedParts.length).toBeGreaterThan(0);
        expect(await pipeline.store.watermarks.get('bonuses')).toEqual(watermark);
        const inserted = new Set(rows.map((r) => String(r[0])));
        const visibleInserted = async () =>
          (await visibleRows('bonuses', 'bonus_id')).filter((r) => inserted.has(r.key));
        expect(await visibleInserted()).toEqual([]);

        await db.exec(`UPDATE ${db.table('bonus_awards')} SET amount = 5.00 WHERE award_id = ${first + 10_020n}`);
        for (const name of ['vis-incremental-2', 'vis-incremental-3']) {
          const ok = await pipeline.runIncremental({ executionName: name });
          expect(ok.status).toBe('SUCCEEDED');
        }
        const landed = await visibleInserted();
        expect(landed.some((r) => r.run === failedRun)).toBe(false);
        // Each committed run that read the rows holds each of them once.
        const byRun = new Map<string, string[]>();
        for (const r of landed) byRun.set(r.run, [...(byRun.get(r.run) ?? []), r.key]);
        expect(byRun.size).toBeGreaterThan(0);
        for (const keys of byRun.values()) expect(keys.sort()).toEqual([...inserted].sort());
        // The failed run's part is still stored (invisible) until the sweep removes it.
        expect(await rawParts('bonuses', failedRun)).toEqual(failedParts);
        const swept = await sweep.sweepLanding({ streams: ['bonuses'], graceHours: 0 });
        expect(swept.streams[0]!.deletedObjects).toBeGreaterThanOrEqual(failedParts.length);
        expect(await rawParts('bonuses', failedRun)).toEqual([]);
      });

      it('shows nothing of windows an aborted execution left unfinished', async () => {
        const stop = new AbortController();
        let replayRun = '';
        const inflight = new Set<Promise<unknown>>();
        const abortAfterFirst =
          (real: LambdaHandler): LambdaHandler =>
          async (event, context) => {
            const call = Promise.resolve(real(event, context));
            inflight.add(call);
            try {
              const result = (await call) as ExtractResult;
              replayRun = (event as { runId: string }).runId;
              if (result.status === 'continue') stop.abort();
              return result;
            } finally {
              inflight.delete(call);
            }
          };
        const replay = await pipeline.runSnapshot(
          { from: new Date(H0 - 3 * DAY).toISOString(), to: new Date(H0).toISOString(), streams: ['game_rounds'] },
          { executionName: 'vis-replay', signal: stop.signal, wrap: { extractWindow: abortAfterFirst } },
        );
        expect(replay.status).toBe('ABORTED');
        // Invocations running when the execution stopped finish on their own, as in Lambda.
        await Promise.allSettled([...inflight]);
        expect(replayRun).toMatch(/^replay-/);
        const stored = await rawParts('game_rounds', replayRun);
        expect(stored.length).toBeGreaterThan(0);
        const visible = await visibleRows('game_rounds', 'round_id');
        expect(visible.filter((r) => r.run === replayRun)).toEqual([]);
        const swept = await sweep.sweepLanding({ streams: ['game_rounds'], graceHours: 0 });
        expect(swept.streams[0]!.deletedObjects).toBe(stored.length);
        expect(await rawParts('game_rounds', replayRun)).toEqual([]);
        expect(await visibleRows('game_rounds', 'round_id')).toEqual(visible);
      });
    },
  );
}
