import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamName } from '#shared/canonical';
import type { PlanSnapshotInput } from '#shared/contracts/steps';
import { manifestKey } from '#shared/layout';
import { PlanRequestError } from '#shared/pipeline/ids';
import { beginIncrementalRun, endIncrementalRun } from '#shared/pipeline/incremental';
import {
  databaseStreams,
  estimateStreams,
  finalizeSnapshot,
  MAX_WINDOWS_PER_EXECUTION,
  planSnapshot,
  resolveSnapshotRequest,
  snapshotCutoff,
} from '#shared/pipeline/snapshot';
import { adaptiveWindowHours, gridWindows, HOUR_MS, planStreamWindows } from '#shared/pipeline/window-grid';
import { openSource } from '#shared/sources/index';
import { INCREMENTAL_LOCK } from '#shared/state/keys';
import { SyncStateStore } from '#shared/state/store';
import { createPostgresScratch, engineAvailable } from '../../helpers/databases.ts';
import { type DynaliteHandle, startDynalite } from '../../helpers/dynalite.ts';
import { exampleConfig } from '../../lib/helpers.ts';

const config = exampleConfig('acme-casino');
const STREAMS = databaseStreams(config);
const START = new Date('2025-03-31T10:17:42.123Z');
const execution = (name: string, startTime = START): PlanSnapshotInput => ({
  executionName: name,
  startTime: startTime.toISOString(),
});
const d = (iso: string) => new Date(iso);

let dynamo: DynaliteHandle;
beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(async () => {
  await dynamo?.stop();
});

async function newStore(): Promise<SyncStateStore> {
  return new SyncStateStore(dynamo.doc, await dynamo.createSyncStateTable());
}

describe('window grid', () => {
  it('aligns windows to the UTC grid of windowHours and clips the ends; ids are the UTC bounds', () => {
    const windows = gridWindows(d('2025-01-01T05:00:00Z'), d('2025-01-03T07:00:00Z'), 24);
    expect(windows.map((w) => [w.windowId, w.from.toISOString(), w.to.toISOString()])).toEqual([
      ['2025010105-2025010200', '2025-01-01T05:00:00.000Z', '2025-01-02T00:00:00.000Z'],
      ['2025010200-2025010300', '2025-01-02T00:00:00.000Z', '2025-01-03T00:00:00.000Z'],
      ['2025010300-2025010307', '2025-01-03T00:00:00.000Z', '2025-01-03T07:00:00.000Z'],
    ]);
    const six = gridWindows(d('2025-01-01T05:00:00Z'), d('2025-01-01T20:00:00Z'), 6);
    expect(six.map((w) => w.windowId)).toEqual([
      '2025010105-2025010106',
      '2025010106-2025010112',
      '2025010112-2025010118',
      '2025010118-2025010120',
    ]);
    for (const w of windows) expect(() => manifestKey('payments', 'snap-x', w.windowId, 'a1')).not.toThrow();
  });

  it('gives the same windows for the same range, and windows of a sub-range are a subset', () => {
    const a = gridWindows(d('2025-01-01T00:00:00Z'), d('2025-04-01T00:00:00Z'), 24);
    const b = gridWindows(d('2025-01-01T00:00:00Z'), d('2025-04-01T00:00:00Z'), 24);
    expect(a).toEqual(b);
    expect(a).toHaveLength(90);
    const sub = gridWindows(d('2025-02-01T00:00:00Z'), d('2025-02-11T00:00:00Z'), 24).map((w) => w.windowId);
    expect(a.map((w) => w.windowId)).toEqual(expect.arrayContaining(sub));
  });

  it('refuses bounds that are not whole hours', () => {
    expect(() => gridWindows(d('2025-01-01T00:30:00Z'), d('2025-01-02T00:00:00Z'), 24)).toThrow(/whole hours/);
  });
});

