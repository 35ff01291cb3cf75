/**
 * Per-stream items (`STREAM#<stream>` / `WATERMARK`): the incremental watermark, which only ever
 * moves forward (a conditional write), and what the stream's runs recorded next to it: the last
 * success, NULL-cursor counts, late arrivals, the open-transaction holdback and the last key audit.
 */
import { BatchGetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type ItemKey, keys } from './keys.ts';
import { date, type Item, isConditionFailure, MAX_ERROR_CHARS, num, type StateTable, sleep, str } from './table.ts';

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
  /** The stream's money totals reconciliation: the last window checked and the last that differed. */
  readonly moneyTotals?: MoneyTotalsRecord;
}

/** One window's money totals reconciliation, as the sync state keeps it (counts and keys only). */
export interface MoneyTotalsCheck {
  readonly runId: string;
  readonly windowId: string;
  readonly at: Date;
  /** (currency, kind) totals that differ. */
  readonly mismatches: number;
  /** The window's manifest, which holds the totals. */
  readonly manifestKey: string;
}

/** The last window whose money totals were reconciled, and the last one whose totals differed. */
export interface MoneyTotalsRecord {
  readonly last: MoneyTotalsCheck;
  readonly lastMismatch?: MoneyTotalsCheck;
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

/** DynamoDB limit: 100 keys per BatchGetItem. */
const BATCH_GET_MAX = 100;

/** The watermark items of the streams. */
export class WatermarkStore {
  constructor(private readonly table: StateTable) {}

  /** The watermark of a stream, or undefined before its first snapshot or sync. */
  async get(stream: string): Promise<Date | undefined> {
    return (await this.getState(stream)).watermark;
  }

  async getState(stream: string): Promise<StreamState> {
    const item = await this.table.get('getStreamState', keys.watermark(stream));
    return toStreamState(stream, item);
  }

