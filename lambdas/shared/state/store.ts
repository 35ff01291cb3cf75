/**
 * The operator's sync state in DynamoDB: per-stream watermarks, snapshot progress, the run lock and
 * the wrapped pseudonym key. Every write that could race is a conditional write, so concurrent
 * Lambdas can never move a watermark backwards, run two incremental syncs at once, or end up with
 * two pseudonym keys.
 */
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { type ItemKey, keys, windowPrefix } from './keys.ts';

/** A DynamoDB call failed for a reason other than a condition we test for. */
export class SyncStateError extends Error {
  override readonly name = 'SyncStateError';
  /** Throttling and service-side errors are worth retrying; validation and access errors are not. */
  readonly retryable: boolean;

  constructor(
    readonly operation: string,
    readonly tableName: string,
    cause: unknown,
  ) {
    const reason = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    super(`sync state table ${tableName}: ${operation} failed: ${reason}`, { cause });
    this.retryable = isRetryable(cause);
  }
}

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

function isRetryable(error: unknown): boolean {
  const e = error as { name?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } } | undefined;
  if (!e) return false;
  if (e.$retryable) return true;
  if (
    e.name === 'ProvisionedThroughputExceededException' ||
    e.name === 'ThrottlingException' ||
    e.name === 'RequestLimitExceeded' ||
    e.name === 'InternalServerError' ||
    e.name === 'TransactionConflictException'
  ) {
    return true;
  }
  return (e.$metadata?.httpStatusCode ?? 0) >= 500;
}

function isConditionFailure(error: unknown): boolean {
  return (error as { name?: string } | undefined)?.name === 'ConditionalCheckFailedException';
}

/** The state of one stream, as the CLI's status command shows it. */
export interface StreamState {
  readonly stream: string;
  /** Rows with a cursor before this instant have landed (minus the lookback). */
  readonly watermark?: Date;
  /** Run that last moved the watermark. */
  readonly watermarkRunId?: string;
  readonly lastSuccessAt?: Date;
  readonly lastRunId?: string;
  readonly lastRowCount?: number;
  /** Rows of the stream's table whose cursor is NULL (never landed), at the last count. */
  readonly nullCursorRows?: number;
  /** When they were last counted (a snapshot's plan or an incremental run). */
  readonly nullCursorCountedAt?: Date;
  /** The snapshot or incremental run that counted them. */
  readonly nullCursorRunId?: string;
  /** Late arrivals observed by the measured incremental runs (extract/lateness.ts). */
  readonly lateness?: LatenessRecord;
  /** The last run whose range end was held behind an open source transaction (PostgreSQL). */
  readonly holdback?: HoldbackRecord;
  /** The stream's last key audit (`connector status`). */
  readonly keyAudit?: KeyAuditRecord;
}

/** Late arrivals of a stream, accumulated over its measured incremental runs. Counts only. */
export interface LatenessRecord {
  /** Incremental runs that were measured. */
  readonly runs: number;
  /** Late versions found by them. */
  readonly rows: number;
  /** The largest lateness seen (seconds). */
  readonly maxSeconds: number;
  /** Counts per bucket of `LATENESS_BUCKETS_SECONDS` (extract/lateness.ts). */
  readonly histogram: readonly number[];
  readonly lastRunId: string;
  readonly lastRows: number;
  readonly lastMaxSeconds: number;
  readonly lastAt: Date;
}

/** What the last open-transaction check of a stream's run found (PostgreSQL). */
export interface HoldbackRecord {
  readonly runId: string;
  readonly at: Date;
  /** Seconds the range end was held back (0: not held). */
  readonly heldBackSeconds: number;
  /** Whether the connector's user sees every session's transaction (pg_read_all_stats) or only its own. */
  readonly visibility: 'all' | 'own';
}

/**
 * The last key audit of a stream: what it compared, found and repaired, or why it failed. Counts
 * only; never a key.
 */
