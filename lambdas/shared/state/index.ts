/** The operator's sync state in DynamoDB. */
export { CONFIG_PK, INCREMENTAL_LOCK, type ItemKey, keys, LOCK_PK, TABLE_SCHEMA, windowPrefix } from './keys.ts';
export {
  type AdvanceResult,
  type LockState,
  SnapshotIncompleteError,
  type SnapshotMeta,
  type SnapshotPointer,
  type SnapshotStatus,
  type SnapshotWindowInput,
  type SnapshotWindowRecord,
  type StreamState,
  SyncStateError,
  SyncStateStore,
  type SyncStateStoreOptions,
  type WindowStatus,
} from './store.ts';
