/**
 * One Parquet file written as a stream: Arrow RecordBatches in, Parquet bytes out, with many row
 * groups and without ever holding the file in memory.
 *
 * Encoding is done by parquet-wasm (arrow-rs compiled to WebAssembly) through its
 * `transformParquetStream`: a JS ReadableStream of wasm RecordBatches feeds an `AsyncArrowWriter`
 * whose output is a ReadableStream of bytes. Each Arrow batch crosses into wasm memory as an Arrow
 * IPC message. The writer buffers the batches it receives, encoded and compressed, and flushes a
 * row group when it reaches `rowGroupRows` rows or `rowGroupBytes` encoded bytes, so the wasm side
 * holds at most one row group per file plus the batch being copied in.
 *
 * The Node entry point `parquet-wasm/node` is CommonJS and instantiates its WebAssembly module
 * synchronously at import from `parquet_wasm_bg.wasm` in its own directory (`__dirname`).
 */
import { type RecordBatch, RecordBatchStreamWriter, type Schema, Table } from 'apache-arrow';
import {
  Compression,
  transformParquetStream,
  type RecordBatch as WasmRecordBatch,
  Table as WasmTable,
  WriterPropertiesBuilder,
  writeParquet,
} from 'parquet-wasm/node';
import { ParquetWriteError } from './errors.ts';
import { footerRowCount } from './footer.ts';

/** Default rows per row group: large enough for good compression and pruning by Athena. */
export const DEFAULT_ROW_GROUP_ROWS = 128 * 1024;
/** Default encoded bytes after which a row group is closed with fewer rows. */
export const DEFAULT_ROW_GROUP_BYTES = 32 * 1024 * 1024;

/** Parquet compression codecs the writer offers (all readable by Athena and DuckDB). */
export type ParquetCompression = 'zstd' | 'snappy' | 'none';

export interface ParquetFileOptions {
  /** @default 'zstd' */
  readonly compression?: ParquetCompression;
  /**
   * Most rows in one row group.
   * @default 131072
   */
  readonly rowGroupRows?: number;
  /**
   * Encoded bytes after which the writer closes a row group with fewer rows; bounds the memory of
   * the row group being built.
   * @default 33554432 (32 MiB)
   */
  readonly rowGroupBytes?: number;
  /**
   * Columns written without dictionary encoding: values unique per row (a primary key), or
   * numbers and timestamps, which zstd compresses better plain than as dictionary indices. A
   * dictionary there costs encoding time and memory. Every other column is dictionary-encoded
   * while its dictionary stays small (`PartitionedPartWriter` passes `defaultPlainColumns`).
   * @default - none
   */
  readonly plainColumns?: readonly string[];
}

const CREATED_BY = 'igaming-connector (parquet-wasm, arrow-rs)';
/** Output bytes kept to read the footer back (the footer arrives with the last row group). */
const TAIL_BYTES = 4 * 1024 * 1024;

/** Receives the Parquet bytes in order; resolving late applies backpressure to the encoder. */
export type ByteConsumer = (chunk: Uint8Array) => Promise<void>;

/**
 * Writes one Parquet file. `write` each batch (all with the same schema), then `close` to write
 * the footer; both resolve once the bytes they produced have been handed to the consumer, so
 * {@link bytesWritten} is exact (and deterministic) between calls.
 */
export class ParquetFileStream {
  /** Parquet bytes handed to the consumer so far. */
  bytesWritten = 0;
  /** Rows passed to `write` so far. */
  rowsWritten = 0;

  private readonly feed = new BatchFeed();
  private readonly options: ParquetFileOptions;
  private pump: Promise<void> | undefined;
  private pumpIdle = false;
  private pumpDone = false;
  private pumpError: unknown;
  private idleWaiters: (() => void)[] = [];
  private recent: Uint8Array[] = [];
  private recentBytes = 0;

  constructor(
    private readonly consumer: ByteConsumer,
    options: ParquetFileOptions = {},
  ) {
    this.options = options;
  }

