import { type DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { INCREMENTAL_LOCK, keys } from '#shared/state/keys';
import { SnapshotIncompleteError } from '#shared/state/snapshots';
import { SyncStateStore } from '#shared/state/store';
import { SyncStateError } from '#shared/state/table';
import { type DynaliteHandle, startDynalite } from '../../helpers/dynalite.ts';

let dynamo: DynaliteHandle;
let table: string;

beforeAll(async () => {
  dynamo = await startDynalite();
});

beforeEach(async () => {
  table = await dynamo.createSyncStateTable();
});

afterAll(async () => {
  await dynamo?.stop();
});

const store = (now?: () => Date) => new SyncStateStore(dynamo.doc, table, now ? { now } : {});
const at = (iso: string) => new Date(iso);

describe('watermarks', () => {
  it('starts undefined, advances forward and records the run', async () => {
    const s = store(() => at('2024-05-01T10:00:00.000Z'));
    expect(await s.watermarks.get('players')).toBeUndefined();
    const first = await s.watermarks.advance('players', at('2024-05-01T09:00:00.000Z'), 'run-1', { rowCount: 42 });
    expect(first).toEqual({ advanced: true, current: at('2024-05-01T09:00:00.000Z') });
    const second = await s.watermarks.advance('players', at('2024-05-01T09:15:00.001Z'), 'run-2', { rowCount: 7 });
    expect(second.advanced).toBe(true);
    expect(await s.watermarks.getState('players')).toEqual({
      stream: 'players',
      watermark: at('2024-05-01T09:15:00.001Z'),
      watermarkRunId: 'run-2',
      lastSuccessAt: at('2024-05-01T10:00:00.000Z'),
      lastRunId: 'run-2',
      lastRowCount: 7,
    });
  });

  it('never moves backwards, and an equal value is a no-op', async () => {
    const s = store();
    await s.watermarks.advance('sessions', at('2024-05-02T00:00:00.000Z'), 'run-a');
    const back = await s.watermarks.advance('sessions', at('2024-05-01T23:59:59.999Z'), 'run-b');
    expect(back).toEqual({ advanced: false, current: at('2024-05-02T00:00:00.000Z') });
    const same = await s.watermarks.advance('sessions', at('2024-05-02T00:00:00.000Z'), 'run-c');
    expect(same).toEqual({ advanced: false, current: at('2024-05-02T00:00:00.000Z') });
    const state = await s.watermarks.getState('sessions');
    expect(state.watermarkRunId).toBe('run-a');
    expect(state.lastRunId).toBe('run-a');
  });

  it('ends at the maximum under concurrent advances', async () => {
    const s = store();
    const base = Date.parse('2024-06-01T00:00:00.000Z');
    // Shuffled offsets so the largest is neither first nor last to be sent.
    const offsets = [13, 2, 29, 7, 31, 1, 19, 23, 5, 11, 3, 17];
    const results = await Promise.all(
      offsets.map((m) => s.watermarks.advance('payments', new Date(base + m * 60_000), `run-${m}`)),
    );
    expect(await s.watermarks.get('payments')).toEqual(new Date(base + 31 * 60_000));
    expect((await s.watermarks.getState('payments')).watermarkRunId).toBe('run-31');
    expect(results.some((r) => r.advanced)).toBe(true);
    for (const r of results.filter((x) => !x.advanced)) expect(r.current!.getTime()).toBeGreaterThan(base);
  });

  it('records runs without a watermark change and reads many streams at once', async () => {
    const s = store(() => at('2024-07-01T12:00:00.000Z'));
    await s.watermarks.recordRun('bonuses', { runId: 'run-empty', rowCount: 0 });
    await s.watermarks.advance('compliance_events', at('2024-07-01T11:00:00.000Z'), 'run-x', { rowCount: 3 });
    const states = await s.watermarks.getStates(['bonuses', 'compliance_events', 'wallet_transactions']);
    expect(states).toEqual([
      { stream: 'bonuses', lastSuccessAt: at('2024-07-01T12:00:00.000Z'), lastRunId: 'run-empty', lastRowCount: 0 },
      {
        stream: 'compliance_events',
        watermark: at('2024-07-01T11:00:00.000Z'),
        watermarkRunId: 'run-x',
        lastSuccessAt: at('2024-07-01T12:00:00.000Z'),
        lastRunId: 'run-x',
        lastRowCount: 3,
      },
      { stream: 'wallet_transactions' },
    ]);
    // A recorded run leaves the stream without a watermark, and the first advance still succeeds.
    expect((await s.watermarks.advance('bonuses', at('2024-01-01T00:00:00.000Z'), 'run-y')).advanced).toBe(true);
  });

  it('refuses an invalid date', async () => {
    await expect(store().watermarks.advance('players', new Date(Number.NaN), 'run')).rejects.toThrow(RangeError);
  });
});

describe('run lock', () => {
  it('lets exactly one of ten concurrent runs acquire it', async () => {
    const s = store();
    const owners = Array.from({ length: 10 }, (_, i) => `exec-${i}`);
    const won = await Promise.all(owners.map((o) => s.locks.acquire('CONCURRENT', o, 900)));
    expect(won.filter(Boolean)).toHaveLength(1);
    const winner = owners[won.indexOf(true)]!;
    expect((await s.locks.get('CONCURRENT'))?.owner).toBe(winner);
    // Re-acquiring by the holder (a retried invocation) succeeds; others still fail.
    expect(await s.locks.acquire('CONCURRENT', winner, 900)).toBe(true);
    expect(await s.locks.acquire('CONCURRENT', 'someone-else', 900)).toBe(false);
  });

  it('is taken over after it expires, and the old holder can neither renew nor release it', async () => {
    let now = at('2024-05-01T10:00:00.000Z');
    const s = store(() => now);
    expect(await s.locks.acquire(INCREMENTAL_LOCK, 'crashed-run', 60)).toBe(true);
    now = at('2024-05-01T10:00:59.000Z');
    expect(await s.locks.acquire(INCREMENTAL_LOCK, 'next-run', 60)).toBe(false);
    expect(await s.locks.renew(INCREMENTAL_LOCK, 'crashed-run', 60)).toBe(true);
    now = at('2024-05-01T10:02:00.000Z');
    expect(await s.locks.acquire(INCREMENTAL_LOCK, 'next-run', 60)).toBe(true);
    expect(await s.locks.renew(INCREMENTAL_LOCK, 'crashed-run', 60)).toBe(false);
    expect(await s.locks.release(INCREMENTAL_LOCK, 'crashed-run')).toBe(false);
    expect((await s.locks.get(INCREMENTAL_LOCK))?.owner).toBe('next-run');
    const item = await dynamo.doc.send(new GetCommand({ TableName: table, Key: keys.lock(INCREMENTAL_LOCK) }));
    expect(item.Item?.expiresAt).toBe(Date.parse('2024-05-01T10:03:00.000Z') / 1000);
    expect(await s.locks.release(INCREMENTAL_LOCK, 'next-run')).toBe(true);
    expect(await s.locks.get(INCREMENTAL_LOCK)).toBeUndefined();
    expect(await s.locks.acquire(INCREMENTAL_LOCK, 'third-run', 60)).toBe(true);
  });

  it('refuses release by a non-owner and of a free lock', async () => {
    const s = store();
    expect(await s.locks.release('FREE', 'anyone')).toBe(false);
    expect(await s.locks.acquire('HELD', 'owner-a', 300)).toBe(true);
    expect(await s.locks.release('HELD', 'owner-b')).toBe(false);
    expect((await s.locks.get('HELD'))?.owner).toBe('owner-a');
  });
});

describe('snapshots', () => {
  const cutoff = at('2024-05-01T00:00:00.000Z');
  const windowsFor = (stream: string, count: number) =>
    Array.from({ length: count }, (_, i) => ({
      stream,
      windowId: `w${String(i).padStart(4, '0')}`,
      from: new Date(cutoff.getTime() - (count - i) * 3_600_000),
      to: new Date(cutoff.getTime() - (count - i - 1) * 3_600_000),
    }));

  it('tracks window progress through completion, paginating over many windows', async () => {
    const s = store();
    // Enough windows with large items that the Query needs several pages (1 MB each).
    const windows = [...windowsFor('game_rounds', 130), ...windowsFor('payments', 10)];
    const started = await s.snapshots.start({
      snapshotId: 'snap-1',
      cutoff,
      streams: ['game_rounds', 'payments'],
      windows,
    });
    expect(started.created).toBe(true);
    expect(started.snapshot).toMatchObject({ status: 'running', windowCount: 140, cutoff });
    expect(await s.snapshots.getCurrent()).toEqual({ currentSnapshotId: 'snap-1', currentStatus: 'running' });
    expect(await s.snapshots.hasCompleted()).toBe(false);

    // A retried start changes nothing.
    const again = await s.snapshots.start({ snapshotId: 'snap-1', cutoff, streams: ['game_rounds'], windows: [] });
    expect(again.created).toBe(false);
    expect(again.snapshot.windowCount).toBe(140);

    const big = 'x'.repeat(60_000);
    const all = await s.snapshots.listWindows('snap-1');
    expect(all).toHaveLength(140);
    expect(all.every((w) => w.status === 'pending' && w.attempts === 0)).toBe(true);
    expect(await s.snapshots.listWindows('snap-1', { stream: 'payments' })).toHaveLength(10);

    const running = await s.snapshots.markWindowRunning('snap-1', 'payments', 'w0000');
    expect(running).toMatchObject({ status: 'running', attempts: 1 });
    await s.snapshots.saveWindowContinuation('snap-1', 'payments', 'w0000', {
      continuation: { cursor: '2024-04-30T15:00:00.000Z', pk: 'P-9', part: 3, pad: big },
      rows: 5000,
      bytes: 123456,
    });
    expect((await s.snapshots.markWindowRunning('snap-1', 'payments', 'w0000')).attempts).toBe(2);
    const resumed = (await s.snapshots.listWindows('snap-1', { stream: 'payments' }))[0]!;
    expect(resumed.continuation).toEqual({ cursor: '2024-04-30T15:00:00.000Z', pk: 'P-9', part: 3, pad: big });
    expect(resumed.rows).toBe(5000);

    for (const w of windows) {
      await s.snapshots.markWindowDone('snap-1', w.stream, w.windowId, {
        rows: 10,
        bytes: 2048,
        manifestKey: `_manifests/${w.stream}/snap-1/${w.windowId}.json`,
      });
    }
    // Large continuations on 30 items push the Query result over one page.
    for (const w of windows.slice(0, 30)) {
      await s.snapshots.saveWindowContinuation('snap-1', w.stream, w.windowId, {
        continuation: { pad: big },
        rows: 10,
        bytes: 2048,
      });
    }
    let queries = 0;
    const counting = {
      send: (command: unknown) => {
        if (command instanceof QueryCommand) queries++;
        return dynamo.doc.send(command as QueryCommand);
      },
    } as unknown as DynamoDBDocumentClient;
    const listed = await new SyncStateStore(counting, table).snapshots.listWindows('snap-1');
    expect(queries).toBeGreaterThan(1);
    expect(listed).toHaveLength(140);
    expect(new Set(listed.map((w) => `${w.stream}/${w.windowId}`)).size).toBe(140);
    expect(listed.find((w) => w.stream === 'payments' && w.windowId === 'w0000')).toMatchObject({
      status: 'done',
      attempts: 2,
      rows: 10,
      bytes: 2048,
      manifestKey: '_manifests/payments/snap-1/w0000.json',
      from: windows[130]!.from,
      to: windows[130]!.to,
    });
    // A late duplicate failure cannot undo a done window.
    expect(await s.snapshots.markWindowFailed('snap-1', 'payments', 'w0001', { error: 'late timeout' })).toBe(false);

    // Payments was already synced past the cutoff by an earlier run: it keeps its newer watermark.
    await s.watermarks.advance('payments', at('2024-05-02T00:00:00.000Z'), 'older-incremental');
    const done = await s.snapshots.complete('snap-1');
    expect(done.watermarks).toEqual({
      game_rounds: { advanced: true, current: cutoff },
      payments: { advanced: false, current: at('2024-05-02T00:00:00.000Z') },
    });
    expect(await s.watermarks.get('game_rounds')).toEqual(cutoff);
    expect((await s.snapshots.get('snap-1'))?.status).toBe('completed');
    expect(await s.snapshots.getCurrent()).toMatchObject({
      currentSnapshotId: 'snap-1',
      currentStatus: 'completed',
      lastCompletedSnapshotId: 'snap-1',
      lastCompletedCutoff: cutoff,
    });
    expect(await s.snapshots.hasCompleted()).toBe(true);
    // Completing again is harmless.
    expect((await s.snapshots.complete('snap-1')).watermarks.game_rounds?.advanced).toBe(false);
  });

  it('refuses to complete while a window is not done, and records failures', async () => {
    const s = store();
    await s.snapshots.start({ snapshotId: 'snap-2', cutoff, streams: ['bonuses'], windows: windowsFor('bonuses', 3) });
    await s.snapshots.markWindowDone('snap-2', 'bonuses', 'w0000', { rows: 1, bytes: 1, manifestKey: 'm0' });
    await s.snapshots.markWindowRunning('snap-2', 'bonuses', 'w0001');
    expect(await s.snapshots.markWindowFailed('snap-2', 'bonuses', 'w0001', { error: 'CoercionError: boom' })).toBe(
      true,
    );
    const error = await s.snapshots.complete('snap-2').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SnapshotIncompleteError);
    expect((error as SnapshotIncompleteError).notDone).toEqual([
      { stream: 'bonuses', windowId: 'w0001', status: 'failed' },
      { stream: 'bonuses', windowId: 'w0002', status: 'pending' },
    ]);
    expect(await s.watermarks.get('bonuses')).toBeUndefined();
    expect((await s.snapshots.listWindows('snap-2'))[1]).toMatchObject({
      status: 'failed',
      error: 'CoercionError: boom',
    });

    await s.snapshots.fail('snap-2', 'window bonuses/w0001 failed');
    expect(await s.snapshots.get('snap-2')).toMatchObject({ status: 'failed', error: 'window bonuses/w0001 failed' });
    expect((await s.snapshots.getCurrent())?.currentStatus).toBe('failed');
  });

  it('fails a resumed snapshot again with its new error, and never fails a completed or replaced one', async () => {
    const s = store();
    await s.snapshots.start({ snapshotId: 'snap-3', cutoff, streams: ['bonuses'], windows: windowsFor('bonuses', 1) });
    await s.snapshots.fail('snap-3', 'window bonuses/w0000 failed: CoercionError (first run)');
    expect(await s.snapshots.get('snap-3')).toMatchObject({ status: 'failed' });

    // A resume marks it running again; failing again records the new error.
    await s.snapshots.resume('snap-3');
    expect(await s.snapshots.get('snap-3')).toMatchObject({ status: 'running' });
    expect((await s.snapshots.get('snap-3'))?.error).toBeUndefined();
    expect(await s.snapshots.getCurrent()).toMatchObject({ currentSnapshotId: 'snap-3', currentStatus: 'running' });
    await s.snapshots.fail('snap-3', 'window bonuses/w0000 failed: CoercionError (resumed)');
    expect(await s.snapshots.get('snap-3')).toMatchObject({
      status: 'failed',
      error: 'window bonuses/w0000 failed: CoercionError (resumed)',
    });
    expect((await s.snapshots.getCurrent())?.currentStatus).toBe('failed');

    // Failing a snapshot that is already failed (a retried finalize, or a resume that never
    // reached the plan step) records the error and leaves the pointer failed.
    await s.snapshots.fail('snap-3', 'window bonuses/w0000 failed: CoercionError (again)');
    expect(await s.snapshots.get('snap-3')).toMatchObject({
      status: 'failed',
      error: 'window bonuses/w0000 failed: CoercionError (again)',
    });
    expect((await s.snapshots.getCurrent())?.currentStatus).toBe('failed');

    // A newer snapshot is current: failing the older one does not touch the pointer.
    await s.snapshots.start({ snapshotId: 'snap-4', cutoff, streams: ['bonuses'], windows: windowsFor('bonuses', 1) });
    await s.snapshots.resume('snap-3');
    await s.snapshots.fail('snap-3', 'failed while snap-4 runs');
    expect(await s.snapshots.getCurrent()).toMatchObject({ currentSnapshotId: 'snap-4', currentStatus: 'running' });

    // A completed snapshot stays completed.
    await s.snapshots.markWindowDone('snap-4', 'bonuses', 'w0000', { rows: 1, bytes: 1, manifestKey: 'm' });
    await s.snapshots.complete('snap-4');
    await s.snapshots.fail('snap-4', 'late failure');
    await s.snapshots.resume('snap-4');
    expect(await s.snapshots.get('snap-4')).toMatchObject({ status: 'completed' });
    expect((await s.snapshots.get('snap-4'))?.error).toBeUndefined();
    expect((await s.snapshots.getCurrent())?.currentStatus).toBe('completed');
  });

  it('refuses progress on a window that was never planned', async () => {
    const s = store();
    await expect(
      s.snapshots.markWindowDone('nope', 'players', 'w0', { rows: 1, bytes: 1, manifestKey: 'm' }),
    ).rejects.toThrow(SyncStateError);
    expect(await s.snapshots.markWindowFailed('nope', 'players', 'w0', { error: 'x' })).toBe(false);
  });
});

describe('errors', () => {
  it('names the table and operation when DynamoDB refuses a call', async () => {
    const s = new SyncStateStore(dynamo.doc, 'no-such-table');
    const error = await s.watermarks.get('players').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SyncStateError);
    expect((error as SyncStateError).message).toMatch(
      /^sync state table no-such-table: getStreamState failed: ResourceNotFoundException/,
    );
    expect((error as SyncStateError).retryable).toBe(false);
  });
});
