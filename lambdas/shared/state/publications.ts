/**
 * The publication backlog: committed windows not yet merged into their stream's serving table.
 *
 * A window is registered **before** its commit (the commit protocol calls {@link PublicationLedger.register}
 * right before writing the committed list), so every committed window has an entry whatever fails
 * afterwards; an entry whose window never committed is dropped by the publish planner once it is
 * older than the grace period. Publishing deletes the entries it merged. Entries live under
 * `PUBLISH#<stream>` / `<run>#<window>`, so the backlog of a stream is one query.
 */
import {
  BatchWriteCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateQuery,
} from '@aws-sdk/lib-dynamodb';
import type { StreamName } from '../canonical.ts';
import { keys, publicationPk } from './keys.ts';
import { SyncStateError } from './table.ts';

/** What the rows of one or more windows hold of the stream's partition column (from the windows' manifests). */
export interface PartitionRange {
  /** Smallest and largest non-NULL value (ISO-8601); null when every value is NULL. */
  readonly range: { readonly min: string; readonly max: string } | null;
  /** Whether some merged row has a NULL partition value. */
  readonly hasNulls: boolean;
}

/** A committed (or committing) window waiting to be published. */
export interface PendingPublication {
  readonly stream: StreamName;
  readonly runId: string;
  readonly windowId: string;
  /** When the window was registered (just before its commit). */
  readonly registeredAt: Date;
  /** Rows the window landed. */
  readonly rows: number;
  /** The stream's partition column in the window's rows; undefined when unknown (the MERGE is then unbounded). */
  readonly partition?: PartitionRange;
}

/** The windows one MERGE of a publish reads (the cross product of runIds and windowIds is exact). */
export interface PlannedBatch {
  readonly id: string;
  readonly stream: StreamName;
  readonly runIds: readonly string[];
  readonly windowIds: readonly string[];
}

const BATCH_WRITE_MAX = 25;
/** How long a publish plan is kept (its execution has ended long before). */
const PLAN_TTL_SECONDS = 7 * 86_400;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class PublicationLedger {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  /** Registers a window about to commit (idempotent: a retried commit registers it again). */
  async register(entry: Omit<PendingPublication, 'registeredAt'> & { readonly registeredAt?: Date }): Promise<void> {
    const item = {
      ...keys.publication(entry.stream, entry.runId, entry.windowId),
      stream: entry.stream,
      runId: entry.runId,
      windowId: entry.windowId,
      rows: entry.rows,
      registeredAt: (entry.registeredAt ?? new Date()).toISOString(),
      ...(entry.partition ? { partition: entry.partition } : {}),
    };
    await this.call('registerPublication', () =>
      this.doc.send(new PutCommand({ TableName: this.tableName, Item: item })),
    );
  }

  /** The backlog of a stream, oldest registration first. */
  async pending(stream: StreamName): Promise<PendingPublication[]> {
    const out: PendingPublication[] = [];
    await this.call('pendingPublications', async () => {
      const pages = paginateQuery(
        { client: this.doc },
        {
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': publicationPk(stream) },
          ConsistentRead: true,
        },
      );
      for await (const page of pages) {
        for (const item of page.Items ?? []) {
          const partition = item.partition as PartitionRange | undefined;
          out.push({
            stream,
            runId: String(item.runId),
            windowId: String(item.windowId),
            registeredAt: new Date(String(item.registeredAt)),
            rows: typeof item.rows === 'number' ? item.rows : 0,
            ...(partition ? { partition } : {}),
          });
        }
      }
    });
    return out.sort((a, b) => a.registeredAt.getTime() - b.registeredAt.getTime());
  }

  /** Removes entries: published, or abandoned (never committed). */
  async remove(entries: readonly Pick<PendingPublication, 'stream' | 'runId' | 'windowId'>[]): Promise<void> {
    for (let i = 0; i < entries.length; i += BATCH_WRITE_MAX) {
      let requests: { DeleteRequest: { Key: Record<string, string> } }[] = entries
        .slice(i, i + BATCH_WRITE_MAX)
        .map((e) => ({ DeleteRequest: { Key: { ...keys.publication(e.stream, e.runId, e.windowId) } } }));
      for (let attempt = 0; requests.length > 0; attempt++) {
        const out = await this.call('removePublications', () =>
          this.doc.send(new BatchWriteCommand({ RequestItems: { [this.tableName]: requests } })),
        );
        requests = (out.UnprocessedItems?.[this.tableName] ?? []) as typeof requests;
        if (requests.length > 0) await sleep(Math.min(1000, 50 * 2 ** attempt));
      }
    }
  }

  /** Stores the batches of a publish, for its end step (execution payloads stay small). */
  async savePlan(owner: string, batches: readonly PlannedBatch[], now = new Date()): Promise<void> {
    await this.call('savePublishPlan', () =>
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...keys.publishPlan(owner),
            batches,
            createdAt: now.toISOString(),
            expiresAt: Math.floor(now.getTime() / 1000) + PLAN_TTL_SECONDS,
          },
        }),
      ),
    );
  }

  /** The batches of a publish, or undefined when none were stored. */
  async loadPlan(owner: string): Promise<PlannedBatch[] | undefined> {
    const out = await this.call('loadPublishPlan', () =>
      this.doc.send(new GetCommand({ TableName: this.tableName, Key: keys.publishPlan(owner), ConsistentRead: true })),
    );
    return out.Item ? (out.Item.batches as PlannedBatch[]) : undefined;
  }

  async deletePlan(owner: string): Promise<void> {
    await this.call('deletePublishPlan', () =>
      this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: keys.publishPlan(owner) })),
    );
  }

  private async call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw new SyncStateError(operation, this.tableName, error);
    }
  }
}
