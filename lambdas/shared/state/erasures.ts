/**
 * The erasure audit in the sync-state table: one item per erasure request of a player, and one per
 * landed window whose committed parts the request rewrote. Items are keyed by the player's
 * pseudonym and never hold the clear id; they never expire, so they are the lasting record of what
 * was erased, when, and from where.
 *
 * The window items are also the request's journal: a window is recorded (`rewriting`) before its
 * objects are rewritten and marked `done` once the rewritten objects are in place and their earlier
 * versions deleted, so a request that stopped half-way is finished by running it again.
 */
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ERASURE_REQUEST_PREFIX, ERASURE_WINDOW_INFIX, erasurePk, keys } from './keys.ts';
import { isConditionFailure, SyncStateError } from './table.ts';

/** Rows and objects one request removed from one stream. */
export interface ErasureStreamCounts {
  /** Rows deleted from the stream's serving table. */
  readonly servingRows: number;
  /** Rows removed from the stream's committed raw parts. */
  readonly rawRows: number;
  /** Committed raw parts rewritten without the player's rows. */
  readonly rawObjects: number;
}

/** One erasure request of a player (the audit entry). */
export interface ErasureRecord {
  readonly pseudonym: string;
  /** `20260301T101500Z-3fa9c1`: when the request started and a random suffix. */
  readonly erasureId: string;
  readonly status: 'running' | 'complete';
  readonly startedAt: Date;
  readonly completedAt?: Date;
  /** The key form the id was pseudonymized with (`source.keyComparison` recorded for the operator). */
  readonly keyComparison: { readonly caseInsensitive: boolean; readonly padSpace: boolean };
  /** The requester's reference (e.g. a ticket number); never personal data. */
  readonly reference?: string;
  /** Rows deleted from each stream's serving table so far (kept as they are deleted). */
  readonly serving: Readonly<Record<string, number>>;
  /** Counts per stream, once complete. */
  readonly streams: Readonly<Record<string, ErasureStreamCounts>>;
}

/** A landed window whose committed parts a request rewrote. */
export interface ErasureWindowRecord {
  readonly pseudonym: string;
  readonly erasureId: string;
  readonly stream: string;
  readonly runId: string;
  readonly windowId: string;
  /** The committed attempt's manifest (its counts and sums were adjusted). */
  readonly manifestKey: string;
  /** The rewritten parts and the player's rows each held. */
  readonly parts: readonly { readonly key: string; readonly rows: number }[];
  readonly status: 'rewriting' | 'done';
  readonly updatedAt: Date;
}

type Item = Record<string, unknown>;

function toRecord(item: Item): ErasureRecord {
  const completedAt = typeof item.completedAt === 'string' ? new Date(item.completedAt) : undefined;
  const comparison = (item.keyComparison ?? {}) as { caseInsensitive?: unknown; padSpace?: unknown };
  return {
    pseudonym: String(item.pseudonym),
    erasureId: String(item.erasureId),
    status: item.status === 'complete' ? 'complete' : 'running',
    startedAt: new Date(String(item.startedAt)),
    ...(completedAt ? { completedAt } : {}),
    keyComparison: { caseInsensitive: comparison.caseInsensitive === true, padSpace: comparison.padSpace === true },
    ...(typeof item.reference === 'string' ? { reference: item.reference } : {}),
    serving: (item.serving ?? {}) as Record<string, number>,
    streams: (item.streams ?? {}) as Record<string, ErasureStreamCounts>,
  };
}

function toWindow(item: Item): ErasureWindowRecord {
  return {
    pseudonym: String(item.pseudonym),
    erasureId: String(item.erasureId),
    stream: String(item.stream),
    runId: String(item.runId),
    windowId: String(item.windowId),
    manifestKey: String(item.manifestKey),
    parts: (item.parts ?? []) as { key: string; rows: number }[],
    status: item.status === 'done' ? 'done' : 'rewriting',
    updatedAt: new Date(String(item.updatedAt)),
  };
}

