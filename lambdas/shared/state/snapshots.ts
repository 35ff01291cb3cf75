/**
 * Snapshot items: one metadata item per snapshot (`SNAPSHOT#<id>` / `META`), one item per window
 * (`SNAPSHOT#<id>` / `WINDOW#<stream>#<window>`) with its status, attempts and totals, and the
 * current-snapshot pointer (`CONFIG` / `SNAPSHOT`) incremental runs read. Completing a snapshot
 * moves every stream's watermark to its cutoff (never backwards).
 */
import { PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { keys, windowPrefix } from './keys.ts';
import { date, type Item, isConditionFailure, num, type StateTable, str, truncate } from './table.ts';
import type { AdvanceResult, WatermarkStore } from './watermarks.ts';

/** A snapshot cannot be completed because some of its windows are not done. */
export class SnapshotIncompleteError extends Error {
  override readonly name = 'SnapshotIncompleteError';
  constructor(
    readonly snapshotId: string,
    readonly notDone: readonly { stream: string; windowId: string; status: WindowStatus }[],
  ) {
    const first = notDone
      .slice(0, 5)
      .map((w) => `${w.stream}/${w.windowId} (${w.status})`)
      .join(', ');
    super(
      `snapshot ${snapshotId} cannot complete: ${notDone.length} window(s) not done, e.g. ${first}; rerun or replay the failed windows first`,
    );
  }
}

export type SnapshotStatus = 'running' | 'completed' | 'failed';
export type WindowStatus = 'pending' | 'running' | 'done' | 'failed';

/** One unit of snapshot work: a stream over [from, to). */
export interface SnapshotWindowInput {
  readonly stream: string;
  readonly windowId: string;
  readonly from: Date;
  readonly to: Date;
}

export interface SnapshotMeta {
  readonly snapshotId: string;
  readonly status: SnapshotStatus;
  /** End of the snapshot; the incremental watermark of every stream starts here. */
  readonly cutoff: Date;
  readonly streams: readonly string[];
  readonly windowCount: number;
  readonly startedAt: Date;
  readonly completedAt?: Date;
  readonly failedAt?: Date;
  readonly error?: string;
  /** Rows with a NULL cursor per stream, counted when the snapshot was planned (they land in no window). */
  readonly nullCursorRows?: Readonly<Record<string, number>>;
}

/** What the sync-state table records of one window of a snapshot: its bounds, status, attempts and totals. */
export interface SnapshotWindowRecord {
  readonly snapshotId: string;
  readonly stream: string;
  readonly windowId: string;
  readonly from: Date;
  readonly to: Date;
  readonly status: WindowStatus;
  readonly attempts: number;
  readonly rows: number;
  readonly bytes: number;
  /** Where a window that ran out of Lambda time resumes (set by the extractor, opaque here). */
  readonly continuation?: unknown;
  readonly manifestKey?: string;
  readonly error?: string;
  readonly updatedAt: Date;
}

/** The pointer to the current snapshot, read by incremental runs. */
export interface SnapshotPointer {
  readonly currentSnapshotId: string;
  readonly currentStatus: SnapshotStatus;
  /** Set once a snapshot has completed: incremental syncs may run. */
  readonly lastCompletedSnapshotId?: string;
  readonly lastCompletedAt?: Date;
  readonly lastCompletedCutoff?: Date;
}

/** The snapshot, window and current-snapshot items. */
export class SnapshotStore {
  constructor(
    private readonly table: StateTable,
    private readonly watermarks: WatermarkStore,
  ) {}

  /**
   * Records a new snapshot with one pending item per window and points the current-snapshot pointer
   * at it. Starting a snapshot id that already exists changes nothing (a retried start) and
   * returns `created: false` with the stored metadata.
   */
  async start(input: {
    readonly snapshotId: string;
    readonly cutoff: Date;
    readonly streams: readonly string[];
    readonly windows: readonly SnapshotWindowInput[];
    /** Rows with a NULL cursor per stream, counted before the snapshot starts. */
    readonly nullCursorRows?: Readonly<Record<string, number>>;
  }): Promise<{ created: boolean; snapshot: SnapshotMeta }> {
    const existing = await this.get(input.snapshotId);
    if (existing) return { created: false, snapshot: existing };
    const now = this.table.now().toISOString();
    // Windows first, metadata last: a start that crashed half-way has no META and is simply redone.
    const windowItems = input.windows.map((w) => ({
      ...keys.snapshotWindow(input.snapshotId, w.stream, w.windowId),
      snapshotId: input.snapshotId,
      stream: w.stream,
      windowId: w.windowId,
      from: w.from.toISOString(),
      to: w.to.toISOString(),
      status: 'pending' satisfies WindowStatus,
      attempts: 0,
      rows: 0,
      bytes: 0,
      updatedAt: now,
    }));
    await this.table.batchPut('startSnapshot', windowItems);
    const meta = {
      ...keys.snapshotMeta(input.snapshotId),
      snapshotId: input.snapshotId,
      status: 'running' satisfies SnapshotStatus,
      cutoff: input.cutoff.toISOString(),
      streams: [...input.streams],
      windowCount: input.windows.length,
      startedAt: now,
      ...(input.nullCursorRows ? { nullCursorRows: { ...input.nullCursorRows } } : {}),
    };
    try {
      await this.table.call(
        'startSnapshot',
        () =>
          this.table.doc.send(
            new PutCommand({
              TableName: this.table.tableName,
              Item: meta,
              ConditionExpression: 'attribute_not_exists(pk)',
            }),
          ),
        true,
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const stored = await this.get(input.snapshotId);
      if (stored) return { created: false, snapshot: stored };
      throw error;
    }
    await this.table.call('startSnapshot', () =>
      this.table.doc.send(
        new UpdateCommand({
          TableName: this.table.tableName,
          Key: keys.currentSnapshot(),
          UpdateExpression: 'SET currentSnapshotId = :id, currentStatus = :running, updatedAt = :now',
          ExpressionAttributeValues: { ':id': input.snapshotId, ':running': 'running', ':now': now },
        }),
      ),
    );
    return { created: true, snapshot: toSnapshotMeta(meta) };
  }

  async get(snapshotId: string): Promise<SnapshotMeta | undefined> {
    const item = await this.table.get('getSnapshot', keys.snapshotMeta(snapshotId));
    return item ? toSnapshotMeta(item) : undefined;
  }

  /** The current-snapshot pointer, or undefined when no snapshot was ever started. */
  async getCurrent(): Promise<SnapshotPointer | undefined> {
    const item = await this.table.get('getCurrentSnapshot', keys.currentSnapshot());
    if (!item) return undefined;
    const lastCompletedSnapshotId = str(item.lastCompletedSnapshotId);
    const lastCompletedAt = date(item.lastCompletedAt);
    const lastCompletedCutoff = date(item.lastCompletedCutoff);
    return {
      currentSnapshotId: String(item.currentSnapshotId),
      currentStatus: item.currentStatus as SnapshotStatus,
      ...(lastCompletedSnapshotId ? { lastCompletedSnapshotId } : {}),
      ...(lastCompletedAt ? { lastCompletedAt } : {}),
      ...(lastCompletedCutoff ? { lastCompletedCutoff } : {}),
    };
  }

  /** Whether a snapshot has completed, i.e. incremental syncs have a watermark to start from. */
  async hasCompleted(): Promise<boolean> {
    return (await this.getCurrent())?.lastCompletedSnapshotId !== undefined;
  }

  /**
   * The start of the lake's data for a stream: the earliest window start of the last completed
   * snapshot that covered it (rows older than that were never landed); undefined before one.
   */
  async lakeHorizon(stream: string): Promise<Date | undefined> {
    const pointer = await this.getCurrent();
    if (!pointer?.lastCompletedSnapshotId) return undefined;
    const windows = await this.listWindows(pointer.lastCompletedSnapshotId, { stream });
    if (windows.length === 0) return undefined;
    return new Date(Math.min(...windows.map((w) => w.from.getTime())));
  }

  /** Marks a window as running and counts the attempt; the stored progress is returned. */
  async markWindowRunning(snapshotId: string, stream: string, windowId: string): Promise<SnapshotWindowRecord> {
    const out = await this.table.call('markWindowRunning', () =>
      this.table.doc.send(
        new UpdateCommand({
          TableName: this.table.tableName,
          Key: keys.snapshotWindow(snapshotId, stream, windowId),
          UpdateExpression: 'SET #status = :running, updatedAt = :now ADD attempts :one',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':running': 'running', ':now': this.table.now().toISOString(), ':one': 1 },
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    return toSnapshotWindowRecord(out.Attributes ?? {});
  }

  /** Saves where a window that ran out of Lambda time resumes, with the rows and bytes so far. */
  async saveWindowContinuation(
    snapshotId: string,
    stream: string,
    windowId: string,
    progress: { readonly continuation: unknown; readonly rows: number; readonly bytes: number },
  ): Promise<void> {
    await this.table.call('saveWindowContinuation', () =>
      this.table.doc.send(
        new UpdateCommand({
          TableName: this.table.tableName,
          Key: keys.snapshotWindow(snapshotId, stream, windowId),
          UpdateExpression: 'SET continuation = :c, #rows = :rows, bytes = :bytes, updatedAt = :now',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#rows': 'rows' },
          ExpressionAttributeValues: {
            ':c': JSON.stringify(progress.continuation),
            ':rows': progress.rows,
            ':bytes': progress.bytes,
            ':now': this.table.now().toISOString(),
          },
        }),
      ),
    );
  }

  /** Marks a window done with what landed; clears its continuation and error. */
  async markWindowDone(
    snapshotId: string,
    stream: string,
    windowId: string,
    result: { readonly rows: number; readonly bytes: number; readonly manifestKey: string },
  ): Promise<void> {
    await this.table.call('markWindowDone', () =>
      this.table.doc.send(
        new UpdateCommand({
          TableName: this.table.tableName,
          Key: keys.snapshotWindow(snapshotId, stream, windowId),
          UpdateExpression:
            'SET #status = :done, #rows = :rows, bytes = :bytes, manifestKey = :manifest, updatedAt = :now REMOVE continuation, #error',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#status': 'status', '#rows': 'rows', '#error': 'error' },
          ExpressionAttributeValues: {
            ':done': 'done',
            ':rows': result.rows,
            ':bytes': result.bytes,
            ':manifest': result.manifestKey,
            ':now': this.table.now().toISOString(),
          },
        }),
      ),
    );
  }

  /**
   * Marks a window failed with its error. A window already done stays done (a late duplicate
   * failure cannot undo landed data): returns false then.
   */
  async markWindowFailed(
    snapshotId: string,
    stream: string,
    windowId: string,
    failure: { readonly error: string },
  ): Promise<boolean> {
    try {
      await this.table.call(
        'markWindowFailed',
        () =>
          this.table.doc.send(
            new UpdateCommand({
              TableName: this.table.tableName,
              Key: keys.snapshotWindow(snapshotId, stream, windowId),
              UpdateExpression: 'SET #status = :failed, #error = :error, updatedAt = :now',
              ConditionExpression: 'attribute_exists(pk) AND #status <> :done',
              ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
              ExpressionAttributeValues: {
                ':failed': 'failed',
                ':done': 'done',
                ':error': truncate(failure.error),
                ':now': this.table.now().toISOString(),
              },
            }),
          ),
        true,
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** Every window of a snapshot (optionally of one stream), in key order; follows Query pagination. */
  async listWindows(snapshotId: string, options: { readonly stream?: string } = {}): Promise<SnapshotWindowRecord[]> {
    const windows: SnapshotWindowRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.table.call('listWindows', () =>
        this.table.doc.send(
          new QueryCommand({
            TableName: this.table.tableName,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
            ExpressionAttributeValues: {
              ':pk': keys.snapshotMeta(snapshotId).pk,
              ':prefix': windowPrefix(options.stream),
            },
            ConsistentRead: true,
            ExclusiveStartKey: start,
          }),
        ),
      );
      for (const item of out.Items ?? []) windows.push(toSnapshotWindowRecord(item));
      start = out.LastEvaluatedKey;
    } while (start);
    return windows;
  }

  /**
   * Completes a snapshot whose windows are all done: every stream's watermark moves to the cutoff
   * (never backwards: a stream already synced past it keeps its watermark), then the snapshot and
   * the pointer are marked completed. Idempotent, so a retried completion is harmless.
   */
  async complete(snapshotId: string): Promise<{ watermarks: Record<string, AdvanceResult> }> {
    const meta = await this.get(snapshotId);
    if (!meta) throw new Error(`snapshot ${snapshotId} does not exist in sync state table ${this.table.tableName}`);
    const notDone = (await this.listWindows(snapshotId))
      .filter((w) => w.status !== 'done')
      .map((w) => ({ stream: w.stream, windowId: w.windowId, status: w.status }));
    if (notDone.length > 0) throw new SnapshotIncompleteError(snapshotId, notDone);

    const watermarks: Record<string, AdvanceResult> = {};
    for (const stream of meta.streams) {
      watermarks[stream] = await this.watermarks.advance(stream, meta.cutoff, snapshotId);
    }
    const now = this.table.now().toISOString();
    await this.table.call('completeSnapshot', () =>
      this.table.doc.send(
        new UpdateCommand({
          TableName: this.table.tableName,
          Key: keys.snapshotMeta(snapshotId),
          UpdateExpression: 'SET #status = :completed, completedAt = if_not_exists(completedAt, :now)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':completed': 'completed', ':now': now },
        }),
      ),
    );
    try {
      await this.table.call(
        'completeSnapshot',
        () =>
          this.table.doc.send(
            new UpdateCommand({
              TableName: this.table.tableName,
              Key: keys.currentSnapshot(),
              UpdateExpression:
                'SET currentStatus = :completed, lastCompletedSnapshotId = :id, lastCompletedAt = :now, lastCompletedCutoff = :cutoff, updatedAt = :now',
              ConditionExpression: 'currentSnapshotId = :id',
              ExpressionAttributeValues: {
                ':completed': 'completed',
                ':id': snapshotId,
                ':now': now,
                ':cutoff': meta.cutoff.toISOString(),
              },
            }),
          ),
        true,
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      // A newer snapshot has started since: it stays current, this one is only recorded as completed.
      await this.table.call('completeSnapshot', () =>
        this.table.doc.send(
          new UpdateCommand({
            TableName: this.table.tableName,
            Key: keys.currentSnapshot(),
            UpdateExpression:
              'SET lastCompletedSnapshotId = :id, lastCompletedAt = :now, lastCompletedCutoff = :cutoff, updatedAt = :now',
            ExpressionAttributeValues: { ':id': snapshotId, ':now': now, ':cutoff': meta.cutoff.toISOString() },
          }),
        ),
      );
    }
    return { watermarks };
  }

  /**
   * Marks a snapshot failed with its error; its windows keep their progress so a rerun with its
   * snapshot id redoes only those not done. A snapshot that failed before (a resume that failed
   * again, or a retried finalize) records the new error. A completed snapshot is left as it is, and
   * the current-snapshot pointer only changes while it still points at this snapshot: both are
   * conditions that may fail without being errors.
   */
  async fail(snapshotId: string, error: string): Promise<void> {
    const now = this.table.now().toISOString();
    await this.table.conditionally('failSnapshot', {
      TableName: this.table.tableName,
      Key: keys.snapshotMeta(snapshotId),
      UpdateExpression: 'SET #status = :failed, failedAt = :now, #error = :error',
      ConditionExpression: 'attribute_exists(pk) AND #status <> :completed',
      ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
      ExpressionAttributeValues: {
        ':failed': 'failed',
        ':completed': 'completed',
        ':now': now,
        ':error': truncate(error),
      },
    });
    await this.table.conditionally('failSnapshot', {
      TableName: this.table.tableName,
      Key: keys.currentSnapshot(),
      UpdateExpression: 'SET currentStatus = :failed, updatedAt = :now',
      ConditionExpression: 'currentSnapshotId = :id AND currentStatus <> :completed',
      ExpressionAttributeValues: { ':failed': 'failed', ':completed': 'completed', ':id': snapshotId, ':now': now },
    });
  }

  /**
   * Marks a failed snapshot running again when an execution resumes it (its last error is cleared;
   * the failed windows keep theirs until they are redone). A completed snapshot is left as it is;
   * the pointer only changes while it points at this snapshot.
   */
  async resume(snapshotId: string): Promise<void> {
    const now = this.table.now().toISOString();
    await this.table.conditionally('resumeSnapshot', {
      TableName: this.table.tableName,
      Key: keys.snapshotMeta(snapshotId),
      UpdateExpression: 'SET #status = :running, resumedAt = :now REMOVE #error, failedAt',
      ConditionExpression: 'attribute_exists(pk) AND #status <> :completed',
      ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
      ExpressionAttributeValues: { ':running': 'running', ':completed': 'completed', ':now': now },
    });
    await this.table.conditionally('resumeSnapshot', {
      TableName: this.table.tableName,
      Key: keys.currentSnapshot(),
      UpdateExpression: 'SET currentStatus = :running, updatedAt = :now',
      ConditionExpression: 'currentSnapshotId = :id AND currentStatus <> :completed',
      ExpressionAttributeValues: { ':running': 'running', ':completed': 'completed', ':id': snapshotId, ':now': now },
    });
  }
}

function toSnapshotMeta(item: Item): SnapshotMeta {
  const completedAt = date(item.completedAt);
  const failedAt = date(item.failedAt);
  const error = str(item.error);
  const nullCursorRows = item.nullCursorRows as Record<string, number> | undefined;
  return {
    snapshotId: String(item.snapshotId),
    status: item.status as SnapshotStatus,
    cutoff: new Date(String(item.cutoff)),
    streams: (item.streams as string[] | undefined) ?? [],
    windowCount: num(item.windowCount) ?? 0,
    startedAt: new Date(String(item.startedAt)),
    ...(completedAt ? { completedAt } : {}),
    ...(failedAt ? { failedAt } : {}),
    ...(error !== undefined ? { error } : {}),
    ...(nullCursorRows && typeof nullCursorRows === 'object' ? { nullCursorRows: { ...nullCursorRows } } : {}),
  };
}

function toSnapshotWindowRecord(item: Item): SnapshotWindowRecord {
  const continuation = str(item.continuation);
  const manifestKey = str(item.manifestKey);
  const error = str(item.error);
  return {
    snapshotId: String(item.snapshotId),
    stream: String(item.stream),
    windowId: String(item.windowId),
    from: new Date(String(item.from)),
    to: new Date(String(item.to)),
    status: item.status as WindowStatus,
    attempts: num(item.attempts) ?? 0,
    rows: num(item.rows) ?? 0,
    bytes: num(item.bytes) ?? 0,
    ...(continuation !== undefined ? { continuation: JSON.parse(continuation) as unknown } : {}),
    ...(manifestKey !== undefined ? { manifestKey } : {}),
    ...(error !== undefined ? { error } : {}),
    updatedAt: new Date(String(item.updatedAt)),
  };
}
