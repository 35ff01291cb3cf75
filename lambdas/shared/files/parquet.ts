/**
 * Parquet reader: parquet-wasm (arrow-rs) decodes, apache-arrow hands the values to JS.
 *
 * Parquet keeps its schema and row-group index in a footer at the end of the file, so the object
 * is first spooled (decompressed, within the size limits) to a temporary file — Lambda's
 * ephemeral storage, which must be at least `fileDrop.maxFileSizeMb` — and opened with
 * `fs.openAsBlob`: parquet-wasm reads the footer and then each row group by byte range from that
 * Blob, so memory holds one row group's column chunks plus one batch, whatever the file size
 * (the wasm heap grows to the largest row group and stays there for the life of the process).
 * Spooling instead of S3 range reads keeps one code path for gzip and plain objects and reads the
 * object once.
 *
 * Types: the file's Arrow types are checked against the canonical fields up front
 * (`SCHEMA_MISMATCH` lists every column that cannot hold its field, e.g. an integer column for a
 * date, a boolean for an amount, any list, struct, map or binary). Values are then rendered in
 * the database text forms: integers and decimals exactly (DECIMAL from its 128/256-bit unscaled
 * value), timestamps at their own precision with `+00` when the Parquet timestamp is UTC-adjusted
 * and without offset otherwise (then read in `fileDrop.timeZone`), dates as `YYYY-MM-DD`. String
 * columns go through the same format normalization as CSV values (date and timestamp formats; the
 * decimal point is always `.`). Integer columns are accepted for timestamps when the stream's
 * `timestampFormat` is `epoch-millis` or `epoch-seconds`.
 */
import { createWriteStream, openAsBlob } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type DataType,
  type Decimal,
  DataType as DT,
  type Field,
  type RecordBatch,
  type Timestamp,
  tableFromIPC,
  type Vector,
} from 'apache-arrow';
import { ParquetFile, type RecordBatch as WasmRecordBatch } from 'parquet-wasm/node';
import type { FieldType } from '../canonical.ts';
import { typeLabel } from '../mapping/coerce.ts';
import type { ReadContext } from './csv.ts';
import { type PlannedColumn, RowChecker, resolveColumns } from './plan.ts';
import { type FileProblem, FileProblemError } from './reason.ts';
import { formatDays, formatEpoch } from './values.ts';

type Category = 'string' | 'int' | 'float' | 'decimal' | 'bool' | 'date' | 'timestamp' | 'null' | 'other';

function categoryOf(type: DataType): Category {
  if (DT.isDictionary(type)) return categoryOf(type.dictionary) === 'string' ? 'string' : 'other';
  if (DT.isUtf8(type) || DT.isLargeUtf8(type) || DT.isUtf8View(type)) return 'string';
  if (DT.isInt(type)) return 'int';
  if (DT.isFloat(type)) return 'float';
  if (DT.isDecimal(type)) return 'decimal';
  if (DT.isBool(type)) return 'bool';
  if (DT.isDate(type)) return 'date';
  if (DT.isTimestamp(type)) return 'timestamp';
  if (DT.isNull(type)) return 'null';
  return 'other';
}

const ACCEPTS: Record<FieldType['kind'], readonly Category[]> = {
  string: ['string', 'int', 'float', 'decimal', 'bool', 'date', 'timestamp', 'null'],
  int32: ['int', 'decimal', 'float', 'string', 'bool', 'null'],
  int64: ['int', 'decimal', 'float', 'string', 'bool', 'null'],
  decimal: ['int', 'decimal', 'float', 'string', 'null'],
  boolean: ['bool', 'int', 'string', 'null'],
  timestamp: ['timestamp', 'date', 'string', 'null'],
  date: ['date', 'timestamp', 'string', 'null'],
};

const MS_PER_DAY = 86_400_000;
const UNIT_PER_SECOND = [1n, 1000n, 1_000_000n, 1_000_000_000n];
const UNIT_DIGITS = [0, 3, 6, 9];