describe('adaptive windows', () => {
  const range = { from: d('2025-01-01T00:00:00Z'), to: d('2025-04-01T00:00:00Z') };
  const hours = (range.to.getTime() - range.from.getTime()) / HOUR_MS;

  it('keeps windowHours without a target or an estimate', () => {
    expect(adaptiveWindowHours(range, 24, undefined, { rows: 1e9 })).toBe(24);
    expect(adaptiveWindowHours(range, 24, 100_000, undefined)).toBe(24);
    expect(adaptiveWindowHours(range, 24, 100_000, { rows: null })).toBe(24);
    // Few rows: the configured size already stays under the target.
    expect(adaptiveWindowHours(range, 24, 100_000, { rows: 50_000 })).toBe(24);
  });

  it('splits a dense stream so no window is estimated above the target, on aligned hours', () => {
    const rows = 50_000_000; // spread over the range: ~23,000 rows an hour
    const target = 100_000;
    const size = adaptiveWindowHours(range, 24, target, { rows, minCursor: range.from, maxCursor: range.to });
    expect(size).toBe(4);
    const windows = planStreamWindows({ ...range, windowHours: 24, targetRowsPerWindow: target, estimate: { rows } });
    expect(windows).toHaveLength(hours / 4);
    const perHour = rows / hours;
    for (const w of windows) {
      expect(((w.to.getTime() - w.from.getTime()) / HOUR_MS) * perHour).toBeLessThanOrEqual(target);
      expect(w.from.getUTCHours() % 4).toBe(0);
    }
  });

  it('uses the cursor span: rows of a long history are not all in the snapshot range', () => {
    // Ten years of history, 87.6 M rows: 1,000 rows an hour, so 10,000-row windows are 8 hours.
    const estimate = { rows: 87_600_000, minCursor: d('2015-04-01T00:00:00Z'), maxCursor: d('2025-03-29T00:00:00Z') };
    expect(adaptiveWindowHours(range, 24, 10_000, estimate)).toBe(8);
    // A table whose rows all lie before the range: the configured size.
    expect(
      adaptiveWindowHours(range, 24, 10_000, { rows: 1e9, minCursor: d('2010-01-01Z'), maxCursor: d('2011-01-01Z') }),
    ).toBe(24);
  });

  it('never goes below one hour', () => {
    expect(adaptiveWindowHours(range, 24, 10_000, { rows: 1e12 })).toBe(1);
  });
});

describe('snapshot requests', () => {
  it('plans a full snapshot over snapshot.days up to the last whole hour before start minus the safety lag', () => {
    const r = resolveSnapshotRequest(config, {}, { name: 'exec-1', startTime: START });
    if (r.mode === 'resume') throw new Error('expected a new snapshot');
    expect(r.mode).toBe('full');
    expect(r.to.toISOString()).toBe('2025-03-31T10:00:00.000Z');
    expect(snapshotCutoff(config, d('2025-03-31T10:00:30Z')).toISOString()).toBe('2025-03-31T09:00:00.000Z');
    expect(r.from.toISOString()).toBe('2024-12-31T10:00:00.000Z');
    expect(r.streams).toEqual(STREAMS);
    expect(STREAMS).toHaveLength(7);
    expect(r.snapshotId).toMatch(/^snap-20250331T101742Z-[0-9a-f]{8}$/);
    expect(() => manifestKey('payments', r.snapshotId, 'w', 'a1')).not.toThrow();
    // The same execution gets the same id; another execution another.
    expect(resolveSnapshotRequest(config, {}, { name: 'exec-1', startTime: START }).snapshotId).toBe(r.snapshotId);
    expect(resolveSnapshotRequest(config, {}, { name: 'exec-2', startTime: START }).snapshotId).not.toBe(r.snapshotId);
  });

  it('plans a replay of a range (rounded out to hours, capped at the cutoff) for chosen streams under a new id', () => {
    const r = resolveSnapshotRequest(
      config,
      { from: '2025-02-01T03:30:00Z', to: '2025-02-03T04:10:00Z', streams: ['payments', 'players'] },
      { name: 'replay-1', startTime: START },
    );
    if (r.mode === 'resume') throw new Error('expected a replay');
    expect(r).toMatchObject({ mode: 'replay', streams: ['players', 'payments'] });
    expect([r.from.toISOString(), r.to.toISOString()]).toEqual([
      '2025-02-01T03:00:00.000Z',
      '2025-02-03T05:00:00.000Z',
    ]);
    expect(r.snapshotId).toMatch(/^replay-20250331T101742Z-[0-9a-f]{8}$/);
    const capped = resolveSnapshotRequest(
      config,
      { from: '2025-03-30T00:00:00Z', to: '2099-01-01T00:00:00Z' },
      {
        name: 'replay-2',
        startTime: START,
      },
    );
    if (capped.mode === 'resume') throw new Error('expected a replay');
    expect(capped.to.toISOString()).toBe('2025-03-31T10:00:00.000Z');
  });

  it('explains bad requests', () => {
    const exec = { name: 'x', startTime: START };
    expect(() => resolveSnapshotRequest(config, { streams: ['payments', 'jackpots'] }, exec)).toThrow(
      /not configured: jackpots/,
    );
    expect(() => resolveSnapshotRequest(config, { from: 'yesterday' }, exec)).toThrow(PlanRequestError);
    expect(() =>
      resolveSnapshotRequest(config, { from: '2025-03-02T00:00:00Z', to: '2025-03-01T00:00:00Z' }, exec),
    ).toThrow(/is empty/);
    expect(() => resolveSnapshotRequest(config, { snapshotId: 'a/b' }, exec)).toThrow(/snapshotId "a\/b" is not valid/);
    expect(() => resolveSnapshotRequest(config, { snapshotId: 'snap-1', from: '2025-03-01T00:00:00Z' }, exec)).toThrow(
      /not both/,
    );
  });
});

