/**
 * Reads a landed Parquet part back into landed batches: the inverse of the part writer, for the
 * rare jobs that must rewrite a committed part (erasure of a player's rows).
 *
 * The part's own schema is read from the file (its columns may predate a mapping change), and only
 * the Arrow types the part writer produces are accepted (see `encoder.ts`): a file written by
 * anything else is refused rather than rewritten with other types. Values come back exactly as
 * the writer took them (`LandedValue`): decimals as unscaled bigints, timestamps as epoch
 * milliseconds, dates as days. The part is read row group by row group from a local file, so
 * memory holds one row group, not the part.
 */
import { openAsBlob } from 'node:fs';
import {
  type DataType,
  DateUnit,
  DataType as DT,
  type Field,
  type RecordBatch,
  TimeUnit,
  tableFromIPC,
  type Vector,
} from 'apache-arrow';
import { ParquetFile, type RecordBatch as WasmRecordBatch } from 'parquet-wasm/node';
import type { FieldType } from '../canonical.ts';
import type { LandedColumn } from '../landed-schema.ts';
import type { LandedBatch, LandedValue } from '../types.ts';

/** The part is not a readable Parquet file of the connector's writer. */
export class PartReadError extends Error {
  override readonly name = 'PartReadError';
}

/** An open landed part. Call `close` when done. */
export interface LandedPart {
  /** The part's columns, from its own schema (name, type, nullability), in file order. */
  readonly columns: readonly LandedColumn[];
  /** Rows in the file (from its footer). */
  readonly rowCount: number;
  /** The rows, one batch per Arrow batch of each row group, aligned with {@link columns}. */
  batches(): AsyncGenerator<LandedBatch>;
  close(): void;
}

const DAY_MS = 86_400_000;

/** The landed type of an Arrow type the part writer produces; undefined for any other. */
function landedType(type: DataType): FieldType | undefined {
  if (DT.isUtf8(type) || DT.isLargeUtf8(type)) return { kind: 'string' };
  if (DT.isInt(type) && type.isSigned && type.bitWidth === 32) return { kind: 'int32' };
  if (DT.isInt(type) && type.isSigned && type.bitWidth === 64) return { kind: 'int64' };
  if (DT.isBool(type)) return { kind: 'boolean' };
  if (DT.isDecimal(type)) return { kind: 'decimal', precision: type.precision, scale: type.scale };
  if (DT.isTimestamp(type) && type.unit === TimeUnit.MILLISECOND) return { kind: 'timestamp' };
  if (DT.isDate(type) && type.unit === DateUnit.DAY) return { kind: 'date' };
  return undefined;
}

/** A two's-complement integer of 32-bit little-endian words. */
function wordsToBigInt(words: ArrayLike<number>): bigint {
  let v = 0n;
  for (let k = words.length - 1; k >= 0; k--) v = (v << 32n) | BigInt(words[k]! >>> 0);
  const bits = BigInt(words.length * 32);
  return v >= 1n << (bits - 1n) ? v - (1n << bits) : v;
}

type Extract = (vector: Vector, row: number) => LandedValue;

function extractor(type: FieldType): Extract {
  switch (type.kind) {
    case 'string':
    case 'int32':
    case 'boolean':
    case 'int64':
      return (v, i) => (v.get(i) as LandedValue | undefined) ?? null;
    case 'timestamp':
      return (v, i) => {
        const value = v.get(i) as number | bigint | null;
        return value === null || value === undefined ? null : Number(value);
      };
    case 'date':
      return (v, i) => {
        const value = v.get(i) as number | null;
        return value === null || value === undefined ? null : Math.round(value / DAY_MS);
      };
    case 'decimal':
      return (v, i) => {
        const value = v.get(i) as ArrayLike<number> | null;
        return value === null || value === undefined ? null : wordsToBigInt(value);
      };
  }
}

function toBatch(batch: RecordBatch, fields: readonly Field[], extractors: readonly Extract[]): LandedBatch {
  const n = batch.numRows;
  const columns = fields.map((field, c) => {
    const vector = batch.getChild(field.name);
    if (!vector) throw new PartReadError(`a row group has no column ${field.name}`);
    const extract = extractors[c]!;
    const values: LandedValue[] = new Array(n);
    for (let i = 0; i < n; i++) values[i] = extract(vector, i);
    return values;
  });
  return { rowCount: n, columns };
}

/**
 * Opens a landed part stored in a local file. `label` names it in errors (e.g. its S3 key).
 * @throws PartReadError when it is not Parquet or has a column type the writer does not produce.
 */
export async function openLandedPart(path: string, label: string): Promise<LandedPart> {
  let file: ParquetFile;
  try {
    file = await ParquetFile.fromFile(await openAsBlob(path));
  } catch (error) {
    throw new PartReadError(`${label} is not a readable Parquet file: ${(error as Error).message ?? error}`, {
      cause: error,
    });
  }
  try {
    const fields = tableFromIPC(file.schema().intoIPCStream()).schema.fields;
    const columns: LandedColumn[] = fields.map((f) => {
      const type = landedType(f.type);
      if (!type) {
        throw new PartReadError(
          `${label}: column ${f.name} has the Parquet/Arrow type ${String(f.type)}, which the connector's writer never produces; the part is not rewritten`,
        );
      }
      return { name: f.name, type, nullable: f.nullable, description: f.name };
    });
    const extractors = columns.map((c) => extractor(c.type));
    const metadata = file.metadata();
    const groups = metadata.numRowGroups();
    const rowCount = Number(metadata.fileMetadata().numRows());
    const open = file;
    return {
      columns,
      rowCount,
      async *batches() {
        for (let g = 0; g < groups; g++) {
          const stream = (await open.stream({ rowGroups: [g] })) as ReadableStream<WasmRecordBatch>;
          const reader = stream.getReader();
          try {
            for (;;) {
              const next = await reader.read();
              if (next.done) break;
              const table = tableFromIPC(next.value.intoIPCStream());
              for (const batch of table.batches) yield toBatch(batch, fields, extractors);
            }
          } finally {
            await reader.cancel().catch(() => {});
          }
        }
      },
      close() {
        open.free();
      },
    };
  } catch (error) {
    file.free();
    throw error;
  }
}
