/**
 * The version of a landed row: `_cursor_us` (the source cursor in UTC microseconds, see
 * `instantMicrosConverter`) and `_source_seq`, the tie-break between versions with the same
 * full-precision cursor. Together they order every version of a key: the current version is the
 * one with the greatest (`_cursor_us`, `_source_seq`) (`LATEST_VERSION_FIRST` in canonical.ts).
 *
 * `_source_seq` follows the order in which the source gave the versions:
 * - **database reads**: when the snapshot of the source transaction the row was read in was taken,
 *   in microseconds since the epoch by the database's own clock (`SnapshotView.readAtMicros`). A
 *   later snapshot sees the same or a newer version of every row, so for one key and cursor the
 *   later read holds the later version (docs/architecture.md, "Versions", states the limits).
 * - **file drops**: the second the file was received (the S3 event time) × 10⁹ plus the row's
 *   ordinal in the file (0-based), so a later upload orders after an earlier one and, within a
 *   file, a later row after an earlier one. Uploads received in the same second are not ordered
 *   against each other; a file holds at most {@link MAX_FILE_ROWS} rows.
 */

/** How the mapper fills `_source_seq`. */
export type SourceSeq =
  /** Every row gets `value` (database reads: the read time of the transaction). */
  | { readonly kind: 'constant'; readonly value: bigint }
  /** Row `i` of the input (0-based, across batches) gets `start + i`, for at most `maxRows` rows (file drops). */
  | { readonly kind: 'ordinal'; readonly start: bigint; readonly maxRows: number };

/** Rows one file may hold: the row ordinal must stay below one second's step of `_source_seq`. */
export const MAX_FILE_ROWS = 1_000_000_000;

const FILE_SEQ_PER_SECOND = BigInt(MAX_FILE_ROWS);
const INT64_MAX = 2n ** 63n - 1n;

/** `_source_seq` of rows read from a database in a transaction that started at `readAtMicros`. */
export function databaseSourceSeq(readAtMicros: bigint): SourceSeq {
  return { kind: 'constant', value: readAtMicros };
}

/**
 * `_source_seq` of the rows of a dropped file received at `receivedAt` (whole seconds since the
 * epoch × 10⁹ + row ordinal; within the signed 64-bit range until the year 2262).
 */
export function fileSourceSeq(receivedAt: Date): SourceSeq {
  const ms = receivedAt.getTime();
  const start = Number.isFinite(ms) ? BigInt(Math.floor(ms / 1000)) * FILE_SEQ_PER_SECOND : -1n;
  if (start < 0n || start + FILE_SEQ_PER_SECOND - 1n > INT64_MAX) {
    throw new RangeError(`file receive time ${String(receivedAt)} is outside 1970 to 2262`);
  }
  return { kind: 'ordinal', start, maxRows: MAX_FILE_ROWS };
}
