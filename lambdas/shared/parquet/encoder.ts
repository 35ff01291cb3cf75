/**
 * Column-major LandedBatch → Arrow RecordBatches of bounded size, for the Parquet writer.
 *
 * The encoder copies the values of a landed batch straight into typed buffers (one per column,
 * reused for every batch), so the hot path allocates no per-row objects and the landed batch can
 * be released as soon as it is appended. The Arrow types are chosen so that the
 * Parquet writer emits the logical types Athena and DuckDB read exactly:
 *
 * | landed type | Arrow | Parquet physical / logical |
 * | --- | --- | --- |
 * | string | Utf8 | BYTE_ARRAY / STRING |
 * | int32 | Int32 | INT32 |
 * | int64 | Int64 | INT64 |
 * | boolean | Bool | BOOLEAN |
 * | decimal(p,s) | Decimal128(p,s) | INT32 (p ≤ 9), INT64 (p ≤ 18) or FIXED_LEN_BYTE_ARRAY(16) / DECIMAL(p,s) |
 * | timestamp | Timestamp(ms, "UTC") | INT64 / TIMESTAMP(isAdjustedToUTC=true, MILLIS) |
 * | date | Date32 (days) | INT32 / DATE |
 */
import {
  Bool,
  type Data,
  type DataType,
  DateDay,
  Decimal,
  Field,
  Int32,
  Int64,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  TimestampMillisecond,
  Utf8,
} from 'apache-arrow';
import type { FieldType } from '../canonical.ts';
import type { LandedColumn } from '../landed-schema.ts';
import type { LandedBatch, LandedValue } from '../types.ts';
import type { WriteContext } from '../write-context.ts';
import { ParquetEncodeError } from './errors.ts';

/**
 * Default rows per Arrow batch handed to the Parquet writer. The writer merges batches into row
 * groups of `rowGroupRows`, so this only bounds the memory of the JS-side buffers and of each
 * copy into WebAssembly.
 */
export const DEFAULT_BATCH_ROWS = 16 * 1024;
/** Default budget of buffered Arrow bytes per batch (long strings end a batch early). */
export const DEFAULT_BATCH_BYTES = 8 * 1024 * 1024;

export interface ParquetEncoderOptions {
  /**
   * Most rows in one Arrow batch.
   * @default 16384
   */
  readonly batchRows?: number;
  /**
   * Buffered Arrow bytes (fixed-width values plus UTF-8 string bytes) after which a batch is full
   * even with fewer rows. Checked after each append, so a batch can exceed it by one appended slice.
   * @default 8388608 (8 MiB)
   */
  readonly batchBytes?: number;
  /** Operator, stream and window named in error messages. */
  readonly context?: WriteContext;
}

/** Buffers landed rows and hands them out as Arrow RecordBatches of bounded size. */
export interface ParquetEncoder {
  readonly columns: readonly LandedColumn[];
  /** The Arrow schema of every RecordBatch this encoder produces. */
  readonly schema: Schema;
  /** Rows buffered for the next batch. */
  readonly bufferedRows: number;
  /** Arrow bytes buffered for the next batch. */
  readonly bufferedBytes: number;
  /** The buffered rows make a full batch (by rows or by bytes); take it before appending more. */
  readonly full: boolean;
  /**
   * Appends rows `[start, end)` of `batch` (aligned with `columns`) until the batch is full.
   * Returns the index of the first row not appended (`end` when all were).
   * @throws ParquetEncodeError when a value does not fit its column.
   */
  append(batch: LandedBatch, start?: number, end?: number): number;
  /**
   * The buffered rows as a RecordBatch. Its buffers are views of the encoder's own buffers: use
   * (serialize) it before the next `append`, then call `reset`.
   */
  recordBatch(): RecordBatch;
  /** Drops the buffered rows; the buffers are reused for the next row group. */
  reset(): void;
}

/** The Arrow type that carries a landed type into Parquet with the right logical type. */
export function arrowType(type: FieldType): DataType {
  switch (type.kind) {
    case 'string':
      return new Utf8();
    case 'int32':
      return new Int32();
    case 'int64':
      return new Int64();
    case 'boolean':
      return new Bool();
    case 'decimal':
      return new Decimal(type.scale, type.precision, 128);
    case 'timestamp':
      return new TimestampMillisecond('UTC');
    case 'date':
      return new DateDay();
  }
}

