/**
 * Item keys of the sync-state table (partition key `pk`, sort key `sk`, both strings; TTL attribute
 * `expiresAt` in epoch seconds). One table per operator stack, so keys carry no operator id.
 *
 * | item                    | pk                   | sk                          |
 * | ----------------------- | -------------------- | --------------------------- |
 * | stream watermark        | `STREAM#<stream>`    | `WATERMARK`                 |
 * | source schema (drift)   | `STREAM#<stream>`    | `SCHEMA`                    |
 * | snapshot metadata       | `SNAPSHOT#<id>`      | `META`                      |
 * | snapshot window         | `SNAPSHOT#<id>`      | `WINDOW#<stream>#<window>`  |
 * | current snapshot        | `CONFIG`             | `SNAPSHOT`                  |
 * | pseudonym key (wrapped) | `CONFIG`             | `PSEUDONYM_KEY`             |
 * | key form of pseudonyms  | `CONFIG`             | `KEY_FORM`                  |
 * | last wallet audit       | `INTEGRITY`          | `WALLET_LEDGER`             |
 * | run lock                | `LOCK`               | `<name>` (e.g. INCREMENTAL) |
 * | pending publication     | `PUBLISH#<stream>`   | `<run>#<window>`            |
 * | publish plan            | `PUBLISH_PLAN`       | `<owner>`                   |
 * | erasure request (audit) | `ERASURE#<pseudonym>`| `REQUEST#<erasure id>`      |
 * | erasure of a window     | `ERASURE#<pseudonym>`| `REQUEST#<erasure id>#WINDOW#<stream>#<run>#<window>` |
 * | dropped object version  | `FILE#<object key>`  | `<version id>` or `ETAG#<etag>` |
 *
 * Every key is produced by {@link keys} (or the prefixes below, for queries); each item family has
 * its store in this folder: `watermarks.ts`, `schemas.ts`, `snapshots.ts`, `pseudonym-key.ts`,
 * `wallet-audit.ts`, `locks.ts`, `publications.ts`, `erasures.ts`, `file-ledger.ts`.
 *
 * Erasure items hold the player's pseudonym (never the clear id) and are never expired: they are
 * the record that a player's data was erased (see `erasures.ts`). File items are kept so a
 * duplicate event is recognised after the original has been archived or deleted.
 */

/** Attribute names of the table's key and TTL, as the CDK construct defines them. */
export const TABLE_SCHEMA = { partitionKey: 'pk', sortKey: 'sk', timeToLive: 'expiresAt' } as const;

export interface ItemKey {
  readonly pk: string;
  readonly sk: string;
}

export const CONFIG_PK = 'CONFIG';
export const LOCK_PK = 'LOCK';
/** Lock name of incremental runs: one at a time per operator. */
export const INCREMENTAL_LOCK = 'INCREMENTAL';
/** Lock name of publishes: one at a time per operator (Iceberg commits to one table would conflict). */
export const PUBLISH_LOCK = 'PUBLISH';

/** Partition key of a player's erasure items (requests and their windows). */
export function erasurePk(pseudonym: string): string {
  return `${ERASURE_PK_PREFIX}${pseudonym}`;
}

/** Partition key of a stream's pending publications. */
export function publicationPk(stream: string): string {
  return `PUBLISH#${stream}`;
}

export const keys = {
  watermark: (stream: string): ItemKey => ({ pk: `STREAM#${stream}`, sk: 'WATERMARK' }),
  /** The columns of the stream's source table (or file header) seen by the last successful run, and the last drift. */
  schema: (stream: string): ItemKey => ({ pk: `STREAM#${stream}`, sk: 'SCHEMA' }),
  snapshotMeta: (snapshotId: string): ItemKey => ({ pk: `SNAPSHOT#${snapshotId}`, sk: 'META' }),
  snapshotWindow: (snapshotId: string, stream: string, windowId: string): ItemKey => ({
    pk: `SNAPSHOT#${snapshotId}`,
    sk: `WINDOW#${stream}#${windowId}`,
  }),
  currentSnapshot: (): ItemKey => ({ pk: CONFIG_PK, sk: 'SNAPSHOT' }),
  pseudonymKey: (): ItemKey => ({ pk: CONFIG_PK, sk: 'PSEUDONYM_KEY' }),
  keyForm: (): ItemKey => ({ pk: CONFIG_PK, sk: 'KEY_FORM' }),
  lock: (name: string): ItemKey => ({ pk: LOCK_PK, sk: name }),
  walletAudit: (): ItemKey => ({ pk: 'INTEGRITY', sk: 'WALLET_LEDGER' }),
  erasureRequest: (pseudonym: string, erasureId: string): ItemKey => ({
    pk: erasurePk(pseudonym),
    sk: `${ERASURE_REQUEST_PREFIX}${erasureId}`,
  }),
  erasureWindow: (pseudonym: string, erasureId: string, stream: string, runId: string, windowId: string): ItemKey => ({
    pk: erasurePk(pseudonym),
    sk: `${ERASURE_REQUEST_PREFIX}${erasureId}${ERASURE_WINDOW_INFIX}${stream}#${runId}#${windowId}`,
  }),
  publication: (stream: string, runId: string, windowId: string): ItemKey => ({
    pk: publicationPk(stream),
    sk: `${runId}#${windowId}`,
  }),
  publishPlan: (owner: string): ItemKey => ({ pk: 'PUBLISH_PLAN', sk: owner }),
  /** A dropped object version: its sort key is {@link fileVersionOf}'s (file-ledger.ts). */
  fileVersion: (objectKey: string, version: string): ItemKey => ({ pk: `FILE#${objectKey}`, sk: version }),
};

/** Partition-key prefix of a player's erasure items. */
export const ERASURE_PK_PREFIX = 'ERASURE#';
/** Sort-key prefix of every erasure item of a player (requests and their windows). */
export const ERASURE_REQUEST_PREFIX = 'REQUEST#';
/** Marks the sort key of an erased window under its request. */
export const ERASURE_WINDOW_INFIX = '#WINDOW#';

/** Sort-key prefix of the window items of a snapshot (optionally of one stream). */
export function windowPrefix(stream?: string): string {
  return stream === undefined ? 'WINDOW#' : `WINDOW#${stream}#`;
}