function decimalText(type: Decimal, words: Uint32Array, index: number): string {
  const stride = type.bitWidth / 32;
  const base = index * stride;
  let v = 0n;
  for (let k = stride - 1; k >= 0; k--) v = (v << 32n) | BigInt(words[base + k]!);
  if (words[base + stride - 1]! & 0x80000000) v -= 1n << BigInt(type.bitWidth);
  const negative = v < 0n;
  let digits = (negative ? -v : v).toString();
  const scale = type.scale;
  if (scale <= 0) return `${negative ? '-' : ''}${digits}${'0'.repeat(-scale)}`;
  if (digits.length <= scale) digits = digits.padStart(scale + 1, '0');
  return `${negative ? '-' : ''}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}

type Extractor = (vector: Vector, i: number) => string | null;

function extractorFor(type: DataType, category: Category): Extractor {
  switch (category) {
    case 'null':
      return () => null;
    case 'string':
      return (v, i) => v.get(i) as string | null;
    case 'int':
    case 'float':
      return (v, i) => {
        const x = v.get(i) as number | bigint | null;
        return x === null ? null : String(x);
      };
    case 'bool':
      return (v, i) => {
        const x = v.get(i) as boolean | null;
        return x === null ? null : x ? 'true' : 'false';
      };
    case 'decimal':
      return (v, i) => {
        if (!v.isValid(i)) return null;
        const data = v.data[0]!;
        return decimalText(type as Decimal, data.values as Uint32Array, data.offset + i);
      };
    case 'timestamp': {
      const t = type as Timestamp;
      const per = UNIT_PER_SECOND[t.unit]!;
      const digits = UNIT_DIGITS[t.unit]!;
      const suffix = t.timezone ? '+00' : '';
      return (v, i) => {
        if (!v.isValid(i)) return null;
        const data = v.data[0]!;
        return formatEpoch(BigInt((data.values as BigInt64Array)[data.offset + i]!), per, digits, suffix);
      };
    }
    case 'date':
      return (v, i) => {
        const ms = v.get(i) as number | Date | null;
        if (ms === null) return null;
        const n = typeof ms === 'number' ? ms : ms.getTime();
        return n % MS_PER_DAY === 0 ? formatDays(n / MS_PER_DAY) : formatEpoch(BigInt(n), 1000n, 3, '');
      };
    case 'other':
      throw new Error(`unsupported Arrow type ${type}`);
  }
}

/** Writes the content to a temporary file; returns its path and a cleanup function. */
async function spool(
  bytes: AsyncIterable<Uint8Array>,
  dir: string,
): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const folder = await mkdtemp(join(dir, 'inbound-'));
  const path = join(folder, 'object.parquet');
  const cleanup = () => rm(folder, { recursive: true, force: true });
  try {
    await pipeline(Readable.from(bytes), createWriteStream(path));
  } catch (e) {
    await cleanup();
    throw e;
  }
  return { path, cleanup };
}

const MAGIC = Buffer.from('PAR1');

async function checkMagic(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const head = Buffer.alloc(4);
    const tail = Buffer.alloc(4);
    await handle.read(head, 0, 4, 0);
    if (!head.equals(MAGIC)) {
      throw new FileProblemError(
        'CORRUPT_PARQUET',
        'the file is not Parquet (it does not start with the PAR1 magic bytes); drop Parquet files here, or change the stream format',
      );
    }
    if (size < 12) throw new FileProblemError('CORRUPT_PARQUET', `the Parquet file is truncated (${size} bytes)`);
    await handle.read(tail, 0, 4, size - 4);
    if (!tail.equals(MAGIC)) {
      throw new FileProblemError(
        'CORRUPT_PARQUET',
        'the Parquet file is truncated or damaged: it does not end with the PAR1 magic bytes (footer missing); upload it again',
      );
    }
  } finally {
    await handle.close();
  }
}

function wasmMessage(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** Options of the Parquet reader. */
export interface ParquetReadOptions {
  /** Directory for the spooled copy. @default os.tmpdir() */
  readonly tmpDir?: string;
}

/** Reads a Parquet file (spooled to disk); yields rows (in plan column order) that passed every check. */
export async function* readParquet(
  bytes: AsyncIterable<Uint8Array>,
  ctx: ReadContext,
  options: ParquetReadOptions = {},
): AsyncGenerator<(string | null)[][]> {
  const { plan, problems } = ctx;
  const { path, cleanup } = await spool(bytes, options.tmpDir ?? tmpdir());
  let file: ParquetFile | undefined;
  try {
    await checkMagic(path);
    try {
      file = await ParquetFile.fromFile(await openAsBlob(path));
    } catch (e) {
      throw new FileProblemError(
        'CORRUPT_PARQUET',
        `the Parquet footer cannot be read (${wasmMessage(e)}); upload the file again`,
        {
          cause: e,
        },
      );
    }
    let fields: Field[];
    try {
      fields = tableFromIPC(file.schema().intoIPCStream()).schema.fields;
    } catch (e) {
      throw new FileProblemError('CORRUPT_PARQUET', `the Parquet schema cannot be read (${wasmMessage(e)})`, {
        cause: e,
      });
    }
    const names = fields.map((f) => f.name);
    const indexes = resolveColumns(plan, names, { what: 'Parquet schema', line: null });
    const categories = indexes.map((i) => categoryOf(fields[i]!.type));
    checkTypes(
      plan.columns,
      indexes.map((i) => fields[i]!),
      categories,
      plan.format.timestampFormat,
      plan.stream,
    );

    const extractors = indexes.map((i, c) => extractorFor(fields[i]!.type, categories[c]!));
    const normalize = plan.columns.map((column, c) => {
      const category = categories[c];
      return category === 'string' || (category === 'int' && column.type.kind === 'timestamp');
    });
    const checker = new RowChecker(plan, problems, { line: () => null, row: () => ctx.rowsRead }, normalize, false);
    const readNames = indexes.map((i) => names[i]!);
    const width = plan.columns.length;
    const groups = file.metadata().numRowGroups();
    let pending: (string | null)[][] = [];

    for (let g = 0; g < groups && !ctx.stoppedEarly; g++) {
      let stream: ReadableStream<WasmRecordBatch>;
      try {
        stream = (await file.stream({
          rowGroups: [g],
          batchSize: ctx.batchRows,
          columns: readNames,
        })) as ReadableStream<WasmRecordBatch>;
      } catch (e) {
        throw corruptGroup(g, e);
      }
      const reader = stream.getReader();
      try {
        for (;;) {
          let next: Awaited<ReturnType<typeof reader.read>>;
          try {
            next = await reader.read();
          } catch (e) {
            throw corruptGroup(g, e);
          }
          if (next.done) break;
          const table = tableFromIPC(next.value.intoIPCStream());
          for (const batch of table.batches) {
            readBatch(batch, readNames, extractors, width, checker, ctx, pending);
            if (ctx.stoppedEarly) break;
          }
          if (pending.length >= ctx.batchRows) {
            const out = pending;
            pending = [];
            yield out;
          }
          if (ctx.stoppedEarly) break;
        }
      } finally {
        await reader.cancel().catch(() => {});
      }
    }
    if (pending.length > 0) yield pending;
  } finally {
    file?.free();
    await cleanup();
  }
}

function corruptGroup(group: number, e: unknown): FileProblemError {
  return new FileProblemError(
    'CORRUPT_PARQUET',
    `row group ${group} cannot be read (${wasmMessage(e)}); upload the file again`,
    {
      cause: e,
    },
  );
}

function readBatch(
  batch: RecordBatch,
  names: readonly string[],
  extractors: readonly Extractor[],
  width: number,
  checker: RowChecker,
  ctx: ReadContext,
  pending: (string | null)[][],
): void {
  const vectors = names.map((name) => {
    const v = batch.getChild(name);
    if (!v) throw new FileProblemError('CORRUPT_PARQUET', `column ${name} is missing from a row group`);
    return v;
  });
  for (let r = 0; r < batch.numRows; r++) {
    ctx.rowsRead++;
    const cells: (string | null)[] = new Array(width);
    for (let c = 0; c < width; c++) cells[c] = extractors[c]!(vectors[c]!, r);
    if (checker.check(cells)) pending.push(cells);
    if (ctx.problems.count >= ctx.stopAfterProblems) {
      ctx.stoppedEarly = true;
      return;
    }
  }
}

function checkTypes(
  columns: readonly PlannedColumn[],
  fields: readonly Field[],
  categories: readonly Category[],
  timestampFormat: string,
  stream: string,
): void {
  const problems: FileProblem[] = [];
  columns.forEach((column, c) => {
    const category = categories[c]!;
    const field = fields[c]!;
    const epoch = timestampFormat === 'epoch-millis' || timestampFormat === 'epoch-seconds';
    for (const planned of column.fields) {
      const accepted =
        ACCEPTS[planned.type.kind].includes(category) ||
        (planned.type.kind === 'timestamp' && category === 'int' && epoch);
      if (!accepted) {
        problems.push({
          line: null,
          row: null,
          column: column.name,
          code: 'SCHEMA_MISMATCH',
          message: `column "${field.name}" is ${String(field.type)} in the file, which cannot hold ${planned.name} (${typeLabel(planned.type)}); export it as ${suggestion(planned.type)}${planned.type.kind === 'timestamp' && category === 'int' ? ` or set streams.${stream}.format.timestampFormat to epoch-millis or epoch-seconds` : ''}`,
          example: null,
        });
        break;
      }
    }
  });
  if (problems.length > 0) {
    throw new FileProblemError(
      'SCHEMA_MISMATCH',
      `${problems.length} column(s) of the Parquet file have types that cannot hold their canonical fields: ${problems.map((p) => p.column).join(', ')}`,
      { column: problems[0]!.column, problems },
    );
  }
}

function suggestion(type: FieldType): string {
  switch (type.kind) {
    case 'timestamp':
      return 'a Parquet TIMESTAMP (or an ISO 8601 string)';
    case 'date':
      return 'a Parquet DATE (or a yyyy-MM-dd string)';
    case 'decimal':
      return `a Parquet DECIMAL(${type.precision},${type.scale}) (or a decimal string)`;
    case 'boolean':
      return 'a Parquet BOOLEAN';
    case 'int32':
    case 'int64':
      return 'a Parquet integer';
    case 'string':
      return 'a Parquet string';
  }
}