/** The Arrow schema of a landed column list (field order and nullability preserved). */
export function arrowSchema(columns: readonly LandedColumn[]): Schema {
  return new Schema(columns.map((c) => new Field(c.name, arrowType(c.type), c.nullable)));
}

/** Creates an encoder for batches aligned with `columns` (see {@link ParquetEncoder}). */
export function createParquetEncoder(
  columns: readonly LandedColumn[],
  options: ParquetEncoderOptions = {},
): ParquetEncoder {
  const capacity = positive(options.batchRows ?? DEFAULT_BATCH_ROWS, 'batchRows');
  const byteBudget = positive(options.batchBytes ?? DEFAULT_BATCH_BYTES, 'batchBytes');
  const context = options.context ?? {};
  const schema = arrowSchema(columns);
  const builders = columns.map((column, i) => builderFor(column, schema.fields[i]!.type, context));
  const structType = new Struct(schema.fields);
  let rows = 0;

  const bufferedBytes = (): number => {
    let total = 0;
    for (const b of builders) total += b.bytes(rows);
    return total;
  };

  return {
    columns,
    schema,
    get bufferedRows() {
      return rows;
    },
    get bufferedBytes() {
      return bufferedBytes();
    },
    get full() {
      return rows >= capacity || bufferedBytes() >= byteBudget;
    },
    append(batch, start = 0, end = batch.rowCount) {
      if (batch.columns.length !== builders.length) {
        throw new ParquetEncodeError(
          context,
          '*',
          start,
          `the batch has ${batch.columns.length} columns but the landed schema has ${builders.length} (${columns.map((c) => c.name).join(', ')})`,
        );
      }
      const n = Math.min(end - start, capacity - rows);
      if (n <= 0) return start;
      for (let c = 0; c < builders.length; c++) {
        const builder = builders[c]!;
        builder.reserve(rows + n);
        builder.append(batch.columns[c]!, start, start + n, rows);
      }
      rows += n;
      return start + n;
    },
    recordBatch() {
      const children = builders.map((b) => b.data(rows));
      return new RecordBatch(schema, makeData({ type: structType, length: rows, nullCount: 0, children }));
    },
    reset() {
      for (const b of builders) b.reset(rows);
      rows = 0;
    },
  };
}

function positive(value: number, what: string): number {
  if (!Number.isInteger(value) || value <= 0) throw new RangeError(`${what} must be a positive integer, got ${value}`);
  return value;
}

/** Rows a column buffer starts with; buffers double up to the batch size as rows arrive. */
const INITIAL_ROWS = 1024;

interface ColumnBuilder {
  /** Makes room for `rows` rows, keeping the rows already buffered. */
  reserve(rows: number): void;
  /** Copies `values[start..end)` to rows `at..` of the buffer (room reserved). */
  append(values: readonly LandedValue[], start: number, end: number, at: number): void;
  data(rows: number): Data;
  bytes(rows: number): number;
  reset(rows: number): void;
}

type RowError = (row: number) => never;
type KindError = (row: number, value: LandedValue) => never;

function builderFor(column: LandedColumn, type: DataType, context: WriteContext): ColumnBuilder {
  const fail = (row: number, problem: string): never => {
    throw new ParquetEncodeError(context, column.name, row, problem);
  };
  const checks = (expected: string): Checks => ({
    required: !column.nullable,
    nullNotAllowed: (row) => fail(row, 'is NULL but the column is required'),
    wrongKind: (row, value) =>
      fail(row, `expected ${expected} for ${describeType(column.type)}, got a ${typeof value}`),
  });

  switch (column.type.kind) {
    case 'string':
      return new StringBuilder(type, checks('a string'));
    case 'int32':
      return new Int32Builder(type, checks('a 32-bit integer number'));
    case 'date':
      return new Int32Builder(type, checks('an integer number of days'));
    case 'int64':
      return new Int64Builder(type, checks('a bigint'));
    case 'boolean':
      return new BoolBuilder(type, checks('a boolean'));
    case 'timestamp':
      return new TimestampBuilder(type, checks('an integer number of epoch milliseconds'));
    case 'decimal': {
      const { precision, scale } = column.type;
      return new DecimalBuilder(type, checks(`a bigint unscaled at scale ${scale}`), precision, (row) =>
        fail(row, `has more than ${precision} digits (unscaled at scale ${scale})`),
      );
    }
  }
}

