/**
 * The synthesized snapshot and incremental state machines, executed locally with
 * aws-local-stepfunctions: the real plan-snapshot, finalize-snapshot and run-lock handlers (through
 * their middy wrappers) against dynalite (plan-snapshot also counts NULL cursors in a small
 * synthetic operator database on PostgreSQL), and in-process stand-ins for extract-window and
 * incremental-sync that keep the sync state as the real ones do (the extractors themselves run end
 * to end against the databases in test/extract).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import { type CfnElement, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type {
  Continuation,
  ExtractResult,
  ExtractWindowInput,
  IncrementalSyncInput,
  IncrementalSyncResult,
} from '#shared/contracts/steps';
import { databaseStreams } from '#shared/pipeline/snapshot';
import { SourceConnectionError, SourceQueryError } from '#shared/sources/errors';
import { INCREMENTAL_LOCK, keys } from '#shared/state/keys';
import { SyncStateStore } from '#shared/state/store';
import { INCREMENTAL_STATES, SNAPSHOT_STATES } from '../../../lib/constructs/pipeline/index.ts';
import {
  type CfnTemplate,
  IntegrationError,
  type LambdaHandler,
  resolveDefinition,
  runStateMachine,
  type StateMachineRunResult,
} from '../../../local/sfn-harness.ts';
import { addNullCursorPlayers, createSyntheticOperator } from '../../../synthetic/operator.ts';
import { engineAvailable, engineUrl, uniqueName } from '../../helpers/databases.ts';
import { type DynaliteHandle, startDynalite } from '../../helpers/dynalite.ts';
import { exampleConfig, synthesize } from '../../lib/helpers.ts';

const sourceUrl = engineUrl('postgres');
const source = new URL(sourceUrl);
const schema = uniqueName('sfn');
const config = exampleConfig('acme-casino', [
  [['snapshot', 'days'], 1],
  [['source', 'host'], source.hostname],
  [['source', 'port'], Number(source.port || 5432)],
  [['source', 'database'], decodeURIComponent(source.pathname.slice(1))],
  [['source', 'schema'], schema],
  [['source', 'tls'], 'disable'],
]);
/** Players the synthetic database holds whose cursor (modified_ts) is NULL. */
const NULL_CURSOR_PLAYERS = 2;
const STREAMS = databaseStreams(config);
const SNAPSHOT_MACHINE = 'acme-casino-sandbox-snapshot';
/** Windows per execution, lowered so that a one-day snapshot of 7 streams needs several executions. */
const WINDOWS_PER_EXECUTION = 5;

type Handler = (event: unknown, context: unknown) => Promise<unknown>;

let dynamo: DynaliteHandle;
let dir: string;
let store: SyncStateStore;
let tableName: string;
let definitions: { snapshot: object; incremental: object };
let ids: { plan: string; finalize: string; runLock: string; extract: string; sync: string };
let real: { plan: Handler; finalize: Handler; runLock: Handler };

const logicalId = (c: IConstruct) => Stack.of(c).getLogicalId((c.node.defaultChild ?? c) as CfnElement);

