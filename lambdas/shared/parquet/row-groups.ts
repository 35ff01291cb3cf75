/**
 * Row groups encoded apart, written as one Parquet file. A worker thread encodes whole row groups
 * with parquet-wasm (a complete little file each time, {@link rowGroupsOf} takes it apart); the
 * thread that owns the part appends them in order with {@link RowGroupFileWriter}, which moves
 * their offsets to where their bytes land and writes the page indexes and the footer itself.
 *
 * The bytes of a row group (pages, their headers and statistics) are the encoder's, untouched; so
 * are the schema, the key-value metadata (the Arrow schema), the column statistics of each row
 * group and the column and offset indexes. What is rewritten is positions only: `file_offset`,
 * `data_page_offset`, `dictionary_page_offset`, `index_page_offset` and the page locations of the
 * offset index (shifted by where the row group lands), the row group `ordinal`, the page index
 * offsets and lengths, and the file's `num_rows`. The result is laid out as parquet-rs lays out a
 * file: magic, row groups, every column index, every offset index, footer, length, magic.
 *
 * Field ids are those of parquet-format's `parquet.thrift` (`format-ids.ts`).
 */
import { type RecordBatch, RecordBatchStreamWriter } from 'apache-arrow';
import { Table as WasmTable, writeParquet } from 'parquet-wasm/node';
import { compressPages, NATIVE_ZSTD } from './compress-pages.ts';
import { ParquetWriteError } from './errors.ts';
import { type ByteConsumer, type ParquetFileOptions, writerProperties } from './file-stream.ts';
import { footerRowCount } from './footer.ts';
import {
  CC_COLUMN_INDEX_LENGTH,
  CC_COLUMN_INDEX_OFFSET,
  CC_CRYPTO,
  CC_FILE_OFFSET,
  CC_FILE_PATH,
  CC_META,
  CC_OFFSET_INDEX_LENGTH,
  CC_OFFSET_INDEX_OFFSET,
  CM_BLOOM_FILTER_OFFSET,
  CM_DATA_PAGE_OFFSET,
  CM_DICTIONARY_PAGE_OFFSET,
  CM_INDEX_PAGE_OFFSET,
  CM_TOTAL_COMPRESSED,
  FILE_ENCRYPTION,
  FILE_NUM_ROWS,
  FILE_ROW_GROUPS,
  OI_PAGE_LOCATIONS,
  PL_OFFSET,
  RG_COLUMNS,
  RG_FILE_OFFSET,
  RG_NUM_ROWS,
  RG_ORDINAL,
} from './format-ids.ts';
import {
  field,
  intAt,
  listAt,
  readStruct,
  setInt,
  structAt,
  type ThriftStruct,
  type ThriftValue,
  writeStruct,
} from './thrift-compact.ts';

const MAGIC = new Uint8Array([0x50, 0x41, 0x52, 0x31]); // "PAR1"

/**
 * The row groups of one encoded file, with every position relative to the first byte of
 * {@link body}. Structured-cloneable; `body` can be transferred.
 */
export interface EncodedRowGroups {
  /** Rows in all the row groups. */
  readonly rows: number;
  /** The row groups' bytes: the file after its leading magic, up to its page indexes. */
  readonly body: Uint8Array;
  /**
   * The file's metadata with no row groups and `num_rows` 0 (schema, Arrow schema, writer):
   * equal for every file of one schema and writer settings.
   */
  readonly template: Uint8Array;
  /** RowGroup structs, positions relative to `body`. */
  readonly rowGroups: readonly ThriftStruct[];
  /** Serialized ColumnIndex per column chunk (row group major), or null when the chunk has none. */
  readonly columnIndexes: readonly (Uint8Array | null)[];
  /** OffsetIndex per column chunk (row group major), positions relative to `body`, or null. */
  readonly offsetIndexes: readonly (ThriftStruct | null)[];
}

function chunksOf(rowGroup: ThriftStruct): ThriftStruct[] {
  return listAt(rowGroup, RG_COLUMNS).items as ThriftStruct[];
}

