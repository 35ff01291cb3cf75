/**
 * Schema-drift state of each stream (`STREAM#<stream>` / `SCHEMA`): the columns of its source table
 * (or of its files' header) seen by the last **successful** run — the fingerprint the next run
 * compares with — the columns the current run saw (promoted to the fingerprint only when that run
 * succeeds), and the last drift reported. Names and types only, never a value.
 */
import { BatchGetCommand, type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { SourceKind } from '../types.ts';
import { type ItemKey, keys } from './keys.ts';
import { SyncStateError } from './table.ts';

/** A column as recorded: name and declared type. */
export interface SchemaColumnRecord {
  readonly name: string;
  readonly type: string;
  readonly kind: SourceKind;
  readonly precision?: number;
  readonly scale?: number;
}

/** Columns seen by a run. */
export interface SchemaSighting {
  /** Hash of the columns (names and types). */
  readonly hash: string;
  readonly columns: readonly SchemaColumnRecord[];
  /** The snapshot, incremental run or file that saw them. */
  readonly runId: string;
  readonly at: Date;
}

/** One drifted column as recorded (see `drift/compare.ts`). */
export interface SchemaChangeRecord {
  readonly change: string;
  readonly column: string;
  readonly fields?: readonly string[];
  readonly from?: string;
  readonly to?: string;
  readonly renamedTo?: string;
  readonly fix?: string;
}

/** The last drift a run found in a stream. */
export interface SchemaDriftRecord {
  readonly runId: string;
  readonly at: Date;
  /** Where: `schema.table`, or the file's key for a file drop. */
  readonly source: string;
  readonly changes: readonly SchemaChangeRecord[];
  /** Whether the drift failed the stream. */
  readonly failed: boolean;
}

export interface SchemaState {
  readonly stream: string;
  /** The fingerprint: columns seen by the last successful run. */
  readonly accepted?: SchemaSighting;
  /** Columns seen by the latest run, until it succeeds. */
  readonly pending?: SchemaSighting;
  readonly lastDrift?: SchemaDriftRecord;
}

const BATCH_GET_MAX = 100;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
type Item = Record<string, unknown>;

const sighting = (v: unknown): SchemaSighting | undefined => {
  if (!v || typeof v !== 'object') return undefined;
  const s = v as Item;
  return {
    hash: String(s.hash),
    columns: (s.columns as SchemaColumnRecord[] | undefined) ?? [],
    runId: String(s.runId),
    at: new Date(String(s.at)),
  };
};

function toSchemaState(stream: string, item: Item | undefined): SchemaState {
  if (!item) return { stream };
  const accepted = sighting(item.accepted);
  const pending = sighting(item.pending);
  const drift = item.lastDrift as Item | undefined;
  return {
    stream,
    ...(accepted ? { accepted } : {}),
    ...(pending ? { pending } : {}),
    ...(drift && typeof drift === 'object'
      ? {
          lastDrift: {
            runId: String(drift.runId),
            at: new Date(String(drift.at)),
            source: String(drift.source ?? ''),
            changes: (drift.changes as SchemaChangeRecord[] | undefined) ?? [],
            failed: drift.failed === true,
          },
        }
      : {}),
  };
}

export class SchemaLedger {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  async get(stream: string): Promise<SchemaState> {
    const out = await this.call('getSchemaState', () =>
      this.doc.send(new GetCommand({ TableName: this.tableName, Key: keys.schema(stream), ConsistentRead: true })),
    );
    return toSchemaState(stream, out.Item);
  }

  /** The state of several streams, one round trip per 100 streams. */
  async getMany(streams: readonly string[]): Promise<SchemaState[]> {
    const found = new Map<string, Item>();
    for (let i = 0; i < streams.length; i += BATCH_GET_MAX) {
      let request: Record<string, { Keys: ItemKey[]; ConsistentRead: boolean }> | undefined = {
        [this.tableName]: { Keys: streams.slice(i, i + BATCH_GET_MAX).map(keys.schema), ConsistentRead: true },
      };
      for (let attempt = 0; request && Object.keys(request).length > 0; attempt++) {
        const out = await this.call('getSchemaStates', () =>
          this.doc.send(new BatchGetCommand({ RequestItems: request })),
        );
        for (const item of out.Responses?.[this.tableName] ?? []) found.set(String(item.pk), item);
        request = out.UnprocessedKeys as typeof request;
        if (request && Object.keys(request).length > 0) await sleep(Math.min(1000, 50 * 2 ** attempt));
      }
    }
    return streams.map((s) => toSchemaState(s, found.get(keys.schema(s).pk)));
  }

  /**
   * Records the columns a run saw (pending until {@link accept}) and, when it found drift, the
   * drift. A run that fails on drift records the drift, never the columns.
   */
  async observe(
    stream: string,
    seen: Omit<SchemaSighting, 'at'> & { readonly at?: Date },
    drift?: { readonly source: string; readonly changes: readonly SchemaChangeRecord[]; readonly failed: boolean },
  ): Promise<void> {
    const at = (seen.at ?? new Date()).toISOString();
    const sets = ['#stream = :stream', 'updatedAt = :at'];
    const values: Item = { ':stream': stream, ':at': at };
    if (!drift?.failed) {
      sets.push('pending = :pending');
      values[':pending'] = { hash: seen.hash, columns: seen.columns.map(plain), runId: seen.runId, at };
    }
    if (drift && drift.changes.length > 0) {
      sets.push('lastDrift = :drift');
      values[':drift'] = {
        runId: seen.runId,
        at,
        source: drift.source,
        changes: drift.changes.map(plain),
        failed: drift.failed,
      };
    }
    await this.call('observeSchema', () =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.schema(stream),
          UpdateExpression: `SET ${sets.join(', ')}`,
          ExpressionAttributeNames: { '#stream': 'stream' },
          ExpressionAttributeValues: values,
        }),
      ),
    );
  }

  /**
   * Makes the columns `runId` saw the stream's fingerprint: called when that run succeeded. A no-op
   * (false) when a later run has recorded its own columns since.
   */
  async accept(stream: string, runId: string): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.schema(stream),
          UpdateExpression: 'SET accepted = pending, updatedAt = :now',
          ConditionExpression: 'pending.runId = :run',
          ExpressionAttributeValues: { ':run': runId, ':now': new Date().toISOString() },
        }),
      );
      return true;
    } catch (error) {
      if ((error as { name?: string }).name === 'ConditionalCheckFailedException') return false;
      throw new SyncStateError('acceptSchema', this.tableName, error);
    }
  }

  private async call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw new SyncStateError(operation, this.tableName, error);
    }
  }
}

/** Drops undefined fields (the document client refuses them). */
function plain<T extends object>(value: T): Item {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
}