beforeAll(async () => {
  await engineAvailable('postgres');
  await createSyntheticOperator({ engine: 'postgres', url: sourceUrl, schema, players: 3, days: 1, seed: 5 });
  const nullCursor = await addNullCursorPlayers({ engine: 'postgres', url: sourceUrl, schema }, NULL_CURSOR_PLAYERS);
  expect(nullCursor).toHaveLength(NULL_CURSOR_PLAYERS);
  dynamo = await startDynalite();
  tableName = await dynamo.createSyncStateTable();
  store = new SyncStateStore(dynamo.doc, tableName);
  dir = await mkdtemp(join(tmpdir(), 'pipeline-sfn-'));
  const configPath = join(dir, 'operator-config.json');
  await writeFile(configPath, JSON.stringify(config));
  Object.assign(process.env, {
    CONNECTOR_OPERATOR_ID: config.operatorId,
    CONNECTOR_STAGE: config.stage,
    CONNECTOR_BUCKET: 'landing-bucket',
    CONNECTOR_KMS_KEY_ARN: 'arn:aws:kms:eu-west-1:111111111111:key/5d1c2f0e-3b7a-4c39-9d8e-0a1b2c3d4e5f',
    CONNECTOR_STATE_TABLE: tableName,
    CONNECTOR_CONFIG_PATH: configPath,
    CONNECTOR_ADAPTERS: 'local',
    CONNECTOR_LOCAL_KMS_KEY_FILE: join(dir, 'local-kms.key'),
    CONNECTOR_MAX_WINDOWS_PER_EXECUTION: String(WINDOWS_PER_EXECUTION),
    CONNECTOR_SECRET_ID: 'acme-casino-source',
    CONNECTOR_SOURCE_URL: sourceUrl,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_TRACE_ENABLED: 'false',
  });

  const { stack, template } = synthesize(config);
  const pipeline = stack.pipeline;
  const extractors = stack.extractors;
  if (!pipeline || !extractors) throw new Error('the acme stack has no pipeline');
  const cfn = template.toJSON() as CfnTemplate;
  definitions = {
    snapshot: resolveDefinition(cfn, logicalId(pipeline.snapshotStateMachine)),
    incremental: resolveDefinition(cfn, logicalId(pipeline.incrementalStateMachine)),
  };
  ids = {
    plan: logicalId(pipeline.planSnapshot.function),
    finalize: logicalId(pipeline.finalizeSnapshot.function),
    runLock: logicalId(pipeline.runLock.function),
    extract: logicalId(extractors.extractWindow.function),
    sync: logicalId(extractors.incrementalSync.function),
  };
  real = {
    plan: (await import('../../../lambdas/plan-snapshot/handler.ts')).handler as Handler,
    finalize: (await import('../../../lambdas/finalize-snapshot/handler.ts')).handler as Handler,
    runLock: (await import('../../../lambdas/run-lock/handler.ts')).handler as Handler,
  };
}, 60_000);

afterAll(async () => {
  await dynamo?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
  const pg = await import('pg');
  const admin = new pg.default.Client({ connectionString: sourceUrl });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => admin.end());
});

