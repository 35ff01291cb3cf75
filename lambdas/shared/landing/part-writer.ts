/**
 * Writes one attempt at a window of a stream as Parquet parts under
 * `raw/<stream>/<run>/<window>/<attempt>/dt=<d>/part-<n>.parquet`.
 *
 * Rows are routed by the UTC date of their `_cursor` (the `dt` partition). Each date has its own
 * row-group buffer and, while rows arrive, one open part streamed to the sink. A part is closed
 * at the first row-group boundary after its size reaches `partBytes`, and the next part of that
 * date takes the next number. Part numbers count per date from 0 (or from where a continuation
 * left off) in arrival order. Every attempt at a window has its own prefix (continuations of one
 * attempt carry its id in their progress), so an attempt never overwrites what another wrote.
 * Nothing here decides whether a window is committed: that is `commitWindow`, after the parts.
 *
 * Each date buffers its next row group (`rowGroupRows` rows or `rowGroupBytes` bytes of Arrow
 * buffers), which is encoded as a whole when full (`encodeRowGroups`, as a {@link RowGroupEncoder}
 * in a worker thread encodes them) and appended to the date's part. Memory is bounded by the open
 * dates (at most `maxOpenPartitions`) with one row-group buffer each, the row group being encoded,
 * and the sink's upload buffers (of the open parts and of up to four closed parts still
 * completing); a window is never held whole.
 */
import { CANONICAL_STREAMS, type StreamName } from '../canonical.ts';
import type { PartResult, WindowProgress } from '../contracts/steps.ts';
import { type LandedColumn, moneyGroupIndices } from '../landed-schema.ts';
import { partitionDate, rawPartKey } from '../layout.ts';
import { createParquetEncoder, type ParquetEncoder } from '../parquet/encoder.ts';
import { ParquetEncodeError } from '../parquet/errors.ts';
import { DEFAULT_ROW_GROUP_BYTES, DEFAULT_ROW_GROUP_ROWS, type ParquetFileOptions } from '../parquet/file-stream.ts';
import { encodeRowGroups, RowGroupFileWriter } from '../parquet/row-groups.ts';
import type { ObjectSink, ObjectUpload } from '../sink/sink.ts';
import type { LandedBatch } from '../types.ts';
import type { WriteContext } from '../write-context.ts';
import {
  CURSOR_COLUMN,
  checkedCursor,
  cursorIndexOf,
  DAY_MS,
  type EncodedBatch,
  forEachDayRun,
  type RowGroupEncoder,
} from './batch-encoding.ts';
import { WindowStats } from './stats.ts';

export { CURSOR_COLUMN };
/** Content type of the Parquet objects. */
export const PARQUET_CONTENT_TYPE = 'application/vnd.apache.parquet';
/** Default size after which a part is closed and the next one started. */
export const DEFAULT_PART_BYTES = 128 * 1024 * 1024;

/**
 * Closed parts whose upload may still be completing while the next rows are encoded. Ending an
 * upload sends its last (at most one multipart part) bytes and completes it: a round trip that
 * would otherwise stall reading at every part, and on many small partitions dominate the window.
 */
const MAX_FINISHING_UPLOADS = 4;

export interface PartitionedPartWriterOptions extends ParquetFileOptions {
  readonly sink: ObjectSink;
  readonly stream: StreamName;
  readonly runId: string;
  readonly windowId: string;
  /**
   * Id of this attempt at the window (`newAttemptId()`); every part key carries it. A continuation
   * passes the same id as its `resume` progress.
   */
  readonly attempt: string;
  /** `landedColumns()` of the stream; batches are aligned with it and it must contain `_cursor`. */
  readonly columns: readonly LandedColumn[];
  /**
   * Parquet bytes after which a part is closed (at the next row-group boundary).
   * @default 134217728 (128 MiB)
   */
  readonly partBytes?: number;
  /**
   * Partition dates with an open part at once; writing to another date closes the least
   * recently written one (its later rows go to a new part). Input ordered by cursor, as the
   * extractors read it, never reopens a date; unordered input spread over more dates than this
   * gets more, smaller parts.
   * @default 2
   */
  readonly maxOpenPartitions?: number;
  /** Progress of earlier continuations of this window: part numbers and statistics carry on. */
  readonly resume?: WindowProgress;
  /** Operator named in error messages (stream and window are added). */
  readonly operatorId?: string;
}