export interface KeyAuditRecord {
  readonly status: 'completed' | 'failed';
  readonly runId: string;
  /** When it ended. */
  readonly at: string;
  readonly sourceKeys?: number;
  readonly lakeKeys?: number;
  readonly bucketsCompared?: number;
  readonly passes?: number;
  readonly keysListed?: number;
  readonly deletesDetected?: number;
  readonly outOfScopeKeys?: number;
  readonly missingKeys?: number;
  readonly rowsRepaired?: number;
  readonly pendingKeys?: number;
  /** The error (the connector's own words), when it failed. */
  readonly error?: string;
}

export interface AdvanceResult {
  /** Whether this call moved the watermark. */
  readonly advanced: boolean;
  /** The watermark after the call (the newer one when it was not moved). */
  readonly current: Date | undefined;
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

export interface LockState {
  readonly name: string;
  readonly owner: string;
  /** Epoch seconds after which the lock may be taken over (also the item's TTL). */
  readonly expiresAt: number;
  readonly acquiredAt: Date;
}

/** The key form an operator's pseudonyms are computed with, as recorded on first use. */
export interface RecordedKeyForm {
  readonly caseInsensitive: boolean;
  readonly padSpace: boolean;
  /** The case folding table, e.g. `unicode-15.0.0-simple`. */
  readonly caseFolding: string;
  readonly recordedAt: Date;
}

export interface SyncStateStoreOptions {
  /** Clock, for tests of lock expiry. @default () => new Date() */
  readonly now?: () => Date;
}

/** Longest error text stored on a failed window or snapshot. */
const MAX_ERROR_CHARS = 2000;
/** DynamoDB limits: 25 items per BatchWriteItem, 100 keys per BatchGetItem. */
const BATCH_WRITE_MAX = 25;
const BATCH_GET_MAX = 100;

type Item = Record<string, unknown>;

const date = (value: unknown): Date | undefined => (typeof value === 'string' ? new Date(value) : undefined);
const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const num = (value: unknown): number | undefined => (typeof value === 'number' ? value : undefined);
const truncate = (text: string): string =>
  text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)}…` : text;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Reads and writes the sync-state table. Takes its DynamoDB document client so handlers create one
 * client at module scope and tests point it at dynalite.
 */
/** The last wallet ledger audit, as `connector status` shows it. */
export interface WalletAuditRecord {
  readonly auditedAt: Date;
  /** Breaks found among the audited players. */
  readonly breaks: number;
  /** Committed windows whose players were audited. */
  readonly windows: number;
  /** The publish execution that ran it. */
  readonly publish: string;
  /** `s3://…` of the report with the examples, when there were breaks. */
  readonly report?: string;
}

