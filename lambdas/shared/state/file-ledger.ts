/**
 * The record of processed dropped objects in the sync-state table: one item per object version
 * (pk `FILE#<key>`, sk `<versionId>` or `ETAG#<etag>`), so a duplicate event is recognised even
 * after the original has been archived or deleted.
 *
 * An invocation first claims the version with a conditional put (`processing`, with a lease).
 * A second invocation for the same version finds either a finished item (a duplicate: nothing to
 * do) or a live claim (it fails with the retryable {@link FileBusyError}, and SQS redelivers the
 * message after the visibility timeout). A claim whose lease has run out (its Lambda died) is
 * taken over. The item is finished with the outcome once the original has been moved.
 */
import { DeleteCommand, type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { keys } from './keys.ts';
import { isConditionFailure } from './table.ts';

/** How a dropped object version was finished. */
export type FileLedgerStatus = 'landed' | 'quarantined' | 'missing';

/** The item of one object version. */
export interface FileLedgerEntry {
  readonly key: string;
  readonly version: string;
  readonly status: 'processing' | FileLedgerStatus;
  readonly runId: string;
  /** Epoch milliseconds until which a `processing` claim is held. */
  readonly leaseUntil?: number;
  readonly finishedAt?: string;
  /** Landed rows, manifest or quarantine key: what became of the file. */
  readonly detail?: Record<string, string | number>;
}

/** Another invocation is processing the same object version right now. Retryable. */
export class FileBusyError extends Error {
  override readonly name = 'FileBusyError';
  readonly retryable = true;
}

/** Sort key of an object version: its version id, else its ETag (unversioned buckets, s3rver). */
export function fileVersionOf(versionId: string | undefined, etag: string | undefined): string {
  if (versionId) return versionId;
  if (etag) return `ETAG#${etag}`;
  throw new Error('an object event without version id or ETag cannot be processed idempotently');
}

export interface FileLedgerOptions {
  readonly doc: DynamoDBDocumentClient;
  readonly tableName: string;
  /**
   * How long a claim is held; at least the function timeout, at most the queue's visibility timeout.
   * @default 15 minutes
   */
  readonly leaseMs?: number;
}

/** Claims and outcomes of dropped object versions (see module documentation). */
export class FileLedger {
  private readonly doc: DynamoDBDocumentClient;
  readonly tableName: string;
  private readonly leaseMs: number;

  constructor(options: FileLedgerOptions) {
    this.doc = options.doc;
    this.tableName = options.tableName;
    this.leaseMs = options.leaseMs ?? 15 * 60_000;
  }

  /** The item of an object version, if any. */
  async get(key: string, version: string): Promise<FileLedgerEntry | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keys.fileVersion(key, version), ConsistentRead: true }),
    );
    return out.Item as FileLedgerEntry | undefined;
  }

  /**
   * Claims an object version for this invocation. Returns the finished entry when the version was
   * already processed; throws {@link FileBusyError} while another invocation holds it.
   */
  async claim(key: string, version: string, runId: string, now: Date): Promise<FileLedgerEntry | undefined> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...keys.fileVersion(key, version),
            key,
            version,
            status: 'processing',
            runId,
            leaseUntil: now.getTime() + this.leaseMs,
            claimedAt: now.toISOString(),
          },
          ConditionExpression: 'attribute_not_exists(pk) OR (#status = :processing AND leaseUntil < :now)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':processing': 'processing', ':now': now.getTime() },
        }),
      );
      return undefined;
    } catch (e) {
      if (!isConditionFailure(e)) throw e;
    }
    const entry = await this.get(key, version);
    if (entry && entry.status !== 'processing') return entry;
    throw new FileBusyError(
      `${key} (version ${version}) is being processed by another invocation; the message is retried later`,
    );
  }

  /** Records the outcome of a claimed version. */
  async finish(
    key: string,
    version: string,
    runId: string,
    status: FileLedgerStatus,
    now: Date,
    detail: Record<string, string | number> = {},
  ): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...keys.fileVersion(key, version),
          key,
          version,
          status,
          runId,
          finishedAt: now.toISOString(),
          detail,
        },
      }),
    );
  }

  /** Gives a claim up after a failure, so the retry need not wait for the lease. Best effort. */
  async release(key: string, version: string): Promise<void> {
    await this.doc
      .send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: keys.fileVersion(key, version),
          ConditionExpression: '#status = :processing',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':processing': 'processing' },
        }),
      )
      .catch(() => undefined);
  }
}