describe('planSnapshot', () => {
  it('records a 90-day snapshot of 7 streams and keeps its output well under 256 KiB', async () => {
    const store = await newStore();
    const plan = await planSnapshot({ config, store }, execution('full-1'));
    // 90 days from 10:00 to 10:00: 89 whole UTC days and two partial ones per stream.
    expect(plan).toMatchObject({ mode: 'full', total: 637, done: 0, remaining: 0, cutoff: '2025-03-31T10:00:00.000Z' });
    expect(plan.runId).toBe(plan.snapshotId);
    expect(plan.windows).toHaveLength(637);
    // In key order: stream by stream, oldest window first.
    expect(plan.windows.at(-1)).toMatchObject({ s: 'wallet_transactions', w: '2025033100-2025033110' });
    expect(plan.windows[0]).toEqual({
      s: 'bonuses',
      w: '2024123110-2025010100',
      f: '2024-12-31T10:00:00Z',
      t: '2025-01-01T00:00:00Z',
    });
    const bytes = Buffer.byteLength(JSON.stringify(plan));
    expect(bytes).toBeLessThan(64 * 1024);
    const meta = await store.snapshots.get(plan.snapshotId);
    expect(meta).toMatchObject({ status: 'running', windowCount: 637, streams: STREAMS });
  });

  it('caps one execution at MAX_WINDOWS_PER_EXECUTION windows, still well under 256 KiB', async () => {
    const store = await newStore();
    const hourly = exampleConfig('acme-casino', [
      [['snapshot', 'windowHours'], 1],
      [['snapshot', 'days'], 7],
    ]);
    const plan = await planSnapshot({ config: hourly, store }, execution('hourly'));
    expect(plan.total).toBe(7 * 24 * 7);
    expect(plan.windows).toHaveLength(MAX_WINDOWS_PER_EXECUTION);
    expect(plan.remaining).toBe(7 * 24 * 7 - MAX_WINDOWS_PER_EXECUTION);
    // Plus the Map's worst-case results: every window failed ({ s, w, e }).
    const failures = plan.windows.map((w) => ({ s: w.s, w: w.w, e: 'SourceConnectionError' }));
    expect(Buffer.byteLength(JSON.stringify({ ...plan, results: failures }))).toBeLessThan(200 * 1024);
  });

  it('returns only windows not done when resumed, and the same snapshot when the plan step is retried', async () => {
    const store = await newStore();
    const first = await planSnapshot({ config, store }, execution('resume-1'));
    const [a, b, c] = first.windows;
    if (!a || !b || !c) throw new Error('expected windows');
    await store.snapshots.markWindowDone(first.snapshotId, a.s, a.w, { rows: 10, bytes: 100, manifestKey: 'm1' });
    await store.snapshots.markWindowDone(first.snapshotId, b.s, b.w, { rows: 20, bytes: 200, manifestKey: 'm2' });
    await store.snapshots.markWindowFailed(first.snapshotId, c.s, c.w, { error: 'SourceQueryError: boom' });

    const retried = await planSnapshot({ config, store }, execution('resume-1'));
    expect(retried.snapshotId).toBe(first.snapshotId);
    expect(retried).toMatchObject({ total: 637, done: 2 });
    expect(retried.windows).toHaveLength(635);

    await store.snapshots.fail(first.snapshotId, `1 window(s) failed: stream ${c.s} window ${c.w}`);
    const resumed = await planSnapshot(
      { config, store },
      {
        ...execution('another-execution', new Date('2025-04-02T00:00:00Z')),
        request: { snapshotId: first.snapshotId },
      },
    );
    expect(resumed).toMatchObject({ mode: 'resume', snapshotId: first.snapshotId, cutoff: first.cutoff, done: 2 });
    expect(resumed.windows.map((w) => `${w.s}/${w.w}`)).not.toContain(`${a.s}/${a.w}`);
    expect(resumed.windows.map((w) => `${w.s}/${w.w}`)).toContain(`${c.s}/${c.w}`);
    // The failed snapshot runs again until its finalize says otherwise.
    expect(await store.snapshots.get(first.snapshotId)).toMatchObject({ status: 'running' });
    expect(await store.snapshots.getCurrent()).toMatchObject({ currentStatus: 'running' });
  });

  it('plans a replay of a range as a new snapshot of the chosen streams', async () => {
    const store = await newStore();
    const plan = await planSnapshot(
      { config, store },
      {
        ...execution('replay-1'),
        request: { from: '2025-02-01T00:00:00Z', to: '2025-02-04T00:00:00Z', streams: ['payments'] },
      },
    );
    expect(plan).toMatchObject({ mode: 'replay', total: 3, cutoff: '2025-02-04T00:00:00.000Z' });
    expect(plan.snapshotId).toMatch(/^replay-/);
    expect(plan.windows.map((w) => `${w.s}/${w.w}`)).toEqual([
      'payments/2025020100-2025020200',
      'payments/2025020200-2025020300',
      'payments/2025020300-2025020400',
    ]);
  });

  it('refuses to resume a snapshot that does not exist', async () => {
    const store = await newStore();
    await expect(
      planSnapshot({ config, store }, { ...execution('x'), request: { snapshotId: 'snap-missing' } }),
    ).rejects.toThrow(/snapshot snap-missing does not exist/);
  });

  it('sizes windows from the estimates when snapshot.targetRowsPerWindow is set', async () => {
    const store = await newStore();
    const adaptive = exampleConfig('acme-casino', [[['snapshot', 'targetRowsPerWindow'], 10_000]]);
    const asked: StreamName[][] = [];
    const plan = await planSnapshot(
      {
        config: adaptive,
        store,
        estimate: async (streams) => {
          asked.push([...streams]);
          // 1,000 payments an hour over 120 days: 8-hour windows; other streams unknown.
          return {
            payments: {
              rows: 120 * 24 * 1000,
              minCursor: d('2024-12-01T00:00:00Z'),
              maxCursor: d('2025-03-31T00:00:00Z'),
            },
          };
        },
      },
      { ...execution('adaptive'), request: { from: '2025-03-01T00:00:00Z', to: '2025-03-02T00:00:00Z' } },
    );
    expect(asked).toEqual([STREAMS]);
    const payments = plan.windows.filter((w) => w.s === 'payments').map((w) => w.w);
    expect(payments).toEqual(['2025030100-2025030108', '2025030108-2025030116', '2025030116-2025030200']);
    expect(plan.windows.filter((w) => w.s === 'players')).toHaveLength(1);
  });
});

