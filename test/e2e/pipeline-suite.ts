/**
 * The operator's pipelines end to end on one engine: the synthesized snapshot and incremental state
 * machines executed locally (local/pipeline-runner.ts) with the real handlers in-process, against a
 * synthetic operator database, s3rver and dynalite. Every landed Parquet object is read back with
 * DuckDB and compared with the source, using expectations computed independently of the
 * connector (test/extract/fixtures.ts). postgres.test.ts and mysql.test.ts run it, one engine per
 * file, because the handlers read their environment once per process.
 *
 * The tests run in order on one operator: a snapshot stopped half-way and resumed (with a window
 * that fails once), incremental runs after inserts, updates and late-committed rows, an
 * incremental run that finds the lock taken, a replay with a window that fails every time, a
 * replay that fails on a bad source value until it is fixed, and players with a NULL cursor that
 * are reported by every run and land once they get one.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LocalKeyService } from '#shared/adapters/kms-local';
import type { StreamName } from '#shared/canonical';
import type { ExtractResult, ExtractWindowInput } from '#shared/contracts/steps';
import { loadPseudonymKey } from '#shared/pii/key';
import { SourceConnectionError } from '#shared/sources/errors';
import { INCREMENTAL_LOCK, keys } from '#shared/state/keys';
import { type DynaliteHandle, type S3rverHandle, startDynalite, startS3rver } from '../../local/engines.ts';
import { landedTableFiles } from '../../local/lake.ts';
import {
  createLocalPipeline,
  type IncrementalRun,
  type LocalPipeline,
  SNAPSHOT_STATES,
  type SnapshotRun,
} from '../../local/pipeline-runner.ts';
import { IntegrationError, type LambdaHandler } from '../../local/sfn-harness.ts';
import {
  addNullCursorPlayers,
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
  latestPerKey,
  MINUTE,
  openSourceDb,
  pseudonym,
  type SourceDb,
  syntheticExpectation,
  wallText,
  wallToUtcMs,
} from '../extract/fixtures.ts';
import { type Engine, engineUrl, uniqueName } from '../helpers/databases.ts';
import { type DuckDbHandle, openDuckDb, parquetSource } from '../helpers/duckdb.ts';
import { silenceMetricsWarnings } from '../helpers/quiet-metrics.ts';

/** The synthetic operator's tables as the acme-casino mapping lands them (written out independently). */
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
const ALL_STREAMS = Object.keys(STREAMS) as StreamName[];
/** The streams compared column by column with the documented mapping. */
const MAPPED = ['payments', 'game_rounds', 'players'] as const;
const OPERATOR = 'e2e-casino';
const SNAPSHOT_DAYS = 3;
/** CONNECTOR_MAX_WINDOWS_PER_EXECUTION of plan-snapshot. */
const WINDOWS_PER_EXECUTION = 10;
const LOOKBACK = 60 * MINUTE;
const SAFETY_LAG = 60_000;
/** Players whose cursor is NULL in the source: never landed, reported by every run. */
const NULL_CURSOR_PLAYERS = 3;

type Range = { readonly from: number; readonly to: number };
/** Row versions of one stream as the source held them: landed key → cursor (UTC ms). */
type SourceState = Record<StreamName, Map<string, number>>;

const iso = (ms: number) => new Date(ms).toISOString();
const versionId = (key: string, cursor: number) => `${key}@${cursor}`;
const withoutRunId = (rows: readonly LandedRow[]) => rows.map(({ _run_id: _, ...rest }) => rest);

