/**
 * The sync-state table as the item families' stores share it: one document client, the table name
 * and a clock, and the few DynamoDB calls every family makes (a consistent get, a put unless the
 * item exists, a batched put, a conditional update). Every error other than a condition the caller
 * tests for becomes a {@link SyncStateError} naming the table and the operation.
 */
import {
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ItemKey } from './keys.ts';

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

/** Whether a call failed only because its condition did not hold. */
export function isConditionFailure(error: unknown): boolean {
  return (error as { name?: string } | undefined)?.name === 'ConditionalCheckFailedException';
}

/** Options of the sync-state table handle. */
export interface StateTableOptions {
  /** Clock, for tests of lock expiry. @default () => new Date() */
  readonly now?: () => Date;
}

/** Longest error text stored on a failed window or snapshot. */
export const MAX_ERROR_CHARS = 2000;
/** DynamoDB limit: 25 items per BatchWriteItem. */
const BATCH_WRITE_MAX = 25;

/** An item of the table as the document client returns it. */
export type Item = Record<string, unknown>;

export const date = (value: unknown): Date | undefined => (typeof value === 'string' ? new Date(value) : undefined);
export const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
export const num = (value: unknown): number | undefined => (typeof value === 'number' ? value : undefined);
export const truncate = (text: string): string =>
  text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)}…` : text;
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The handle every family store is built on. Takes its DynamoDB document client so handlers create
 * one client at module scope and tests point it at dynalite.
 */
export class StateTable {
  readonly now: () => Date;

  constructor(
    readonly doc: DynamoDBDocumentClient,
    readonly tableName: string,
    options: StateTableOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
  }

  /** Puts an item unless one with its key exists; false when one does. */
  async putIfAbsent(operation: string, item: Item): Promise<boolean> {
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

  /** A consistent read of one item; undefined when it does not exist. */
  async get(operation: string, key: ItemKey): Promise<Item | undefined> {
    const out = await this.call(operation, () =>
      this.doc.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true })),
    );
    return out.Item;
  }

  /** Puts items 25 at a time, retrying the unprocessed ones with backoff; fails after 12 rounds of one batch. */
  async batchPut(operation: string, items: readonly Item[]): Promise<void> {
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
  async conditionally(operation: string, input: ConstructorParameters<typeof UpdateCommand>[0]): Promise<boolean> {
    try {
      await this.call(operation, () => this.doc.send(new UpdateCommand(input)), true);
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** Runs a call; errors other than an expected condition failure become {@link SyncStateError}. */
  async call<T>(operation: string, fn: () => Promise<T>, conditional = false): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (conditional && isConditionFailure(error)) throw error;
      throw new SyncStateError(operation, this.tableName, error);
    }
  }
}