/** Reads and writes a player's erasure items. */
export class ErasureAudit {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Every request of the player (oldest first) and the windows each rewrote. */
  async list(pseudonym: string): Promise<{ requests: ErasureRecord[]; windows: ErasureWindowRecord[] }> {
    const requests: ErasureRecord[] = [];
    const windows: ErasureWindowRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.call('listErasures', () =>
        this.doc.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
            ExpressionAttributeValues: { ':pk': erasurePk(pseudonym), ':prefix': ERASURE_REQUEST_PREFIX },
            ConsistentRead: true,
            ExclusiveStartKey: start,
          }),
        ),
      );
      for (const item of page.Items ?? []) {
        if (String(item.sk).includes(ERASURE_WINDOW_INFIX)) windows.push(toWindow(item));
        else requests.push(toRecord(item));
      }
      start = page.LastEvaluatedKey;
    } while (start);
    return { requests, windows };
  }

  /** Records a new request as running; false when the id exists already. */
  async start(record: Omit<ErasureRecord, 'status' | 'completedAt' | 'serving' | 'streams'>): Promise<boolean> {
    try {
      await this.call(
        'startErasure',
        () =>
          this.doc.send(
            new PutCommand({
              TableName: this.tableName,
              Item: {
                ...keys.erasureRequest(record.pseudonym, record.erasureId),
                pseudonym: record.pseudonym,
                erasureId: record.erasureId,
                status: 'running',
                startedAt: record.startedAt.toISOString(),
                keyComparison: { ...record.keyComparison },
                ...(record.reference !== undefined ? { reference: record.reference } : {}),
                serving: {},
                streams: {},
              },
              ConditionExpression: 'attribute_not_exists(pk)',
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

  /** The request, or undefined. */
  async get(pseudonym: string, erasureId: string): Promise<ErasureRecord | undefined> {
    const out = await this.call('getErasure', () =>
      this.doc.send(
        new GetCommand({
          TableName: this.tableName,
          Key: keys.erasureRequest(pseudonym, erasureId),
          ConsistentRead: true,
        }),
      ),
    );
    return out.Item ? toRecord(out.Item) : undefined;
  }

  /** Records (or re-records) a window before its objects are rewritten. */
  async putWindow(window: Omit<ErasureWindowRecord, 'updatedAt'>): Promise<void> {
    await this.call('putErasureWindow', () =>
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...keys.erasureWindow(window.pseudonym, window.erasureId, window.stream, window.runId, window.windowId),
            ...window,
            parts: window.parts.map((p) => ({ key: p.key, rows: p.rows })),
            updatedAt: this.now().toISOString(),
          },
        }),
      ),
    );
  }

  /** Marks a window done: its rewritten objects are in place and their earlier versions deleted. */
  async completeWindow(
    window: Pick<ErasureWindowRecord, 'pseudonym' | 'erasureId' | 'stream' | 'runId' | 'windowId'>,
  ): Promise<void> {
    await this.call('completeErasureWindow', () =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.erasureWindow(window.pseudonym, window.erasureId, window.stream, window.runId, window.windowId),
          UpdateExpression: 'SET #status = :done, updatedAt = :now',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':done': 'done', ':now': this.now().toISOString() },
        }),
      ),
    );
  }

  /** Adds rows just deleted from a stream's serving table to the request's count. */
  async addServingRows(pseudonym: string, erasureId: string, stream: string, rows: number): Promise<void> {
    await this.call('addErasureServingRows', () =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.erasureRequest(pseudonym, erasureId),
          UpdateExpression: 'SET serving.#stream = if_not_exists(serving.#stream, :zero) + :rows',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#stream': stream },
          ExpressionAttributeValues: { ':zero': 0, ':rows': rows },
        }),
      ),
    );
  }

  /** Marks a request complete with what it removed per stream. */
  async complete(
    pseudonym: string,
    erasureId: string,
    streams: Readonly<Record<string, ErasureStreamCounts>>,
  ): Promise<ErasureRecord> {
    const out = await this.call('completeErasure', () =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.erasureRequest(pseudonym, erasureId),
          UpdateExpression: 'SET #status = :complete, completedAt = :now, streams = :streams',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':complete': 'complete', ':now': this.now().toISOString(), ':streams': streams },
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    return toRecord(out.Attributes ?? {});
  }

  private async call<T>(operation: string, fn: () => Promise<T>, conditional = false): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (conditional && isConditionFailure(error)) throw error;
      throw new SyncStateError(operation, this.tableName, error);
    }
  }
}