  /** The state of several streams in one round trip per 100 streams (for the status command). */
  async getStates(streams: readonly string[]): Promise<StreamState[]> {
    const found = new Map<string, Item>();
    for (let i = 0; i < streams.length; i += BATCH_GET_MAX) {
      let request: Record<string, { Keys: ItemKey[]; ConsistentRead: boolean }> | undefined = {
        [this.table.tableName]: { Keys: streams.slice(i, i + BATCH_GET_MAX).map(keys.watermark), ConsistentRead: true },
      };
      for (let attempt = 0; request && Object.keys(request).length > 0; attempt++) {
        const out = await this.table.call('getStreamStates', () =>
          this.table.doc.send(new BatchGetCommand({ RequestItems: request })),
        );
        for (const item of out.Responses?.[this.table.tableName] ?? []) found.set(String(item.pk), item);
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
  async advance(
    stream: string,
    to: Date,
    runId: string,
    details: { readonly rowCount?: number } = {},
  ): Promise<AdvanceResult> {
    const ms = to.getTime();
    if (!Number.isFinite(ms)) throw new RangeError(`watermark of ${stream} must be a valid date`);
    const now = this.table.now().toISOString();
    try {
      await this.table.call(
        'advanceWatermark',
        () =>
          this.table.doc.send(
            new UpdateCommand({
              TableName: this.table.tableName,
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
      return { advanced: false, current: await this.get(stream) };
    }
  }

  /**
   * Records how many rows of a stream's table have a NULL cursor, as counted by a snapshot's plan or
   * an incremental run. An older count never replaces a newer one.
   */
  async recordNullCursorRows(stream: string, count: { readonly rows: number; readonly runId: string }): Promise<void> {
    const at = this.table.now().toISOString();
    await this.table.conditionally('recordNullCursorRows', {
      TableName: this.table.tableName,
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
    const before = (await this.getState(stream)).lateness;
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
      lastAt: this.table.now().toISOString(),
    };
    return this.table.conditionally('recordLateness', {
      TableName: this.table.tableName,
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
    const at = this.table.now().toISOString();
    await this.table.call('recordHoldback', () =>
      this.table.doc.send(
        new UpdateCommand({
          TableName: this.table.tableName,
          Key: keys.watermark(stream),
          UpdateExpression: 'SET holdback = :h, #stream = :stream, updatedAt = :at',
          ExpressionAttributeNames: { '#stream': 'stream' },
          ExpressionAttributeValues: { ':h': { ...holdback, at }, ':stream': stream, ':at': at },
        }),
      ),
    );
  }

  /**
   * Records a window's money totals reconciliation: the last window checked, and (when its totals
   * differ) the last window that differed, which later agreeing windows leave in place.
   */
  async recordMoneyTotals(stream: string, check: Omit<MoneyTotalsCheck, 'at'>): Promise<void> {
    const at = this.table.now().toISOString();
    const stored = { ...check, at };
    await this.table.call('recordMoneyTotals', () =>
      this.table.doc.send(
        new UpdateCommand({
          TableName: this.table.tableName,
          Key: keys.watermark(stream),
          UpdateExpression: `SET moneyTotalsLast = :c${check.mismatches > 0 ? ', moneyTotalsMismatch = :c' : ''}, #stream = :stream, updatedAt = :at`,
          ExpressionAttributeNames: { '#stream': 'stream' },
          ExpressionAttributeValues: { ':c': stored, ':stream': stream, ':at': at },
        }),
      ),
    );
  }

  /** Records a stream's key audit (the last one wins). */
  async recordKeyAudit(stream: string, record: KeyAuditRecord): Promise<void> {
    const now = this.table.now().toISOString();
    const stored = { ...record, ...(record.error ? { error: record.error.slice(0, MAX_ERROR_CHARS) } : {}) };
    await this.table.call('recordKeyAudit', () =>
      this.table.doc.send(
        new UpdateCommand({
          TableName: this.table.tableName,
          Key: keys.watermark(stream),
          UpdateExpression: 'SET keyAudit = :audit, #stream = :stream, updatedAt = :now',
          ExpressionAttributeNames: { '#stream': 'stream' },
          ExpressionAttributeValues: { ':audit': stored, ':stream': stream, ':now': now },
        }),
      ),
    );
  }

  /** Records a successful run of a stream without touching its watermark (e.g. a run that found no rows). */
  async recordRun(stream: string, run: { readonly runId: string; readonly rowCount: number }): Promise<void> {
    const now = this.table.now().toISOString();
    await this.table.call('recordRun', () =>
      this.table.doc.send(
        new UpdateCommand({
          TableName: this.table.tableName,
          Key: keys.watermark(stream),
          UpdateExpression:
            'SET lastSuccessAt = :now, lastRunId = :run, lastRowCount = :rows, #stream = :stream, updatedAt = :now',
          ExpressionAttributeNames: { '#stream': 'stream' },
          ExpressionAttributeValues: { ':now': now, ':run': run.runId, ':rows': run.rowCount, ':stream': stream },
        }),
      ),
    );
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
    ...moneyTotalsOf(item.moneyTotalsLast, item.moneyTotalsMismatch),
  };
}

function moneyTotalsCheckOf(value: unknown): MoneyTotalsCheck | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const v = value as Item;
  const at = date(v.at);
  if (!at) return undefined;
  return {
    runId: str(v.runId) ?? '',
    windowId: str(v.windowId) ?? '',
    at,
    mismatches: num(v.mismatches) ?? 0,
    manifestKey: str(v.manifestKey) ?? '',
  };
}

function moneyTotalsOf(last: unknown, mismatch: unknown): { moneyTotals?: MoneyTotalsRecord } {
  const checked = moneyTotalsCheckOf(last);
  if (!checked) return {};
  const differed = moneyTotalsCheckOf(mismatch);
  return { moneyTotals: { last: checked, ...(differed ? { lastMismatch: differed } : {}) } };
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