/** Adds `delta` to an integer field when it is present (and, for `file_offset`, set). */
function shift(struct: ThriftStruct, id: number, delta: bigint, keepZero = false): void {
  const v = intAt(struct, id);
  if (v === undefined || (keepZero && v === 0n)) return;
  setInt(struct, id, v + delta);
}

function shiftRowGroup(rowGroup: ThriftStruct, delta: bigint): void {
  shift(rowGroup, RG_FILE_OFFSET, delta);
  for (const chunk of chunksOf(rowGroup)) {
    // parquet-rs leaves the deprecated ColumnChunk.file_offset at 0; keep that as it is.
    shift(chunk, CC_FILE_OFFSET, delta, true);
    const meta = structAt(chunk, CC_META);
    shift(meta, CM_DATA_PAGE_OFFSET, delta);
    shift(meta, CM_INDEX_PAGE_OFFSET, delta);
    shift(meta, CM_DICTIONARY_PAGE_OFFSET, delta);
  }
}

function shiftOffsetIndex(index: ThriftStruct, delta: bigint): void {
  for (const location of listAt(index, OI_PAGE_LOCATIONS).items as ThriftStruct[]) {
    shift(location, PL_OFFSET, delta);
  }
}

function toNumber(v: bigint | undefined, what: string): number {
  if (v === undefined || v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ParquetWriteError(`the encoded Parquet file has no valid ${what}`);
  }
  return Number(v);
}

/**
 * Takes apart a complete Parquet file as parquet-wasm (parquet-rs) writes it: its row groups'
 * bytes and metadata, its page indexes, and its metadata template. Refuses what cannot be moved
 * by rewriting the positions above (bloom filters, encryption, column chunks in other files).
 * @throws ParquetWriteError
 */
export function rowGroupsOf(file: Uint8Array): EncodedRowGroups {
  const n = file.byteLength;
  if (n < 12 || !startsWithMagic(file, 0) || !startsWithMagic(file, n - 4)) {
    throw new ParquetWriteError('the encoded row groups are not a Parquet file');
  }
  const footerLength = new DataView(file.buffer, file.byteOffset + n - 8, 4).getUint32(0, true);
  const footerStart = n - 8 - footerLength;
  if (footerStart < 4) throw new ParquetWriteError('the encoded Parquet footer is longer than the file');
  let meta: ThriftStruct;
  try {
    meta = readStruct(file.subarray(footerStart, n - 8)).struct;
  } catch (err) {
    throw new ParquetWriteError('the encoded Parquet footer cannot be read', { cause: err });
  }
  if (field(meta, FILE_ENCRYPTION)) throw new ParquetWriteError('encrypted row groups cannot be moved');
  const rowGroups = listAt(meta, FILE_ROW_GROUPS).items as ThriftStruct[];
  const columnIndexes: (Uint8Array | null)[] = [];
  const offsetIndexes: (ThriftStruct | null)[] = [];
  let bodyEnd = footerStart;
  let dataEnd = 4;
  let rows = 0;
  for (const rowGroup of rowGroups) {
    rows += toNumber(intAt(rowGroup, RG_NUM_ROWS), 'row group num_rows');
    for (const chunk of chunksOf(rowGroup)) {
      if (field(chunk, CC_FILE_PATH) || field(chunk, CC_CRYPTO)) {
        throw new ParquetWriteError('row groups with external or encrypted column chunks cannot be moved');
      }
      const meta = structAt(chunk, CC_META);
      if (field(meta, CM_BLOOM_FILTER_OFFSET))
        throw new ParquetWriteError('row groups with bloom filters cannot be moved');
      const start = toNumber(
        intAt(meta, CM_DICTIONARY_PAGE_OFFSET) ?? intAt(meta, CM_DATA_PAGE_OFFSET),
        'column chunk offset',
      );
      dataEnd = Math.max(dataEnd, start + toNumber(intAt(meta, CM_TOTAL_COMPRESSED), 'column chunk size'));

      const ciOffset = intAt(chunk, CC_COLUMN_INDEX_OFFSET);
      if (ciOffset === undefined) columnIndexes.push(null);
      else {
        const at = toNumber(ciOffset, 'column index offset');
        const length = toNumber(intAt(chunk, CC_COLUMN_INDEX_LENGTH), 'column index length');
        if (at + length > footerStart) throw new ParquetWriteError('a column index runs into the footer');
        columnIndexes.push(file.slice(at, at + length));
        bodyEnd = Math.min(bodyEnd, at);
      }
      const oiOffset = intAt(chunk, CC_OFFSET_INDEX_OFFSET);
      if (oiOffset === undefined) offsetIndexes.push(null);
      else {
        const at = toNumber(oiOffset, 'offset index offset');
        const length = toNumber(intAt(chunk, CC_OFFSET_INDEX_LENGTH), 'offset index length');
        const { struct, end } = readStruct(file.subarray(0, footerStart), at);
        if (end !== at + length) throw new ParquetWriteError('an offset index has another length than its footer says');
        shiftOffsetIndex(struct, -4n);
        offsetIndexes.push(struct);
        bodyEnd = Math.min(bodyEnd, at);
      }
    }
    shiftRowGroup(rowGroup, -4n);
  }
  if (dataEnd > bodyEnd) throw new ParquetWriteError('the encoded row groups overlap their page indexes');
  if (rows !== toNumber(intAt(meta, FILE_NUM_ROWS), 'num_rows')) {
    throw new ParquetWriteError('the encoded Parquet file counts other rows than its row groups hold');
  }
  const template = writeStruct(withRowGroups(meta, [], 0n));
  return { rows, body: file.subarray(4, bodyEnd), template, rowGroups, columnIndexes, offsetIndexes };
}