describe('finalizeSnapshot', () => {
  async function started(store: SyncStateStore, streams: StreamName[] = ['payments', 'players']) {
    return planSnapshot(
      { config, store },
      {
        ...execution(`fin-${Math.random()}`),
        request: { from: '2025-03-01T00:00:00Z', to: '2025-03-03T00:00:00Z', streams },
      },
    );
  }

  it('completes a snapshot whose windows are all done: the watermarks start at the cutoff', async () => {
    const store = await newStore();
    const plan = await started(store);
    for (const w of plan.windows)
      await store.snapshots.markWindowDone(plan.snapshotId, w.s, w.w, { rows: 5, bytes: 1, manifestKey: 'm' });
    const result = await finalizeSnapshot(
      { config, store },
      { snapshotId: plan.snapshotId, remaining: 0, failures: [{}, {}] },
    );
    expect(result).toMatchObject({ status: 'completed', windows: 4, rows: 20, failed: 0 });
    expect(result.summary).toContain('incremental watermarks start at 2025-03-03T00:00:00.000Z');
    expect((await store.watermarks.get('payments'))?.toISOString()).toBe('2025-03-03T00:00:00.000Z');
    expect(await store.snapshots.hasCompleted()).toBe(true);
    // Idempotent: a retried finalize completes again without harm.
    expect((await finalizeSnapshot({ config, store }, { snapshotId: plan.snapshotId })).status).toBe('completed');
  });

  it('fails the snapshot naming the failed windows, and records a failure the extractor could not', async () => {
    const store = await newStore();
    const plan = await started(store);
    const [a, b, c, e] = plan.windows;
    if (!a || !b || !c || !e) throw new Error('expected 4 windows');
    await store.snapshots.markWindowDone(plan.snapshotId, a.s, a.w, { rows: 1, bytes: 1, manifestKey: 'm' });
    await store.snapshots.markWindowDone(plan.snapshotId, e.s, e.w, { rows: 1, bytes: 1, manifestKey: 'm' });
    await store.snapshots.markWindowFailed(plan.snapshotId, b.s, b.w, {
      error: 'SourceQueryError: column "x" not found',
    });
    await store.snapshots.markWindowRunning(plan.snapshotId, c.s, c.w); // crashed: the extractor never recorded it
    const result = await finalizeSnapshot(
      { config, store },
      {
        snapshotId: plan.snapshotId,
        remaining: 0,
        failures: [{}, { s: b.s, w: b.w, e: 'SourceQueryError' }, { s: c.s, w: c.w, e: 'States.Timeout' }, {}],
      },
    );
    expect(result).toMatchObject({ status: 'failed', failed: 2 });
    expect(result.summary).toContain(
      `stream ${b.s} window ${b.w} (SourceQueryError – SourceQueryError: column "x" not found)`,
    );
    expect(result.summary).toContain(`stream ${c.s} window ${c.w} (States.Timeout`);
    expect(result.summary).toContain(`{"snapshotId": "${plan.snapshotId}"}`);
    const stored = await store.snapshots.listWindows(plan.snapshotId);
    expect(stored.find((w) => w.windowId === c.w && w.stream === c.s)).toMatchObject({ status: 'failed' });
    expect(stored.find((w) => w.windowId === b.w && w.stream === b.s)?.error).toBe(
      'SourceQueryError: column "x" not found',
    );
    expect(await store.snapshots.get(plan.snapshotId)).toMatchObject({ status: 'failed' });
    expect(await store.watermarks.get('payments')).toBeUndefined();
  });

  it('hands remaining windows to the next execution, and records a failure outside the windows', async () => {
    const store = await newStore();
    const plan = await started(store);
    const cont = await finalizeSnapshot({ config, store }, { snapshotId: plan.snapshotId, remaining: 3, failures: [] });
    expect(cont).toMatchObject({ status: 'continue', nextExecutionName: `${plan.snapshotId}-0` });
    const failed = await finalizeSnapshot(
      { config, store },
      { snapshotId: plan.snapshotId, error: { Error: 'States.DataLimitExceeded', Cause: 'too big' } },
    );
    expect(failed.status).toBe('failed');
    expect(failed.summary).toContain('States.DataLimitExceeded: too big');
    expect(await store.snapshots.get(plan.snapshotId)).toMatchObject({ status: 'failed' });
  });

  it('does not complete while windows are not done even when nothing failed', async () => {
    const store = await newStore();
    const plan = await started(store, ['payments']);
    const result = await finalizeSnapshot(
      { config, store },
      { snapshotId: plan.snapshotId, remaining: 0, failures: [] },
    );
    expect(result).toMatchObject({ status: 'failed', failed: 2 });
    expect(result.summary).toMatch(
      /2 window\(s\) are not done: stream payments window 2025030100-2025030200 \(pending\)/,
    );
  });
});