/** Defines the pipeline tests of one engine. */
export function describePipeline(engine: Engine, available: boolean): void {
  describe.skipIf(!available)(
    `snapshot and incremental state machines on ${engine === 'postgres' ? 'PostgreSQL' : 'MariaDB/MySQL'}`,
    () => {
      const url = engineUrl(engine);
      const schema = uniqueName(`e2e_${engine}`);
      /** End of the synthetic history: two hours ago, so incremental runs have time to move through. */
      const H0 = Math.floor((Date.now() - 2 * HOUR) / MINUTE) * MINUTE;

      let s3: S3rverHandle;
      let dynamo: DynaliteHandle;
      let pipeline: LocalPipeline;
      let config: Record<string, unknown>;
      let db: SourceDb;
      let duck: DuckDbHandle;
      let scratch: string;
      let pseudonymKey: Buffer;
      let snapshotId = '';
      let nullCursorKeys: string[] = [];
      let start = 0;
      let cutoff = 0;

      /** The landed key of a source key (player ids are pseudonymized). */
      const landedKey = (stream: StreamName, key: string) =>
        stream === 'players' ? pseudonym(pseudonymKey, key) : key;

      /** Every version of every stream in the source now. */
      async function readSource(): Promise<Record<StreamName, { key: string; cursor: number }[]>> {
        const out = {} as Record<StreamName, { key: string; cursor: number }[]>;
        for (const stream of ALL_STREAMS) {
          const { table, sourceKey, cursor } = STREAMS[stream];
          const rows = await db.rows(
            `SELECT ${db.q(sourceKey)} AS k, ${db.q(cursor)} AS c FROM ${db.table(table)} WHERE ${db.q(cursor)} IS NOT NULL`,
          );
          out[stream] = rows.map((r) => ({ key: String(r.k), cursor: wallToUtcMs(String(r.c)) }));
        }
        return out;
      }

      function toState(source: Awaited<ReturnType<typeof readSource>>): SourceState {
        const state = {} as SourceState;
        for (const stream of ALL_STREAMS) {
          state[stream] = new Map(source[stream].map((v) => [landedKey(stream, v.key), v.cursor]));
        }
        return state;
      }

      /** Every landed row of a stream as a reader of the catalogued landed table sees it (committed windows). */
      async function readAllLanded(stream: StreamName, runId?: string): Promise<LandedRow[]> {
        const keys = (await landedTableFiles(s3.client, pipeline.synthesized, stream))
          .filter((f) => runId === undefined || f.partition.run_id === runId)
          .map((f) => f.key);
        if (keys.length === 0) return [];
        const dir = await mkdtemp(join(scratch, 'landed-'));
        try {
          const paths = await s3.download(pipeline.bucket, keys, dir);
          const source = parquetSource(paths, 'hive_partitioning = false');
          const described = await duck.query(`DESCRIBE SELECT * FROM ${source}`);
          const types = Object.fromEntries(described.map((d) => [String(d.column_name), String(d.column_type)]));
          const select = Object.entries(types).map(([name, type]) => {
            const c = `"${name}"`;
            if (type.startsWith('TIMESTAMP')) return `epoch_ms(${c}) AS ${c}`;
            if (type.startsWith('DECIMAL') || type === 'DATE' || type === 'BOOLEAN')
              return `CAST(${c} AS VARCHAR) AS ${c}`;
            return c;
          });
          const rows = await duck.query(`SELECT ${select.join(', ')} FROM ${source}`);
          return rows.map((row) =>
            Object.fromEntries(
              Object.entries(row).map(([name, value]) => [
                name,
                value === null
                  ? null
                  : types[name]?.startsWith('TIMESTAMP')
                    ? Number(value)
                    : (value as string | number),
              ]),
            ),
          );
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }

      /** The source rows of a mapped stream with a cursor in [from, to), as the documented mapping lands them. */
      async function expectedLanded(stream: (typeof MAPPED)[number], runId: string, range: Range) {
        const { table, cursor } = STREAMS[stream];
        const source = await db.rowsInRange(table, cursor, new Date(range.from), new Date(range.to));
        return expectedRows(syntheticExpectation(config, stream, pseudonymKey, runId), source);
      }

      /** Records extract-window calls; `inflight` holds the invocations not finished yet. */
      function extractRecorder(behaviour: (event: ExtractWindowInput, attempt: number) => 'before' | 'after' | null) {
        const calls: ExtractWindowInput[] = [];
        const attempts = new Map<string, number>();
        const inflight = new Set<Promise<unknown>>();
        let completed = 0;
        const listeners: ((completed: number) => void)[] = [];
        const wrap =
          (real: LambdaHandler): LambdaHandler =>
          async (raw, context) => {
            const event = raw as ExtractWindowInput;
            calls.push(event);
            const id = `${event.stream}/${event.windowId}`;
            const attempt = (attempts.get(id) ?? 0) + 1;
            attempts.set(id, attempt);
            const fault = behaviour(event, attempt);
            if (fault === 'before') {
              throw new SourceConnectionError('Connection terminated unexpectedly', {
                context: { operatorId: OPERATOR, stream: event.stream },
              });
            }
            const call = Promise.resolve(real(raw, context));
            inflight.add(call);
            try {
              const result = (await call) as ExtractResult;
              // The response is lost after the window landed: the Lambda service error is retried.
              if (fault === 'after') throw new IntegrationError('Lambda.ServiceException', 'Service unavailable');
              completed++;
              for (const listener of listeners) listener(completed);
              return result;
            } finally {
              inflight.delete(call);
            }
          };
        return {
          wrap,
          calls,
          attempts,
          settle: () => Promise.allSettled([...inflight]),
          onCompleted: (listener: (completed: number) => void) => listeners.push(listener),
        };
      }

      const retried = (run: SnapshotRun, state: string) =>
        run.executions.reduce(
          (sum, e) => sum + e.events.filter((x) => x.type === 'StateRetried' && x.state.name === state).length,
          0,
        );

      /** The landed data of the snapshot so far: versions in [start, cutoff) of `state`, one copy each. */
      async function expectSnapshotLanded(state: SourceState): Promise<void> {
        for (const stream of ALL_STREAMS) {
          const rows = await readAllLanded(stream);
          const versions = rows.map((r) => versionId(String(r[STREAMS[stream].key]), Number(r._cursor)));
          const expected = [...state[stream]]
            .filter(([, cursor]) => cursor >= start && cursor < cutoff)
            .map(([key, cursor]) => versionId(key, cursor));
          expect(new Set(versions).size, `${stream}: one copy of each row`).toBe(versions.length);
          expect(versions.sort(), stream).toEqual(expected.sort());
        }
        for (const stream of MAPPED) {
          const rows = await readAllLanded(stream);
          const expected = await expectedLanded(stream, snapshotId, { from: start, to: cutoff });
          expect(comparable(rows, STREAMS[stream].key), stream).toEqual(comparable(expected, STREAMS[stream].key));
        }
      }

      beforeAll(async () => {
        // Powertools Metrics warns on its own console when a flush has no metrics (they are disabled here).
        silenceMetricsWarnings();
        [s3, dynamo] = await Promise.all([startS3rver(), startDynalite()]);
        scratch = await mkdtemp(join(tmpdir(), 'e2e-pipeline-'));
        await createSyntheticOperator({
          engine,
          url,
          schema,
          players: 20,
          days: SNAPSHOT_DAYS,
          now: new Date(H0),
          seed: 11,
        });
        nullCursorKeys = await addNullCursorPlayers({ engine, url, schema }, NULL_CURSOR_PLAYERS);
        config = syntheticOperatorConfig({ engine, url, schema, operatorId: OPERATOR });
        config = { ...config, snapshot: { ...(config.snapshot as object), days: SNAPSHOT_DAYS } };
        pipeline = await createLocalPipeline({
          config,
          engines: { s3, dynamo, source: { url } },
          // Fewer windows per execution than a snapshot has: executions continue one another.
          env: { CONNECTOR_MAX_WINDOWS_PER_EXECUTION: String(WINDOWS_PER_EXECUTION) },
          shortenWaits: true,
        });
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

      let atSnapshot: SourceState;

      it('resumes a snapshot stopped half-way, retries a window that fails once, and lands every row once', async () => {
        const before = await readSource();
        // A window whose database session drops, and one whose response is lost after it landed.
        let flaky = '';
        let lost = '';
        const stop = new AbortController();
        const first = extractRecorder(() => null);
        first.onCompleted((completed) => {
          if (completed === 8) stop.abort();
        });
        const stopped = await pipeline.runSnapshot(
          {},
          { executionName: 'e2e-first-snapshot', signal: stop.signal, wrap: { extractWindow: first.wrap } },
        );
        await first.settle();
        expect(stopped.status).toBe('ABORTED');
        snapshotId = stopped.snapshotId ?? '';
        expect(snapshotId).toMatch(/^snap-/);
        const meta = await pipeline.store.snapshots.get(snapshotId);
        cutoff = meta!.cutoff.getTime();
        start = cutoff - SNAPSHOT_DAYS * DAY;
        expect(meta).toMatchObject({ status: 'running', streams: ALL_STREAMS });
        // The last whole hour before the execution started, minus the safety lag.
        expect(cutoff % HOUR).toBe(0);
        expect(cutoff).toBeLessThanOrEqual(Date.now() - SAFETY_LAG);
        expect(cutoff).toBeGreaterThan(Date.now() - SAFETY_LAG - 2 * HOUR);

        const windows = await pipeline.store.snapshots.listWindows(snapshotId);
        const doneBefore = windows.filter((w) => w.status === 'done').map((w) => `${w.stream}/${w.windowId}`);
        const pending = windows.filter((w) => w.status !== 'done');
        expect(doneBefore.length).toBeGreaterThanOrEqual(8);
        expect(pending.length).toBeGreaterThanOrEqual(2);
        flaky = `${pending[0]!.stream}/${pending[0]!.windowId}`;
        lost = `${pending.at(-1)!.stream}/${pending.at(-1)!.windowId}`;
        expect(await pipeline.store.watermarks.get('payments')).toBeUndefined();

        const resume = extractRecorder((e, attempt) => {
          const id = `${e.stream}/${e.windowId}`;
          if (attempt > 1) return null;
          return id === flaky ? 'before' : id === lost ? 'after' : null;
        });
        const resumed = await pipeline.runSnapshot({ snapshotId }, { wrap: { extractWindow: resume.wrap } });
        expect(resumed.error).toBeUndefined();
        expect(resumed.status).toBe('SUCCEEDED');
        expect(resumed.finalize).toMatchObject({ status: 'completed', snapshotId, windows: windows.length, failed: 0 });
        // The resume ran its windows in executions of at most WINDOWS_PER_EXECUTION, each starting the next.
        expect(resumed.executions).toHaveLength(Math.ceil(pending.length / WINDOWS_PER_EXECUTION));
        expect(resumed.executions.length).toBeGreaterThan(1);
        for (const e of resumed.executions) expect(e.status).toBe('SUCCEEDED');

        // Only the windows not done were extracted again; the two faulty ones twice.
        const resumedIds = resume.calls.map((c) => `${c.stream}/${c.windowId}`);
        expect(new Set(resumedIds)).toEqual(new Set(pending.map((w) => `${w.stream}/${w.windowId}`)));
        for (const id of doneBefore) expect(resumedIds).not.toContain(id);
        expect(resume.attempts.get(flaky)).toBe(2);
        expect(resume.attempts.get(lost)).toBe(2);
        expect(retried(resumed, SNAPSHOT_STATES.extract)).toBe(2);
        for (const c of resume.calls) expect(c.runId).toBe(snapshotId);

        const after = await pipeline.store.snapshots.listWindows(snapshotId);
        expect(after.every((w) => w.status === 'done')).toBe(true);
        for (const stream of ALL_STREAMS) expect((await pipeline.store.watermarks.get(stream))?.getTime()).toBe(cutoff);

        pseudonymKey = await loadPseudonymKey({
          keys: new LocalKeyService({
            keyFile: pipeline.environment.CONNECTOR_LOCAL_KMS_KEY_FILE!,
            operatorId: OPERATOR,
          }),
          store: pipeline.store,
          keyId: pipeline.environment.CONNECTOR_KMS_KEY_ARN!,
          cache: false,
        });
        atSnapshot = toState(before);
        expect([...atSnapshot.game_rounds.values()].filter((c) => c >= start && c < cutoff).length).toBeGreaterThan(50);
        await expectSnapshotLanded(atSnapshot);

        // The players with a NULL cursor did not land; the snapshot counted them once, when planned.
        expect(nullCursorKeys).toHaveLength(NULL_CURSOR_PLAYERS);
        const players = new Set((await readAllLanded('players')).map((r) => String(r.player_id)));
        for (const key of nullCursorKeys) expect(players.has(landedKey('players', key))).toBe(false);
        const counts = Object.fromEntries(ALL_STREAMS.map((s) => [s, s === 'players' ? NULL_CURSOR_PLAYERS : 0]));
        expect((await pipeline.store.snapshots.get(snapshotId))?.nullCursorRows).toEqual(counts);
        expect(await pipeline.store.watermarks.getState('players')).toMatchObject({
          nullCursorRows: NULL_CURSOR_PLAYERS,
          nullCursorRunId: snapshotId,
        });
        expect(resumed.finalize?.nullCursorRows).toEqual(counts);
        expect(resumed.finalize?.summary).toContain(
          `not landed: rows with a NULL cursor (players ${NULL_CURSOR_PLAYERS})`,
        );
      });

      let afterRuns: SourceState;
      let lastRanges: Map<string, Range>;

      it('lands inserts, updates and late-committed rows in incremental runs, so the current view equals the source', async () => {
        expect(snapshotId).not.toBe('');
        const observations: { state: SourceState; ranges: Map<string, Range> }[] = [
          { state: atSnapshot, ranges: new Map(ALL_STREAMS.map((s) => [s, { from: start, to: cutoff }])) },
        ];
        const watermark = new Map<string, number>(ALL_STREAMS.map((s) => [s, cutoff]));
        const lateKeys: string[] = [];
        let updatedPayments = 0;
        let from = cutoff - 30 * MINUTE;
        const runs: IncrementalRun[] = [];
        for (const lateByMs of [20 * MINUTE, 10 * MINUTE]) {
          const to = Math.floor((Date.now() - SAFETY_LAG - 5000) / 1000) * 1000;
          const advance = await advanceSyntheticOperator({
            engine,
            url,
            schema,
            seed: 11,
            from: new Date(from),
            to: new Date(to),
            lateByMs,
          });
          expect(advance.lateKey).toBeDefined();
          lateKeys.push(advance.lateKey!);
          updatedPayments += advance.updated.cashier_transactions ?? 0;
          const state = toState(await readSource());
          // The synthetic back office may give a NULL-cursor player a cursor (a KYC update).
          const [nulls] = await db.rows(`SELECT count(*) AS n FROM ${db.table('customers')} WHERE modified_ts IS NULL`);
          const nullCursorPlayers = Number(nulls?.n);
          expect(nullCursorPlayers).toBeGreaterThan(0);
          const run = await pipeline.runIncremental();
          expect(run.error).toBeUndefined();
          expect(run.status).toBe('SUCCEEDED');
          expect(run.begin).toMatchObject({ status: 'acquired' });
          expect(run.end).toMatchObject({ released: true, failed: 0 });
          const ranges = new Map<string, Range>();
          for (const r of run.streams) {
            expect(r.status).toBe('complete');
            if (r.status !== 'complete') continue;
            const range = { from: Date.parse(r.range.from), to: Date.parse(r.range.to) };
            expect(range.from, r.stream).toBe(watermark.get(r.stream)! - LOOKBACK);
            expect(range.to).toBeGreaterThanOrEqual(to);
            expect(range.to).toBeLessThanOrEqual(Date.now() - SAFETY_LAG);
            expect(r.reconciliation.ok).toBe(true);
            expect((await pipeline.store.watermarks.get(r.stream))?.getTime()).toBe(range.to);
            ranges.set(r.stream, range);
            watermark.set(r.stream, range.to);
          }
          expect([...ranges.keys()].sort()).toEqual([...ALL_STREAMS].sort());
          // Every run counts the rows it can never land, per stream, and says so in its output.
          for (const r of run.streams.filter((x) => x.status === 'complete')) {
            expect(r.nullCursorRows, r.stream).toBe(r.stream === 'players' ? nullCursorPlayers : 0);
          }
          expect(run.end?.nullCursorRows).toMatchObject({ players: nullCursorPlayers, payments: 0 });
          expect(run.end?.summary).toContain(`not landed: rows with a NULL cursor (players ${nullCursorPlayers})`);
          expect(await pipeline.store.watermarks.getState('players')).toMatchObject({
            nullCursorRows: nullCursorPlayers,
            nullCursorRunId: run.begin?.status === 'acquired' ? run.begin.runId : '?',
          });
          observations.push({ state, ranges });
          runs.push(run);
          from = to;
        }
        expect(updatedPayments).toBeGreaterThan(0);
        expect(await pipeline.store.locks.get(INCREMENTAL_LOCK)).toBeUndefined();

        // Every row version present when a run started, in that run's range, landed; nothing else did.
        for (const stream of ALL_STREAMS) {
          const expected = new Set<string>();
          for (const o of observations) {
            const range = o.ranges.get(stream)!;
            for (const [key, cursor] of o.state[stream]) {
              if (cursor >= range.from && cursor < range.to) expected.add(versionId(key, cursor));
            }
          }
          const landed = new Set(
            (await readAllLanded(stream)).map((r) => versionId(String(r[STREAMS[stream].key]), Number(r._cursor))),
          );
          expect([...landed].sort(), stream).toEqual([...expected].sort());
        }

        // The current view (latest version per key) equals the source now, column by column.
        afterRuns = observations.at(-1)!.state;
        lastRanges = observations.at(-1)!.ranges;
        for (const stream of MAPPED) {
          const key = STREAMS[stream].key;
          const current = latestPerKey(await readAllLanded(stream), key);
          const expected = await expectedLanded(stream, 'any', { from: start, to: lastRanges.get(stream)!.to });
          expect(comparable(withoutRunId(current), key), stream).toEqual(comparable(withoutRunId(expected), key));
        }
        const payments = latestPerKey(await readAllLanded('payments'), 'payment_id');
        for (const late of lateKeys) {
          const row = payments.find((p) => p.payment_id === late);
          expect(row, `late payment ${late}`).toBeDefined();
          expect(String(row?._run_id)).toMatch(/^incr-/);
        }
      });

      it('skips an incremental run while another run holds the lock, and leaves the lock and watermarks alone', async () => {
        expect(afterRuns).toBeDefined();
        const before = await Promise.all(ALL_STREAMS.map((s) => pipeline.store.watermarks.get(s)));
        expect(await pipeline.store.locks.acquire(INCREMENTAL_LOCK, 'other-run', 1200)).toBe(true);
        try {
          const run = await pipeline.runIncremental({ executionName: 'e2e-while-locked' });
          expect(run.status).toBe('SUCCEEDED');
          expect(run.output).toMatchObject({ skipped: 'locked', holder: 'other-run' });
          expect(run.begin).toMatchObject({ status: 'locked', holder: 'other-run' });
          expect(run.streams).toEqual([]);
          expect(run.end).toBeUndefined();
          expect((await pipeline.store.locks.get(INCREMENTAL_LOCK))?.owner).toBe('other-run');
          expect(await Promise.all(ALL_STREAMS.map((s) => pipeline.store.watermarks.get(s)))).toEqual(before);
        } finally {
          await pipeline.store.locks.release(INCREMENTAL_LOCK, 'other-run');
        }
      });

      it('fails a replay naming the window that fails every time, keeps the other windows, and a re-run redoes only it', async () => {
        const replayTo = start + 2 * DAY;
        const request = { from: iso(start), to: iso(replayTo), streams: ['payments', 'game_rounds'] };
        const broken = (e: ExtractWindowInput) => e.stream === 'payments' && Date.parse(e.to) === replayTo;
        const failing = extractRecorder((e) => (broken(e) ? 'before' : null));
        const failed = await pipeline.runSnapshot(request, {
          executionName: 'e2e-replay',
          wrap: { extractWindow: failing.wrap },
        });
        expect(failed.status).toBe('FAILED');
        expect(failed.error).toBe('SnapshotFailed');
        const replayId = failed.snapshotId!;
        expect(replayId).toMatch(/^replay-/);
        const brokenCall = failing.calls.find(broken)!;
        expect(brokenCall).toBeDefined();
        const brokenId = brokenCall.windowId;
        expect(failed.cause).toContain(
          `snapshot ${replayId} failed: 1 window(s) failed: stream payments window ${brokenId} (SourceConnectionError`,
        );
        expect(failed.cause).toContain(`{"snapshotId": "${replayId}"}`);
        const entered = failed.executions[0]!.events.filter((e) => e.type === 'StateEntered').map((e) => e.state.name);
        expect(entered).toContain(SNAPSHOT_STATES.failed);
        expect(entered).not.toContain(SNAPSHOT_STATES.completed);
        // Retried as the definition says for a lost session, then given up.
        const extractState = (pipeline.synthesized.definitions.snapshot as { States: Record<string, unknown> }).States;
        const map = Object.values(extractState).find(
          (s) => (s as { ItemProcessor?: unknown }).ItemProcessor !== undefined,
        ) as {
          ItemProcessor: { States: Record<string, { Retry?: { ErrorEquals: string[]; MaxAttempts?: number }[] }> };
        };
        const retry = map.ItemProcessor.States[SNAPSHOT_STATES.extract]!.Retry!.find((r) =>
          r.ErrorEquals.includes('SourceConnectionError'),
        );
        expect(failing.attempts.get(`payments/${brokenId}`)).toBe(1 + (retry?.MaxAttempts ?? 3));

        const windows = await pipeline.store.snapshots.listWindows(replayId);
        expect(windows.filter((w) => w.status !== 'done').map((w) => `${w.stream}/${w.windowId}:${w.status}`)).toEqual([
          `payments/${brokenId}:failed`,
        ]);
        expect(await pipeline.store.snapshots.get(replayId)).toMatchObject({ status: 'failed' });
        const doneWindows = windows.filter((w) => w.status === 'done');
        expect(doneWindows.length).toBeGreaterThanOrEqual(3);

        // The other windows landed exactly the source rows of their ranges, under the replay's id.
        for (const stream of ['payments', 'game_rounds'] as const) {
          const key = STREAMS[stream].key;
          const landed = await readAllLanded(stream, replayId);
          const ranges = doneWindows.filter((w) => w.stream === stream);
          const expected: LandedRow[] = [];
          for (const w of ranges) {
            expected.push(...(await expectedLanded(stream, replayId, { from: w.from.getTime(), to: w.to.getTime() })));
          }
          expect(comparable(landed, key), stream).toEqual(comparable(expected, key));
        }
        const objects = async () => {
          const keys = [
            ...(await s3.listKeys(pipeline.bucket, 'raw/payments/')),
            ...(await s3.listKeys(pipeline.bucket, 'raw/game_rounds/')),
            ...(await s3.listKeys(pipeline.bucket, `_manifests/payments/${replayId}/`)),
            ...(await s3.listKeys(pipeline.bucket, `_manifests/game_rounds/${replayId}/`)),
          ].filter((k) => k.includes(replayId));
          return Object.fromEntries(
            await Promise.all(
              keys.map(async (k) => {
                const out = await s3.client.send(new GetObjectCommand({ Bucket: pipeline.bucket, Key: k }));
                return [k, out.ETag] as const;
              }),
            ),
          );
        };
        const kept = await objects();

        const rerun = extractRecorder(() => null);
        const completed = await pipeline.runSnapshot({ snapshotId: replayId }, { wrap: { extractWindow: rerun.wrap } });
        expect(completed.error).toBeUndefined();
        expect(completed.finalize).toMatchObject({ status: 'completed', snapshotId: replayId, failed: 0 });
        expect(rerun.calls.map((c) => `${c.stream}/${c.windowId}:${c.runId}`)).toEqual([
          `payments/${brokenId}:${replayId}`,
        ]);
        const now = await objects();
        for (const [k, etag] of Object.entries(kept)) expect(now[k], k).toBe(etag);
        expect(Object.keys(now).length).toBeGreaterThan(Object.keys(kept).length);

        const replayed = await readAllLanded('payments', replayId);
        const expected = await expectedLanded('payments', replayId, { from: start, to: replayTo });
        expect(comparable(replayed, 'payment_id')).toEqual(comparable(expected, 'payment_id'));
        // A replay ends before the watermarks: they stay where the incremental runs left them.
        for (const stream of ALL_STREAMS) {
          expect((await pipeline.store.watermarks.get(stream))?.getTime()).toBe(lastRanges.get(stream)!.to);
        }
      });

      it('fails a snapshot on a bad source value naming the window, fails the same way when resumed unfixed, and completes once the source is fixed', async () => {
        expect(lastRanges).toBeDefined();
        const from = start + DAY;
        const to = start + 2 * DAY;
        // A payment whose amount has more decimals than the mapping's DECIMAL(18,2) can hold.
        // The column is wider than the mapping as if it had always been: its fingerprint is forgotten,
        // so the schema check sees no retype, and only the value fails, with a CoercionError.
        const payments = db.table('cashier_transactions');
        await db.exec(
          engine === 'postgres'
            ? `ALTER TABLE ${payments} ALTER COLUMN amount TYPE numeric(20,6)`
            : `ALTER TABLE ${payments} MODIFY amount decimal(20,6)`,
        );
        await dynamo.doc.send(new DeleteCommand({ TableName: pipeline.tableName, Key: keys.schema('payments') }));
        const badAt = from + 5 * HOUR + 17 * MINUTE;
        const badKey = '990000000001';
        const [player] = await db.rows(`SELECT customer_id FROM ${db.table('customers')} ORDER BY customer_id LIMIT 1`);
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
            'modified_ts',
          ],
          [[badKey, player!.customer_id!, 'DEP', 'card', '12.345679', 'EUR', 'APPROVED', wallText(badAt)]],
        );
        const request = { from: iso(from), to: iso(to), streams: ['payments'] };
        const failing = extractRecorder(() => null);
        const failed = await pipeline.runSnapshot(request, {
          executionName: 'e2e-bad-value',
          wrap: { extractWindow: failing.wrap },
        });
        expect(failed.status).toBe('FAILED');
        expect(failed.error).toBe('SnapshotFailed');
        const replayId = failed.snapshotId!;
        const bad = (await pipeline.store.snapshots.listWindows(replayId)).find((w) => w.status !== 'done')!;
        expect(bad.from.getTime()).toBeLessThanOrEqual(badAt);
        expect(bad.to.getTime()).toBeGreaterThan(badAt);
        const named = `1 window(s) failed: stream payments window ${bad.windowId} (CoercionError – CoercionError:`;
        expect(failed.cause).toContain(named);
        expect(failed.cause).toContain('amount');
        expect(failed.cause).toContain(`{"snapshotId": "${replayId}"}`);
        expect(await pipeline.store.snapshots.get(replayId)).toMatchObject({ status: 'failed' });

        // Resumed without fixing the source: the same window fails with the same error, reported as such.
        const unfixed = extractRecorder(() => null);
        const again = await pipeline.runSnapshot({ snapshotId: replayId }, { wrap: { extractWindow: unfixed.wrap } });
        expect(again.error).toBe('SnapshotFailed');
        expect(again.status).toBe('FAILED');
        expect(again.cause).toContain(named);
        expect(again.finalize).toMatchObject({ status: 'failed', snapshotId: replayId, failed: 1 });
        expect(unfixed.calls.map((c) => `${c.stream}/${c.windowId}`)).toEqual([`payments/${bad.windowId}`]);
        const entered = again.executions[0]!.events.filter((e) => e.type === 'StateEntered').map((e) => e.state.name);
        expect(entered).toContain(SNAPSHOT_STATES.failed);
        expect(entered).not.toContain(SNAPSHOT_STATES.stepFailed);
        expect(await pipeline.store.snapshots.get(replayId)).toMatchObject({ status: 'failed' });
        expect((await pipeline.store.snapshots.get(replayId))?.error).toContain(named);

        // The DBA fixes the value: the resume redoes that window only and the snapshot completes.
        await db.exec(`UPDATE ${payments} SET amount = ${db.p(1)} WHERE txn_id = ${db.p(2)}`, ['12.35', badKey]);
        const fixed = extractRecorder(() => null);
        const completed = await pipeline.runSnapshot({ snapshotId: replayId }, { wrap: { extractWindow: fixed.wrap } });
        expect(completed.error).toBeUndefined();
        expect(completed.finalize).toMatchObject({ status: 'completed', snapshotId: replayId, failed: 0 });
        expect(fixed.calls.map((c) => `${c.stream}/${c.windowId}`)).toEqual([`payments/${bad.windowId}`]);
        expect(await pipeline.store.snapshots.get(replayId)).toMatchObject({ status: 'completed' });
        const landed = await readAllLanded('payments', replayId);
        expect(landed.find((r) => r.payment_id === badKey)).toMatchObject({ amount: '12.35' });
        const expected = await expectedLanded('payments', replayId, { from, to });
        expect(comparable(landed, 'payment_id')).toEqual(comparable(expected, 'payment_id'));
      });

      it('lands the players with a NULL cursor once the DBA gives them one, and the count drops to 0', async () => {
        expect(nullCursorKeys).toHaveLength(NULL_CURSOR_PLAYERS);
        // As the runbook says: the time of the fix, in the source's wall time.
        const fixedAt = Math.floor((Date.now() - SAFETY_LAG - 30_000) / 1000) * 1000;
        await db.exec(`UPDATE ${db.table('customers')} SET modified_ts = ${db.p(1)} WHERE modified_ts IS NULL`, [
          wallText(fixedAt),
        ]);
        const run = await pipeline.runIncremental();
        expect(run.error).toBeUndefined();
        expect(run.status).toBe('SUCCEEDED');
        const players = run.streams.find((r) => r.stream === 'players' && r.status === 'complete');
        expect(players?.nullCursorRows).toBe(0);
        expect(run.end?.summary).not.toContain('NULL cursor');
        expect(await pipeline.store.watermarks.getState('players')).toMatchObject({ nullCursorRows: 0 });
        // Every one of them is now landed at its source cursor (the fix time, or an update since).
        const source = toState(await readSource()).players;
        const landed = latestPerKey(await readAllLanded('players'), 'player_id');
        expect([...source.values()]).toContain(fixedAt);
        for (const key of nullCursorKeys) {
          const row = landed.find((r) => r.player_id === landedKey('players', key));
          expect(row, key).toBeDefined();
          expect(row?._cursor, key).toBe(source.get(landedKey('players', key)));
        }
      });
    },
  );
}
