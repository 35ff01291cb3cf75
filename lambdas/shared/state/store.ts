/**
 * The operator's sync state in DynamoDB, one store per item family on one table handle: per-stream
 * watermarks, snapshot progress, run locks, the wrapped pseudonym key and the last wallet audit.
 * Every write that could race is a conditional write, so concurrent Lambdas can never move a
 * watermark backwards, run two incremental syncs at once, or end up with two pseudonym keys.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LockStore } from './locks.ts';
import { PseudonymKeyStore } from './pseudonym-key.ts';
import { SnapshotStore } from './snapshots.ts';
import { StateTable, type StateTableOptions } from './table.ts';
import { WalletAuditStore } from './wallet-audit.ts';
import { WatermarkStore } from './watermarks.ts';

export type SyncStateStoreOptions = StateTableOptions;

/**
 * The item families' stores of one sync-state table. Takes its DynamoDB document client so handlers
 * create one client at module scope and tests point it at dynalite.
 */
export class SyncStateStore {
  readonly watermarks: WatermarkStore;
  readonly snapshots: SnapshotStore;
  readonly locks: LockStore;
  readonly pseudonymKey: PseudonymKeyStore;
  readonly walletAudit: WalletAuditStore;

  constructor(
    doc: DynamoDBDocumentClient,
    readonly tableName: string,
    options: SyncStateStoreOptions = {},
  ) {
    const table = new StateTable(doc, tableName, options);
    this.watermarks = new WatermarkStore(table);
    this.snapshots = new SnapshotStore(table, this.watermarks);
    this.locks = new LockStore(table);
    this.pseudonymKey = new PseudonymKeyStore(table);
    this.walletAudit = new WalletAuditStore(table);
  }
}