describe('incremental run lock', () => {
  it('waits before the first snapshot, takes the lock, reports it held, and releases it', async () => {
    const store = await newStore();
    const begin = (name: string) =>
      beginIncrementalRun({ config, store }, { executionName: name, startTime: '2025-03-31T10:15:00.000Z' });
    expect(await begin('run-a')).toMatchObject({ status: 'waiting' });
    expect(await store.locks.get(INCREMENTAL_LOCK)).toBeUndefined();

    await store.snapshots.start({
      snapshotId: 's1',
      cutoff: new Date('2025-03-31T00:00:00Z'),
      streams: ['payments'],
      windows: [],
    });
    await store.snapshots.complete('s1');
    const a = await begin('run-a');
    expect(a).toEqual({
      status: 'acquired',
      runId: expect.stringMatching(/^incr-20250331T101500Z-[0-9a-f]{8}$/),
      owner: 'run-a',
      streams: STREAMS,
    });
    // A retried begin of the same execution keeps its lock.
    expect(await begin('run-a')).toMatchObject({ status: 'acquired', owner: 'run-a' });
    expect(await begin('run-b')).toMatchObject({ status: 'locked', holder: 'run-a' });

    const end = await endIncrementalRun(
      { config, store },
      {
        owner: 'run-a',
        runId: 'r',
        results: [
          { stream: 'players', status: 'complete', nullCursorRows: 3 },
          {
            stream: 'payments',
            status: 'failed',
            error: 'SourceQueryError',
            cause: '{"errorMessage":"no table","errorType":"SourceQueryError"}',
          },
          { stream: 'bonuses', status: 'skipped', nullCursorRows: null },
        ],
      },
    );
    expect(end).toEqual({
      released: true,
      failed: 1,
      summary: 'stream payments (SourceQueryError – no table); not landed: rows with a NULL cursor (players 3)',
      nullCursorRows: { players: 3 },
    });
    expect(await store.locks.get(INCREMENTAL_LOCK)).toBeUndefined();
    expect(await begin('run-b')).toMatchObject({ status: 'acquired' });
    // Releasing a lock another run holds does nothing.
    expect(await endIncrementalRun({ config, store }, { owner: 'run-a', results: [] })).toMatchObject({
      released: false,
    });
    expect((await store.locks.get(INCREMENTAL_LOCK))?.owner).toBe('run-b');
  });
});