/**
 * Columns written without a dictionary: the primary key (unique per row) and every non-string
 * column. Plain timestamps, decimals and integers compressed with zstd are smaller than their
 * dictionary indices and much cheaper to encode; strings (enumerations, currencies, player ids,
 * game ids) repeat and keep their dictionary.
 */
export function defaultPlainColumns(stream: StreamName, columns: readonly LandedColumn[]): string[] {
  const primaryKey = CANONICAL_STREAMS[stream].primaryKey;
  return columns.filter((c) => c.name === primaryKey || c.type.kind !== 'string').map((c) => c.name);
}

/**
 * The Parquet settings of a window's parts: what the part writer encodes with, and what a
 * {@link RowGroupEncoder} elsewhere must use so its row groups are the same.
 */
export function partFileOptions(
  stream: StreamName,
  columns: readonly LandedColumn[],
  options: ParquetFileOptions = {},
): ParquetFileOptions {
  return {
    ...(options.compression ? { compression: options.compression } : {}),
    ...(options.rowGroupRows ? { rowGroupRows: options.rowGroupRows } : {}),
    ...(options.rowGroupBytes ? { rowGroupBytes: options.rowGroupBytes } : {}),
    plainColumns: options.plainColumns ?? defaultPlainColumns(stream, columns),
  };
}

interface OpenPartition {
  readonly dt: string;
  /** The date's next row group, buffered (`write`). */
  readonly encoder: ParquetEncoder;
  /** The part being written: its row groups encoded here (`write`) or elsewhere (`writeEncoded`). */
  file: RowGroupFileWriter | undefined;
  upload: ObjectUpload | undefined;
  key: string;
  part: number;
  rows: number;
  lastUsed: number;
}

/**
 * Streams LandedBatches of one window into partitioned, size-rolled Parquet parts.
 *
 * ```ts
 * const attempt = newAttemptId();
 * const writer = new PartitionedPartWriter({ sink, stream: 'game_rounds', runId, windowId, attempt, columns });
 * for await (const batch of landedBatches) await writer.write(batch);
 * const progress = await writer.close();
 * await commitWindow(sink, { ...ids, from, to, columns, progress });
 * ```
 *
 * After a failed `write` or `close` the writer is unusable; open uploads have been aborted.
 */
export class PartitionedPartWriter {
  private readonly options: PartitionedPartWriterOptions;
  private readonly fileOptions: ParquetFileOptions;
  private readonly context: WriteContext;
  private readonly cursorIndex: number;
  private readonly stats: WindowStats;
  private readonly partBytes: number;
  private readonly maxOpen: number;
  private readonly open = new Map<number, OpenPartition>();
  private readonly parts: PartResult[];
  private readonly nextPart: Map<string, number>;
  private readonly finishing = new Set<Promise<void>>();
  private uploadFailure: unknown;
  private tick = 0;
  private state: 'open' | 'closed' | 'failed' = 'open';