/**
 * Encodes one Arrow batch as Parquet row groups with the writer settings (row group limits,
 * dictionary columns, codec). With zstd (the default) parquet-wasm writes the pages uncompressed
 * and Node's native zstd compresses them ({@link compressPages}): the same pages, encodings and
 * statistics, in about a fifth of the compression time; where Node has no zstd, parquet-wasm
 * compresses them itself.
 * @throws ParquetWriteError when the encoder returns other rows than it was given
 */
export function encodeRowGroups(batch: RecordBatch, options: ParquetFileOptions): EncodedRowGroups {
  const ipc = RecordBatchStreamWriter.writeAll([batch]).toUint8Array(true);
  const nativeZstd = (options.compression ?? 'zstd') === 'zstd' && NATIVE_ZSTD;
  const properties = writerProperties(nativeZstd ? { ...options, compression: 'none' } : options);
  // writeParquet takes ownership of the wasm table (and frees it).
  const groups = rowGroupsOf(writeParquet(WasmTable.fromIPCStream(ipc), properties));
  if (groups.rows !== batch.numRows) {
    throw new ParquetWriteError(`the Parquet writer encoded ${groups.rows} rows of a row group of ${batch.numRows}`);
  }
  return nativeZstd ? compressPages(groups) : groups;
}

/** A copy of the file metadata's top level with these row groups and row count. */
function withRowGroups(meta: ThriftStruct, rowGroups: ThriftValue[], rows: bigint): ThriftStruct {
  return {
    kind: 'struct',
    fields: meta.fields.map((f) => {
      if (f.id === FILE_NUM_ROWS) return { ...f, value: rows };
      if (f.id === FILE_ROW_GROUPS) return { ...f, value: { ...listAt(meta, FILE_ROW_GROUPS), items: rowGroups } };
      return f;
    }),
  };
}