const pgAvailable = await engineAvailable('postgres');

describe.skipIf(!pgAvailable)('estimateStreams on PostgreSQL', () => {
  it('reads the planner estimate and the cursor span in the operator time zone', async () => {
    const scratch = await createPostgresScratch('plan_est');
    try {
      await scratch.admin.query(
        `CREATE TABLE "${scratch.schema}".cashier_transactions (txn_id bigint PRIMARY KEY, modified_ts timestamp NOT NULL)`,
      );
      // 2,400 rows, one every 6 minutes over 10 days of Malta wall time (UTC+1 in January).
      await scratch.admin.query(
        `INSERT INTO "${scratch.schema}".cashier_transactions
         SELECT g, timestamp '2025-01-01 01:00:00' + (g - 1) * interval '6 minutes' FROM generate_series(1, 2400) g`,
      );
      await scratch.admin.query(`ANALYZE "${scratch.schema}".cashier_transactions`);
      const cfg = exampleConfig('acme-casino', [[['source', 'schema'], scratch.schema]]);
      const source = await openSource(scratch.credentials, {
        applicationName: 'plan-test',
        statementTimeoutSeconds: 30,
        timeZone: 'Europe/Malta',
      });
      try {
        const estimates = await estimateStreams(source, cfg, ['payments']);
        expect(estimates.payments).toEqual({
          rows: 2400,
          minCursor: new Date('2025-01-01T00:00:00.000Z'),
          maxCursor: new Date('2025-01-10T23:54:00.000Z'),
        });
        // 10 rows an hour: a 50-row target gives 4-hour windows.
        const windows = planStreamWindows({
          from: d('2025-01-02T00:00:00Z'),
          to: d('2025-01-03T00:00:00Z'),
          windowHours: 24,
          targetRowsPerWindow: 50,
          estimate: estimates.payments,
        });
        expect(windows).toHaveLength(6);
      } finally {
        await source.close();
      }
    } finally {
      await scratch.drop();
    }
  });
});
