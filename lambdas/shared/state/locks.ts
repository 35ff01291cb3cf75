/**
 * Run locks (`LOCK` / `<name>`): one holder at a time, taken with a conditional put, renewed and
 * released only by their owner, and taken over once expired (a crashed holder). The expiry is also
 * the item's TTL.
 */
import { DeleteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { keys } from './keys.ts';
import { isConditionFailure, num, type StateTable } from './table.ts';

export interface LockState {
  readonly name: string;
  readonly owner: string;
  /** Epoch seconds after which the lock may be taken over (also the item's TTL). */
  readonly expiresAt: number;
  readonly acquiredAt: Date;
}

/** The run locks of the operator. */
export class LockStore {
  constructor(private readonly table: StateTable) {}

  /**
   * Takes the lock `name` for `ttlSeconds` if it is free, expired, or already held by `owner`
   * (a retried invocation). Returns whether `owner` now holds it. A crashed holder's lock is taken
   * over once it has expired.
   */
  async acquire(name: string, owner: string, ttlSeconds: number): Promise<boolean> {
    const now = this.table.now();
    const nowSeconds = Math.floor(now.getTime() / 1000);
    try {
      await this.table.call(
        'acquireLock',
        () =>
          this.table.doc.send(
            new PutCommand({
              TableName: this.table.tableName,
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
  async renew(name: string, owner: string, ttlSeconds: number): Promise<boolean> {
    const nowSeconds = Math.floor(this.table.now().getTime() / 1000);
    try {
      await this.table.call(
        'renewLock',
        () =>
          this.table.doc.send(
            new UpdateCommand({
              TableName: this.table.tableName,
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
  async release(name: string, owner: string): Promise<boolean> {
    try {
      await this.table.call(
        'releaseLock',
        () =>
          this.table.doc.send(
            new DeleteCommand({
              TableName: this.table.tableName,
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
  async get(name: string): Promise<LockState | undefined> {
    const item = await this.table.get('getLock', keys.lock(name));
    if (!item) return undefined;
    const expiresAt = num(item.expiresAt) ?? 0;
    if (expiresAt < Math.floor(this.table.now().getTime() / 1000)) return undefined;
    return { name, owner: String(item.owner), expiresAt, acquiredAt: new Date(String(item.acquiredAt)) };
  }
}