  /** Encodes one batch; resolves when the writer is ready for the next one. */
  async write(batch: RecordBatch): Promise<void> {
    if (batch.numRows === 0) return;
    await this.writeIpc(RecordBatchStreamWriter.writeAll([batch]).toUint8Array(true), batch.numRows);
  }

  /**
   * Encodes one batch given as an Arrow IPC stream (one record batch of `rows` rows, the schema
   * of every batch of the file); resolves as {@link write}.
   */
  async writeIpc(ipc: Uint8Array, rows: number): Promise<void> {
    if (rows === 0) return;
    const wasmBatch = toWasm(ipc);
    if (wasmBatch.numRows !== rows) {
      wasmBatch.free();
      throw new ParquetWriteError(`an Arrow batch of ${wasmBatch.numRows} rows was given as ${rows} rows`);
    }
    if (this.pump === undefined) {
      // transformParquetStream peeks at the first batch for the schema before it returns.
      const output = transformParquetStream(this.feed.stream, writerProperties(this.options));
      await this.feed.give(wasmBatch);
      this.pump = this.drain(await output);
      this.pump.catch(() => {});
    } else {
      await this.guard(this.feed.give(wasmBatch));
    }
    this.rowsWritten += rows;
    // The writer asks for the next batch only after it has written this one (and flushed any
    // completed row group to its output); then wait until the pump has passed those bytes on.
    await this.guard(this.feed.nextPull());
    await this.settle();
  }

  /**
   * Writes the footer and resolves when the consumer has received the last byte.
   * @throws ParquetWriteError when the footer is missing or counts other rows than were written.
   */
  async close(): Promise<void> {
    if (this.pump === undefined) throw new Error('a Parquet file needs at least one row');
    await this.guard(this.feed.end());
    await this.pump;
    // parquet-wasm's streaming writer swallows write errors, so read back what it produced.
    const tail = this.recent.length === 1 ? this.recent[0]! : Buffer.concat(this.recent);
    let rows: number;
    try {
      rows = footerRowCount(tail);
    } catch (err) {
      throw new ParquetWriteError(`the Parquet writer produced no readable footer after ${this.bytesWritten} bytes`, {
        cause: err,
      });
    }
    if (rows !== this.rowsWritten) {
      throw new ParquetWriteError(`the Parquet file holds ${rows} rows but ${this.rowsWritten} were written`);
    }
  }

  /** Stops encoding; the bytes produced so far are not a valid file. */
  abort(reason: unknown): void {
    this.feed.fail(reason);
    this.pumpDone = true;
    this.wakeIdle();
  }

  private async drain(output: ReadableStream<Uint8Array>): Promise<void> {
    const reader = output.getReader();
    try {
      for (;;) {
        this.pumpIdle = true;
        this.wakeIdle();
        const next = await reader.read();
        this.pumpIdle = false;
        if (next.done) break;
        const chunk = next.value;
        this.bytesWritten += chunk.byteLength;
        this.keepRecent(chunk);
        await this.consumer(chunk);
      }
    } catch (err) {
      this.pumpError = err;
      this.feed.fail(err);
      await reader.cancel(err).catch(() => {});
      throw err;
    } finally {
      this.pumpDone = true;
      this.wakeIdle();
    }
  }

