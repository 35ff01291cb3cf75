/**
 * The part of Parquet writing that needs no order: landed batches checked, counted into window
 * statistics, cut into runs of rows of one `dt` partition (UTC date of the `_cursor`) and encoded
 * as whole Parquet row groups, so a worker thread can do it while the thread that owns the
 * Parquet parts (`PartitionedPartWriter.writeEncoded`) only places the row groups and uploads.
 */
import { METADATA_FIELDS } from '../canonical.ts';
import { type LandedColumn, moneyGroupIndices } from '../landed-schema.ts';
import { createParquetEncoder, type ParquetEncoder } from '../parquet/encoder.ts';
import { ParquetEncodeError } from '../parquet/errors.ts';
import { DEFAULT_ROW_GROUP_BYTES, DEFAULT_ROW_GROUP_ROWS, type ParquetFileOptions } from '../parquet/file-stream.ts';
import { type EncodedRowGroups, encodeRowGroups } from '../parquet/row-groups.ts';
import type { LandedBatch } from '../types.ts';
import type { WriteContext } from '../write-context.ts';
import { WindowStats, type WindowStatsPart } from './stats.ts';

/** The landed column every row is partitioned by. */
export const CURSOR_COLUMN = METADATA_FIELDS[0]!.name;

export const DAY_MS = 86_400_000;

/** Consecutive rows that fall on one UTC date, encoded as Parquet row groups. */
export interface EncodedSegment {
  /** Days since 1970-01-01 (UTC) of the rows' `_cursor`. */
  readonly day: number;
  readonly rows: number;
  readonly groups: EncodedRowGroups;
}

/** Landed batches ready for `PartitionedPartWriter.writeEncoded`. */
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
 * Turns landed batches into encoded Parquet row groups with the same checks and writer settings
 * as the part writer (a value that does not fit its column is a ParquetEncodeError naming the
 * window), so a worker thread does all of the encoding and the thread that owns the parts only
 * places the row groups (row-groups.ts). `add` the landed batches of one job in
 * read order, then `finish`: a row group ends where the job ends, where the `dt` date changes,
 * and at `rowGroupRows` rows or `rowGroupBytes` Arrow bytes. Keeps one set of Arrow buffers,
 * reused for every row group.
 */
export class RowGroupEncoder {
  private readonly cursorIndex: number;
  /** The money totals' grouping columns (landed-schema.ts `moneyGroupIndices`). */
  private readonly groupBy: readonly number[];
  private readonly encoder: ParquetEncoder;
  private stats: WindowStats;
  private segments: EncodedSegment[] = [];
  private rowCount = 0;
  private day: number | undefined;

  constructor(
    private readonly columns: readonly LandedColumn[],
    private readonly context: WriteContext,
    private readonly fileOptions: ParquetFileOptions,
  ) {
    this.cursorIndex = cursorIndexOf(columns, context);
    this.groupBy = moneyGroupIndices(context.stream, columns);
    this.encoder = createParquetEncoder(columns, {
      batchRows: fileOptions.rowGroupRows ?? DEFAULT_ROW_GROUP_ROWS,
      batchBytes: fileOptions.rowGroupBytes ?? DEFAULT_ROW_GROUP_BYTES,
      context,
    });
    this.stats = new WindowStats(columns, this.cursorIndex, undefined, this.groupBy);
  }

  /** Checks, counts and buffers a landed batch, encoding every row group it completes. */
  add(batch: LandedBatch): void {
    if (batch.rowCount === 0) return;
    try {
      const cursor = checkedCursor(batch, this.columns, this.cursorIndex, this.context);
      this.stats.add(batch);
      this.rowCount += batch.rowCount;
      const encoder = this.encoder;
      forEachDayRun(cursor, batch.rowCount, (day, start, end) => {
        if (day !== this.day) this.flush();
        this.day = day;
        let at = start;
        while (at < end) {
          at = encoder.append(batch, at, end);
          if (encoder.full) this.flush();
        }
      });
    } catch (err) {
      this.discard();
      throw err;
    }
  }

  /** Encodes the rows still buffered and returns everything added since the last `finish`. */
  finish(): EncodedBatch {
    try {
      this.flush();
    } catch (err) {
      this.discard();
      throw err;
    }
    const done: EncodedBatch = { rowCount: this.rowCount, stats: this.stats.part(), segments: this.segments };
    this.discard();
    return done;
  }

  /** Drops what was added since the last `finish`. */
  discard(): void {
    this.encoder.reset();
    this.stats = new WindowStats(this.columns, this.cursorIndex, undefined, this.groupBy);
    this.segments = [];
    this.rowCount = 0;
    this.day = undefined;
  }

  private flush(): void {
    const rows = this.encoder.bufferedRows;
    if (rows === 0) return;
    const groups = encodeRowGroups(this.encoder.recordBatch(), this.fileOptions);
    this.encoder.reset();
    this.segments.push({ day: this.day!, rows, groups });
  }
}