function describeType(type: FieldType): string {
  return type.kind === 'decimal' ? `DECIMAL(${type.precision},${type.scale})` : type.kind;
}

interface Checks {
  readonly required: boolean;
  readonly nullNotAllowed: RowError;
  readonly wrongKind: KindError;
}

/** Validity bitmap (bit set = value present) and growth shared by all builders. */
abstract class BaseBuilder implements ColumnBuilder {
  protected validity = new Uint8Array(INITIAL_ROWS / 8);
  protected nullCount = 0;
  protected capacity = INITIAL_ROWS;

  constructor(
    protected readonly type: DataType,
    protected readonly checks: Checks,
  ) {}

  reserve(rows: number): void {
    if (rows <= this.capacity) return;
    let next = this.capacity * 2;
    while (next < rows) next *= 2;
    this.validity = grown(this.validity, Math.ceil(next / 8));
    this.resize(next);
    this.capacity = next;
  }

  /** Reallocates the value buffers for `rows` rows, keeping their contents. */
  protected abstract resize(rows: number): void;
  abstract append(values: readonly LandedValue[], start: number, end: number, at: number): void;
  abstract bytes(rows: number): number;
  protected abstract values(rows: number): { data: ArrayBufferView; valueOffsets?: Int32Array };

  data(rows: number): Data {
    return makeData({
      type: this.type,
      length: rows,
      nullCount: this.nullCount,
      // Without NULLs Arrow needs no bitmap.
      nullBitmap: this.nullCount === 0 ? undefined : this.validity.subarray(0, Math.ceil(rows / 8)),
      ...this.values(rows),
    } as Parameters<typeof makeData>[0]) as Data;
  }

  reset(rows: number): void {
    this.validity.fill(0, 0, Math.ceil(rows / 8));
    this.nullCount = 0;
  }
}

function grown<T extends Int32Array | BigInt64Array | Uint8Array>(array: T, length: number): T {
  const next = new (array.constructor as new (length: number) => T)(length);
  next.set(array as never);
  return next;
}

class Int32Builder extends BaseBuilder {
  private buffer = new Int32Array(INITIAL_ROWS);

  protected resize(rows: number): void {
    this.buffer = grown(this.buffer, rows);
  }

  append(src: readonly LandedValue[], start: number, end: number, at: number): void {
    const values = this.buffer;
    const bits = this.validity;
    let nulls = 0;
    for (let i = start, j = at; i < end; i++, j++) {
      const v = src[i];
      if (typeof v === 'number' && (v | 0) === v) {
        values[j] = v;
        bits[j >> 3]! |= 1 << (j & 7);
      } else if (v === null || v === undefined) {
        if (this.checks.required) this.checks.nullNotAllowed(i);
        values[j] = 0;
        nulls++;
      } else {
        this.checks.wrongKind(i, v);
      }
    }
    this.nullCount += nulls;
  }

  protected values(rows: number) {
    return { data: this.buffer.subarray(0, rows) };
  }

  bytes(rows: number): number {
    return rows * 4;
  }
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

class Int64Builder extends BaseBuilder {
  private buffer = new BigInt64Array(INITIAL_ROWS);

  protected resize(rows: number): void {
    this.buffer = grown(this.buffer, rows);
  }

  append(src: readonly LandedValue[], start: number, end: number, at: number): void {
    const values = this.buffer;
    const bits = this.validity;
    let nulls = 0;
    for (let i = start, j = at; i < end; i++, j++) {
      const v = src[i];
      if (typeof v === 'bigint' && v >= INT64_MIN && v <= INT64_MAX) {
        values[j] = v;
        bits[j >> 3]! |= 1 << (j & 7);
      } else if (v === null || v === undefined) {
        if (this.checks.required) this.checks.nullNotAllowed(i);
        values[j] = 0n;
        nulls++;
      } else {
        this.checks.wrongKind(i, v);
      }
    }
    this.nullCount += nulls;
  }