function startsWithMagic(bytes: Uint8Array, at: number): boolean {
  return MAGIC.every((b, i) => bytes[at + i] === b);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/**
 * One Parquet file made of row groups encoded elsewhere ({@link rowGroupsOf}), streamed to a
 * consumer: `append` in order, then `close` for the page indexes and the footer. Every appended
 * set must come from the same schema and writer settings.
 */
export class RowGroupFileWriter {
  /** Bytes handed to the consumer so far. */
  bytesWritten = 0;
  /** Rows appended so far. */
  rowsWritten = 0;

  private template: Uint8Array | undefined;
  private readonly rowGroups: ThriftStruct[] = [];
  private readonly columnIndexes: (Uint8Array | null)[] = [];
  private readonly offsetIndexes: (ThriftStruct | null)[] = [];
  private failure: unknown;

  constructor(private readonly consumer: ByteConsumer) {}

  /** Writes the row groups' bytes; resolves when the consumer has taken them. */
  async append(groups: EncodedRowGroups): Promise<void> {
    this.assertUsable();
    if (this.template === undefined) {
      this.template = groups.template;
      await this.emit(MAGIC);
    } else if (!sameBytes(this.template, groups.template)) {
      throw new ParquetWriteError('row groups of another schema or writer settings cannot join this Parquet file');
    }
    const delta = BigInt(this.bytesWritten);
    // Positions are rewritten in place: work on a copy, the caller's set stays as it was.
    const { rowGroups, offsetIndexes } = structuredClone({
      rowGroups: groups.rowGroups,
      offsetIndexes: groups.offsetIndexes,
    });
    for (const rowGroup of rowGroups) {
      shiftRowGroup(rowGroup, delta);
      const ordinal = field(rowGroup, RG_ORDINAL);
      if (ordinal) ordinal.value = BigInt(this.rowGroups.length);
      this.rowGroups.push(rowGroup);
    }
    this.columnIndexes.push(...groups.columnIndexes);
    for (const index of offsetIndexes) {
      if (index) shiftOffsetIndex(index, delta);
      this.offsetIndexes.push(index);
    }
    await this.emit(groups.body);
    this.rowsWritten += groups.rows;
  }

  /**
   * Writes the page indexes and the footer; resolves when the consumer has received the last byte.
   * @throws ParquetWriteError when the footer written does not count the rows appended.
   */
  async close(): Promise<void> {
    this.assertUsable();
    if (this.template === undefined) throw new Error('a Parquet file needs at least one row');
    const out: Uint8Array[] = [];
    let at = this.bytesWritten;
    const chunks = this.rowGroups.flatMap(chunksOf);
    // Column indexes of every chunk, then offset indexes, as parquet-rs writes them.
    chunks.forEach((chunk, i) => {
      const index = this.columnIndexes[i];
      if (!index) return;
      setInt(chunk, CC_COLUMN_INDEX_OFFSET, BigInt(at));
      setInt(chunk, CC_COLUMN_INDEX_LENGTH, BigInt(index.byteLength));
      out.push(index);
      at += index.byteLength;
    });
    chunks.forEach((chunk, i) => {
      const index = this.offsetIndexes[i];
      if (!index) return;
      const bytes = writeStruct(index);
      setInt(chunk, CC_OFFSET_INDEX_OFFSET, BigInt(at));
      setInt(chunk, CC_OFFSET_INDEX_LENGTH, BigInt(bytes.byteLength));
      out.push(bytes);
      at += bytes.byteLength;
    });
    const footer = writeStruct(
      withRowGroups(readStruct(this.template).struct, this.rowGroups, BigInt(this.rowsWritten)),
    );
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, footer.byteLength, true);
    out.push(footer, length, MAGIC);
    const tail = Buffer.concat(out);
    if (footerRowCount(tail) !== this.rowsWritten) {
      throw new ParquetWriteError(`the Parquet footer written does not count the ${this.rowsWritten} rows appended`);
    }
    await this.emit(tail);
  }

  /** Stops writing; the bytes produced so far are not a valid file. */
  abort(reason: unknown): void {
    this.failure ??= reason ?? new Error('aborted');
  }

  private assertUsable(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  private async emit(chunk: Uint8Array): Promise<void> {
    this.bytesWritten += chunk.byteLength;
    await this.consumer(chunk);
  }
}