  /** Waits until the pump is blocked on an empty output (everything produced has been consumed). */
  private async settle(): Promise<void> {
    for (;;) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.pumpError !== undefined) throw this.pumpError;
      if (this.pumpIdle || this.pumpDone) return;
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Races a feed operation against a failure of the pump (e.g. the consumer's upload failed). */
  private async guard<T>(promise: Promise<T>): Promise<T> {
    if (this.pumpError !== undefined) throw this.pumpError;
    if (this.pump === undefined) return promise;
    return Promise.race([promise, this.pump.then(() => promise)]);
  }

  private keepRecent(chunk: Uint8Array): void {
    this.recent.push(chunk);
    this.recentBytes += chunk.byteLength;
    while (this.recent.length > 1 && this.recentBytes - this.recent[0]!.byteLength >= TAIL_BYTES) {
      this.recentBytes -= this.recent.shift()!.byteLength;
    }
  }
}

/**
 * A Parquet file with the schema and no rows (a streamed file needs at least one row). Readers
 * (Athena, DuckDB) read it as an empty table of that schema.
 */
export function emptyParquetFile(schema: Schema, options: ParquetFileOptions = {}): Uint8Array {
  const ipc = RecordBatchStreamWriter.writeAll(new Table(schema)).toUint8Array(true);
  // writeParquet takes ownership of the wasm table (and frees it).
  return writeParquet(WasmTable.fromIPCStream(ipc), writerProperties(options));
}

/** parquet-wasm's writer settings for these options (a new object: writing consumes it). */
export function writerProperties(options: ParquetFileOptions) {
  const compression = options.compression ?? 'zstd';
  let builder = new WriterPropertiesBuilder();
  for (const column of options.plainColumns ?? []) builder = builder.setColumnDictionaryEnabled(column, false);
  return builder
    .setCompression(
      compression === 'zstd'
        ? Compression.ZSTD
        : compression === 'snappy'
          ? Compression.SNAPPY
          : Compression.UNCOMPRESSED,
    )
    .setMaxRowGroupSize(options.rowGroupRows ?? DEFAULT_ROW_GROUP_ROWS)
    .setMaxRowGroupBytes(options.rowGroupBytes ?? DEFAULT_ROW_GROUP_BYTES)
    .setCreatedBy(CREATED_BY)
    .build();
}

/** Moves an Arrow batch into wasm memory (Arrow IPC stream → arrow-rs RecordBatch). */
function toWasm(ipc: Uint8Array): WasmRecordBatch {
  const table = WasmTable.fromIPCStream(ipc);
  try {
    const wasmBatch = table.recordBatch(0);
    if (!wasmBatch) throw new Error('Arrow IPC round trip produced no record batch');
    return wasmBatch;
  } finally {
    table.free();
  }
}

/**
 * A pull-driven ReadableStream: the consumer (the wasm writer) asks for a batch, `give` answers.
 * Knowing when the consumer asks again tells us it has finished with the previous batch.
 */
class BatchFeed {
  readonly stream: ReadableStream<WasmRecordBatch>;
  private controller!: ReadableStreamDefaultController<WasmRecordBatch>;
  private pendingPull: (() => void) | undefined;
  private pullWaiters: { resolve: () => void; reject: (reason: unknown) => void }[] = [];
  private failure: unknown;

  constructor() {
    this.stream = new ReadableStream<WasmRecordBatch>(
      {
        start: (controller) => {
          this.controller = controller;
        },
        pull: () =>
          new Promise<void>((resolve) => {
            this.pendingPull = resolve;
            const waiters = this.pullWaiters;
            this.pullWaiters = [];
            for (const waiter of waiters) waiter.resolve();
          }),
      },
      { highWaterMark: 0 },
    );
  }

  /** Resolves when the consumer has asked for an item that has not been given yet. */
  nextPull(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.pendingPull) return Promise.resolve();
    return new Promise((resolve, reject) => this.pullWaiters.push({ resolve, reject }));
  }

  async give(batch: WasmRecordBatch): Promise<void> {
    await this.nextPull();
    const answer = this.pendingPull!;
    this.pendingPull = undefined;
    this.controller.enqueue(batch);
    answer();
  }

  async end(): Promise<void> {
    await this.nextPull();
    this.controller.close();
    const answer = this.pendingPull;
    this.pendingPull = undefined;
    answer?.();
  }

  fail(reason: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = reason ?? new Error('aborted');
    try {
      this.controller.error(this.failure);
    } catch {
      // already closed
    }
    this.pendingPull?.();
    this.pendingPull = undefined;
    const waiters = this.pullWaiters;
    this.pullWaiters = [];
    for (const waiter of waiters) waiter.reject(this.failure);
  }
}