  protected values(rows: number) {
    return { data: this.buffer.subarray(0, rows) };
  }

  bytes(rows: number): number {
    return rows * 8;
  }
}

const TWO_POW_32 = 2 ** 32;

/** Epoch milliseconds (JS numbers) → int64, written as two 32-bit words to avoid a BigInt per value. */
class TimestampBuilder extends BaseBuilder {
  private buffer = new BigInt64Array(INITIAL_ROWS);
  private words = new Uint32Array(this.buffer.buffer);

  protected resize(rows: number): void {
    this.buffer = grown(this.buffer, rows);
    this.words = new Uint32Array(this.buffer.buffer);
  }

  append(src: readonly LandedValue[], start: number, end: number, at: number): void {
    const words = this.words;
    const bits = this.validity;
    let nulls = 0;
    for (let i = start, j = at; i < end; i++, j++) {
      const v = src[i];
      if (typeof v === 'number' && Number.isSafeInteger(v)) {
        // Two's complement split of a safe integer; floor keeps the high word right for negatives.
        const hi = Math.floor(v / TWO_POW_32);
        words[2 * j] = v - hi * TWO_POW_32;
        words[2 * j + 1] = hi;
        bits[j >> 3]! |= 1 << (j & 7);
      } else if (v === null || v === undefined) {
        if (this.checks.required) this.checks.nullNotAllowed(i);
        words[2 * j] = 0;
        words[2 * j + 1] = 0;
        nulls++;
      } else {
        this.checks.wrongKind(i, v);
      }
    }
    this.nullCount += nulls;
  }

  protected values(rows: number) {
    return { data: this.buffer.subarray(0, rows) };
  }

  bytes(rows: number): number {
    return rows * 8;
  }
}

/** Unscaled bigints → 128-bit little-endian two's complement (low word first, as Arrow stores them). */
class DecimalBuilder extends BaseBuilder {
  private buffer = new BigInt64Array(INITIAL_ROWS * 2);
  private readonly max: bigint;
  private readonly min: bigint;
  /** Every value that fits the precision fits 64 bits (p ≤ 18): its high word is its sign. */
  private readonly narrow: boolean;

  constructor(
    type: DataType,
    checks: Checks,
    precision: number,
    private readonly tooWide: RowError,
  ) {
    super(type, checks);
    this.max = 10n ** BigInt(precision) - 1n;
    this.min = -this.max;
    this.narrow = this.max <= INT64_MAX;
  }

  protected resize(rows: number): void {
    this.buffer = grown(this.buffer, rows * 2);
  }

  append(src: readonly LandedValue[], start: number, end: number, at: number): void {
    const words = this.buffer;
    const bits = this.validity;
    const { min, max, narrow } = this;
    let nulls = 0;
    for (let i = start, j = at; i < end; i++, j++) {
      const v = src[i];
      if (typeof v === 'bigint') {
        if (v > max || v < min) this.tooWide(i);
        // Storing into a BigInt64Array keeps the low 64 bits; the high word is the sign unless
        // the value needs more than 64 bits (only then is a shifted BigInt allocated).
        words[2 * j] = v;
        words[2 * j + 1] = narrow || (v >= INT64_MIN && v <= INT64_MAX) ? (v < 0n ? -1n : 0n) : v >> 64n;
        bits[j >> 3]! |= 1 << (j & 7);
      } else if (v === null || v === undefined) {
        if (this.checks.required) this.checks.nullNotAllowed(i);
        words[2 * j] = 0n;
        words[2 * j + 1] = 0n;
        nulls++;
      } else {
        this.checks.wrongKind(i, v);
      }
    }
    this.nullCount += nulls;
  }

  protected values(rows: number) {
    return { data: new Uint32Array(this.buffer.buffer, 0, rows * 4) };
  }

  bytes(rows: number): number {
    return rows * 16;
  }
}

class BoolBuilder extends BaseBuilder {
  private buffer = new Uint8Array(INITIAL_ROWS / 8);

