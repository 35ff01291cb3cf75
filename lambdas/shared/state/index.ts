/**
 * The operator's sync state in DynamoDB: one table (`keys.ts` lists every item family's keys), one
 * store per item family on a shared handle (`table.ts`).
 */
export { ErasureAudit } from './erasures.ts';
export {
  FileBusyError,
  FileLedger,
  type FileLedgerEntry,
  type FileLedgerStatus,
  fileVersionOf,
} from './file-ledger.ts';
export {
  CONFIG_PK,
  INCREMENTAL_LOCK,
  type ItemKey,
  keys,
  LOCK_PK,
  PUBLISH_LOCK,
  TABLE_SCHEMA,
  windowPrefix,
} from './keys.ts';
export { type LockState, LockStore } from './locks.ts';
export { PseudonymKeyStore, type RecordedKeyForm } from './pseudonym-key.ts';
export { PublicationLedger } from './publications.ts';
export { SchemaLedger } from './schemas.ts';
export {
  SnapshotIncompleteError,
  type SnapshotMeta,
  type SnapshotPointer,
  type SnapshotStatus,
  SnapshotStore,
  type SnapshotWindowInput,
  type SnapshotWindowRecord,
  type WindowStatus,
} from './snapshots.ts';
export { SyncStateStore, type SyncStateStoreOptions } from './store.ts';
export { StateTable, SyncStateError } from './table.ts';
export { type WalletAuditRecord, WalletAuditStore } from './wallet-audit.ts';
export { type AdvanceResult, type StreamState, WatermarkStore } from './watermarks.ts';
