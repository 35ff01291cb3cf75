/**
 * The part of Parquet writing that needs no WebAssembly and no order: a landed batch checked,
 * counted into window statistics, cut into runs of rows of one `dt` partition (UTC date of the
 * `_cursor`) and serialized as Arrow IPC, so a worker thread can do it while the thread that
 * owns the Parquet files (`PartitionedPartWriter.writeEncoded`) only encodes and uploads.
 *
 * Importing this module loads apache-arrow only (not parquet-wasm).
 */
import { RecordBatchStreamWriter } from 'apache-arrow';
import { METADATA_FIELDS } from '../canonical.ts';
import type { LandedColumn } from '../landed-schema.ts';
import { createParquetEncoder, DEFAULT_BATCH_BYTES, type ParquetEncoder } from '../parquet/encoder.ts';
import { ParquetEncodeError } from '../parquet/errors.ts';
import type { LandedBatch } from '../types.ts';
import type { WriteContext } from '../write-context.ts';
import { WindowStats, type WindowStatsPart } from './stats.ts';

/** The landed column every row is partitioned by. */
export const CURSOR_COLUMN = METADATA_FIELDS[0]!.name;

export const DAY_MS = 86_400_000;

/** Consecutive rows of one batch that fall on one UTC date, as one Arrow IPC stream. */
export interface EncodedSegment {
  /** Days since 1970-01-01 (UTC) of the rows' `_cursor`. */
  readonly day: number;
  readonly rows: number;
  /** Arrow IPC stream: the schema of the landed columns and one record batch of `rows` rows. */
  readonly ipc: Uint8Array;
}

/** A landed batch ready for `PartitionedPartWriter.writeEncoded`. */
export interface EncodedBatch {
  readonly rowCount: number;
  readonly stats: WindowStatsPart;
  /** In row order. */
  readonly segments: readonly EncodedSegment[];
}

/** Index of `_cursor` in `columns`; throws unless it is a required timestamp. */
export function cursorIndexOf(columns: readonly LandedColumn[], context: WriteContext): number {
  const index = columns.findIndex((c) => c.name === CURSOR_COLUMN);
  const cursor = columns[index];
  if (cursor?.type.kind !== 'timestamp' || cursor.nullable) {
    throw new ParquetEncodeError(context, CURSOR_COLUMN, 0, 'the landed columns need a required timestamp _cursor');
  }
  return index;
}

/** The batch's `_cursor` values, checked to be integer epoch milliseconds. */
export function checkedCursor(
  batch: LandedBatch,
  columns: readonly LandedColumn[],
  cursorIndex: number,
  context: WriteContext,
): readonly number[] {
  const cursor = batch.columns[cursorIndex];
  if (!cursor || batch.columns.length !== columns.length) {
    throw new ParquetEncodeError(
      context,
      '*',
      0,
      `the batch has ${batch.columns.length} columns but the landed schema has ${columns.length}`,
    );
  }
  for (let i = 0; i < batch.rowCount; i++) {
    const v = cursor[i];
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
      throw new ParquetEncodeError(
        context,
        CURSOR_COLUMN,
        i,
        v === null ? 'is NULL but every row needs a cursor' : 'is not an integer number of epoch milliseconds',
      );
    }
  }
  return cursor as readonly number[];
}

/** Calls `each(day, start, end)` for every run of consecutive rows on one UTC date. */
export function forEachDayRun(
  cursor: readonly number[],
  rowCount: number,
  each: (day: number, start: number, end: number) => void,
): void {
  let start = 0;
  while (start < rowCount) {
    const day = Math.floor(cursor[start]! / DAY_MS);
    const dayStart = day * DAY_MS;
    const dayEnd = dayStart + DAY_MS;
    let end = start + 1;
    while (end < rowCount && cursor[end]! >= dayStart && cursor[end]! < dayEnd) end++;
    each(day, start, end);
    start = end;
  }
}

/**
 * Turns landed batches into {@link EncodedBatch}es with the same checks as the part writer
 * (a value that does not fit its column is a ParquetEncodeError naming the window). Keeps one
 * set of Arrow buffers, reused for every batch.
 */
export class LandedBatchEncoder {
  private readonly cursorIndex: number;
  private readonly encoder: ParquetEncoder;

  constructor(
    private readonly columns: readonly LandedColumn[],
    private readonly context: WriteContext,
    options: { readonly batchRows?: number; readonly batchBytes?: number } = {},
  ) {
    this.cursorIndex = cursorIndexOf(columns, context);
    this.encoder = createParquetEncoder(columns, {
      batchRows: options.batchRows ?? 64 * 1024,
      batchBytes: options.batchBytes ?? DEFAULT_BATCH_BYTES,
      context,
    });
  }

  encode(batch: LandedBatch): EncodedBatch {
    const cursor = checkedCursor(batch, this.columns, this.cursorIndex, this.context);
    const stats = new WindowStats(this.columns, this.cursorIndex);
    stats.add(batch);
    const segments: EncodedSegment[] = [];
    const encoder = this.encoder;
    try {
      forEachDayRun(cursor, batch.rowCount, (day, start, end) => {
        let at = start;
        while (at < end) {
          at = encoder.append(batch, at, end);
          if (encoder.full || at === end) {
            const rows = encoder.bufferedRows;
            const ipc = RecordBatchStreamWriter.writeAll([encoder.recordBatch()]).toUint8Array(true);
            encoder.reset();
            segments.push({ day, rows, ipc });
          }
        }
      });
    } catch (err) {
      encoder.reset();
      throw err;
    }
    return { rowCount: batch.rowCount, stats: stats.part(), segments };
  }
}