  constructor(options: PartitionedPartWriterOptions) {
    this.options = options;
    this.context = {
      ...(options.operatorId ? { operatorId: options.operatorId } : {}),
      stream: options.stream,
      windowId: `${options.runId}/${options.windowId}`,
    };
    this.cursorIndex = cursorIndexOf(options.columns, this.context);
    if (options.resume && options.resume.attempt !== options.attempt) {
      throw new ParquetEncodeError(
        this.context,
        '*',
        0,
        `a continuation of attempt ${options.resume.attempt} cannot write as attempt ${options.attempt}`,
      );
    }
    // Fail on a bad run, window or attempt id now rather than when the first part opens.
    rawPartKey(options.stream, options.runId, options.windowId, options.attempt, '1970-01-01', 0);
    this.partBytes = options.partBytes ?? DEFAULT_PART_BYTES;
    this.maxOpen = Math.max(1, options.maxOpenPartitions ?? 2);
    this.stats = new WindowStats(
      options.columns,
      this.cursorIndex,
      options.resume,
      moneyGroupIndices(options.stream, options.columns),
    );
    this.fileOptions = partFileOptions(options.stream, options.columns, options);
    this.parts = [...(options.resume?.parts ?? [])];
    this.nextPart = new Map(Object.entries(options.resume?.nextPart ?? {}));
  }

  /** Rows accepted so far (including earlier continuations). */
  get rowCount(): number {
    return this.stats.rowCount;
  }

  /** Routes a batch's rows to their dates' parts. Resolves when its full Arrow batches are encoded. */
  async write(batch: LandedBatch): Promise<void> {
    this.assertOpen();
    if (batch.rowCount === 0) return;
    try {
      const cursor = checkedCursor(batch, this.options.columns, this.cursorIndex, this.context);
      this.stats.add(batch);
      const runs: [number, number, number][] = [];
      forEachDayRun(cursor, batch.rowCount, (day, start, end) => runs.push([day, start, end]));
      for (let [day, start, end] of runs) {
        const partition = await this.partition(day);
        while (start < end) {
          start = partition.encoder.append(batch, start, end);
          if (partition.encoder.full) await this.flushBatch(partition);
        }
      }
    } catch (err) {
      await this.fail();
      throw err;
    }
  }

  /**
   * Writes rows already checked, counted and encoded as Parquet row groups by a
   * {@link RowGroupEncoder} (in a worker thread): each segment's row groups go to its date's part,
   * and a part is rolled at a row-group boundary as `write` rolls it. Do not mix with `write` on
   * one writer. Resolves when the segments have been handed to the uploads.
   */
  async writeEncoded(batch: EncodedBatch): Promise<void> {
    this.assertOpen();
    if (batch.rowCount === 0) return;
    try {
      this.stats.merge(batch.stats);
      for (const segment of batch.segments) {
        const partition = await this.partition(segment.day);
        if (partition.encoder.bufferedRows > 0) throw new Error('writeEncoded cannot follow write on one part writer');
        if (!partition.file) this.startPart(partition);
        await partition.file!.append(segment.groups);
        partition.rows += segment.rows;
        if (partition.file!.bytesWritten >= this.partBytes) await this.finishPart(partition);
      }
    } catch (err) {
      await this.fail();
      throw err;
    }
  }

  /**
   * Flushes and closes every open part. Returns the window's progress: its parts, statistics and
   * next part numbers (pass it to `commitWindow`, or as `resume` to a continuation).
   */
  async close(): Promise<WindowProgress> {
    this.assertOpen();
    try {
      const open = [...this.open.values()].sort((a, b) => (a.dt < b.dt ? -1 : 1));
      for (const partition of open) await this.closePartition(partition);
      await Promise.all(this.finishing);
      this.throwUploadFailure();
      this.state = 'closed';
    } catch (err) {
      await this.fail();
      throw err;
    }
    const parts = [...this.parts].sort((a, b) => (a.dt === b.dt ? a.part - b.part : a.dt < b.dt ? -1 : 1));
    return {
      ...this.stats.snapshot(),
      attempt: this.options.attempt,
      parts,
      nextPart: Object.fromEntries([...this.nextPart.entries()].sort()),
      bytes: parts.reduce((sum, p) => sum + p.bytes, 0),
    };
  }

  /** Aborts open uploads; nothing more is written. Safe to call more than once. */
  async abort(): Promise<void> {
    if (this.state === 'open') await this.fail();
  }

  private assertOpen(): void {
    if (this.state !== 'open') throw new Error(`the part writer of ${this.context.windowId} is ${this.state}`);
  }