/** Runs an execution with stdout captured; returns the run and the EMF documents printed. */
async function run(
  options: Parameters<typeof runStateMachine>[0],
): Promise<{ run: StateMachineRunResult; emf: Record<string, unknown>[] }> {
  const writes: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    writes.push(String(chunk));
    return true;
  });
  try {
    // Both state machines end by starting the publish state machine (its own tests: test/e2e/serving-*).
    const publishes = { 'states:startExecution.sync:2': () => ({ ExecutionArn: 'arn:publish', Status: 'SUCCEEDED' }) };
    const result = await runStateMachine({
      shortenWaits: true,
      ...options,
      serviceHandlers: { ...publishes, ...options.serviceHandlers },
    });
    const emf = writes
      .flatMap((w) => w.split('\n'))
      .filter((l) => l.startsWith('{') && l.includes('"_aws"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    return { run: result, emf };
  } finally {
    spy.mockRestore();
  }
}

const retried = (r: StateMachineRunResult, state: string) =>
  r.events.filter((e) => e.type === 'StateRetried' && e.state.name === state).length;

/** A completed snapshot in the table, so incremental runs may start. */
async function ensureCompletedSnapshot(): Promise<void> {
  if (await store.snapshots.hasCompleted()) return;
  const snapshotId = `seed-${Date.now()}`;
  await store.snapshots.start({ snapshotId, cutoff: new Date(Date.now() - 3_600_000), streams: STREAMS, windows: [] });
  await store.snapshots.complete(snapshotId);
}

// ------------------------------------------------------------------------------------- extract-window stand-in

interface ExtractBehaviour {
  /** Windows that need one continuation. */
  continues?: (e: ExtractWindowInput) => boolean;
  /** Windows whose first attempt loses the database session. */
  flaky?: (e: ExtractWindowInput) => boolean;
  /** Windows that always fail with a query error. */
  broken?: (e: ExtractWindowInput) => boolean;
}

function fakeExtract(behaviour: ExtractBehaviour) {
  const calls: ExtractWindowInput[] = [];
  const attempts = new Map<string, number>();
  let active = 0;
  let maxActive = 0;
  const handler: LambdaHandler = async (raw) => {
    const e = raw as ExtractWindowInput;
    calls.push(e);
    const key = `${e.stream}/${e.windowId}`;
    attempts.set(key, (attempts.get(key) ?? 0) + 1);
    active++;
    maxActive = Math.max(maxActive, active);
    try {
      await store.snapshots.markWindowRunning(e.snapshotId, e.stream, e.windowId);
      await new Promise((resolve) => setTimeout(resolve, 2));
      if (behaviour.flaky?.(e) && attempts.get(key) === 1) {
        throw new SourceConnectionError('server closed the connection unexpectedly', {
          context: { operatorId: config.operatorId, stream: e.stream },
        });
      }
      if (behaviour.broken?.(e)) {
        const error = new SourceQueryError('column "modified_ts" not found', {
          context: { operatorId: config.operatorId, stream: e.stream },
        });
        await store.snapshots.markWindowFailed(e.snapshotId, e.stream, e.windowId, {
          error: `${error.name}: ${error.message}`,
        });
        throw error;
      }
      if (behaviour.continues?.(e) && !e.continuation) {
        const continuation = {
          after: `sealed:${key}`,
          progress: { rowCount: 7 },
          source: { count: '7', sums: {} },
          invocations: 1,
        } as unknown as Continuation;
        return { status: 'continue', continuation, rows: 7 } satisfies ExtractResult;
      }
      const rows = e.continuation ? 14 : 10;
      await store.snapshots.markWindowDone(e.snapshotId, e.stream, e.windowId, {
        rows,
        bytes: 100,
        manifestKey: `m/${key}`,
      });
      return {
        status: 'complete',
        rows,
        bytes: 100,
        manifestKey: `m/${key}`,
        reconciliation: { ok: true, sourceRows: String(rows), landedRows: String(rows), sums: {} },
      } satisfies ExtractResult;
    } finally {
      active--;
    }
  };
  return { handler, calls, attempts, maxActive: () => maxActive };
}

function snapshotHandlers(extract: LambdaHandler) {
  return {
    [ids.plan]: { handler: real.plan as LambdaHandler, timeoutSeconds: 300 },
    [ids.finalize]: { handler: real.finalize as LambdaHandler, timeoutSeconds: 300 },
    [ids.extract]: extract,
  };
}

describe('SnapshotStateMachine', () => {
  it('extracts every window with bounded concurrency, loops on continuations, retries a lost session, continues in new executions and completes', async () => {
    const extract = fakeExtract({
      continues: (e) => e.stream === 'players',
      flaky: (e) => e.stream === 'bonuses',
    });
    const started: Record<string, unknown>[] = [];
    const serviceHandlers = {
      'states:startExecution': (params: unknown) => {
        started.push(params as Record<string, unknown>);
        return { ExecutionArn: 'arn:aws:states:eu-west-1:111111111111:execution:next', StartDate: Date.now() };
      },
    };
    const runs: StateMachineRunResult[] = [];
    const emf: Record<string, unknown>[] = [];
    let input: unknown = {};
    for (let round = 0; round < 5; round++) {
      const before = started.length;
      const result = await run({
        definition: definitions.snapshot,
        input,
        stateMachineName: SNAPSHOT_MACHINE,
        executionName: round === 0 ? 'first-execution' : String(started.at(-1)?.['Name']),
        region: 'eu-west-1',
        account: '111111111111',
        lambdaHandlers: snapshotHandlers(extract.handler),
        serviceHandlers,
      });
      runs.push(result.run);
      emf.push(...result.emf);
      expect(result.run.error).toBeUndefined();
      expect(result.run.status).toBe('SUCCEEDED');
      if (started.length === before) break;
      input = (started.at(-1) as { Input: unknown }).Input;
    }

    const first = runs[0]?.output as { snapshotId: string; status: string };
    const last = runs.at(-1)?.output as { snapshotId: string; status: string; windows: number; summary: string };
    const snapshotId = first.snapshotId;
    expect(snapshotId).toMatch(/^snap-\d{8}T\d{6}Z-[0-9a-f]{8}$/);
    expect(first.status).toBe('continue');
    expect(last).toMatchObject({ status: 'completed', snapshotId });
    const windows = await store.snapshots.listWindows(snapshotId);
    // One day of 7 streams: 7 or 14 windows depending on the hour, more than one execution takes.
    expect(windows.length).toBeGreaterThan(WINDOWS_PER_EXECUTION);
    expect(runs).toHaveLength(Math.ceil(windows.length / WINDOWS_PER_EXECUTION));
    expect(windows.every((w) => w.status === 'done')).toBe(true);
    expect(last.windows).toBe(windows.length);

    // Each following execution was started by the previous one with the snapshot id.
    expect(started).toHaveLength(runs.length - 1);
    expect(started[0]).toEqual({
      StateMachineArn: `arn:aws:states:eu-west-1:111111111111:stateMachine:${SNAPSHOT_MACHINE}`,
      Name: `${snapshotId}-${WINDOWS_PER_EXECUTION}`,
      Input: {
        snapshotId,
        AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: `arn:aws:states:eu-west-1:111111111111:execution:${SNAPSHOT_MACHINE}:first-execution`,
      },
    });

    // Every window extracted once; players twice (continuation), bonuses twice (retried).
    for (const w of windows) {
      const expected = w.stream === 'players' || w.stream === 'bonuses' ? 2 : 1;
      expect(extract.attempts.get(`${w.stream}/${w.windowId}`), `${w.stream}/${w.windowId}`).toBe(expected);
    }
    const resumed = extract.calls.filter((c) => c.continuation);
    expect(resumed.length).toBe(windows.filter((w) => w.stream === 'players').length);
    for (const c of resumed) expect(c.continuation).toMatchObject({ after: `sealed:${c.stream}/${c.windowId}` });
    expect(runs.reduce((n, r) => n + retried(r, SNAPSHOT_STATES.extract), 0)).toBe(
      windows.filter((w) => w.stream === 'bonuses').length,
    );
    expect(extract.maxActive()).toBeLessThanOrEqual(config.snapshot.maxParallelWindows);
    expect(windows.find((w) => w.stream === 'players')?.rows).toBe(14);

    // The incremental watermark of every stream starts at the cutoff.
    const meta = await store.snapshots.get(snapshotId);
    expect(meta?.status).toBe('completed');
    for (const stream of STREAMS) expect((await store.watermarks.get(stream))?.getTime()).toBe(meta?.cutoff.getTime());
    expect((await store.snapshots.getCurrent())?.lastCompletedSnapshotId).toBe(snapshotId);

    const completed = emf.find((d) => 'SnapshotsCompleted' in d);
    expect(completed).toMatchObject({ SnapshotsCompleted: 1, Operator: 'acme-casino-sandbox', service: 'connector' });
    expect(completed?.['_aws']).toMatchObject({ CloudWatchMetrics: [{ Namespace: 'IGamingConnector' }] });

    // Rows with a NULL cursor were counted once, when the snapshot was planned: per stream in the
    // plan output, the snapshot, the streams' sync state, a metric per stream, and the summary.
    const plans = runs.map(
      (r) =>
        (
          r.events.find((e) => e.type === 'StateExited' && e.state.name === SNAPSHOT_STATES.plan) as unknown as {
            state: { output: { nullCursorRows: Record<string, number>; mode: string } };
          }
        ).state.output,
    );
    const counts = Object.fromEntries(STREAMS.map((s) => [s, s === 'players' ? NULL_CURSOR_PLAYERS : 0]));
    expect(plans[0]).toMatchObject({ mode: 'full', nullCursorRows: counts });
    expect(plans.slice(1).every((p) => p.mode === 'resume')).toBe(true);
    expect(meta?.nullCursorRows).toEqual(counts);
    expect(await store.watermarks.getState('players')).toMatchObject({
      nullCursorRows: NULL_CURSOR_PLAYERS,
      nullCursorRunId: snapshotId,
    });
    expect(await store.watermarks.getState('payments')).toMatchObject({ nullCursorRows: 0 });
    const counted = emf.filter((d) => 'NullCursorRows' in d);
    expect(counted).toHaveLength(STREAMS.length);
    expect(counted.find((d) => d.Stream === 'players')).toMatchObject({
      NullCursorRows: NULL_CURSOR_PLAYERS,
      Operator: 'acme-casino-sandbox',
      service: 'connector',
      _aws: { CloudWatchMetrics: [{ Dimensions: [['service', 'Operator', 'Stream']] }] },
    });
    expect(last.summary).toContain(`not landed: rows with a NULL cursor (players ${NULL_CURSOR_PLAYERS})`);
  });

  it('lets the other windows finish when one keeps failing, fails naming it, and a resume redoes only that window', async () => {
    let broken = true;
    const extract = fakeExtract({
      broken: (e) => broken && e.stream === 'payments' && e.windowId === '2025010200-2025010300',
    });
    const request = { from: '2025-01-01T00:00:00Z', to: '2025-01-03T00:00:00Z', streams: ['payments', 'game_rounds'] };
    const { run: failed } = await run({
      definition: definitions.snapshot,
      input: request,
      executionName: 'replay-with-a-broken-window',
      lambdaHandlers: snapshotHandlers(extract.handler),
    });
    expect(failed.status).toBe('FAILED');
    expect(failed.error).toBe('SnapshotFailed');
    expect(failed.cause).toMatch(
      /^operator acme-casino \(sandbox\): snapshot replay-\S+ failed: 1 window\(s\) failed: /,
    );
    expect(failed.cause).toContain('stream payments window 2025010200-2025010300 (SourceQueryError');
    expect(failed.cause).toContain('column "modified_ts" not found');
    // SourceQueryError is not retried: one attempt.
    expect(extract.attempts.get('payments/2025010200-2025010300')).toBe(1);

    const snapshotId = /snapshot (replay-\S+) failed/.exec(failed.cause ?? '')?.[1] ?? '';
    const windows = await store.snapshots.listWindows(snapshotId);
    expect(windows.map((w) => `${w.stream}/${w.windowId}:${w.status}`).sort()).toEqual([
      'game_rounds/2025010100-2025010200:done',
      'game_rounds/2025010200-2025010300:done',
      'payments/2025010100-2025010200:done',
      'payments/2025010200-2025010300:failed',
    ]);
    expect(await store.snapshots.get(snapshotId)).toMatchObject({ status: 'failed' });

    broken = false;
    extract.calls.length = 0;
    const { run: resumed } = await run({
      definition: definitions.snapshot,
      input: { snapshotId },
      lambdaHandlers: snapshotHandlers(extract.handler),
    });
    expect(resumed.error).toBeUndefined();
    expect(resumed.output).toMatchObject({ status: 'completed', snapshotId, windows: 4 });
    expect(extract.calls.map((c) => `${c.stream}/${c.windowId}:${c.runId}`)).toEqual([
      `payments/2025010200-2025010300:${snapshotId}`,
    ]);
  });

  it('fails naming the operator when the request cannot be planned', async () => {
    const { run: failed } = await run({
      definition: definitions.snapshot,
      input: { snapshotId: 'snap-does-not-exist' },
      lambdaHandlers: snapshotHandlers(fakeExtract({}).handler),
    });
    expect(failed).toMatchObject({ status: 'FAILED', error: 'PlanRequestError' });
    expect(failed.cause).toMatch(/^operator acme-casino \(sandbox\): planning the snapshot failed: /);
    expect(failed.cause).toContain('snapshot snap-does-not-exist does not exist');
  });
});

// ------------------------------------------------------------------------------------- incremental-sync stand-in

function fakeSync(options: { failing?: string; continuing?: string }) {
  const calls: IncrementalSyncInput[] = [];
  const handler: LambdaHandler = async (raw) => {
    const e = raw as IncrementalSyncInput;
    calls.push(e);
    // As the real handler: a run that holds the lock renews it, and fails when it lost it.
    if (!e.lockOwner || !(await store.locks.renew(INCREMENTAL_LOCK, e.lockOwner, 1200))) {
      throw new Error(`${e.stream}: the run no longer holds the lock`);
    }
    if (e.stream === options.failing) {
      throw new SourceQueryError('relation "cashier_transactions" does not exist', {
        context: { operatorId: config.operatorId, stream: e.stream },
      });
    }
    const range = e.range ?? { from: '2025-03-31T09:00:00.000Z', to: '2025-03-31T10:14:00.000Z' };
    if (e.stream === options.continuing && !e.continuation) {
      const continuation = { after: 'sealed:p', progress: {}, source: { count: '3', sums: {} }, invocations: 1 };
      return { status: 'continue', stream: e.stream, range, rows: 3, continuation } as unknown as IncrementalSyncResult;
    }
    return {
      status: 'complete',
      stream: e.stream,
      range,
      rows: 3,
      bytes: 10,
      manifestKey: `m/${e.stream}`,
      reconciliation: { ok: true, sourceRows: '3', landedRows: '3', sums: {} },
      watermark: range.to,
      nullCursorRows: e.stream === 'players' ? 4 : 0,
    } satisfies IncrementalSyncResult;
  };
  return { handler, calls };
}

function incrementalHandlers(sync: LambdaHandler, runLock: LambdaHandler = real.runLock as LambdaHandler) {
  return { [ids.runLock]: runLock, [ids.sync]: sync };
}

describe('IncrementalStateMachine', () => {
  it('syncs every stream under the run lock, lets the others finish when one fails, then fails naming it and releases the lock', async () => {
    await ensureCompletedSnapshot();
    const sync = fakeSync({ failing: 'payments', continuing: 'players' });
    let runLockCalls = 0;
    const throttledOnce: LambdaHandler = async (event, context) => {
      runLockCalls++;
      if (runLockCalls === 1) throw new IntegrationError('Lambda.TooManyRequestsException', 'Rate Exceeded.');
      return real.runLock(event, context);
    };
    const { run: result, emf } = await run({
      definition: definitions.incremental,
      executionName: 'incremental-with-a-failing-stream',
      lambdaHandlers: incrementalHandlers(sync.handler, throttledOnce),
    });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('IncrementalSyncFailed');
    expect(result.cause).toMatch(
      /^operator acme-casino \(sandbox\): incremental run incr-\d{8}T\d{6}Z-[0-9a-f]{8} failed for 1 stream\(s\): stream payments \(SourceQueryError – /,
    );
    expect(result.cause).toContain('relation "cashier_transactions" does not exist');
    expect(retried(result, INCREMENTAL_STATES.begin)).toBe(1);

    // Every stream ran with the execution as lock owner; players looped once on its continuation.
    expect(new Set(sync.calls.map((c) => c.stream))).toEqual(new Set(STREAMS));
    expect(new Set(sync.calls.map((c) => c.lockOwner))).toEqual(new Set(['incremental-with-a-failing-stream']));
    const players = sync.calls.filter((c) => c.stream === 'players');
    expect(players).toHaveLength(2);
    expect(players[1]).toMatchObject({
      continuation: { after: 'sealed:p' },
      range: { from: '2025-03-31T09:00:00.000Z', to: '2025-03-31T10:14:00.000Z' },
    });
    const released = result.events.find((e) => e.type === 'StateExited' && e.state.name === INCREMENTAL_STATES.release);
    expect((released as unknown as { state: { output: { end: unknown } } }).state.output.end).toMatchObject({
      released: true,
      failed: 1,
    });
    expect(await store.locks.get(INCREMENTAL_LOCK)).toBeUndefined();
    expect(emf.find((d) => 'IncrementalStreamsFailed' in d)).toMatchObject({ IncrementalStreamsFailed: 1 });
  });

  it('completes quietly when every stream syncs', async () => {
    await ensureCompletedSnapshot();
    const sync = fakeSync({});
    const { run: result } = await run({
      definition: definitions.incremental,
      lambdaHandlers: incrementalHandlers(sync.handler),
    });
    expect(result.error).toBeUndefined();
    expect(result.output).toMatchObject({ released: true, failed: 0 });
    // The execution's output says which streams have rows that cannot land.
    expect(result.output).toMatchObject({
      nullCursorRows: Object.fromEntries(STREAMS.map((s) => [s, s === 'players' ? 4 : 0])),
      summary: expect.stringContaining('not landed: rows with a NULL cursor (players 4)'),
    });
    expect(sync.calls).toHaveLength(STREAMS.length);
    expect(await store.locks.get(INCREMENTAL_LOCK)).toBeUndefined();
  });

  it('ends quietly as skipped when another run holds the lock, and leaves that lock alone', async () => {
    await ensureCompletedSnapshot();
    expect(await store.locks.acquire(INCREMENTAL_LOCK, 'other-run', 1200)).toBe(true);
    try {
      const sync = fakeSync({});
      const { run: result } = await run({
        definition: definitions.incremental,
        lambdaHandlers: incrementalHandlers(sync.handler),
      });
      expect(result.status).toBe('SUCCEEDED');
      expect(result.output).toMatchObject({ skipped: 'locked', holder: 'other-run' });
      expect(sync.calls).toHaveLength(0);
      expect((await store.locks.get(INCREMENTAL_LOCK))?.owner).toBe('other-run');
    } finally {
      await store.locks.release(INCREMENTAL_LOCK, 'other-run');
    }
  });

  it('ends quietly while no snapshot has completed', async () => {
    // A table where no snapshot ever completed.
    await dynamo.client.send(
      new DeleteItemCommand({
        TableName: tableName,
        Key: { pk: { S: keys.currentSnapshot().pk }, sk: { S: keys.currentSnapshot().sk } },
      }),
    );
    const sync = fakeSync({});
    const { run: result } = await run({
      definition: definitions.incremental,
      lambdaHandlers: incrementalHandlers(sync.handler),
    });
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toMatchObject({
      skipped: 'waiting-for-snapshot',
      reason: expect.stringContaining('no snapshot'),
    });
    expect(sync.calls).toHaveLength(0);
    expect(await store.locks.get(INCREMENTAL_LOCK)).toBeUndefined();
    await ensureCompletedSnapshot();
  });

  it('releases the lock when starting the run fails after the lock was taken', async () => {
    await ensureCompletedSnapshot();
    const sync = fakeSync({});
    // begin takes the lock, then the invocation fails (as a crash after the write would).
    const crashing: LambdaHandler = async (event, context) => {
      const result = await real.runLock(event, context);
      if ((event as { action: string }).action === 'begin') {
        const error = new Error('connection reset after the lock was written');
        error.name = 'RunLockCrash';
        throw error;
      }
      return result;
    };
    const { run: result } = await run({
      definition: definitions.incremental,
      executionName: 'incremental-start-crash',
      lambdaHandlers: incrementalHandlers(sync.handler, crashing),
    });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('RunLockCrash');
    expect(result.cause).toMatch(/^operator acme-casino \(sandbox\): starting the incremental run failed: /);
    expect(result.cause).toContain('connection reset after the lock was written');
    expect(sync.calls).toHaveLength(0);
    expect(await store.locks.get(INCREMENTAL_LOCK)).toBeUndefined();
  });
});
