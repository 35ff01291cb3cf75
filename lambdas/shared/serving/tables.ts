/**
 * The serving tables: one Apache Iceberg (format v2) table per configured stream, holding the
 * current state of the stream (one row per primary key, its latest version; keys deleted at the
 * source removed). What analysts and model-training jobs query. Defined here once, from the
 * canonical model and the operator's mapping, for the Glue table definitions (CDK), the MERGE
 * statements that fill them and the local engine that runs those statements on a laptop.
 *
 * **Partitioning** (per stream, see {@link SERVING_LAYOUTS}): event streams by the day of their event
 * time, the column analysts filter on; the players table by a bucket of its key. Publishing bounds
 * the partitions each MERGE reads with the range of the partition column in the rows it merges
 * (known from the committed windows' manifests), which is correct as long as a key's partition
 * column never changes: the column is the stream's creation time (or its cursor, for streams whose
 * rows never change), never a time that moves with updates.
 */
import { CANONICAL_STREAMS, type FieldType, getField, type StreamName } from '../canonical.ts';
import type { OperatorConfig } from '../config/schema.ts';
import { type LandedColumn, landedColumns } from '../landed-schema.ts';

/** How a stream's serving table is partitioned. */
export type PartitionLayout =
  | { readonly transform: 'day'; readonly column: string }
  | { readonly transform: 'bucket'; readonly column: string; readonly buckets: number };

export interface ServingLayout {
  readonly partition: PartitionLayout;
  /** Why this partitioning (docs/architecture.md and the data dictionary repeat it). */
  readonly reason: string;
}

/** Partitioning of each stream's serving table. */
export const SERVING_LAYOUTS: Readonly<Record<StreamName, ServingLayout>> = {
  players: {
    partition: { transform: 'bucket', column: 'player_id', buckets: 16 },
    reason:
      'One row per player, looked up and joined by player_id; a player changes often, so no time column is stable. Sixteen buckets keep files large for a table of millions of rows.',
  },
  sessions: {
    partition: { transform: 'day', column: 'started_at' },
    reason: 'Sessions are queried by when they started; started_at is the cursor and never changes for a session.',
  },
  payments: {
    partition: { transform: 'day', column: 'created_at' },
    reason:
      'Deposits and withdrawals are reported by the day they were requested; created_at never changes, while updated_at moves with every status change.',
  },
  wallet_transactions: {
    partition: { transform: 'day', column: 'created_at' },
    reason: 'The ledger is immutable and read by booking day; created_at is its cursor.',
  },
  game_rounds: {
    partition: { transform: 'day', column: 'started_at' },
    reason:
      'GGR and activity are reported by the day a round was played; started_at never changes, while updated_at moves at settlement.',
  },
  bonuses: {
    partition: { transform: 'day', column: 'granted_at' },
    reason: 'Bonus cost is reported by the day a bonus was granted; granted_at never changes.',
  },
  compliance_events: {
    partition: { transform: 'day', column: 'occurred_at' },
    reason: 'Events are immutable and read by the day they occurred; occurred_at is the cursor.',
  },
};

/** A column of a serving table. */
export interface ServingColumn extends LandedColumn {
  /** Iceberg field id (1-based, in column order). */
  readonly id: number;
  /** The Iceberg type (`string`, `int`, `long`, `boolean`, `decimal(p,s)`, `timestamp`, `date`). */
  readonly icebergType: string;
}

/** The Iceberg type of a canonical field type. Timestamps are UTC instants stored without zone. */
export function icebergType(type: FieldType): string {
  switch (type.kind) {
    case 'string':
      return 'string';
    case 'int32':
      return 'int';
    case 'int64':
      return 'long';
    case 'boolean':
      return 'boolean';
    case 'decimal':
      return `decimal(${type.precision},${type.scale})`;
    case 'timestamp':
      return 'timestamp';
    case 'date':
      return 'date';
  }
}

/** Landed columns that are not carried into the serving tables (tombstones are applied, not kept). */
const NOT_SERVED = new Set(['_deleted']);

/** The columns of a stream's serving table: its landed columns (same names and types) but `_deleted`. */
export function servingColumns(config: OperatorConfig, stream: StreamName): ServingColumn[] {
  return landedColumns(config, stream)
    .filter((c) => !NOT_SERVED.has(c.name))
    .map((c, i) => ({ ...c, id: i + 1, icebergType: icebergType(c.type) }));
}

/** The serving table a stream lands in (its Glue table name). */
export function servingTableName(stream: StreamName): string {
  return stream;
}

/** The partition layout of a stream, checked against the operator's mapping. */
export function servingLayout(config: OperatorConfig, stream: StreamName): ServingLayout {
  const layout = SERVING_LAYOUTS[stream];
  const column = layout.partition.column;
  if (!servingColumns(config, stream).some((c) => c.name === column)) {
    // The partition column is not landed (not mapped, or dropped): partition by a bucket of the key.
    return {
      partition: { transform: 'bucket', column: CANONICAL_STREAMS[stream].primaryKey, buckets: 16 },
      reason: `${layout.reason} The operator does not land ${column}, so the table is bucketed by its key instead.`,
    };
  }
  return layout;
}

/** The Iceberg partition transform of a layout (`day`, `bucket[16]`). */
export function icebergTransform(partition: PartitionLayout): string {
  return partition.transform === 'day' ? 'day' : `bucket[${partition.buckets}]`;
}

/** Whether the partition column is a timestamp the MERGE can bound by its range in the merged rows. */
export function boundedByTime(config: OperatorConfig, stream: StreamName): boolean {
  const { partition } = servingLayout(config, stream);
  return partition.transform === 'day' && getField(stream, partition.column)?.type.kind === 'timestamp';
}

/** What one row of each stream's serving table is (the data dictionary says it per table). */
export const SERVING_ROWS: Readonly<Record<StreamName, string>> = {
  players: 'player account',
  sessions: 'player session (login to logout)',
  payments: 'payment: a deposit or a withdrawal',
  wallet_transactions: 'wallet ledger entry (entries do not change once booked)',
  game_rounds: 'game round (bet to settlement)',
  bonuses: 'bonus granted to a player',
  compliance_events: 'responsible-gaming or compliance event (KYC, limit, exclusion, AML alert)',
};