export class SyncStateStore {
  private readonly now: () => Date;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly tableName: string,
    options: SyncStateStoreOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
  }

  // ---------------------------------------------------------------- watermarks

  /** The watermark of a stream, or undefined before its first snapshot or sync. */
  async getWatermark(stream: string): Promise<Date | undefined> {
    return (await this.getStreamState(stream)).watermark;
  }

  async getStreamState(stream: string): Promise<StreamState> {
    const item = await this.get('getStreamState', keys.watermark(stream));
    return toStreamState(stream, item);
  }

  /** The state of several streams in one round trip per 100 streams (for the status command). */
  async getStreamStates(streams: readonly string[]): Promise<StreamState[]> {
    const found = new Map<string, Item>();
    for (let i = 0; i < streams.length; i += BATCH_GET_MAX) {
      let request: Record<string, { Keys: ItemKey[]; ConsistentRead: boolean }> | undefined = {
        [this.tableName]: { Keys: streams.slice(i, i + BATCH_GET_MAX).map(keys.watermark), ConsistentRead: true },
      };
      for (let attempt = 0; request && Object.keys(request).length > 0; attempt++) {
        const out = await this.call('getStreamStates', () =>
          this.doc.send(new BatchGetCommand({ RequestItems: request })),
        );
        for (const item of out.Responses?.[this.tableName] ?? []) found.set(String(item.pk), item);
        request = out.UnprocessedKeys as typeof request;
        if (request && Object.keys(request).length > 0) await sleep(Math.min(1000, 50 * 2 ** attempt));
      }
    }
    return streams.map((s) => toStreamState(s, found.get(keys.watermark(s).pk)));
  }

  /**
   * Moves a stream's watermark forward to `to`, never backwards: a conditional write that only
   * succeeds when there is no watermark yet or it is older than `to`. Moving it backwards or to the
   * same instant is a no-op that returns the current watermark. Also records the run as the
   * stream's last success.
   */
  async advanceWatermark(
    stream: string,
    to: Date,
    runId: string,
    details: { readonly rowCount?: number } = {},
  ): Promise<AdvanceResult> {
    const ms = to.getTime();
    if (!Number.isFinite(ms)) throw new RangeError(`watermark of ${stream} must be a valid date`);
    const now = this.now().toISOString();
    try {
      await this.call(
        'advanceWatermark',
        () =>
          this.doc.send(
            new UpdateCommand({
              TableName: this.tableName,
              Key: keys.watermark(stream),
              UpdateExpression:
                'SET watermarkMs = :new, watermark = :iso, watermarkRunId = :run, lastSuccessAt = :now, lastRunId = :run, lastRowCount = :rows, #stream = :stream, updatedAt = :now',
              ConditionExpression: 'attribute_not_exists(watermarkMs) OR watermarkMs < :new',
              ExpressionAttributeNames: { '#stream': 'stream' },
              ExpressionAttributeValues: {
                ':new': ms,
                ':iso': to.toISOString(),
                ':run': runId,
                ':now': now,
                ':rows': details.rowCount ?? 0,
                ':stream': stream,
              },
            }),
          ),
        true,
      );
      return { advanced: true, current: new Date(ms) };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return { advanced: false, current: await this.getWatermark(stream) };
    }
  }

  /**
   * Records how many rows of a stream's table have a NULL cursor, as counted by a snapshot's plan or
   * an incremental run. An older count never replaces a newer one.
   */
  async recordNullCursorRows(stream: string, count: { readonly rows: number; readonly runId: string }): Promise<void> {
    const at = this.now().toISOString();
    await this.conditionally('recordNullCursorRows', {
      TableName: this.tableName,
      Key: keys.watermark(stream),
      UpdateExpression:
        'SET nullCursorRows = :rows, nullCursorCountedAt = :at, nullCursorRunId = :run, #stream = :stream, updatedAt = :at',
      ConditionExpression: 'attribute_not_exists(nullCursorCountedAt) OR nullCursorCountedAt <= :at',
      ExpressionAttributeNames: { '#stream': 'stream' },
      ExpressionAttributeValues: { ':rows': count.rows, ':at': at, ':run': count.runId, ':stream': stream },
    });
  }

  /**
   * Adds one measured run's late arrivals to the stream's record. A run is counted once: a retry of
   * the same run changes nothing.
   */
  async recordLateness(
    stream: string,
    run: {
      readonly runId: string;
      readonly rows: number;
      readonly maxSeconds: number;
      readonly histogram: readonly number[];
    },
  ): Promise<boolean> {
    const before = (await this.getStreamState(stream)).lateness;
    if (before?.lastRunId === run.runId) return false;
    const width = Math.max(before?.histogram.length ?? 0, run.histogram.length);
    const record = {
      runs: (before?.runs ?? 0) + 1,
      rows: (before?.rows ?? 0) + run.rows,
      maxSeconds: Math.max(before?.maxSeconds ?? 0, run.maxSeconds),
      histogram: Array.from({ length: width }, (_, i) => (before?.histogram[i] ?? 0) + (run.histogram[i] ?? 0)),
      lastRunId: run.runId,
      lastRows: run.rows,
      lastMaxSeconds: run.maxSeconds,
      lastAt: this.now().toISOString(),
    };
    return this.conditionally('recordLateness', {
      TableName: this.tableName,
      Key: keys.watermark(stream),
      UpdateExpression: 'SET lateness = :record, #stream = :stream, updatedAt = :at',
      // Only over the record read above: a concurrent writer (there is none under the run lock) retries.
      ConditionExpression: before
        ? 'lateness.lastRunId = :previous AND lateness.runs = :runs'
        : 'attribute_not_exists(lateness)',
      ExpressionAttributeNames: { '#stream': 'stream' },
      ExpressionAttributeValues: {
        ':record': record,
        ':stream': stream,
        ':at': record.lastAt,
        ...(before ? { ':previous': before.lastRunId, ':runs': before.runs } : {}),
      },
    });
  }

  /** Records what a run's open-transaction check found (PostgreSQL). */
  async recordHoldback(stream: string, holdback: Omit<HoldbackRecord, 'at'>): Promise<void> {
    const at = this.now().toISOString();
    await this.call('recordHoldback', () =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.watermark(stream),
          UpdateExpression: 'SET holdback = :h, #stream = :stream, updatedAt = :at',
          ExpressionAttributeNames: { '#stream': 'stream' },
          ExpressionAttributeValues: { ':h': { ...holdback, at }, ':stream': stream, ':at': at },
        }),
      ),
    );
  }

  /** Records a stream's key audit (the last one wins). */
  async recordKeyAudit(stream: string, record: KeyAuditRecord): Promise<void> {
    const now = this.now().toISOString();
    const stored = { ...record, ...(record.error ? { error: record.error.slice(0, MAX_ERROR_CHARS) } : {}) };
    await this.call('recordKeyAudit', () =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.watermark(stream),
          UpdateExpression: 'SET keyAudit = :audit, #stream = :stream, updatedAt = :now',
          ExpressionAttributeNames: { '#stream': 'stream' },
          ExpressionAttributeValues: { ':audit': stored, ':stream': stream, ':now': now },
        }),
      ),
    );
  }

  /**
   * The start of the lake's data for a stream: the earliest window start of the last completed
   * snapshot that covered it (rows older than that were never landed); undefined before one.
   */
  async lakeHorizon(stream: string): Promise<Date | undefined> {
    const pointer = await this.getCurrentSnapshot();
    if (!pointer?.lastCompletedSnapshotId) return undefined;
    const windows = await this.listWindows(pointer.lastCompletedSnapshotId, { stream });
    if (windows.length === 0) return undefined;
    return new Date(Math.min(...windows.map((w) => w.from.getTime())));
  }

  /** Records a successful run of a stream without touching its watermark (e.g. a run that found no rows). */
  async recordRun(stream: string, run: { readonly runId: string; readonly rowCount: number }): Promise<void> {
    const now = this.now().toISOString();
    await this.call('recordRun', () =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.watermark(stream),
          UpdateExpression:
            'SET lastSuccessAt = :now, lastRunId = :run, lastRowCount = :rows, #stream = :stream, updatedAt = :now',
          ExpressionAttributeNames: { '#stream': 'stream' },
          ExpressionAttributeValues: { ':now': now, ':run': run.runId, ':rows': run.rowCount, ':stream': stream },
        }),
      ),
    );
  }

  // ---------------------------------------------------------------- snapshots

  /**
   * Records a new snapshot with one pending item per window and points the current-snapshot pointer
   * at it. Starting a snapshot id that already exists changes nothing (a retried start) and
   * returns `created: false` with the stored metadata.
   */
  async startSnapshot(input: {
    readonly snapshotId: string;
    readonly cutoff: Date;
    readonly streams: readonly string[];
    readonly windows: readonly SnapshotWindowInput[];
    /** Rows with a NULL cursor per stream, counted before the snapshot starts. */
    readonly nullCursorRows?: Readonly<Record<string, number>>;
  }): Promise<{ created: boolean; snapshot: SnapshotMeta }> {
    const existing = await this.getSnapshot(input.snapshotId);
    if (existing) return { created: false, snapshot: existing };
    const now = this.now().toISOString();
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
    await this.batchPut('startSnapshot', windowItems);
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
      await this.call(
        'startSnapshot',
        () =>
          this.doc.send(
            new PutCommand({
              TableName: this.tableName,
              Item: meta,
              ConditionExpression: 'attribute_not_exists(pk)',
            }),
          ),
        true,
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const stored = await this.getSnapshot(input.snapshotId);
      if (stored) return { created: false, snapshot: stored };
      throw error;
    }
    await this.call('startSnapshot', () =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.currentSnapshot(),
          UpdateExpression: 'SET currentSnapshotId = :id, currentStatus = :running, updatedAt = :now',
          ExpressionAttributeValues: { ':id': input.snapshotId, ':running': 'running', ':now': now },
        }),
      ),
    );
    return { created: true, snapshot: toSnapshotMeta(meta) };
  }

  async getSnapshot(snapshotId: string): Promise<SnapshotMeta | undefined> {
    const item = await this.get('getSnapshot', keys.snapshotMeta(snapshotId));
    return item ? toSnapshotMeta(item) : undefined;
  }

  /** The current-snapshot pointer, or undefined when no snapshot was ever started. */
  async getCurrentSnapshot(): Promise<SnapshotPointer | undefined> {
    const item = await this.get('getCurrentSnapshot', keys.currentSnapshot());
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
  async hasCompletedSnapshot(): Promise<boolean> {
    return (await this.getCurrentSnapshot())?.lastCompletedSnapshotId !== undefined;
  }

  /** Marks a window as running and counts the attempt; the stored progress is returned. */
  async markWindowRunning(snapshotId: string, stream: string, windowId: string): Promise<SnapshotWindowRecord> {
    const out = await this.call('markWindowRunning', () =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.snapshotWindow(snapshotId, stream, windowId),
          UpdateExpression: 'SET #status = :running, updatedAt = :now ADD attempts :one',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':running': 'running', ':now': this.now().toISOString(), ':one': 1 },
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
    await this.call('saveWindowContinuation', () =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.snapshotWindow(snapshotId, stream, windowId),
          UpdateExpression: 'SET continuation = :c, #rows = :rows, bytes = :bytes, updatedAt = :now',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#rows': 'rows' },
          ExpressionAttributeValues: {
            ':c': JSON.stringify(progress.continuation),
            ':rows': progress.rows,
            ':bytes': progress.bytes,
            ':now': this.now().toISOString(),
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
    await this.call('markWindowDone', () =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
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
            ':now': this.now().toISOString(),
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
      await this.call(
        'markWindowFailed',
        () =>
          this.doc.send(
            new UpdateCommand({
              TableName: this.tableName,
              Key: keys.snapshotWindow(snapshotId, stream, windowId),
              UpdateExpression: 'SET #status = :failed, #error = :error, updatedAt = :now',
              ConditionExpression: 'attribute_exists(pk) AND #status <> :done',
              ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
              ExpressionAttributeValues: {
                ':failed': 'failed',
                ':done': 'done',
                ':error': truncate(failure.error),
                ':now': this.now().toISOString(),
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
      const out = await this.call('listWindows', () =>
        this.doc.send(
          new QueryCommand({
            TableName: this.tableName,
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
  async completeSnapshot(snapshotId: string): Promise<{ watermarks: Record<string, AdvanceResult> }> {
    const meta = await this.getSnapshot(snapshotId);
    if (!meta) throw new Error(`snapshot ${snapshotId} does not exist in sync state table ${this.tableName}`);
    const notDone = (await this.listWindows(snapshotId))
      .filter((w) => w.status !== 'done')
      .map((w) => ({ stream: w.stream, windowId: w.windowId, status: w.status }));
    if (notDone.length > 0) throw new SnapshotIncompleteError(snapshotId, notDone);

    const watermarks: Record<string, AdvanceResult> = {};
    for (const stream of meta.streams) {
      watermarks[stream] = await this.advanceWatermark(stream, meta.cutoff, snapshotId);
    }
    const now = this.now().toISOString();
    await this.call('completeSnapshot', () =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.snapshotMeta(snapshotId),
          UpdateExpression: 'SET #status = :completed, completedAt = if_not_exists(completedAt, :now)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':completed': 'completed', ':now': now },
        }),
      ),
    );
    try {
      await this.call(
        'completeSnapshot',
        () =>
          this.doc.send(
            new UpdateCommand({
              TableName: this.tableName,
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
      await this.call('completeSnapshot', () =>
        this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
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
  async failSnapshot(snapshotId: string, error: string): Promise<void> {
    const now = this.now().toISOString();
    await this.conditionally('failSnapshot', {
      TableName: this.tableName,
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
    await this.conditionally('failSnapshot', {
      TableName: this.tableName,
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
  async resumeSnapshot(snapshotId: string): Promise<void> {
    const now = this.now().toISOString();
    await this.conditionally('resumeSnapshot', {
      TableName: this.tableName,
      Key: keys.snapshotMeta(snapshotId),
      UpdateExpression: 'SET #status = :running, resumedAt = :now REMOVE #error, failedAt',
      ConditionExpression: 'attribute_exists(pk) AND #status <> :completed',
      ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
      ExpressionAttributeValues: { ':running': 'running', ':completed': 'completed', ':now': now },
    });
    await this.conditionally('resumeSnapshot', {
      TableName: this.tableName,
      Key: keys.currentSnapshot(),
      UpdateExpression: 'SET currentStatus = :running, updatedAt = :now',
      ConditionExpression: 'currentSnapshotId = :id AND currentStatus <> :completed',
      ExpressionAttributeValues: { ':running': 'running', ':completed': 'completed', ':id': snapshotId, ':now': now },
    });
  }

  // ---------------------------------------------------------------- locks

  /**
   * Takes the lock `name` for `ttlSeconds` if it is free, expired, or already held by `owner`
   * (a retried invocation). Returns whether `owner` now holds it. A crashed holder's lock is taken
   * over once it has expired.
   */
  async acquireLock(name: string, owner: string, ttlSeconds: number): Promise<boolean> {
    const now = this.now();
    const nowSeconds = Math.floor(now.getTime() / 1000);
    try {
      await this.call(
        'acquireLock',
        () =>
          this.doc.send(
            new PutCommand({
              TableName: this.tableName,
              Item: {
                ...keys.lock(name),
                owner,
                expiresAt: nowSeconds + ttlSeconds,
                acquiredAt: now.toISOString(),
              },
              ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now OR #owner = :owner',
              ExpressionAttributeNames: { '#owner': 'owner' },
              ExpressionAttributeValues: { ':now': nowSeconds, ':owner': owner },
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

  /** Extends a lock `owner` holds; false when another owner has it (or nobody). */
  async renewLock(name: string, owner: string, ttlSeconds: number): Promise<boolean> {
    const nowSeconds = Math.floor(this.now().getTime() / 1000);
    try {
      await this.call(
        'renewLock',
        () =>
          this.doc.send(
            new UpdateCommand({
              TableName: this.tableName,
              Key: keys.lock(name),
              UpdateExpression: 'SET expiresAt = :expires',
              ConditionExpression: 'attribute_exists(pk) AND #owner = :owner',
              ExpressionAttributeNames: { '#owner': 'owner' },
              ExpressionAttributeValues: { ':expires': nowSeconds + ttlSeconds, ':owner': owner },
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

  /** Releases a lock held by `owner`; refused (false) when someone else holds it. */
  async releaseLock(name: string, owner: string): Promise<boolean> {
    try {
      await this.call(
        'releaseLock',
        () =>
          this.doc.send(
            new DeleteCommand({
              TableName: this.tableName,
              Key: keys.lock(name),
              ConditionExpression: '#owner = :owner',
              ExpressionAttributeNames: { '#owner': 'owner' },
              ExpressionAttributeValues: { ':owner': owner },
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

  /** The lock's holder, or undefined when it is free (an expired lock is reported as free). */
  async getLock(name: string): Promise<LockState | undefined> {
    const item = await this.get('getLock', keys.lock(name));
    if (!item) return undefined;
    const expiresAt = num(item.expiresAt) ?? 0;
    if (expiresAt < Math.floor(this.now().getTime() / 1000)) return undefined;
    return { name, owner: String(item.owner), expiresAt, acquiredAt: new Date(String(item.acquiredAt)) };
  }

  // ---------------------------------------------------------------- pseudonym key

  /** The KMS ciphertext of the operator's pseudonym key, or undefined before it is created. */
  async getPseudonymKeyCiphertext(): Promise<Buffer | undefined> {
    const item = await this.get('getPseudonymKeyCiphertext', keys.pseudonymKey());
    const blob = item?.ciphertext;
    return blob instanceof Uint8Array ? Buffer.from(blob) : undefined;
  }

  /**
   * Stores the wrapped pseudonym key unless one exists; returns false when another writer was first
   * (the caller then reads and uses theirs). Only ciphertext is ever stored, and it never expires.
   */
  async putPseudonymKeyCiphertext(ciphertext: Buffer, keyId: string): Promise<boolean> {
    return this.putIfAbsent('putPseudonymKeyCiphertext', {
      ...keys.pseudonymKey(),
      ciphertext: new Uint8Array(ciphertext),
      keyId,
      algorithm: 'HMAC-SHA256',
      createdAt: this.now().toISOString(),
    });
  }

  // ---------------------------------------------------------------- key form

  /** The key form the operator's key pseudonyms were recorded with, or undefined before the first. */
  async getKeyForm(): Promise<RecordedKeyForm | undefined> {
    const item = await this.get('getKeyForm', keys.keyForm());
    if (!item) return undefined;
    return {
      caseInsensitive: item.caseInsensitive === true,
      padSpace: item.padSpace === true,
      caseFolding: String(item.caseFolding ?? ''),
      recordedAt: new Date(String(item.recordedAt)),
    };
  }

  /**
   * Records the key form pseudonyms are computed with unless one is recorded; returns false when
   * another writer was first (the caller then reads and compares theirs). Never expires.
   */
  async putKeyForm(form: Omit<RecordedKeyForm, 'recordedAt'>): Promise<boolean> {
    return this.putIfAbsent('putKeyForm', { ...keys.keyForm(), ...form, recordedAt: this.now().toISOString() });
  }

  // ---------------------------------------------------------------- wallet ledger audit

  /**
   * Records the last wallet ledger audit (counts and the report's location only; the breaks are in
   * the report), unless a later one is recorded.
   */
  async recordWalletAudit(audit: Omit<WalletAuditRecord, 'auditedAt'> & { readonly auditedAt?: Date }): Promise<void> {
    const at = (audit.auditedAt ?? this.now()).toISOString();
    await this.conditionally('recordWalletAudit', {
      TableName: this.tableName,
      Key: keys.walletAudit(),
      UpdateExpression:
        'SET auditedAt = :at, #breaks = :breaks, #windows = :windows, #publish = :publish, #report = :report',
      ConditionExpression: 'attribute_not_exists(auditedAt) OR auditedAt <= :at',
      ExpressionAttributeNames: {
        '#breaks': 'breaks',
        '#windows': 'windows',
        '#publish': 'publish',
        '#report': 'report',
      },
      ExpressionAttributeValues: {
        ':at': at,
        ':breaks': audit.breaks,
        ':windows': audit.windows,
        ':publish': audit.publish,
        ':report': audit.report ?? null,
      },
    });
  }

  /** The last wallet ledger audit, or undefined before the first. */
  async getWalletAudit(): Promise<WalletAuditRecord | undefined> {
    const item = await this.get('getWalletAudit', keys.walletAudit());
    if (!item) return undefined;
    return {
      auditedAt: new Date(String(item.auditedAt)),
      breaks: Number(item.breaks),
      windows: Number(item.windows),
      publish: String(item.publish),
      ...(typeof item.report === 'string' ? { report: item.report } : {}),
    };
  }

  // ---------------------------------------------------------------- helpers

  /** Puts an item unless one with its key exists; false when one does. */
  private async putIfAbsent(operation: string, item: Item): Promise<boolean> {
    try {
      await this.call(
        operation,
        () =>
          this.doc.send(
            new PutCommand({ TableName: this.tableName, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }),
          ),
        true,
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  private async get(operation: string, key: ItemKey): Promise<Item | undefined> {
    const out = await this.call(operation, () =>
      this.doc.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true })),
    );
    return out.Item;
  }

  private async batchPut(operation: string, items: readonly Item[]): Promise<void> {
    for (let i = 0; i < items.length; i += BATCH_WRITE_MAX) {
      let pending: Record<string, unknown>[] = items
        .slice(i, i + BATCH_WRITE_MAX)
        .map((Item) => ({ PutRequest: { Item } }));
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 0) await sleep(Math.min(1000, 50 * 2 ** attempt));
        const out = await this.call(operation, () =>
          this.doc.send(
            new BatchWriteCommand({
              RequestItems: { [this.tableName]: pending as { PutRequest: { Item: Item } }[] },
            }),
          ),
        );
        pending = (out.UnprocessedItems?.[this.tableName] as Record<string, unknown>[] | undefined) ?? [];
        if (attempt > 10 && pending.length > 0) {
          throw new SyncStateError(operation, this.tableName, new Error(`${pending.length} items stayed unprocessed`));
        }
      }
    }
  }

  /** An update whose condition may fail: returns whether it was applied. Other errors become {@link SyncStateError}. */
  private async conditionally(
    operation: string,
    input: ConstructorParameters<typeof UpdateCommand>[0],
  ): Promise<boolean> {
    try {
      await this.call(operation, () => this.doc.send(new UpdateCommand(input)), true);
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** Runs a call; errors other than an expected condition failure become {@link SyncStateError}. */
  private async call<T>(operation: string, fn: () => Promise<T>, conditional = false): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (conditional && isConditionFailure(error)) throw error;
      throw new SyncStateError(operation, this.tableName, error);
    }
  }
}

function toStreamState(stream: string, item: Item | undefined): StreamState {
  if (!item) return { stream };
  const watermarkMs = num(item.watermarkMs);
  const watermarkRunId = str(item.watermarkRunId);
  const lastSuccessAt = date(item.lastSuccessAt);
  const lastRunId = str(item.lastRunId);
  const lastRowCount = num(item.lastRowCount);
  const nullCursorRows = num(item.nullCursorRows);
  const nullCursorCountedAt = date(item.nullCursorCountedAt);
  const nullCursorRunId = str(item.nullCursorRunId);
  return {
    stream,
    ...(watermarkMs !== undefined ? { watermark: new Date(watermarkMs) } : {}),
    ...(watermarkRunId !== undefined ? { watermarkRunId } : {}),
    ...(lastSuccessAt ? { lastSuccessAt } : {}),
    ...(lastRunId !== undefined ? { lastRunId } : {}),
    ...(lastRowCount !== undefined ? { lastRowCount } : {}),
    ...(nullCursorRows !== undefined ? { nullCursorRows } : {}),
    ...(nullCursorCountedAt ? { nullCursorCountedAt } : {}),
    ...(nullCursorRunId !== undefined ? { nullCursorRunId } : {}),
    ...latenessOf(item.lateness),
    ...holdbackOf(item.holdback),
    ...(item.keyAudit && typeof item.keyAudit === 'object' ? { keyAudit: item.keyAudit as KeyAuditRecord } : {}),
  };
}

function latenessOf(value: unknown): { lateness?: LatenessRecord } {
  if (!value || typeof value !== 'object') return {};
  const v = value as Item;
  const lastAt = date(v.lastAt);
  if (!lastAt || !Array.isArray(v.histogram)) return {};
  return {
    lateness: {
      runs: num(v.runs) ?? 0,
      rows: num(v.rows) ?? 0,
      maxSeconds: num(v.maxSeconds) ?? 0,
      histogram: v.histogram.map((n) => Number(n)),
      lastRunId: str(v.lastRunId) ?? '',
      lastRows: num(v.lastRows) ?? 0,
      lastMaxSeconds: num(v.lastMaxSeconds) ?? 0,
      lastAt,
    },
  };
}

function holdbackOf(value: unknown): { holdback?: HoldbackRecord } {
  if (!value || typeof value !== 'object') return {};
  const v = value as Item;
  const at = date(v.at);
  if (!at) return {};
  return {
    holdback: {
      runId: str(v.runId) ?? '',
      at,
      heldBackSeconds: num(v.heldBackSeconds) ?? 0,
      visibility: v.visibility === 'all' ? 'all' : 'own',
    },
  };
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