  protected resize(rows: number): void {
    this.buffer = grown(this.buffer, Math.ceil(rows / 8));
  }

  append(src: readonly LandedValue[], start: number, end: number, at: number): void {
    const values = this.buffer;
    const bits = this.validity;
    let nulls = 0;
    for (let i = start, j = at; i < end; i++, j++) {
      const v = src[i];
      if (v === true) {
        values[j >> 3]! |= 1 << (j & 7);
        bits[j >> 3]! |= 1 << (j & 7);
      } else if (v === false) {
        bits[j >> 3]! |= 1 << (j & 7);
      } else if (v === null || v === undefined) {
        if (this.checks.required) this.checks.nullNotAllowed(i);
        nulls++;
      } else {
        this.checks.wrongKind(i, v);
      }
    }
    this.nullCount += nulls;
  }

  protected values(rows: number) {
    return { data: this.buffer.subarray(0, Math.ceil(rows / 8)) };
  }

  bytes(rows: number): number {
    return Math.ceil(rows / 8);
  }

  override reset(rows: number): void {
    this.buffer.fill(0, 0, Math.ceil(rows / 8));
    super.reset(rows);
  }
}

/**
 * Longest string copied to UTF-8 a code unit at a time in JS. A native `Buffer.write` costs about as
 * much as copying 20 ASCII characters in JS (Node 22), and much less for longer ones: a 64-character
 * pseudonym takes about a third of the time.
 */
const SHORT_STRING = 20;

/** Strings → UTF-8 bytes plus int32 offsets. Short ASCII is copied in JS; anything else goes through Buffer.write. */
class StringBuilder extends BaseBuilder {
  private offsets = new Int32Array(INITIAL_ROWS + 1);
  private bytesBuf: Buffer = Buffer.allocUnsafeSlow(64 * 1024);

  protected resize(rows: number): void {
    this.offsets = grown(this.offsets, rows + 1);
  }

  append(src: readonly LandedValue[], start: number, end: number, at: number): void {
    const offsets = this.offsets;
    const bits = this.validity;
    let buf = this.bytesBuf;
    let pos = offsets[at]!;
    let nulls = 0;
    for (let i = start, j = at; i < end; i++, j++) {
      const v = src[i];
      if (typeof v === 'string') {
        const len = v.length;
        // A UTF-16 code unit never takes more than 3 UTF-8 bytes.
        if (pos + len * 3 > buf.length) buf = this.growBytes(pos, pos + len * 3);
        let k = 0;
        if (len <= SHORT_STRING) {
          for (; k < len; k++) {
            const code = v.charCodeAt(k);
            if (code >= 0x80) break;
            buf[pos + k] = code;
          }
        }
        if (k === len) pos += len;
        else if (k === 0) pos += buf.write(v, pos, 'utf8');
        else pos += k + buf.write(v.slice(k), pos + k, 'utf8');
        if (pos > 0x7fffffff) {
          throw new RangeError('a batch holds more than 2 GiB of string data; lower batchBytes');
        }
        bits[j >> 3]! |= 1 << (j & 7);
      } else if (v === null || v === undefined) {
        if (this.checks.required) this.checks.nullNotAllowed(i);
        nulls++;
      } else {
        this.checks.wrongKind(i, v);
      }
      offsets[j + 1] = pos;
    }
    this.nullCount += nulls;
  }

  private growBytes(used: number, needed: number): Buffer {
    const next = Buffer.allocUnsafeSlow(Math.max(needed, this.bytesBuf.length * 2));
    this.bytesBuf.copy(next, 0, 0, used);
    this.bytesBuf = next;
    return next;
  }

  protected values(rows: number) {
    const end = this.offsets[rows]!;
    return {
      valueOffsets: this.offsets.subarray(0, rows + 1),
      data: new Uint8Array(this.bytesBuf.buffer, this.bytesBuf.byteOffset, end),
    };
  }

  bytes(rows: number): number {
    return this.offsets[rows]! + rows * 4;
  }

  override reset(rows: number): void {
    super.reset(rows);
    this.offsets[0] = 0;
  }
}