  private async partition(day: number): Promise<OpenPartition> {
    let partition = this.open.get(day);
    if (!partition) {
      if (this.open.size >= this.maxOpen) {
        let oldest: OpenPartition | undefined;
        for (const p of this.open.values()) if (!oldest || p.lastUsed < oldest.lastUsed) oldest = p;
        await this.closePartition(oldest!);
      }
      partition = {
        dt: partitionDate(new Date(day * DAY_MS)),
        // One buffered batch is one row group, as a RowGroupEncoder cuts them.
        encoder: createParquetEncoder(this.options.columns, {
          batchRows: this.fileOptions.rowGroupRows ?? DEFAULT_ROW_GROUP_ROWS,
          batchBytes: this.fileOptions.rowGroupBytes ?? DEFAULT_ROW_GROUP_BYTES,
          context: this.context,
        }),
        file: undefined,
        upload: undefined,
        key: '',
        part: -1,
        rows: 0,
        lastUsed: 0,
      };
      this.open.set(day, partition);
    }
    partition.lastUsed = ++this.tick;
    return partition;
  }

  /** Encodes the buffered rows of a date as a row group of its open part (opening one if needed), then rolls the part if it is full. */
  private async flushBatch(partition: OpenPartition): Promise<void> {
    if (partition.encoder.bufferedRows === 0) return;
    const rows = partition.encoder.bufferedRows;
    const groups = encodeRowGroups(partition.encoder.recordBatch(), this.fileOptions);
    partition.encoder.reset();
    if (!partition.file) this.startPart(partition);
    await partition.file!.append(groups);
    partition.rows += rows;
    if (partition.file!.bytesWritten >= this.partBytes) await this.finishPart(partition);
  }

  private startPart(partition: OpenPartition): void {
    const part = this.nextPart.get(partition.dt) ?? 0;
    this.nextPart.set(partition.dt, part + 1);
    const { stream, runId, windowId, attempt } = this.options;
    const key = rawPartKey(stream, runId, windowId, attempt, partition.dt, part);
    const upload = this.options.sink.openUpload(key, PARQUET_CONTENT_TYPE);
    partition.upload = upload;
    const consumer = (chunk: Uint8Array) => upload.write(chunk);
    partition.file = new RowGroupFileWriter(consumer);
    partition.key = key;
    partition.part = part;
    partition.rows = 0;
  }

  private throwUploadFailure(): void {
    if (this.uploadFailure !== undefined) throw this.uploadFailure;
  }

  private async finishPart(partition: OpenPartition): Promise<void> {
    const { file, upload } = partition;
    if (!file || !upload) return;
    await file.close();
    // The upload completes in the background; close() waits for every one of them.
    this.throwUploadFailure();
    const finishing: Promise<void> = upload.end().then(
      () => {
        this.finishing.delete(finishing);
      },
      (err: unknown) => {
        this.finishing.delete(finishing);
        this.uploadFailure ??= err;
      },
    );
    this.finishing.add(finishing);
    while (this.finishing.size >= MAX_FINISHING_UPLOADS) await Promise.race(this.finishing);
    this.throwUploadFailure();
    this.parts.push({
      key: partition.key,
      dt: partition.dt,
      part: partition.part,
      rows: partition.rows,
      bytes: file.bytesWritten,
    });
    partition.file = undefined;
    partition.upload = undefined;
  }

  private async closePartition(partition: OpenPartition): Promise<void> {
    await this.flushBatch(partition);
    await this.finishPart(partition);
    for (const [day, p] of this.open) if (p === partition) this.open.delete(day);
  }

  private async fail(): Promise<void> {
    this.state = 'failed';
    const open = [...this.open.values()];
    this.open.clear();
    await Promise.all(this.finishing);
    await Promise.all(
      open.map(async (p) => {
        p.file?.abort(new Error('window write failed'));
        await p.upload?.abort().catch(() => {});
      }),
    );
  }
}
